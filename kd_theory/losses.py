"""Losses of soft- and hard-label training, each the formula in its docstring (per example).

Labels y ∈ {-1, +1}; logits f ∈ R; teacher probabilities p ∈ [0, 1]. All three binary losses have
the same gradient in f, σ(f) − t, with target t = (1 + y)/2 for hard labels and t = p for soft ones
(:func:`logit_residual`). That identity is what lets one compiled program train hard and soft
students side by side. With C classes (integer labels y ∈ {0..C−1}, logits f ∈ R^C, targets t ∈ Δ^C)
the same holds for the softmax KL: its gradient is softmax(f) − t (:func:`softmax_residual`).

An :class:`Objective` bundles what a trainer needs (loss, residual, error, extra metrics):
:data:`OBJECTIVES` = {"binary": BINARY, "multiclass": MULTICLASS}.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy


def hard_target(y):
    """t = (1 + y)/2 ∈ {0, 1}: the Bernoulli target equivalent to a ±1 label."""
    return (1.0 + y) / 2.0


def logistic(f, y):
    """Logistic loss ln(1 + exp(−y f)) for y ∈ {−1, +1}."""
    return jax.nn.softplus(-y * f)


def binary_cross_entropy(f, t):
    """−t ln σ(f) − (1 − t) ln(1 − σ(f)) = softplus(f) − t f, for a target t ∈ [0, 1]."""
    return jax.nn.softplus(f) - t * f


def binary_entropy(p):
    """H(p) = −p ln p − (1 − p) ln(1 − p), with 0 ln 0 = 0."""
    return -xlogy(p, p) - xlogy(1.0 - p, 1.0 - p)


def binary_kl(f, p):
    """KL(p ‖ σ(f)) = p ln(p/σ(f)) + (1 − p) ln((1 − p)/(1 − σ(f))).

    ≥ 0, and zero iff σ(f) = p. Computed as

        p · (ln p − ln σ(f)) + (1 − p) · (ln(1 − p) − ln σ(−f)),   ln σ(f) = −softplus(−f),

    with 0 ln 0 = 0, so that a hard target (p ∈ {0, 1}) gives exactly the logistic loss
    softplus(∓f) (no cancellation: BCE − H(p) loses float32 precision, e.g. it is 0 at f = 15, p = 1,
    and slightly negative near the teacher). Clipped at 0 against the last rounding near σ(f) = p.
    """
    log_sig_pos = -jax.nn.softplus(-f)   # ln σ(f)
    log_sig_neg = -jax.nn.softplus(f)    # ln σ(−f) = ln(1 − σ(f))
    kl = (xlogy(p, p) - p * log_sig_pos) + (xlogy(1.0 - p, 1.0 - p) - (1.0 - p) * log_sig_neg)
    return jnp.maximum(kl, 0.0)


def logit_residual(f, t):
    """d/df of binary_cross_entropy(f, t), binary_kl(f, t) and (t = (1+y)/2) logistic(f, y): σ(f) − t."""
    return jax.nn.sigmoid(f) - t


TIE_TOLERANCE = 1e-6


def error_rate(f, y, tie: float = TIE_TOLERANCE):
    """0-1 error (1/n) Σ_i 1(y_i f_i ≤ 0) over the last axis; |f_i| ≤ ``tie`` counts as zero, a mistake,
    and so does a non-finite f_i (a diverged output is never "correct": NaN compares false with 0).

    Why the tie band: at a symmetric initialisation f = 0 exactly in exact arithmetic, but a matrix
    product may round the two mirrored neurons' pre-activations differently (by one ulp, depending on
    where they sit in the product), leaving f ≈ ±1e-9 of random sign. The band makes the error at W(0)
    the paper's value (every point a mistake) whatever the layout; no trained output is that small.
    """
    correct = (y * f > 0) & (jnp.abs(f) > tie) & jnp.isfinite(f)
    return jnp.mean((~correct).astype(f.dtype), axis=-1)


def accuracy(f, y, tie: float = TIE_TOLERANCE):
    """1 − error_rate(f, y, tie)."""
    return 1.0 - error_rate(f, y, tie)


def soft_cross_entropy(logits, target_probs, temperature=1.0):
    """Multiclass distillation loss −Σ_k p_k ln softmax(z/T)_k, per example (last axis = classes).

    No T² factor is applied (Hinton et al. multiply by T² to keep gradient scale; do it at the call site).
    """
    log_q = jax.nn.log_softmax(logits / temperature, axis=-1)
    return -jnp.sum(target_probs * log_q, axis=-1)


# ---------------------------------------------------------------------------- C classes (softmax)

def one_hot_target(y, num_classes: int):
    """t = e_y ∈ {0, 1}^C: the categorical target of an integer label y ∈ {0, …, C−1}."""
    return jax.nn.one_hot(jnp.asarray(y).astype(jnp.int32), num_classes)


def multiclass_kl(f, p):
    """KL(p ‖ softmax(f)) = Σ_c p_c (ln p_c − ln softmax(f)_c) over the last axis, with 0 ln 0 = 0.

    For a one-hot target this is exactly the cross-entropy −ln softmax(f)_y (no H(p) is subtracted
    from a rounded cross-entropy). Clipped at 0 against the last rounding near softmax(f) = p.
    """
    return jnp.maximum(jnp.sum(xlogy(p, p) - p * jax.nn.log_softmax(f, axis=-1), axis=-1), 0.0)


def softmax_residual(f, t):
    """d/df of multiclass_kl(f, t) and of the cross-entropy −Σ_c t_c ln softmax(f)_c: softmax(f) − t
    (for Σ_c t_c = 1)."""
    return jax.nn.softmax(f, axis=-1) - t


def label_margin(f, y):
    """f_y − max_{c≠y} f_c per example: f of shape (..., n, C), integer labels y of shape (n,)."""
    y = jnp.asarray(y).astype(jnp.int32)
    mask = jax.nn.one_hot(y, f.shape[-1], dtype=bool)
    own = jnp.sum(jnp.where(mask, f, 0.0), axis=-1)
    rival = jnp.max(jnp.where(mask, -jnp.inf, f), axis=-1)
    return own - rival


def multiclass_error_rate(f, y, tie: float = TIE_TOLERANCE):
    """0-1 error (1/n) Σ_i 1(argmax_c f_ic ≠ y_i) over the examples axis (f: (..., n, C)).

    As in :func:`error_rate`, a tie counts as a mistake: example i is correct only when
    f_iy − max_{c≠y} f_ic > ``tie`` (at a symmetric init all outputs are 0 up to rounding), and a row
    with a non-finite output is a mistake.
    """
    correct = (label_margin(f, y) > tie) & jnp.all(jnp.isfinite(f), axis=-1)
    return jnp.mean((~correct).astype(f.dtype), axis=-1)


def top_k_accuracy(f, y, k: int, tie: float = TIE_TOLERANCE):
    """(1/n) Σ_i 1(y_i among the k largest f_i): fewer than k rivals c ≠ y with f_c ≥ f_y − tie (ties
    count against), finite rows only. f: (..., n, C), y: (n,) integers."""
    y = jnp.asarray(y).astype(jnp.int32)
    mask = jax.nn.one_hot(y, f.shape[-1], dtype=bool)
    own = jnp.sum(jnp.where(mask, f, 0.0), axis=-1, keepdims=True)
    rivals = jnp.sum((f >= own - tie) & ~mask, axis=-1)
    correct = (rivals < k) & jnp.all(jnp.isfinite(f), axis=-1)
    return jnp.mean(correct.astype(f.dtype), axis=-1)


# ---------------------------------------------------------------------------- objectives

class Objective(NamedTuple):
    """What a trainer needs to know about a task's outputs, as functions of arrays.

    ``loss(f, t)`` per example (the reported training loss; f (..., n) or (..., n, C));
    ``residual(f, t)`` = dloss/df, the only thing the gradient needs; ``error(f, y)`` the 0-1 error over
    the examples axis; ``hard_target(y, num_classes)`` the target of a hard label; ``metrics`` extra
    test metrics ``name -> fn(f, y)``; ``output_shape(num_classes)`` the shape of one output.
    """
    name: str
    loss: Callable
    residual: Callable
    error: Callable
    hard_target: Callable
    metrics: dict
    output_shape: Callable


BINARY = Objective(
    name="binary", loss=binary_kl, residual=logit_residual, error=error_rate,
    hard_target=lambda y, num_classes=2: hard_target(y), metrics={}, output_shape=lambda num_classes=2: ())

MULTICLASS = Objective(
    name="multiclass", loss=multiclass_kl, residual=softmax_residual, error=multiclass_error_rate,
    hard_target=one_hot_target, metrics={"top5_acc": lambda f, y: top_k_accuracy(f, y, 5)},
    output_shape=lambda num_classes: (num_classes,))

OBJECTIVES = {"binary": BINARY, "multiclass": MULTICLASS}


def objective_for(num_classes: int) -> Objective:
    """BINARY for 2 classes (labels ±1, one output), MULTICLASS for C > 2 (integer labels, C outputs)."""
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer ≥ 2; got num_classes={num_classes}")
    return BINARY if num_classes == 2 else MULTICLASS
