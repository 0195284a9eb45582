"""The margin γ of the limiting (infinite-width NTK) kernel, with certified bounds.

Ji & Telgarsky's margin, with NTK features φ_x(z) = 1(zᵀx > 0)·x, z ~ N(0, I_d):

    γ = max_{‖v(z)‖ ≤ 1 ∀z} min_i y_i E_z[φ_{x_i}(z)ᵀ v(z)] = min_{q ∈ Δ_n} F(q),
    F(q) = E_z ‖g_q(z)‖₂,   g_q(z) = Σ_i q_i y_i 1(zᵀx_i > 0) x_i,

with the optimal v*(z) = g(z)/‖g(z)‖ at the optimal q*. With K gates z_1..z_K (S_ki = 1(z_kᵀx_i > 0))
and U(q) = S diag(q ⊙ y) X (row k: U_k = A_k q = g_q(z_k)), the sampled dual is

    f(q) = (1/K) Σ_k ‖U_k(q)‖,   γ_K = min_{q ∈ Δ_n} f(q).

γ_K is the margin of ONE draw of K gates: a random variable around γ (it moves by far more than the
certified width from one gate draw to another). What is certified is lower ≤ γ_K ≤ upper: every q
gives the upper bound f(q) ≥ γ_K; the feasible primal v_k = U_k/‖U_k‖ gives the lower bound
min_i m_i(v) ≤ γ_K with margins m_i(v) = y_i (1/K) Σ_k S_ki v_kᵀ x_i. These margins are exactly
∇f(q), and f(q) − min_i m_i = qᵀ∇f − min_i ∇_i f is the Frank-Wolfe gap of the dual: the stopping
rule (upper − lower ≤ tol · upper) is a standard optimality gap. About γ itself: for any fixed q the
mean of ‖g_q(z)‖ over fresh gates is an unbiased estimate of F(q) ≥ γ (:func:`fresh_gate_dual`).

Solver: accelerated projected gradient (FISTA) on the simplex with backtracking, on a smoothed dual
with averaged primals (:func:`kd_theory.solvers.simplex_fista`, no restarts); it is a pure
``lax.while_loop``, so it jits and vmaps (margins of many equally shaped data sets in one program).
It also solves the SVM bound γ₂² = min_q qᵀ(yyᵀ ⊙ Θ_W)q ≥ γ² (:func:`svm_margin`). Always
γ ≤ min_i ‖x_i‖/2.

The kernel-limit teacher (paper §1.5) is z(x) = E_z[φ_x(z)ᵀ v(z)] with v the solver's certified
primal, p = σ(z): :func:`kernel_teacher_logits`.
"""
from __future__ import annotations

import dataclasses
import warnings
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kd_theory import ntk
from kd_theory.precision import maybe_x64
from kd_theory.solvers import SolverResult, simplex_fista

DEFAULT_NUM_GATES = 4096
DEFAULT_TOL = 1e-3
DEFAULT_MAX_ITERS = 5000
NEAR_PARALLEL_COS_TOL = 1e-9  # 1 − cos ≤ this: "nearly parallel" (a warning; γ may be tiny)


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
# Solves (the generic simplex solver is kd_theory.solvers.simplex_fista)
# ---------------------------------------------------------------------------------------------

@jax.jit
def solve_margin_dual(X, y, Z, tol=DEFAULT_TOL, max_iters=DEFAULT_MAX_ITERS, q0=None):
    """The sampled margin γ_K of (X, y) with gates Z: a pure, jittable, vmappable solve.

    X: (n, d), y: (n,) in {±1}, Z: (K, d); q0: the starting point in Δ_n (default uniform). No input
    checks: use :func:`estimate_margin`. For many data sets of one shape:
    ``jax.vmap(solve_margin_dual)(Xs, ys, Zs)``. See :func:`solve_gated_margin_dual`.
    """
    q0 = jnp.full(X.shape[:1], 1.0 / X.shape[0], X.dtype) if q0 is None else q0
    return solve_gated_margin_dual(gate_matrix(Z, X), y[:, None] * X, q0, tol, max_iters)


@jax.jit
def solve_gated_margin_dual(S, YX, q0, tol=DEFAULT_TOL, max_iters=DEFAULT_MAX_ITERS):
    """γ_K = min_{q ∈ Δ_n} (1/K) Σ_k ‖(S (q ⊙ YX))_k‖ from the gate matrix S (K, n) and YX_i = y_i x_i.

    Descends the smoothed dual f_μ(q) = (1/K) Σ_k √(‖U_k‖² + μ²) = max_{‖v_k‖≤1} [qᵀm(v) + μ (1/K)
    Σ_k √(1 − ‖v_k‖²)], whose gradient is m(v_μ), v_μ,k = U_k/√(‖U_k‖² + μ²): a feasible primal, so
    qᵀm(v_μ) ≤ f(q) is a minorant (c = 0) and min_i m_i(v) ≤ γ_K for v_μ and for any average of them.
    Smoothing and averaging matter where U_k(q*) = 0 (symmetric data such as noisy XOR, whose gates
    cancel at the optimum): the subgradient is then a set and the primal is not read off q*.

    Taking S rather than the gates lets the caller fix S once (in float64): the certificates are
    then about the same sampled problem as the solve. Returns a :class:`~kd_theory.solvers.SolverResult`; ``primal`` is
    the v (K, d) on the gates that certifies ``lower`` (lower = min_i m_i(primal)).
    """
    linear_map = lambda q: gate_sums(q, S, YX)

    def oracle(U, mu):
        V = primal_directions(U, mu)
        return smoothed_dual_objective(U, mu), primal_margins(V, S, YX), jnp.zeros((), U.dtype), V

    return simplex_fista(linear_map, dual_objective, oracle, q0.astype(YX.dtype), tol=tol, max_iters=max_iters)


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
    pairs of exactly parallel points with opposite labels (then γ = 0 exactly);
    ``near_parallel_pairs`` those that are only nearly parallel (1 − cos ≤ 1e-9: γ > 0 but tiny).
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
    near_parallel_pairs: tuple = ()

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


def nearly_parallel_pairs(X, y, cos_tol: float = NEAR_PARALLEL_COS_TOL, block_size: int = 2048):
    """Pairs (i, j), i < j, with y_i ≠ y_j and 1 − cos(x_i, x_j) ≤ cos_tol: same direction up to rounding.

    Candidates for γ = 0 (exactly parallel, :func:`exactly_parallel`) or for a tiny γ (nearly
    parallel). Computed in float64 row blocks (O(block · n) memory).
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


def exactly_parallel(a, b) -> bool:
    """True iff b = c·a exactly for some real c > 0 (a, b non-zero float vectors).

    Decided in exact rational arithmetic (every float is a rational number): with p the index of
    a's largest entry, c = b_p/a_p must be positive and b_k·a_p = a_k·b_p for every k. No rounding:
    float32(2.5·a) is in general NOT parallel to a (each entry is rounded on its own); 2·a is.
    """
    a, b = np.asarray(a), np.asarray(b)
    p = int(np.argmax(np.abs(a)))
    ap, bp = Fraction(float(a[p])), Fraction(float(b[p]))
    if ap == 0 or bp / ap <= 0:
        return False
    return all(Fraction(float(bk)) * ap == Fraction(float(ak)) * bp for ak, bk in zip(a, b))


def split_parallel_pairs(X, y, cos_tol: float = NEAR_PARALLEL_COS_TOL):
    """(exact, near): opposite-label pairs that are exactly parallel (γ = 0), and those only nearly so."""
    candidates = nearly_parallel_pairs(X, y, cos_tol)
    is_exact = [exactly_parallel(X[i], X[j]) for i, j in candidates]
    return ([pair for pair, e in zip(candidates, is_exact) if e],
            [pair for pair, e in zip(candidates, is_exact) if not e])


def norm_upper_bound(X) -> float:
    """γ ≤ min_i ‖x_i‖/2: point i alone gets y_i E_z[1(zᵀx_i>0) v(z)ᵀx_i] ≤ P(zᵀx_i > 0)‖x_i‖."""
    return float(np.min(np.linalg.norm(np.asarray(X, np.float64), axis=1)) / 2)


def estimate_margin(X, y, *, num_gates: int = DEFAULT_NUM_GATES, key=None, tol: float = DEFAULT_TOL,
                    max_iters: int = DEFAULT_MAX_ITERS, dtype=np.float32, gates=None, q0=None) -> MarginEstimate:
    """Certified bounds on the sampled NTK margin γ_K of (X, y), K = ``num_gates`` Gaussian gates.

    Solves the dual in ``dtype`` (float32 by default; float64 runs inside ``jax.enable_x64``), then
    re-evaluates both certificates in float64, so lower ≤ γ_K ≤ upper holds to float64 rounding.
    Stops when (upper − lower) ≤ tol · upper; if max_iters comes first, warns and returns the
    (still valid, wider) bounds with converged=False. Exactly parallel points with opposite labels
    (x_j = c·x_i, c > 0: γ = 0) are reported by a warning naming them, and the exact certificate
    0 ≤ γ ≤ 0 is returned without iterating; nearly parallel ones (1 − cos ≤ 1e-9) only get a warning
    and are solved. ``gates`` (K, d) overrides num_gates/key. ``q0`` (n,) warm-starts the solver
    (e.g. with the q of another gate draw); the certificates do not depend on it.
    """
    X, y = check_inputs(X, y)
    n, d = X.shape
    if gates is None:
        if key is None:
            raise ValueError("estimate_margin: pass key=jax.random.PRNGKey(...) (or gates=...)")
        with maybe_x64(dtype):
            gates = np.asarray(sample_gates(key, int(num_gates), d, dtype))
    gates = np.asarray(gates)
    if gates.ndim != 2 or gates.shape[1] != d:
        raise ValueError(f"gates must have shape (K, {d}); got {gates.shape}")
    if q0 is not None:
        q0 = np.asarray(q0, np.float64)
        if q0.shape != (n,) or not np.all(np.isfinite(q0)) or np.min(q0) < 0 or q0.sum() <= 0:
            raise ValueError(f"q0 must be {n} finite non-negative weights, not all zero; got shape {q0.shape}")
        q0 = q0 / q0.sum()
    exact, near = split_parallel_pairs(X, y)
    if exact:
        i, j = exact[0]
        warnings.warn(f"margin: {len(exact)} pair(s) of exactly parallel points (x_j = c·x_i, c > 0) with "
                      f"opposite labels, e.g. {exact[:10]}: γ = 0 exactly (no v separates them); returning "
                      "lower = upper = 0", RuntimeWarning, stacklevel=2)
        norms = np.linalg.norm(X.astype(np.float64), axis=1)
        q = np.zeros(n)
        q[[i, j]] = 1.0 / norms[[i, j]]
        q /= q.sum()
        return MarginEstimate(0.0, 0.0, q, np.zeros(gates.shape), gates, 0, True, float(tol), tuple(exact),
                              tuple(near))
    if near:
        warnings.warn(f"margin: {len(near)} pair(s) of nearly parallel points (1 − cos ≤ {NEAR_PARALLEL_COS_TOL:g}, "
                      f"not exactly parallel) with opposite labels, e.g. {near[:10]}: γ > 0 but tiny; the solver "
                      "may need many iterations", RuntimeWarning, stacklevel=2)
    # The sampled problem is fixed here, in float64: S_ki = 1(z_kᵀx_i > 0). Deciding the signs once
    # matters: a float32 z·x of the wrong sign moves one margin by ‖x‖/K (1.6 % of γ_K, measured on
    # noisy XOR at d = 10, K = 2048), more than the tolerance.
    S = (gates.astype(np.float64) @ X.astype(np.float64).T > 0)
    YX = y[:, None].astype(np.float64) * X
    q0 = np.full(n, 1.0 / n) if q0 is None else q0
    with maybe_x64(dtype):
        # The solver aims at 0.9·tol so that re-evaluating its certificates in float64 below does not
        # push a just-converged float32 gap back over tol.
        result = solve_gated_margin_dual(jnp.asarray(S, dtype), jnp.asarray(YX, dtype), jnp.asarray(q0, dtype),
                                         jnp.asarray(0.9 * tol, dtype), int(max_iters))
        q, v, iterations = np.asarray(result.q_upper), np.asarray(result.primal), int(result.iterations)
    with jax.enable_x64(True):  # the certificates, in float64 whatever the solver's dtype
        S64, YX64, v64 = jnp.asarray(S, jnp.float64), jnp.asarray(YX), jnp.asarray(v, jnp.float64)
        # Rescale v_k with ‖v_k‖ = 1 + rounding back into the unit ball, so v is feasible exactly.
        v64 = v64 / jnp.maximum(1.0, jnp.linalg.norm(v64, axis=1, keepdims=True))
        q = np.asarray(q, np.float64) / np.sum(np.asarray(q, np.float64))  # exactly on the simplex
        upper = float(dual_objective(gate_sums(jnp.asarray(q), S64, YX64)))
        lower = float(jnp.min(primal_margins(v64, S64, YX64)))
        v = np.asarray(v64)
    converged = upper - lower <= tol * upper
    if not converged:
        warnings.warn(f"margin: no certified gap ≤ {tol:g} after {iterations} iterations (lower={lower:.6g}, "
                      f"upper={upper:.6g}); raise max_iters or tol. If γ is tiny, look for nearly parallel "
                      "points with opposite labels.", RuntimeWarning, stacklevel=2)
    return MarginEstimate(lower, upper, q.astype(np.float64), v, gates, iterations, bool(converged), float(tol),
                          near_parallel_pairs=tuple(near))


def svm_margin(X, y, *, tol: float = DEFAULT_TOL, max_iters: int = DEFAULT_MAX_ITERS, kernel=None,
               dtype=np.float64):
    """γ₂ = min_{q ∈ Δ_n} √(qᵀ(yyᵀ ⊙ Θ)q) ≥ γ, Θ the first-layer NTK (or ``kernel``'s Gram matrix).

    E_z‖g(z)‖ ≤ √(E_z‖g(z)‖²) = √(qᵀ(yyᵀ⊙Θ_W)q) for every q, hence γ ≤ γ₂. Returns certified
    (lower, upper) bounds on γ₂ of the Gram matrix as computed in ``dtype`` (float64 by default, inside
    ``jax.enable_x64``). In float32 the closed form's arccos near θ = 0 (a point with itself: cos is
    1 − 1 ulp, and θ ≈ √(2(1 − cos)) ≈ 3e-4) moves Θ and γ₂ by a few 1e-4 relative (measured 2e-4 on
    10 unit vectors in d = 3), which the certificate does not see. Θ is n × n: 8n² bytes in float64.
    """
    X, y = check_inputs(X, y, "svm_margin")
    with maybe_x64(dtype):
        X, y = jnp.asarray(X, dtype), jnp.asarray(y, dtype)
        theta = ntk.gram(kernel or ntk.ntk_first_layer, X)
        result = solve_svm_dual(y[:, None] * theta * y[None, :], jnp.asarray(tol, dtype), int(max_iters))
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
        raise ValueError(f"kernel teacher: γ = 0 (exactly parallel points with opposite labels: "
                         f"{list(est.zero_margin_pairs[:10])}); no kernel-limit teacher exists")
    X_train, _ = check_inputs(X_train, y_train, "kernel teacher")
    X_eval = X_train if X_eval is None else np.asarray(X_eval, X_train.dtype)
    if X_eval.ndim != 2 or X_eval.shape[1] != X_train.shape[1]:
        raise ValueError(f"kernel teacher: X_eval must have shape (n, {X_train.shape[1]}); got {X_eval.shape}")
    bad = np.flatnonzero(~np.all(np.isfinite(X_eval), axis=1))
    if bad.size:
        raise ValueError(f"kernel teacher: X_eval rows {bad[:20].tolist()} contain NaN or inf")
    with jax.enable_x64(True):  # the gate signs as the certificate decided them (float64)
        z = logits_from_directions(*(jnp.asarray(a, jnp.float64) for a in (est.v, est.gates, X_eval)))
    return np.asarray(z).astype(X_train.dtype)


# ---------------------------------------------------------------------------------------------
# About the population γ: fresh gates
# ---------------------------------------------------------------------------------------------

def dual_values(q, X, y, Z, *, block_size: int = 4096):
    """‖g_q(z_k)‖ = ‖A_k q‖ for every gate z_k, shape (K,), in blocks of gates: f(q) is their mean."""
    YXq = (y * q)[:, None] * X
    return jax.lax.map(lambda z: jnp.linalg.norm(gate_matrix(z[None, :], X) @ YXq, axis=1)[0], Z,
                       batch_size=block_size)


def mean_and_standard_error(values):
    """(mean, std/√N) of N i.i.d. values, in float64 (std with ddof = 1; N ≥ 2)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def fresh_gate_dual(q, X, y, *, num_gates: int, key):
    """(mean, standard error) of ‖g_q(z)‖ over K' fresh gates: an unbiased estimate of F(q) ≥ γ.

        F(q) = E_z ‖Σ_i q_i y_i 1(zᵀx_i > 0) x_i‖ ≥ min_{Δ} F = γ   for every q ∈ Δ_n,

    so at the solver's q (fitted to other gates, hence independent of the fresh ones) this estimates
    an upper bound on the population γ; F(q) − f(q) is how far q's value on its own K gates was
    optimistic. For data whose symmetry group acts transitively on the points and preserves the
    Gaussian (noisy 2-XOR over its whole support) the uniform q is optimal by convexity, and F(q_unif)
    is γ itself.
    """
    X, y = check_inputs(X, y, "fresh_gate_dual")
    q = np.asarray(q, np.float64)
    if q.shape != (len(X),) or np.min(q) < 0 or not np.isclose(q.sum(), 1.0, rtol=1e-5):
        raise ValueError(f"fresh_gate_dual: q must be a point of the simplex with {len(X)} entries; "
                         f"got shape {q.shape}, sum {q.sum():g}, min {q.min():g}")
    Z = sample_gates(key, int(num_gates), X.shape[1], X.dtype)
    return mean_and_standard_error(dual_values(jnp.asarray(q, X.dtype), jnp.asarray(X), jnp.asarray(y), Z))


def fresh_gate_margins(estimate: MarginEstimate, X, y, *, num_gates: int, key):
    """m_i(v*) on K' fresh gates, v* = g_q/‖g_q‖ from the solver's q: unbiased for each
    M_i = y_i E_z[φ_{x_i}(z)ᵀ v*(z)] (shape (n,)).

    v* is a feasible population primal, so min_i M_i ≤ γ. What min_i M_i falls short of γ_K measures
    how weak this particular v* is as a primal (q was fitted to the solver's K gates: v*'s margins
    are equal on those gates and scatter by O(1/√K) on others; where g_q(z) = 0 on a set of gates
    of positive probability, as for noisy XOR, g/‖g‖ is not the optimal primal at all). It is not the
    Monte-Carlo error of γ_K. The min over n noisy estimates is also biased low by about
    √(2 ln n) standard errors of one m_i (O(1/√K')).
    """
    X, y = check_inputs(X, y)
    X, y = jnp.asarray(X), jnp.asarray(y)
    Z = sample_gates(key, int(num_gates), X.shape[1], X.dtype)
    return y * logits_from_directions(estimate.v_star(Z, X, y), Z, X)
