"""Neural tangent kernels of the two-layer ReLU network f(x) = (1/√m) Σ_j a_j ReLU(W_jᵀx).

Infinite-width closed forms (w_j ~ N(0, I), a_j² = 1), with θ = arccos(⟨x,x'⟩ / (‖x‖‖x'‖)):

* first layer trained only (the paper's setting):  Θ_W(x,x') = ⟨x,x'⟩ (π − θ)/(2π)
* second layer trained only = the NNGP kernel:      Θ_a(x,x') = k₁(x,x')/2,
  k₁(x,x') = (‖x‖‖x'‖/π)(sin θ + (π − θ) cos θ)
* both layers trained:                              Θ_W + Θ_a

Finite-width ("empirical") NTKs of a given network, two ways: the closed formula with the ReLU
gates G_ij = 1(W_jᵀx_i > 0),

    Θ̂_W = (X Xᵀ) ⊙ (G diag(a²) Gᵀ)/m,    Θ̂_a = ReLU(XWᵀ) ReLU(XWᵀ)ᵀ/m,

and a generic Jacobian-free route (one VJP and one JVP per column) for any pure network function.
Every kernel here is a function ``kernel(X1, X2) -> (n1, n2)``; :func:`gram` evaluates one in row
blocks so that intermediates stay O(block · n2) (n = 20,000 points: a 1.6 GB float32 Gram).

Kernel predictors: the infinite-width network trained by gradient descent on the logistic (or
soft-label cross-entropy) loss evolves in function space as f_{t+1} = f_t − (η/n) Θ(X, X) ℓ'(f_t);
:func:`kernel_gradient_descent` runs that recursion.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from kd_theory import losses, nets

def _norms_dots_angle(X1, X2):
    """‖x‖‖x'‖, ⟨x,x'⟩ and θ = arccos(⟨x,x'⟩/(‖x‖‖x'‖)) for all pairs (zero rows: θ = π/2, kernel 0)."""
    dots = X1 @ X2.T
    norms = jnp.linalg.norm(X1, axis=1)[:, None] * jnp.linalg.norm(X2, axis=1)[None, :]
    # Clipping: rounding puts ⟨x,x⟩/‖x‖² slightly above 1, where arccos is NaN.
    cos = jnp.clip(dots / jnp.where(norms > 0, norms, 1.0), -1.0, 1.0)
    return norms, dots, jnp.arccos(cos)


def ntk_first_layer(X1, X2):
    """Θ_W(x,x') = ⟨x,x'⟩ (π − θ)/(2π): NTK of the hidden layer, the output layer a fixed."""
    _, dots, theta = _norms_dots_angle(X1, X2)
    return dots * (jnp.pi - theta) / (2 * jnp.pi)


def nngp(X1, X2):
    """NNGP kernel E_w[ReLU(wᵀx) ReLU(wᵀx')] = k₁/2, k₁ = (‖x‖‖x'‖/π)(sin θ + (π − θ) cos θ)."""
    norms, _, theta = _norms_dots_angle(X1, X2)
    return norms * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)) / (2 * jnp.pi)


def ntk_second_layer(X1, X2):
    """Θ_a = k₁/2: the NTK of the output layer alone equals the NNGP kernel (f is linear in a)."""
    return nngp(X1, X2)


def ntk_both_layers(X1, X2):
    """Θ = Θ_W + Θ_a: both layers trained."""
    return ntk_first_layer(X1, X2) + ntk_second_layer(X1, X2)


# The closed-form kernels by name: one table, read by get_kernel (and by configs that name a kernel).
KERNELS = {"first": ntk_first_layer, "second": ntk_second_layer, "both": ntk_both_layers, "nngp": nngp}


def get_kernel(name: str):
    """Look up the closed-form kernel called ``name`` in :data:`KERNELS` (first, second, both, nngp)."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; allowed: {', '.join(KERNELS)}")
    return KERNELS[name]


def gram(kernel, X1, X2=None, *, block_size: int = 1024):
    """K_ij = kernel(x_i, x'_j) for X1 (n1, d), X2 (n2, d) (default X2 = X1), in row blocks.

    X1 is cut into blocks of ``block_size`` rows (the last one zero-padded) and ``jax.lax.map``
    evaluates kernel(block, X2) one block at a time, so elementwise temporaries (angles, gates) stay
    at block_size × n2 while the result is the full (n1, n2) matrix. ``kernel`` may close over
    arrays, e.g. ``gram(functools.partial(empirical_ntk, params, layers="first"), X)``.
    """
    X2 = X1 if X2 is None else X2
    n1, d = X1.shape
    block_size = max(1, min(int(block_size), n1))
    num_blocks = -(-n1 // block_size)
    padded = jnp.zeros((num_blocks * block_size, d), X1.dtype).at[:n1].set(X1)
    blocks = jax.lax.map(lambda B: kernel(B, X2), padded.reshape(num_blocks, block_size, d))
    return blocks.reshape(num_blocks * block_size, -1)[:n1]


# ---------------------------------------------------------------------------------------------
# Finite width
# ---------------------------------------------------------------------------------------------

def empirical_ntk(params, X1, X2=None, layers: str = "first"):
    """Exact NTK of the network ``params`` = {"W": (m,d), "a": (m,)} by the gate formula.

        first:  Θ̂_W = (X1 X2ᵀ) ⊙ (G1 diag(a²) G2ᵀ)/m,   G_ij = 1(W_jᵀ x_i > 0)
        second: Θ̂_a = ReLU(X1 Wᵀ) ReLU(X2 Wᵀ)ᵀ/m
        both:   Θ̂_W + Θ̂_a

    Equals J1 J2ᵀ with J = ∂f/∂(trained parameters) (ReLU'(0) = 0, as in nets). It converges to the
    closed forms at rate about 1/√m as m grows. For many points wrap it in :func:`gram` with
    ``functools.partial(empirical_ntk, params, layers=...)``.
    """
    if layers not in ("first", "second", "both"):
        raise ValueError(f"unknown layers {layers!r}; allowed: first, second, both")
    X2 = X1 if X2 is None else X2
    W, a = params["W"], params["a"]
    m = W.shape[0]
    H1, H2 = nets.pre_activations(W, X1).T, nets.pre_activations(W, X2).T  # (n, m): nets returns (m, n)
    out = 0.0
    if layers in ("first", "both"):
        G1, G2 = (H1 > 0).astype(X1.dtype), (H2 > 0).astype(X2.dtype)
        out = out + (X1 @ X2.T) * ((G1 * a ** 2) @ G2.T) / m
    if layers in ("second", "both"):
        out = out + jax.nn.relu(H1) @ jax.nn.relu(H2).T / m
    return out


def empirical_ntk_autodiff(apply_fn, params, X1, X2=None, *, batch_size: int = 64):
    """Θ̂(X1, X2) = J1 J2ᵀ, J = ∂ apply_fn(params, X)/∂params, for any pure ``apply_fn`` → (n,).

    Column j is J1 (J2ᵀ e_j): one VJP of f(X2) gives the parameter-space row J2[j], one JVP of
    f(X1) in that direction gives the column; columns go ``batch_size`` at a time. No Jacobian is
    formed. ``params`` holds the *trained* parameters only: close over the fixed ones, e.g.
    ``lambda W, X: nets.apply({"W": W, "a": a}, X)`` for the first-layer NTK.
    """
    X2 = X1 if X2 is None else X2
    _, vjp_fn = jax.vjp(lambda p: apply_fn(p, X2), params)

    def column(e_j):
        (row_j,) = vjp_fn(e_j)
        return jax.jvp(lambda p: apply_fn(p, X1), (params,), (row_j,))[1]

    eye = jnp.eye(X2.shape[0], dtype=jnp.result_type(X2))
    return jax.lax.map(column, eye, batch_size=batch_size).T


# ---------------------------------------------------------------------------------------------
# Kernel predictors
# ---------------------------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("steps",))
def kernel_gradient_descent(theta_train, targets, *, steps: int, learning_rate, theta_test=None):
    """Logits of the infinite-width network after ``steps`` steps of full-batch GD from f₀ = 0.

        f_{t+1}(X)      = f_t(X)      − (η/n) Θ(X, X)      (σ(f_t(X)) − t)
        f_{t+1}(X_test) = f_t(X_test) − (η/n) Θ(X_test, X) (σ(f_t(X)) − t)

    σ(f) − t is ∂ℓ/∂f of the logistic loss for t = (1 + y)/2 (``losses.hard_target(y)``) and of the
    soft-label cross-entropy / KL for a teacher probability t = p. f₀ = 0 is the symmetric
    initialisation. theta_train: (n, n); targets: (n,); theta_test: (n_test, n) or None.
    Returns (f_train, f_test) (f_test is None without theta_test).
    """
    n = theta_train.shape[0]
    f_train = jnp.zeros((n,), theta_train.dtype)
    f_test = None if theta_test is None else jnp.zeros((theta_test.shape[0],), theta_train.dtype)

    def step(carry, _):
        f_tr, f_te = carry
        residual = losses.logit_residual(f_tr, targets)
        update = lambda K: learning_rate / n * (K @ residual)
        return (f_tr - update(theta_train), None if f_te is None else f_te - update(theta_test)), None

    (f_train, f_test), _ = jax.lax.scan(step, (f_train, f_test), None, length=steps)
    return f_train, f_test
