"""Training of one two-layer network, written as pure functions over ``lax.scan``.

* :func:`projected_gradient_descent` — the paper's algorithm: full-batch GD with constant step η,
  then each neuron projected back onto ‖W_j − W_j(0)‖ ≤ B/√m. ``B=None`` is plain GD. It returns the
  quantities the theorems bound: the iteration-averaged training loss and error
  (1/steps) Σ_{t<steps} R(W(t)).
* :func:`train_with_optax` — any optax optimiser (SGD, Adam, ...) with optional minibatches, for
  teachers and for experiments outside the theory.

Gradients here come from ``jax.grad`` (any loss, any trainable subset); the sweep engine uses the
hand-written gradient of :mod:`kd_theory.nets` and is tested against this module.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from kd_theory import losses, nets


class TrainMetrics(NamedTuple):
    avg_train_loss: jax.Array     # (1/steps) Σ_{t<steps} R(W(t))
    avg_train_error: jax.Array    # (1/steps) Σ_{t<steps} error(W(t))
    final_train_loss: jax.Array   # R(W(steps))
    final_train_error: jax.Array  # error(W(steps))
    loss_curve: jax.Array         # R(W(t)), t = 0..steps−1


def mean_loss(params, X, target, loss_fn=losses.binary_kl):
    """R(W) = (1/n) Σ_i ℓ(f(x_i; W), t_i); with the default ℓ = KL this is the logistic loss for
    t = (1 + y)/2 ∈ {0, 1} and the soft-label KL loss for t = p (use losses.multiclass_kl for C outputs)."""
    return jnp.mean(loss_fn(nets.apply(params, X), target))


def objective_of(params) -> losses.Objective:
    """MULTICLASS for a network with C outputs (a of shape (m, C)), else BINARY."""
    return losses.MULTICLASS if nets.is_multiclass(params) else losses.BINARY


def projected_gradient_descent(params, X, y, target, *, lr: float, steps: int, B: float | None = None,
                               train_output_layer: bool = False, loss_fn: Callable | None = None):
    """Full-batch projected GD for ``steps`` steps; returns (final params, :class:`TrainMetrics`).

        W(t+1) = Π_B( W(t) − η ∇_W R(W(t)) ),  Π_B: each row into ‖W_j − W_j(0)‖ ≤ B/√m.

    ``target`` is the per-example target: t ∈ [0, 1]^n (hard: (1+y)/2, soft: the teacher's p) for a
    network with one output, (n, C) probability rows for one with C outputs; ``y`` (±1, or integer
    classes) is only used for the 0-1 error. ``loss_fn`` defaults to the objective's KL loss.
    Compiled once per shape, step count and loss.
    """
    objective = objective_of(params)
    radius = nets.projection_radius(B, params["W"].shape[0])
    return _projected_gradient_descent(params, X, y, target, lr, radius, steps, train_output_layer,
                                       loss_fn or objective.loss, objective.error)


@functools.partial(jax.jit, static_argnums=(6, 7, 8, 9))
def _projected_gradient_descent(params, X, y, target, lr, radius, steps, train_output_layer, loss_fn, error_fn):
    W0 = params["W"]
    trainable = ("W", "a") if train_output_layer else ("W",)

    def step(p, _):
        loss, grads = jax.value_and_grad(mean_loss)(p, X, target, loss_fn)
        err = error_fn(nets.apply(p, X), y)
        p = {k: (v - lr * grads[k] if k in trainable else v) for k, v in p.items()}
        p = dict(p, W=nets.project_to_balls(p["W"], W0, radius))
        return p, (loss, err)

    final, (loss_t, err_t) = jax.lax.scan(step, params, None, length=steps)
    f = nets.apply(final, X)
    return final, TrainMetrics(jnp.mean(loss_t), jnp.mean(err_t), jnp.mean(loss_fn(f, target)),
                               error_fn(f, y), loss_t)


OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}


def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """Optimiser by name, a key of :data:`OPTIMIZERS` (``sgd``, ``adam``)."""
    if learning_rate <= 0:
        raise ValueError(f"learning rate must be > 0; got {learning_rate}")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate)


def train_with_optax(params, X, target, optimizer: optax.GradientTransformation, *, steps: int, key=None,
                     batch_size: int | None = None, train_output_layer: bool = True,
                     loss_fn: Callable = losses.binary_kl, progress=None):
    """Train with an optax optimiser; each step uses a random minibatch of ``batch_size`` examples
    (full batch when None). ``progress``: a :class:`kd_theory.progress.StepReporter` (or None) told the
    step every few percent. Returns (final params, per-step minibatch loss)."""
    from kd_theory.progress import report_step
    n = X.shape[0]
    if batch_size is not None and not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n}; got {batch_size}")
    frozen = {} if train_output_layer else {"a": params["a"]}
    trainable = {k: v for k, v in params.items() if k not in frozen}
    key = jax.random.PRNGKey(0) if key is None else key

    def loss_of(tp, Xb, tb):
        return mean_loss({**tp, **frozen}, Xb, tb, loss_fn)

    def step(carry, inputs):
        step_key, t = inputs
        tp, opt_state = carry
        if batch_size is None:
            Xb, tb = X, target
        else:
            idx = jax.random.choice(step_key, n, (batch_size,), replace=False)
            Xb, tb = X[idx], target[idx]
        loss, grads = jax.value_and_grad(loss_of)(tp, Xb, tb)
        updates, opt_state = optimizer.update(grads, opt_state, tp)
        report_step(progress, t)
        return (optax.apply_updates(tp, updates), opt_state), loss

    (tp, _), loss_t = jax.lax.scan(step, (trainable, optimizer.init(trainable)),
                                   (jax.random.split(key, steps), jnp.arange(steps)))
    return {**tp, **frozen}, loss_t
