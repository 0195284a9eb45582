"""Convex minimisation over the probability simplex Δ_n with certified bounds on the minimum.

:func:`simplex_fista` minimises F(q) = objective(linear_map(q)) over Δ_n = {q ≥ 0, Σ q = 1} and
returns an upper bound (F at its best iterate) and a lower bound certified by a primal object (an
affine minorant qᵀg + c ≤ F(q) gives min_{Δ} F ≥ min_i g_i + c). The margin dual and the SVM bound
(kd_theory.margin) are its two users. Its loop state is named, as optax names its states
(``ScaleByAdamState``): :class:`FistaState`, :class:`MinorantAverage`, :class:`Certificates`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from optax.projections import projection_simplex

MAX_BACKTRACKS = 40  # L doubles at most this often per step (2^40 L₀: far past any finite curvature)


class MinorantAverage(NamedTuple):
    """Running weighted average of the step minorants qᵀg_t + c_t (weights ∝ t) and of their primals."""
    weight_sum: jax.Array
    gradient: jax.Array
    offset: jax.Array
    primal: Any


class Certificates(NamedTuple):
    """Best bounds so far: upper = F(q_upper); lower, certified by the primal object ``primal``."""
    iterations: jax.Array
    q_upper: jax.Array
    upper: jax.Array
    lower: jax.Array
    primal: Any


class FistaState(NamedTuple):
    """The ``lax.while_loop`` carry of :func:`simplex_fista`."""
    q: jax.Array            # current iterate
    q_prev: jax.Array       # previous iterate (for the momentum step)
    U: jax.Array            # linear_map(q)
    U_prev: jax.Array       # linear_map(q_prev)
    t: jax.Array            # FISTA's momentum sequence t_k
    L: jax.Array            # current curvature estimate (step 1/L)
    average: MinorantAverage
    best: Certificates


class SolverResult(NamedTuple):
    """Best certificates seen: upper = F(q_upper); lower, certified by the primal object ``primal``."""
    q_upper: jax.Array
    upper: jax.Array
    lower: jax.Array
    primal: Any
    iterations: jax.Array


def next_momentum(t):
    """t_{k+1} = (1 + √(1 + 4 t_k²))/2 (Beck & Teboulle 2009)."""
    return (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)) / 2.0


def select(condition, if_true, if_false):
    """jnp.where over two pytrees of one structure."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), if_true, if_false)


def add_to_average(average: MinorantAverage, weight, gradient, offset, primal) -> MinorantAverage:
    """x̄ ← x̄ + w/(Σw + w)·(x − x̄) for the minorant (g, c) and its primal: a weighted mean."""
    frac = weight / (average.weight_sum + weight)
    mix = lambda a, b: a + frac * (b - a)
    return MinorantAverage(average.weight_sum + weight, mix(average.gradient, gradient),
                           mix(average.offset, offset), jax.tree.map(mix, average.primal, primal))


def simplex_fista(linear_map, objective, oracle, q0, *, tol, max_iters, smoothing=0.25) -> SolverResult:
    """Minimise a convex F over the simplex Δ_n, with certified bounds on F* = min F.

    ``U = linear_map(q)`` is linear in q and ``objective(U)`` = F(q). ``oracle(U, mu) -> (F_mu, g, c,
    primal)`` at a point p (U = U(p)): F_mu is a smoothed F (mu ≥ 0 its scale), g = ∇F_mu(p), and
    qᵀg + c ≤ F(q) for every q ∈ Δ_n is an affine minorant of F certified by ``primal``. Hence
    F* ≥ min_i g_i + c, and the same holds for any weighted average of minorants (and of their
    primals, when the primal enters linearly): the averaged minorant (weights ∝ iteration count,
    Nesterov 2005) is what certifies the lower bound of nonsmooth problems, whose single-point
    minorants converge slowly.

    Steps: FISTA (Beck & Teboulle 2009) with projection onto the simplex and backtracking (L doubles
    until the quadratic upper bound holds; it never shrinks); mu = ``smoothing`` · tol · (best upper).
    No momentum restarts and no step growth: both break the averaged-minorant certificate, which on
    degenerate problems (noisy XOR) is what closes the gap. Since U is linear in q, U at the
    extrapolated point costs no product: one step is one linear_map and one oracle. Stops when
    upper − lower ≤ tol · upper, when upper ≤ 0, or after max_iters steps. A pure
    ``lax.while_loop``: it jits and vmaps (under vmap it runs until the slowest problem stops).
    """
    dtype = q0.dtype
    slack = 16 * jnp.finfo(dtype).eps  # rounding allowance of the sufficient-decrease test

    def step(state: FistaState) -> FistaState:
        best = state.best
        mu = smoothing * tol * best.upper
        momentum = (state.t - 1.0) / next_momentum(state.t)
        p = state.q + momentum * (state.q - state.q_prev)
        U_p = state.U + momentum * (state.U - state.U_prev)
        F_p, g_p, c_p, primal_p = oracle(U_p, mu)

        def trial(L):
            q_new = projection_simplex(p - g_p / L)
            U_new = linear_map(q_new)
            d = q_new - p
            bound = F_p + jnp.dot(g_p, d) + 0.5 * L * jnp.dot(d, d) + slack * jnp.abs(F_p)
            return q_new, U_new, oracle(U_new, mu)[0] > bound

        def backtrack(carry):
            L, _, _, _, count = carry
            return (2.0 * L, *trial(2.0 * L), count + 1)

        L, q_new, U_new, _, _ = jax.lax.while_loop(lambda c: c[3] & (c[4] < MAX_BACKTRACKS), backtrack,
                                                   (state.L, *trial(state.L), 0))

        # Certificates: exact F at q_new; the minorant at p alone and averaged over all steps.
        average = add_to_average(state.average, (best.iterations + 1).astype(dtype), g_p, c_p, primal_p)
        upper = objective(U_new)
        lower_p = jnp.min(g_p) + c_p
        lower_avg = jnp.min(average.gradient) + average.offset
        use_avg = lower_avg > lower_p
        lower = jnp.where(use_avg, lower_avg, lower_p)
        primal = select(use_avg, average.primal, primal_p)
        better_up, better_lo = upper < best.upper, lower > best.lower
        best = Certificates(best.iterations + 1, jnp.where(better_up, q_new, best.q_upper),
                            jnp.where(better_up, upper, best.upper), jnp.where(better_lo, lower, best.lower),
                            select(better_lo, primal, best.primal))
        return FistaState(q_new, state.q, U_new, state.U, next_momentum(state.t), L, average, best)

    def running(state: FistaState):
        best = state.best
        return (best.iterations < max_iters) & (best.upper - best.lower > tol * best.upper) & (best.upper > 0)

    U0 = linear_map(q0)
    upper0 = objective(U0)
    mu0 = smoothing * tol * upper0
    _, g0, c0, primal0 = oracle(U0, mu0)
    # First step size: the inverse of a finite-difference curvature along the gradient.
    q1 = projection_simplex(q0 - g0 / ((jnp.max(jnp.abs(g0)) + 1.0) * q0.shape[0]))
    L0 = (jnp.linalg.norm(oracle(linear_map(q1), mu0)[1] - g0)
          / jnp.maximum(jnp.linalg.norm(q1 - q0), jnp.finfo(dtype).tiny))
    L0 = jnp.where(jnp.isfinite(L0) & (L0 > 0), L0, 1.0).astype(dtype)
    zero = jnp.asarray(0.0, dtype)
    average = MinorantAverage(zero, jnp.zeros_like(g0), zero, jax.tree.map(jnp.zeros_like, primal0))
    best = Certificates(jnp.asarray(0), q0, upper0, jnp.min(g0) + c0, primal0)
    state = FistaState(q0, q0, U0, U0, jnp.asarray(1.0, dtype), L0, average, best)
    best = jax.lax.while_loop(running, step, state).best
    return SolverResult(best.q_upper, best.upper, best.lower, best.primal, best.iterations)
