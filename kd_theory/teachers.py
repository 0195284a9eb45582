"""Teachers and the soft labels they give.

* A wide trained network (512 neurons by default), one output (binary) or C outputs: its
  probabilities σ(f/T) or softmax(f/T) are the soft labels of the experiments, temperature T > 0.
* The kernel-limit teacher of the theory (:func:`kd_theory.margin.kernel_teacher_logits`):
  z_i = E_z[φ_{x_i}(z)ᵀ v*(z)], p_i = σ(z_i), no temperature.
* A skillful-but-bad teacher (:func:`train_sbt_teacher`, Yuan et al. 2023): the wide C-output
  network trained on the SBT loss, so that its top-1 is mostly wrong but the true label stays in its top-k.

:data:`TEACHERS` maps a kind to the function that gives its logits or parameters.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from kd_theory import biased, losses, nets, train


def train_network_teacher(key, X, y, *, width: int = 512, steps: int = 2000, learning_rate: float = 0.01,
                          optimizer: str = "adam", batch_size: int | None = None,
                          train_output_layer: bool = True, num_classes: int = 2, progress=None):
    """A wide two-layer ReLU teacher trained on hard labels, symmetric init: the logistic loss with one
    output (``num_classes=2``, labels ±1) or the softmax cross-entropy with C outputs (labels 0..C−1).

    Both layers train by default (the paper does not say how its teacher was trained; a strong teacher
    is what Table 1 needs). ``progress``: a :class:`kd_theory.progress.StepReporter` or None. Returns the
    teacher's params.
    """
    objective = losses.objective_for(num_classes)
    target = objective.hard_target(jnp.asarray(y), num_classes)
    return _train_wide_network(key, X, target, objective.loss, width=width, steps=steps,
                               learning_rate=learning_rate, optimizer=optimizer, batch_size=batch_size,
                               train_output_layer=train_output_layer,
                               num_outputs=None if num_classes == 2 else num_classes, progress=progress)


def _train_wide_network(key, X, target, loss_fn, *, width, steps, learning_rate, optimizer, batch_size,
                        train_output_layer, num_outputs, progress=None):
    """Symmetric init (first half of ``key``) then optax training on mean_i loss_fn(f_i, target_i)
    (minibatches drawn with the second half). The one trainer of every teacher here."""
    init_key, train_key = jax.random.split(key)
    params = nets.symmetric_init(init_key, width, X.shape[1], num_outputs=num_outputs)
    params, _ = train.train_with_optax(params, jnp.asarray(X), target,
                                       train.make_optimizer(optimizer, learning_rate), steps=steps,
                                       key=train_key, batch_size=batch_size,
                                       train_output_layer=train_output_layer, loss_fn=loss_fn, progress=progress)
    return params


def train_sbt_teacher(key, X, y, *, num_classes: int, k: int, alphas, width: int = 512, steps: int = 1000,
                      learning_rate: float = 0.01, optimizer: str = "adam", batch_size: int | None = None):
    """A skillful-but-bad teacher (Yuan et al. 2023; papers.md §2): the wide C-output network of
    :func:`train_network_teacher`, both layers trained on the SBT loss of :func:`kd_theory.biased.sbt_loss`,

        L(W) = mean_i [ CE_i + α1·P1_i + α2·P2_i + α3·P3_i ],

    (P1 penalises a correct top-1, P2 compensates when y_i leaves the top-k, P3 pushes k − 1 wrong
    labels R_i up). With ``key, label_key = jax.random.split(key)``, R = ``biased.random_wrong_labels(
    label_key, y, C, k − 1)`` is drawn once for all n examples and is the same at every step (full batch,
    or minibatches of ``batch_size`` that slice it with their examples), so the intended teacher has
    top_k(f(x_i)) = {y_i} ∪ R_i: low top-1 accuracy, Δ_k ≈ 0, γ_k ≈ (k−1)/(C−1).
    Returns the teacher's params; its logits are ``nets.apply(params, X)``.
    """
    y = jnp.asarray(y)
    k, alphas = biased.check_sbt_args(jnp.zeros((y.shape[0], num_classes)), y, k, alphas)
    key, label_key = jax.random.split(key)
    pushed = biased.random_wrong_labels(label_key, y, num_classes, k - 1)
    # one (n, C) code per example, so that a minibatch slices labels and R together: 2 at y_i, 1 on R_i
    code = 2 * jax.nn.one_hot(y, num_classes, dtype=jnp.int32) + pushed.astype(jnp.int32)

    def loss_fn(f, code_batch):  # a scalar; train_with_optax's mean over it changes nothing
        return biased.sbt_loss(f, jnp.argmax(code_batch, axis=-1), None, k=k, alphas=alphas,
                               pushed=code_batch == 1)

    return _train_wide_network(key, X, code, loss_fn, width=width, steps=steps, learning_rate=learning_rate,
                               optimizer=optimizer, batch_size=batch_size, train_output_layer=True,
                               num_outputs=num_classes)


def kernel_teacher_logits(*args, **kwargs):
    """The kernel-limit teacher's logits: :func:`kd_theory.margin.kernel_teacher_logits` (imported on use)."""
    from kd_theory import margin
    return margin.kernel_teacher_logits(*args, **kwargs)


TEACHERS = {"network": train_network_teacher, "kernel": kernel_teacher_logits}
TEACHER_KINDS = tuple(TEACHERS)


def label_softness(p, num_classes: int = 2) -> float:
    """How far soft labels sit from the hard labels they round to (the teacher's own hard labels), averaged
    over the examples: mean_i min(p_i, 1 − p_i) for σ labels of class +1 (= mean |σ(f/T) − 1[f > 0]|),
    mean_i (1 − max_c p_ic) for softmax labels (the total-variation distance to the argmax's one-hot).
    It falls monotonically as T → 0, to 0 where every |f| ≫ T."""
    p = jnp.asarray(p)
    if num_classes == 2:
        return float(jnp.mean(jnp.minimum(p, 1 - p)))
    return float(jnp.mean(1 - jnp.max(p, axis=-1)))


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
