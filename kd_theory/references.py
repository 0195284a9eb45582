"""Slow, independent reference solvers for tests and benchmarks (never on a hot path).

* :func:`margin_dual_conic`: γ_K = min_{q ∈ Δ_n} (1/K) Σ_k ‖A_k q‖ by a conic solver (cvxpy, imported
  lazily: it is a test/bench extra).
* :func:`simplex_qp_by_enumeration`: min_{q ∈ Δ_n} qᵀQq exactly, by enumerating the KKT systems of
  every support (NumPy only; small n).
"""
from __future__ import annotations

import itertools

import numpy as np

MAX_ENUMERATION_POINTS = 14  # 2^14 supports, each a small linear solve


def margin_dual_conic(X, y, Z, solver: str = "CLARABEL") -> float:
    """γ_K = min_{q ∈ Δ} (1/K) Σ_k ‖A_k q‖ by a conic solver (cvxpy; K second-order cones), float64.

    A_k = [1(z_kᵀx_i > 0) y_i x_i]_i. Written as U = S P with P = diag(q ⊙ y) X so that cvxpy's linear
    map has K·n·d coefficients (a diag(q) matrix expression would build K·n² of them).
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


def simplex_qp_by_enumeration(Q, rtol: float = 1e-10):
    """(min, argmin) of h(q) = qᵀQq over Δ_n for a PSD Q (n ≤ 14), exactly up to linear-solve rounding.

    KKT: at a minimiser with support S, Q_SS q_S = λ·1, 1ᵀq_S = 1, q_S ≥ 0 and (Qq)_i ≥ λ off S,
    with h = λ. Every support S is tried (Q_SS q_S = λ·1 solved by least squares, so singular blocks
    are fine); the smallest h over the KKT points found is the minimum (h is convex, so every KKT
    point is a minimiser and all of them share the value).
    """
    Q = np.asarray(Q, np.float64)
    n = Q.shape[0]
    if Q.shape != (n, n) or not 1 <= n <= MAX_ENUMERATION_POINTS:
        raise ValueError(f"simplex_qp_by_enumeration: need a square Q with 1..{MAX_ENUMERATION_POINTS} rows; "
                         f"got shape {Q.shape}")
    scale = np.max(np.abs(Q)) or 1.0
    best = (np.inf, None)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            S = list(support)
            # [Q_SS  −1; 1ᵀ 0] [q_S; λ] = [0; 1]
            system = np.block([[Q[np.ix_(S, S)], -np.ones((size, 1))], [np.ones((1, size)), np.zeros((1, 1))]])
            rhs = np.concatenate([np.zeros(size), [1.0]])
            solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
            if not np.allclose(system @ solution, rhs, atol=rtol * scale * 100):
                continue
            q = np.zeros(n)
            q[S] = solution[:size]
            lam = solution[size]
            if np.min(q) < -rtol or np.min(Q @ q) < lam - rtol * scale * 100:
                continue
            q = np.clip(q, 0.0, None)
            q /= q.sum()
            value = float(q @ Q @ q)
            if value < best[0]:
                best = (value, q)
    return best
