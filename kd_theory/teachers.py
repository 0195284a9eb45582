"""Teachers and the soft labels they give.

* A wide trained network (512 neurons by default): its probabilities σ(f/T) are the soft labels of
  the experiments, temperature T > 0.
* The kernel-limit teacher of the theory (:func:`kd_theory.margin.kernel_teacher_logits`):
  z_i = E_z[φ_{x_i}(z)ᵀ v*(z)], p_i = σ(z_i), no temperature.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from kd_theory import losses, nets, train

TEACHER_KINDS = ("network", "kernel")


def train_network_teacher(key, X, y, *, width: int = 512, steps: int = 2000, learning_rate: float = 0.01,
                          optimizer: str = "adam", batch_size: int | None = None,
                          train_output_layer: bool = True):
    """A wide two-layer ReLU teacher trained on hard labels (logistic loss), symmetric init.

    Both layers train by default (the paper does not say how its teacher was trained; a strong teacher
    is what Table 1 needs). Returns the teacher's params.
    """
    init_key, train_key = jax.random.split(key)
    params = nets.symmetric_init(init_key, width, X.shape[1])
    params, _ = train.train_with_optax(params, jnp.asarray(X), losses.hard_target(jnp.asarray(y)),
                                       train.make_optimizer(optimizer, learning_rate), steps=steps,
                                       key=train_key, batch_size=batch_size,
                                       train_output_layer=train_output_layer)
    return params


def soft_labels(logits, temperature: float = 1.0):
    """p = σ(f/T): the teacher's probability of class +1 at temperature T."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    return jax.nn.sigmoid(jnp.asarray(logits) / temperature)
