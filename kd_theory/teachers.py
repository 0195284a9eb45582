"""Teachers and the soft labels they give.

* A wide trained network (512 neurons by default), one output (binary) or C outputs: its
  probabilities σ(f/T) or softmax(f/T) are the soft labels of the experiments, temperature T > 0.
* The kernel-limit teacher of the theory (:func:`kd_theory.margin.kernel_teacher_logits`):
  z_i = E_z[φ_{x_i}(z)ᵀ v*(z)], p_i = σ(z_i), no temperature.

:data:`TEACHERS` maps a kind to the function that gives its logits or parameters.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from kd_theory import losses, nets, train


def train_network_teacher(key, X, y, *, width: int = 512, steps: int = 2000, learning_rate: float = 0.01,
                          optimizer: str = "adam", batch_size: int | None = None,
                          train_output_layer: bool = True, num_classes: int = 2):
    """A wide two-layer ReLU teacher trained on hard labels, symmetric init: the logistic loss with one
    output (``num_classes=2``, labels ±1) or the softmax cross-entropy with C outputs (labels 0..C−1).

    Both layers train by default (the paper does not say how its teacher was trained; a strong teacher
    is what Table 1 needs). Returns the teacher's params.
    """
    objective = losses.objective_for(num_classes)
    init_key, train_key = jax.random.split(key)
    outputs = None if num_classes == 2 else num_classes
    params = nets.symmetric_init(init_key, width, X.shape[1], num_outputs=outputs)
    target = objective.hard_target(jnp.asarray(y), num_classes)
    params, _ = train.train_with_optax(params, jnp.asarray(X), target,
                                       train.make_optimizer(optimizer, learning_rate), steps=steps,
                                       key=train_key, batch_size=batch_size,
                                       train_output_layer=train_output_layer, loss_fn=objective.loss)
    return params


def kernel_teacher_logits(*args, **kwargs):
    """The kernel-limit teacher's logits: :func:`kd_theory.margin.kernel_teacher_logits` (imported on use)."""
    from kd_theory import margin
    return margin.kernel_teacher_logits(*args, **kwargs)


TEACHERS = {"network": train_network_teacher, "kernel": kernel_teacher_logits}
TEACHER_KINDS = tuple(TEACHERS)


def soft_labels(logits, temperature: float = 1.0, num_classes: int = 2):
    """The teacher's probabilities at temperature T: p = σ(f/T) of class +1 (``num_classes=2``, logits
    (..., n)), or p = softmax(f/T) over the last axis (C classes, logits (..., n, C))."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    logits = jnp.asarray(logits)
    if num_classes == 2:
        return jax.nn.sigmoid(logits / temperature)
    if logits.shape[-1] != num_classes:
        raise ValueError(f"soft_labels: logits of shape {logits.shape} for num_classes={num_classes}; "
                         f"the last axis must be the {num_classes} classes")
    return jax.nn.softmax(logits / temperature, axis=-1)
