"""Two-layer ReLU networks in the NTK parameterisation, as plain pytrees.

    f(x; W, a) = (1/√m) Σ_{j=1..m} a_j · ReLU(W_jᵀ x)

Parameters are a dict ``{"W": (m, d), "a": (m,)}``. Every function here also accepts
*stacked* networks, ``W`` of shape ``(..., m, d)`` and ``a`` of shape ``(..., m)``, and then
returns one output per network: this is how the sweep engine runs many networks of the same
width as a few matrix products. Nothing in this module knows about vmap or sweeps.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

INIT_SCHEMES = ("symmetric", "standard")


def symmetric_init(key, width: int, dim: int, dtype=jnp.float32):
    """Symmetric initialisation of Mandal, Lin & Srikant (2024).

    For j ≤ m/2: a_j ~ Unif{-1, +1}, W_j ~ N(0, I_d); then a_{j+m/2} = -a_j and
    W_{j+m/2} = W_j, so f(x; W(0)) = 0 for every x. ``width`` must be even.
    """
    width = int(width)
    if width <= 0 or width % 2:
        raise ValueError(
            f"symmetric_init needs an even, positive width; got width={width} "
            "(use an even width, or init='standard')")
    half = width // 2
    key_w, key_a = jax.random.split(key)
    w_half = jax.random.normal(key_w, (half, dim), dtype)
    a_half = jax.random.rademacher(key_a, (half,), dtype)
    return {"W": jnp.concatenate([w_half, w_half]), "a": jnp.concatenate([a_half, -a_half])}


def standard_init(key, width: int, dim: int, dtype=jnp.float32):
    """Plain initialisation of Ji & Telgarsky (2020): a_j ~ Unif{-1,+1}, W_j ~ N(0, I_d), independent."""
    width = int(width)
    if width <= 0:
        raise ValueError(f"width must be a positive integer; got width={width}")
    key_w, key_a = jax.random.split(key)
    return {"W": jax.random.normal(key_w, (width, dim), dtype),
            "a": jax.random.rademacher(key_a, (width,), dtype)}


def init(key, width: int, dim: int, scheme: str = "symmetric", dtype=jnp.float32):
    """Dispatch to :func:`symmetric_init` or :func:`standard_init` by name."""
    if scheme == "symmetric":
        return symmetric_init(key, width, dim, dtype)
    if scheme == "standard":
        return standard_init(key, width, dim, dtype)
    raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")


def output_coefficients(a):
    """c_j = a_j / √m, the weight of neuron j in the output (m is the last axis of ``a``)."""
    return a / jnp.sqrt(jnp.asarray(a.shape[-1], a.dtype))


def pre_activations(W, X):
    """H_ji = W_jᵀ x_i, shape (..., m, n) for W of shape (..., m, d) and X of shape (n, d).

    Neurons before examples: with the examples on the fast axis the products and the reductions over
    m and n run several times faster on CPU than with the (n, m) layout (see BUILD_NOTES.md).
    """
    return jnp.einsum("...md,nd->...mn", W, X)


def output_from_pre_activations(H, coef):
    """f_i = Σ_j c_j ReLU(H_ji); H of shape (..., m, n), coef (..., m) -> (..., n).

    Written as a contraction (a batched matrix-vector product), which XLA runs several times faster
    than a multiply followed by a reduction over m. At a symmetric initialisation the mirrored terms
    cancel only up to rounding (|f| ~ 1e-7); :func:`kd_theory.losses.error_rate` treats that as zero.
    """
    return jnp.einsum("...mn,...m->...n", jax.nn.relu(H), coef)


def apply(params, X):
    """f(X; W, a) = ReLU(X Wᵀ) a / √m, shape (n,) (or (..., n) for stacked networks)."""
    return output_from_pre_activations(pre_activations(params["W"], X),
                                       output_coefficients(params["a"]))


def hidden_layer_gradient(H, coef, residual, X):
    """∇_W of (1/n) Σ_i ℓ(f_i) when dℓ/df_i = residual_i.

        ∂/∂W_j = (1/n) Σ_i residual_i · c_j · 1(H_ji > 0) · x_i

    (ReLU'(0) taken as 0, as in the paper). H: (..., m, n), coef: (..., m), residual: (..., n),
    X: (n, d); returns (..., m, d). With the forward, it is two matrix products and a gate.
    """
    n = X.shape[0]
    E = jnp.where(H > 0, coef[..., None] * residual[..., None, :], 0.0) / n
    return jnp.einsum("...mn,nd->...md", E, X)


def output_layer_gradient(H, residual):
    """∇_a of (1/n) Σ_i ℓ(f_i): ∂/∂a_j = (1/n) Σ_i residual_i · ReLU(H_ji) / √m; returns (..., m)."""
    m, n = H.shape[-2], H.shape[-1]
    return jnp.einsum("...mn,...n->...m", jax.nn.relu(H), residual) / (n * jnp.sqrt(jnp.asarray(m, H.dtype)))


def projection_radius(B, width):
    """Per-neuron ball radius B/√m of projected gradient descent; B = None (no projection) gives inf."""
    return math.inf if B is None else B / math.sqrt(width)


def project_to_balls(W, W0, radius):
    """Project each neuron onto the ball ‖W_j − W_j(0)‖₂ ≤ radius around its own initial weights.

    ``radius`` broadcasts against W's leading axes (shape (...,) or scalar); ``inf`` means no projection.
    """
    delta = W - W0
    norm = jnp.linalg.norm(delta, axis=-1, keepdims=True)
    radius = jnp.asarray(radius, W.dtype)[..., None, None] if jnp.ndim(radius) else radius
    scale = jnp.minimum(1.0, radius / jnp.maximum(norm, jnp.finfo(W.dtype).tiny))
    return W0 + delta * scale
