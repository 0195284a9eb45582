"""The margin γ of the limiting (infinite-width NTK) kernel, with certified bounds.

Ji & Telgarsky's margin, with NTK features φ_x(z) = 1(zᵀx > 0)·x, z ~ N(0, I_d):

    γ = max_{‖v(z)‖ ≤ 1 ∀z} min_i y_i E_z[φ_{x_i}(z)ᵀ v(z)] = min_{q ∈ Δ_n} E_z ‖Σ_i q_i y_i 1(zᵀx_i > 0) x_i‖₂

with the optimal v*(z) = g(z)/‖g(z)‖, g(z) = Σ_i q*_i y_i 1(zᵀx_i > 0) x_i. With K gates z_1..z_K
(S_ki = 1(z_kᵀx_i > 0)) and U(q) = S diag(q ⊙ y) X (row k: U_k = A_k q), the sampled dual is

    f(q) = (1/K) Σ_k ‖U_k(q)‖,   γ_K = min_{q ∈ Δ_n} f(q).

Certificates: every q gives the upper bound f(q) ≥ γ_K; the feasible primal v_k = U_k/‖U_k‖ gives
the lower bound min_i m_i(v) ≤ γ_K with margins m_i(v) = y_i (1/K) Σ_k S_ki v_kᵀ x_i. These margins
are exactly ∇f(q), and f(q) − min_i m_i = qᵀ∇f − min_i ∇_i f is the Frank-Wolfe gap of the dual:
the stopping rule (upper − lower ≤ tol · upper) is a standard optimality gap.

Solver: accelerated projected gradient (FISTA) on the simplex with backtracking on the step and
function-value restarts (:func:`simplex_fista`); it is a pure ``lax.while_loop``, so it jits and vmaps
(margins of many equally shaped data sets in one program). It also solves the SVM bound
γ₂² = min_q qᵀ(yyᵀ ⊙ Θ_W)q ≥ γ² (:func:`svm_margin`). Always γ ≤ min_i ‖x_i‖/2.

The kernel-limit teacher (paper §1.5) is z_i = E_z[φ_{x_i}(z)ᵀ v*(z)] with v* from the solver,
p_i = σ(z_i): :func:`teacher_logits`, :func:`kernel_teacher_logits`.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from optax.projections import projection_simplex

from kd_theory import ntk

DEFAULT_NUM_GATES = 4096
DEFAULT_TOL = 1e-3
DEFAULT_MAX_ITERS = 5000
PARALLEL_COS_TOL = 1e-9  # 1 − cos ≤ this counts as "same direction"


# ---------------------------------------------------------------------------------------------
# The sampled problem
# ---------------------------------------------------------------------------------------------

def sample_gates(key, num_gates: int, dim: int, dtype=jnp.float32):
    """z_1..z_K ~ N(0, I_d), shape (K, d)."""
    return jax.random.normal(key, (num_gates, dim), dtype)


def gate_matrix(Z, X):
    """S_ki = 1(z_kᵀ x_i > 0), shape (K, n), in X's dtype (it enters matrix products)."""
    return (Z @ X.T > 0).astype(X.dtype)


def gate_sums(q, S, YX):
    """U_k = A_k q = Σ_i q_i y_i S_ki x_i for all k: U = S (q ⊙ YX), shape (K, d); YX_i = y_i x_i."""
    return S @ (q[:, None] * YX)


def dual_objective(U):
    """f = (1/K) Σ_k ‖U_k‖₂: the sampled dual objective (an upper bound on γ_K for any q ∈ Δ_n)."""
    return jnp.mean(jnp.linalg.norm(U, axis=1))


def smoothed_dual_objective(U, mu):
    """f_μ = (1/K) Σ_k √(‖U_k‖² + μ²): f ≤ f_μ ≤ f + μ, smooth, with gradient m(primal_directions(U, μ))."""
    return jnp.mean(jnp.sqrt(jnp.sum(U * U, axis=1) + mu * mu))


def primal_directions(U, mu=0.0):
    """v_k = U_k/√(‖U_k‖² + μ²) (0 where U_k = 0): the primal point built from the dual, ‖v_k‖ ≤ 1.

    μ = 0 gives the paper's v = g/‖g‖; μ > 0 the primal of the smoothed dual (see solve_margin_dual).
    """
    r = jnp.sqrt(jnp.sum(U * U, axis=1, keepdims=True) + mu * mu)
    return jnp.where(r > 0, U / jnp.where(r > 0, r, 1.0), 0.0)


def primal_margins(V, S, YX):
    """m_i(v) = y_i (1/K) Σ_k S_ki v_kᵀ x_i, shape (n,). min_i m_i is a lower bound on γ_K.

    For v = primal_directions(U(q)) this is also ∇f(q) (f is 1-homogeneous: qᵀ∇f = f).
    """
    return jnp.mean(S * (V @ YX.T), axis=0)


def logits_from_directions(V, Z, X):
    """z(x) = (1/K) Σ_k 1(z_kᵀx > 0) v_kᵀ x: the sampled E_z[φ_x(z)ᵀ v(z)], shape (n,)."""
    return jnp.mean(gate_matrix(Z, X) * (V @ X.T), axis=0)


def directions_at(q, X, y, Z, mu=0.0):
    """v(z_k) = g(z_k)/√(‖g(z_k)‖² + μ²), g(z) = Σ_i q_i y_i 1(zᵀx_i > 0) x_i, at any gates Z (K', d)."""
    return primal_directions(gate_sums(q, gate_matrix(Z, X), y[:, None] * X), mu)


def margin_bounds(q, X, y, Z, mu=0.0):
    """(upper, lower) on γ_K for gates Z: (f(q), min_i m_i(v_μ(q))). Both are certified for any q."""
    S, YX = gate_matrix(Z, X), y[:, None] * X
    U = gate_sums(q, S, YX)
    return dual_objective(U), jnp.min(primal_margins(primal_directions(U, mu), S, YX))


# ---------------------------------------------------------------------------------------------
# First-order solver over the simplex
# ---------------------------------------------------------------------------------------------

class SolverResult(NamedTuple):
    """Best certificates seen: upper = F(q_upper); lower, certified by the primal object ``primal``."""
    q_upper: jax.Array
    upper: jax.Array
    lower: jax.Array
    primal: object
    iterations: jax.Array


def simplex_fista(linear_map, objective, oracle, q0, *, tol, max_iters, smoothing=0.25):
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
    next_t = lambda t: (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)) / 2.0
    smooth_value = lambda U, mu: oracle(U, mu)[0]

    def step(state):
        q, q_prev, U, U_prev, t, L, avg, best = state
        it, q_up, up, lo, primal_lo = best
        mu = smoothing * tol * up
        momentum = (t - 1.0) / next_t(t)
        p, U_p = q + momentum * (q - q_prev), U + momentum * (U - U_prev)
        F_p, g_p, c_p, primal_p = oracle(U_p, mu)

        def trial(L):
            q_new = projection_simplex(p - g_p / L)
            U_new = linear_map(q_new)
            d = q_new - p
            bound = F_p + jnp.dot(g_p, d) + 0.5 * L * jnp.dot(d, d) + slack * jnp.abs(F_p)
            return q_new, U_new, smooth_value(U_new, mu) > bound

        def backtrack(c):
            L, _, _, _, k = c
            return (2.0 * L, *trial(2.0 * L), k + 1)

        L, q_new, U_new, _, _ = jax.lax.while_loop(lambda c: c[3] & (c[4] < 40), backtrack, (L, *trial(L), 0))

        # Certificates: exact F at q_new; minorant at p alone and averaged over all steps.
        weight = (it + 1).astype(dtype)
        w_sum, g_avg, c_avg, primal_avg = avg
        frac = weight / (w_sum + weight)
        mix = lambda a, b: a + frac * (b - a)
        avg = (w_sum + weight, mix(g_avg, g_p), mix(c_avg, c_p), jax.tree.map(mix, primal_avg, primal_p))
        upper = objective(U_new)
        lower_p, lower_avg = jnp.min(g_p) + c_p, jnp.min(avg[1]) + avg[2]
        use_avg = lower_avg > lower_p
        lower = jnp.where(use_avg, lower_avg, lower_p)
        primal = jax.tree.map(lambda a, b: jnp.where(use_avg, a, b), avg[3], primal_p)
        better_up, better_lo = upper < up, lower > lo
        best = (it + 1, jnp.where(better_up, q_new, q_up), jnp.where(better_up, upper, up),
                jnp.where(better_lo, lower, lo),
                jax.tree.map(lambda a, b: jnp.where(better_lo, a, b), primal, primal_lo))
        return (q_new, q, U_new, U, next_t(t), L, avg, best)

    def running(state):
        it, _, up, lo, _ = state[-1]
        return (it < max_iters) & (up - lo > tol * up) & (up > 0)

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
    avg = (zero, jnp.zeros_like(g0), zero, jax.tree.map(jnp.zeros_like, primal0))
    best = (jnp.asarray(0), q0, upper0, jnp.min(g0) + c0, primal0)
    state = (q0, q0, U0, U0, jnp.asarray(1.0, dtype), L0, avg, best)
    it, q_up, up, lo, primal = jax.lax.while_loop(running, step, state)[-1]
    return SolverResult(q_up, up, lo, primal, it)


@jax.jit
def solve_margin_dual(X, y, Z, tol=DEFAULT_TOL, max_iters=DEFAULT_MAX_ITERS):
    """The sampled margin γ_K of (X, y) with gates Z: a pure, jittable, vmappable solve.

    Descends the smoothed dual f_μ(q) = (1/K) Σ_k √(‖U_k‖² + μ²) = max_{‖v_k‖≤1} [qᵀm(v) + μ (1/K)
    Σ_k √(1 − ‖v_k‖²)], whose gradient is m(v_μ), v_μ,k = U_k/√(‖U_k‖² + μ²): a feasible primal, so
    qᵀm(v_μ) ≤ f(q) is a minorant (c = 0) and min_i m_i(v) ≤ γ_K for v_μ and for any average of them.
    Smoothing and averaging matter where U_k(q*) = 0 (symmetric data such as noisy XOR, whose gates
    cancel at the optimum): the subgradient is then a set and the primal is not read off q*.

    X: (n, d), y: (n,) in {±1}, Z: (K, d). Returns a :class:`SolverResult`; ``primal`` is the v
    (K, d) on the gates Z that certifies ``lower`` (lower = min_i m_i(primal)). No input checks:
    use :func:`estimate_margin`. For many data sets of one shape:
    ``jax.vmap(solve_margin_dual)(Xs, ys, Zs)``.
    """
    S, YX = gate_matrix(Z, X), y[:, None] * X
    linear_map = lambda q: gate_sums(q, S, YX)

    def oracle(U, mu):
        V = primal_directions(U, mu)
        return smoothed_dual_objective(U, mu), primal_margins(V, S, YX), jnp.zeros((), U.dtype), V

    q0 = jnp.full(X.shape[:1], 1.0 / X.shape[0], X.dtype)
    return simplex_fista(linear_map, dual_objective, oracle, q0, tol=tol, max_iters=max_iters)


@jax.jit
def solve_svm_dual(Q, tol=DEFAULT_TOL, max_iters=DEFAULT_MAX_ITERS):
    """min_{q ∈ Δ_n} h(q) = qᵀQq for a PSD Q, with certified bounds on the minimum.

    Minorant at any p (tangent plane of the convex h): h(q) ≥ qᵀ(2Qp) − pᵀQp.
    """
    n = Q.shape[0]
    # h(q) needs q as well as Qq: carry q along in U (both are linear in q).
    linear_map = lambda q: jnp.concatenate([Q @ q, q])
    objective = lambda U: jnp.dot(U[:n], U[n:])
    oracle = lambda U, mu: (objective(U), 2.0 * U[:n], -objective(U), ())
    q0 = jnp.full((n,), 1.0 / n, Q.dtype)
    return simplex_fista(linear_map, objective, oracle, q0, tol=tol, max_iters=max_iters)


# ---------------------------------------------------------------------------------------------
# Checked Python API
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MarginEstimate:
    """Certified bounds lower ≤ γ_K ≤ upper on the sampled margin, and what certifies them.

    q: dual weights, upper = f(q) = (1/K) Σ_k ‖A_k q‖; v: the primal (K, d), ‖v_k‖ ≤ 1, on the
    gates (K, d), lower = min_i y_i (1/K) Σ_k 1(z_kᵀx_i > 0) v_kᵀx_i. ``zero_margin_pairs`` lists
    pairs of same-direction points with opposite labels (then γ = 0 exactly).
    """
    lower: float
    upper: float
    q: np.ndarray
    v: np.ndarray
    gates: np.ndarray
    iterations: int
    converged: bool
    tol: float
    zero_margin_pairs: tuple = ()

    @property
    def value(self) -> float:
        """Midpoint of the certified interval."""
        return 0.5 * (self.lower + self.upper)

    @property
    def relative_gap(self) -> float:
        return (self.upper - self.lower) / self.upper if self.upper > 0 else 0.0

    def v_star(self, Z, X, y):
        """The paper's v*(z) = g(z)/‖g(z)‖ built from the dual weights q, at any gates Z (K', d)."""
        return directions_at(jnp.asarray(self.q, X.dtype), X, y, Z)


def check_inputs(X, y, what: str = "margin"):
    """Validate (X, y) for a margin: finite, non-zero rows; labels ±1; both classes present.

    Returns float arrays (X, y); raises ValueError naming the offending indices.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"{what}: need X of shape (n, d) and y of shape (n,); got {X.shape} and {y.shape}")
    if len(X) == 0:
        raise ValueError(f"{what}: no points")
    bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
    if bad.size:
        raise ValueError(f"{what}: inputs {bad[:20].tolist()} contain NaN or inf")
    bad = np.flatnonzero(~np.isfinite(y) | ((y != 1) & (y != -1)))
    if bad.size:
        raise ValueError(f"{what}: labels must be ±1; points {bad[:20].tolist()} have {y[bad[:5]].tolist()}")
    zero = np.flatnonzero(np.linalg.norm(X.astype(np.float64), axis=1) == 0)
    if zero.size:
        raise ValueError(f"{what}: inputs {zero[:20].tolist()} have zero norm: φ_x(z) = 0 for them, so γ ≤ "
                         "min‖x‖/2 = 0; remove them")
    if np.all(y == y[0]):
        raise ValueError(f"{what}: all {len(y)} labels are {y[0]:+g}: a margin needs both classes")
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float32
    return X.astype(dtype), y.astype(dtype)


def conflicting_pairs(X, y, cos_tol: float = PARALLEL_COS_TOL, block_size: int = 2048):
    """Pairs (i, j), i < j, with y_i ≠ y_j and x_j = c·x_i, c > 0 (up to 1 − cos ≤ cos_tol).

    Such a pair makes γ = 0: q = weights ∝ 1/‖x‖ on the two points gives g(z) = 0 for every z.
    Computed in float64 row blocks (O(block · n) memory).
    """
    Xn = np.asarray(X, np.float64)
    Xn = Xn / np.linalg.norm(Xn, axis=1, keepdims=True)
    y = np.asarray(y)
    pairs = []
    for start in range(0, len(Xn), block_size):
        C = Xn[start:start + block_size] @ Xn.T
        i, j = np.nonzero((C >= 1.0 - cos_tol) & (y[start:start + block_size, None] != y[None, :]))
        i = i + start
        pairs.extend((int(a), int(b)) for a, b in zip(i, j) if a < b)
    return pairs


def norm_upper_bound(X) -> float:
    """γ ≤ min_i ‖x_i‖/2: point i alone gets y_i E_z[1(zᵀx_i>0) v(z)ᵀx_i] ≤ P(zᵀx_i > 0)‖x_i‖."""
    return float(np.min(np.linalg.norm(np.asarray(X, np.float64), axis=1)) / 2)


def _x64(dtype):
    """A context enabling float64 in JAX when ``dtype`` is float64 (a no-op otherwise)."""
    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    import contextlib
    return contextlib.nullcontext()


def estimate_margin(X, y, *, num_gates: int = DEFAULT_NUM_GATES, key=None, tol: float = DEFAULT_TOL,
                    max_iters: int = DEFAULT_MAX_ITERS, dtype=np.float32, gates=None) -> MarginEstimate:
    """Certified bounds on the sampled NTK margin γ_K of (X, y), K = ``num_gates`` Gaussian gates.

    Solves the dual in ``dtype`` (float32 by default; float64 runs inside ``jax.enable_x64``), then
    re-evaluates both certificates in float64, so lower ≤ γ_K ≤ upper holds to float64 rounding.
    Stops when (upper − lower) ≤ tol · upper; if max_iters comes first, warns and returns the
    (still valid, wider) bounds with converged=False. Same-direction points with opposite labels
    (γ = 0) are reported by a warning naming them, and the exact certificate 0 ≤ γ ≤ 0 is returned
    without iterating. ``gates`` (K, d) overrides num_gates/key.
    """
    X, y = check_inputs(X, y)
    n, d = X.shape
    if gates is None:
        if key is None:
            raise ValueError("estimate_margin: pass key=jax.random.PRNGKey(...) (or gates=...)")
        with _x64(dtype):
            gates = np.asarray(sample_gates(key, int(num_gates), d, dtype))
    gates = np.asarray(gates)
    if gates.ndim != 2 or gates.shape[1] != d:
        raise ValueError(f"gates must have shape (K, {d}); got {gates.shape}")
    pairs = conflicting_pairs(X, y)
    if pairs:
        i, j = pairs[0]
        warnings.warn(f"margin: {len(pairs)} pair(s) of same-direction points with opposite labels, e.g. "
                      f"{pairs[:10]}: γ = 0 exactly (no v separates them); returning lower = upper = 0",
                      RuntimeWarning, stacklevel=2)
        norms = np.linalg.norm(X.astype(np.float64), axis=1)
        q = np.zeros(n)
        q[[i, j]] = 1.0 / norms[[i, j]]
        q /= q.sum()
        return MarginEstimate(0.0, 0.0, q, np.zeros(gates.shape), gates, 0, True, float(tol), tuple(pairs))
    with _x64(dtype):
        # The solver aims at 0.9·tol so that re-evaluating its certificates in float64 below does not
        # push a just-converged float32 gap back over tol.
        result = solve_margin_dual(jnp.asarray(X, dtype), jnp.asarray(y, dtype), jnp.asarray(gates, dtype),
                                   jnp.asarray(0.9 * tol, dtype), int(max_iters))
        q, v, iterations = np.asarray(result.q_upper), np.asarray(result.primal), int(result.iterations)
    with jax.enable_x64(True):  # the certificates, in float64 whatever the solver's dtype
        X64, y64, Z64, v64 = (jnp.asarray(a, jnp.float64) for a in (X, y, gates, v))
        # Rescale v_k with ‖v_k‖ = 1 + rounding back into the unit ball, so v is feasible exactly.
        v64 = v64 / jnp.maximum(1.0, jnp.linalg.norm(v64, axis=1, keepdims=True))
        S, YX = gate_matrix(Z64, X64), y64[:, None] * X64
        q = np.asarray(q, np.float64) / np.sum(np.asarray(q, np.float64))  # exactly on the simplex
        upper = float(dual_objective(gate_sums(jnp.asarray(q), S, YX)))
        lower = float(jnp.min(primal_margins(v64, S, YX)))
        v = np.asarray(v64)
    converged = upper - lower <= tol * upper
    if not converged:
        warnings.warn(f"margin: no certified gap ≤ {tol:g} after {iterations} iterations (lower={lower:.6g}, "
                      f"upper={upper:.6g}); raise max_iters or tol. If γ is tiny, look for nearly parallel "
                      "points with opposite labels.", RuntimeWarning, stacklevel=2)
    return MarginEstimate(lower, upper, q.astype(np.float64), v, gates, iterations, bool(converged), float(tol))


def fresh_gate_margins(estimate: MarginEstimate, X, y, *, num_gates: int, key):
    """m_i(v*) on K' fresh gates, v* = g/‖g‖ from the dual weights q: an unbiased estimate of
    y_i E_z[φ_{x_i}(z)ᵀ v*(z)] (shape (n,)). Its min is the out-of-sample check of v*: a feasible
    population v, so min_i m_i estimates a lower bound on the population γ (up to O(1/√K') noise).
    """
    X, y = check_inputs(X, y)
    X, y = jnp.asarray(X), jnp.asarray(y)
    Z = sample_gates(key, int(num_gates), X.shape[1], X.dtype)
    return y * logits_from_directions(estimate.v_star(Z, X, y), Z, X)


def svm_margin(X, y, *, tol: float = DEFAULT_TOL, max_iters: int = DEFAULT_MAX_ITERS, kernel=None):
    """γ₂ = min_{q ∈ Δ_n} √(qᵀ(yyᵀ ⊙ Θ)q) ≥ γ, Θ the first-layer NTK (or ``kernel``'s Gram matrix).

    E_z‖g(z)‖ ≤ √(E_z‖g(z)‖²) = √(qᵀ(yyᵀ⊙Θ_W)q) for every q, hence γ ≤ γ₂. Returns certified
    (lower, upper) bounds on γ₂. Θ is an n × n matrix: fine to n ≈ 20,000 in float32.
    """
    X, y = check_inputs(X, y, "svm_margin")
    X, y = jnp.asarray(X), jnp.asarray(y)
    theta = ntk.gram(kernel or ntk.ntk_first_layer, X)
    result = solve_svm_dual(y[:, None] * theta * y[None, :], tol, max_iters)
    return float(jnp.sqrt(jnp.maximum(result.lower, 0.0))), float(jnp.sqrt(result.upper))


def kernel_teacher_logits(X_train, y_train, X_eval=None, *, num_gates: int = DEFAULT_NUM_GATES, key,
                          tol: float = DEFAULT_TOL, max_iters: int = DEFAULT_MAX_ITERS):
    """Logits of the kernel-limit teacher (paper §1.5) on X_eval (default X_train); p = σ(z).

        z(x) = (1/K) Σ_k 1(z_kᵀx > 0) v_kᵀx,

    E_z[φ_x(z)ᵀ v(z)] over the K = num_gates gates of :func:`estimate_margin` on (X_train, y_train),
    with v its certified primal. On the training points y_i z_i ≥ lower > 0 (the teacher's sign
    matches every label) and |z| ≤ (1/K) Σ_k 1(z_kᵀx > 0)‖x‖ ≈ ‖x‖/2. Raises ValueError when γ = 0.
    """
    est = estimate_margin(X_train, y_train, num_gates=num_gates, key=key, tol=tol, max_iters=max_iters)
    if est.zero_margin_pairs:
        raise ValueError(f"kernel teacher: γ = 0 (same-direction points with opposite labels: "
                         f"{list(est.zero_margin_pairs[:10])}); no kernel-limit teacher exists")
    X_train, _ = check_inputs(X_train, y_train, "kernel teacher")
    X_eval = X_train if X_eval is None else np.asarray(X_eval, X_train.dtype)
    if X_eval.ndim != 2 or X_eval.shape[1] != X_train.shape[1]:
        raise ValueError(f"kernel teacher: X_eval must have shape (n, {X_train.shape[1]}); got {X_eval.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(X_eval), axis=1))
    if bad.size:
        raise ValueError(f"kernel teacher: X_eval rows {bad[:20].tolist()} contain NaN or inf")
    dtype = X_train.dtype
    return np.asarray(logits_from_directions(jnp.asarray(est.v, dtype), jnp.asarray(est.gates, dtype),
                                             jnp.asarray(X_eval)))


# ---------------------------------------------------------------------------------------------
# Noisy 2-XOR over its whole support (the population margin)
# ---------------------------------------------------------------------------------------------

def dual_values(q, X, y, Z, *, block_size: int = 4096):
    """‖A_k q‖ for every gate z_k (K,), in blocks of gates: f(q) is their mean.

    For data whose symmetry group acts transitively on the points and preserves the Gaussian (noisy
    2-XOR over its support) the uniform q is optimal by convexity, so the mean over fresh gates is an
    unbiased Monte-Carlo estimate of the population γ, with standard error std/√K.
    """
    YXq = (y * q)[:, None] * X
    return jax.lax.map(lambda z: jnp.linalg.norm(gate_matrix(z[None, :], X) @ YXq, axis=1)[0], Z,
                       batch_size=block_size)


def conic_reference(X, y, Z, solver: str = "CLARABEL"):
    """γ_K = min_{q ∈ Δ} (1/K) Σ_k ‖A_k q‖ by a conic solver (cvxpy; K second-order cones), float64.

    The reference for tests and benchmarks (cvxpy is a test/bench extra, imported here lazily).
    Written as U = S P with P = diag(q ⊙ y) X so that cvxpy's linear map has K·n·d coefficients
    (a diag(q) matrix expression would build K·n² of them).
    """
    import cvxpy as cp
    X, y, Z = (np.asarray(a, np.float64) for a in (X, y, Z))
    S = (Z @ X.T > 0).astype(np.float64)
    YX = y[:, None] * X
    q = cp.Variable(len(X))
    P = cp.vstack([cp.multiply(q, YX[:, j]) for j in range(X.shape[1])]).T
    problem = cp.Problem(cp.Minimize(cp.sum(cp.norm(S @ P, 2, axis=1)) / len(Z)), [q >= 0, cp.sum(q) == 1])
    problem.solve(solver=solver)
    return float(problem.value)
