"""Two-layer ReLU networks in the NTK parameterisation, as plain pytrees.

    f(x; W, a) = (1/√m) Σ_{j=1..m} a_j · ReLU(W_jᵀ x)

Parameters are a dict ``{"W": (m, d), "a": (m,)}`` for one output (binary tasks) or
``{"W": (m, d), "a": (m, C)}`` for C outputs (a_j ∈ R^C, multiclass tasks). Every function here also
accepts *stacked* networks, ``W`` of shape ``(..., m, d)`` and ``a`` of shape ``(..., m)`` or
``(..., m, C)``, and then returns one output per network. Nothing in this module knows about vmap or
sweeps; the per-neuron pieces (:func:`neuron_init`, :func:`neuron_signal`, :func:`gated_products`,
:func:`project_rows`) are what the sweep engine applies to the neurons of many networks packed together.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class InitScheme(NamedTuple):
    """Where neuron ``position`` of a width-``width`` network draws its weights from.

    ``draw(position, width)`` is the index of its independent draw (W_j ~ N(0, I), a_j ~ Unif{±1}^C);
    ``sign(position, width)`` multiplies its output weight; ``check(width)`` raises on a bad width.
    """
    draw: Callable
    sign: Callable
    check: Callable


def _check_even(width):
    if width <= 0 or width % 2:
        raise ValueError(f"symmetric init needs even widths; got width={width} "
                         "(use even, positive widths, or init='standard')")


def _check_positive(width):
    if width <= 0:
        raise ValueError(f"width must be a positive integer; got width={width}")


INITS = {
    # Mandal, Lin & Srikant (2024): neuron j + m/2 mirrors neuron j (same W_j, output weight −a_j), f = 0.
    "symmetric": InitScheme(draw=lambda pos, width: pos % (width // 2),
                            sign=lambda pos, width: jnp.where(pos < width // 2, 1, -1),
                            check=_check_even),
    # Ji & Telgarsky (2020): every neuron independent.
    "standard": InitScheme(draw=lambda pos, width: pos, sign=lambda pos, width: jnp.ones_like(pos),
                           check=_check_positive),
}
INIT_SCHEMES = tuple(INITS)


def neuron_init(key, position, width, dim: int, scheme: str = "symmetric", num_outputs: int | None = None,
                dtype=jnp.float32):
    """Initial (w, a) of neuron ``position`` of a width-``width`` network with PRNG key ``key``.

        k = INITS[scheme].draw(position, width),  w = N(0, I_d) from fold_in(key_W, k),
        a = sign · Unif{±1}^C from fold_in(key_a, k)        (key_W, key_a = split(key))

    Each draw is keyed by the neuron's index, not by the width, so that one compiled program can
    initialise networks of any widths (the sweep engine) and the first neurons of a network are the
    same at every width. ``position`` and ``width`` may be traced; ``num_outputs=None`` gives a scalar a.
    """
    init = _scheme(scheme)
    key_w, key_a = jax.random.split(key)
    k = init.draw(position, width)
    w = jax.random.normal(jax.random.fold_in(key_w, k), (dim,), dtype)
    a_shape = () if num_outputs is None else (num_outputs,)
    a = jax.random.rademacher(jax.random.fold_in(key_a, k), a_shape, dtype)
    return w, a * init.sign(position, width).astype(dtype)


def init(key, width: int, dim: int, scheme: str = "symmetric", dtype=jnp.float32, num_outputs: int | None = None):
    """Parameters of a width-``width`` network, every neuron from :func:`neuron_init`
    (``num_outputs`` = C for a ∈ R^{m×C}; None for a ∈ R^m)."""
    _scheme(scheme).check(int(width))
    positions = jnp.arange(int(width))
    W, a = jax.vmap(lambda j: neuron_init(key, j, int(width), dim, scheme, num_outputs, dtype))(positions)
    return {"W": W, "a": a}


def symmetric_init(key, width: int, dim: int, dtype=jnp.float32, num_outputs: int | None = None):
    """Symmetric initialisation (Mandal, Lin & Srikant 2024): for j ≤ m/2, a_j ~ Unif{−1, +1}^C and
    W_j ~ N(0, I_d); a_{j+m/2} = −a_j, W_{j+m/2} = W_j, so f(x; W(0)) = 0 for every x. ``width`` even."""
    return init(key, width, dim, "symmetric", dtype, num_outputs)


def standard_init(key, width: int, dim: int, dtype=jnp.float32, num_outputs: int | None = None):
    """Plain initialisation (Ji & Telgarsky 2020): a_j ~ Unif{−1, +1}^C, W_j ~ N(0, I_d), independent."""
    return init(key, width, dim, "standard", dtype, num_outputs)


def _scheme(scheme: str) -> InitScheme:
    if scheme not in INITS:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(INITS)}")
    return INITS[scheme]


def is_multiclass(params) -> bool:
    """True when a has one more axis than the neuron axis of W (a_j ∈ R^C)."""
    return params["a"].ndim == params["W"].ndim


def output_coefficients(a, width=None):
    """c_j = a_j / √m, the weight of neuron j in the output. m = ``width``; by default the last axis of
    ``a`` (scalar outputs, a of shape (..., m)); pass ``width`` for C outputs (a of shape (..., m, C))."""
    m = a.shape[-1] if width is None else width
    return a / jnp.sqrt(jnp.asarray(m, a.dtype))


def coefficients_of(params):
    """c = a/√m of (possibly stacked) params; m is W's neuron axis."""
    return output_coefficients(params["a"], params["W"].shape[-2])


def pre_activations(W, X):
    """H_ji = W_jᵀ x_i, shape (..., m, n) for W of shape (..., m, d) and X of shape (n, d).

    Neurons before examples: with the examples on the fast axis the products and the reductions over
    m and n run several times faster on CPU than with the (n, m) layout (see BUILD_NOTES.md).
    """
    return jnp.einsum("...md,nd->...mn", W, X)


def output_from_pre_activations(H, coef):
    """f_i = Σ_j c_j ReLU(H_ji); H (..., m, n), coef (..., m) -> (..., n) or coef (..., m, C) -> (..., n, C).

    Written as a contraction (a batched matrix product), which XLA runs several times faster than a
    multiply followed by a reduction over m. At a symmetric initialisation the mirrored terms cancel
    only up to rounding (|f| ~ 1e-7); the error metrics in :mod:`kd_theory.losses` treat that as a tie.
    """
    if coef.ndim == H.ndim:
        return jnp.einsum("...mn,...mc->...nc", jax.nn.relu(H), coef)
    return jnp.einsum("...mn,...m->...n", jax.nn.relu(H), coef)


def apply(params, X):
    """f(X; W, a) = ReLU(X Wᵀ) a / √m: shape (n,) (or (n, C)), with leading axes for stacked networks."""
    return output_from_pre_activations(pre_activations(params["W"], X), coefficients_of(params))


def neuron_signal(coef, residual, multiclass: bool):
    """s_ji = c_j · r_i: what neuron j's gate passes back from example i's residual r_i = dℓ/df_i.

    coef (..., m) with residual (..., m, n) (scalar outputs), or (``multiclass``) coef (..., m, C) with
    residual (..., m, n, C) (the dot product over the C outputs); the residual carries a neuron axis
    (broadcast or gathered per neuron by the caller). Returns (..., m, n).
    """
    if multiclass:
        return jnp.einsum("...mc,...mnc->...mn", coef, residual)
    return coef[..., None] * residual


def gated_products(H, signal, X):
    """(1/n) Σ_i s_ji · 1(H_ji > 0) · x_i for every neuron j (ReLU'(0) taken as 0, as in the paper):
    H, signal (..., m, n), X (n, d) -> (..., m, d). A gate and one matrix product."""
    E = jnp.where(H > 0, signal, 0.0) / X.shape[0]
    return jnp.einsum("...mn,nd->...md", E, X)


def hidden_layer_gradient(H, coef, residual, X):
    """∇_W of (1/n) Σ_i ℓ(f_i) when dℓ/df_i = residual_i:

        ∂/∂W_j = (1/n) Σ_i (c_j · r_i) · 1(H_ji > 0) · x_i

    H: (..., m, n), coef: (..., m) or (..., m, C), residual: (..., n) or (..., n, C), X: (n, d);
    returns (..., m, d). With the forward, it is two matrix products and a gate.
    """
    if coef.ndim == H.ndim:  # C outputs: c_j · r_i for all (j, i) is one batched matrix product
        signal = jnp.einsum("...mc,...nc->...mn", coef, residual)
    else:
        signal = neuron_signal(coef, residual[..., None, :], multiclass=False)
    return gated_products(H, signal, X)


def output_layer_gradient(H, residual):
    """∇_a of (1/n) Σ_i ℓ(f_i): ∂/∂a_j = (1/n) Σ_i r_i · ReLU(H_ji) / √m; returns (..., m) or (..., m, C)."""
    m, n = H.shape[-2], H.shape[-1]
    scale = n * jnp.sqrt(jnp.asarray(m, H.dtype))
    if residual.ndim == H.ndim:  # (..., n, C)
        return jnp.einsum("...mn,...nc->...mc", jax.nn.relu(H), residual) / scale
    return jnp.einsum("...mn,...n->...m", jax.nn.relu(H), residual) / scale


def projection_radius(B, width):
    """Per-neuron ball radius B/√m of projected gradient descent; B = None (no projection) gives inf."""
    return math.inf if B is None else B / math.sqrt(width)


def project_rows(W, W0, radius):
    """Π: each row W_j onto the ball ‖W_j − W_j(0)‖₂ ≤ radius_j; ``radius`` broadcasts against
    W.shape[:-1] (one radius per row, or a scalar); ``inf`` means no projection."""
    delta = W - W0
    norm = jnp.linalg.norm(delta, axis=-1)
    scale = jnp.minimum(1.0, jnp.asarray(radius, W.dtype) / jnp.maximum(norm, jnp.finfo(W.dtype).tiny))
    return W0 + delta * scale[..., None]


def project_to_balls(W, W0, radius):
    """Project each neuron onto the ball ‖W_j − W_j(0)‖₂ ≤ radius around its own initial weights.

    ``radius`` is one value per network: shape W.shape[:-2] (stacked networks) or a scalar.
    """
    radius = jnp.asarray(radius, W.dtype)
    return project_rows(W, W0, radius[..., None] if radius.ndim else radius)
