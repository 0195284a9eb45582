"""The theorems' requirements (width, step size, steps, projection radius) as functions.

Mandal, Lin & Srikant (paper §1.6 of ``shared/reference/papers.md``), constants as published, with
c = min_i ‖x_i‖ (1 for inputs on the unit sphere), n training points, δ the failure probability:

    C1 = 96/(1 + e²) ≈ 11.44,    C2 = 32·C1 ≈ 366.2,
    S(n, δ, c) = √(2/π)/c + 3√ln(2n/δ)                                       (soft concentration term)
    L(β) = ln(2/(ln2 · β)),   H(β, n, δ, c) = (2√2/(c√π))·L(β) + 3√ln(2n/δ)     (hard concentration term)

- Theorem 2 (soft, KL ≤ β):   m ≥ (C1/β)·S²,  B = 1, η ≤ β/3,  T ≥ 9/β².
- Lemma 3:                    training error ≤ (32/γ²)·KL loss.
- Corollary 4 (soft, error ≤ ε): m ≥ (C2/(γ²ε))·S², B = 1, η ≤ γ²ε/3, T ≥ 9/(γ⁴ε²).
- Proposition 5 (hard, logistic loss ≤ β, so error ≤ β/ln 2):
      B = (2/γ)·L,  η ≤ 1,  T ≥ (8/(γ²η))·L²/(ln2·β),  m ≥ (16/γ⁴)·H².
- Ji & Telgarsky, without projection: m = O(1/γ⁸) (order only; see :func:`unprojected_hard_width_order`).

Every function takes floats or NumPy arrays (broadcast together, e.g. a (γ, ε) grid for a phase figure)
and returns floats for scalar inputs. Widths and steps are returned as the real-valued right-hand sides
of the inequalities (not rounded up), so that the scaling laws are exact; round up at the call site.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

C1 = 96.0 / (1.0 + math.e ** 2)
C2 = 32.0 * C1
LN2 = math.log(2.0)


class Requirements(NamedTuple):
    """What a theorem asks for: width m ≥ ``width``, step η ≤ ``lr``, steps T ≥ ``steps``, radius B."""
    width: float
    lr: float
    steps: float
    radius: float


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------

def _in_range(name, value, low, high, *, low_closed=False, high_closed=False):
    """``value`` as a float array, after checking low <(=) value <(=) high everywhere (NaN fails)."""
    arr = np.asarray(value, dtype=float)
    above = arr >= low if low_closed else arr > low
    below = arr <= high if high_closed else arr < high
    bad = ~(above & below)   # NaN compares false, so it is bad
    if np.any(bad):
        first = float(arr[bad].flat[0])
        interval = f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
        raise ValueError(f"{name}={first!r} is outside the allowed range {interval}")
    return arr


def _check_gamma(gamma):
    """γ ∈ (0, 1/2]: the margin is positive and always ≤ min_i ‖x_i‖/2 ≤ 1/2."""
    return _in_range("gamma", gamma, 0.0, 0.5, high_closed=True)


def _check_n(n):
    arr = np.asarray(n, dtype=float)
    bad = ~((arr >= 1) & (arr == np.floor(arr)))
    if np.any(bad):
        raise ValueError(f"n={float(arr[bad].flat[0])!r} must be a positive integer "
                         "(the number of training points)")
    return arr


def _check_c(c):
    """c = min_i ‖x_i‖ ∈ (0, 1]: the data satisfy c ≤ ‖x_i‖ ≤ 1."""
    return _in_range("c", c, 0.0, 1.0, high_closed=True)


def _check_soft_delta(delta):
    """Theorem 2 (and so Corollary 4) holds for δ ∈ (0, 1/3), with probability ≥ 1 − 3δ."""
    return _in_range("delta", delta, 0.0, 1.0 / 3.0)


def _out(x):
    """A float for a 0-d result, else the array."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _requirements(width, lr, steps, radius):
    shape = np.broadcast_shapes(*(np.shape(v) for v in (width, lr, steps, radius)))
    return Requirements(*(_out(np.broadcast_to(v, shape)) for v in (width, lr, steps, radius)))


# ---------------------------------------------------------------------------------------------
# The concentration terms
# ---------------------------------------------------------------------------------------------

def soft_concentration(n, delta, c=1.0):
    """S(n, δ, c) = √(2/π)/c + 3√ln(2n/δ): the bracket squared in Theorem 2 and Corollary 4."""
    return np.sqrt(2.0 / np.pi) / c + 3.0 * np.sqrt(np.log(2.0 * n / delta))


def hard_log_factor(beta):
    """L(β) = ln(2/(ln2 · β)): the logarithm in Proposition 5's radius, steps and width."""
    return np.log(2.0 / (LN2 * beta))


def hard_concentration(beta, n, delta, c=1.0):
    """H(β, n, δ, c) = (2√2/(c√π))·ln(2/(ln2 · β)) + 3√ln(2n/δ): the bracket squared in Proposition 5."""
    return 2.0 * np.sqrt(2.0) / (c * np.sqrt(np.pi)) * hard_log_factor(beta) + 3.0 * np.sqrt(np.log(2.0 * n / delta))


# ---------------------------------------------------------------------------------------------
# Soft labels: Theorem 2, Lemma 3, Corollary 4
# ---------------------------------------------------------------------------------------------

def soft_kl_requirements(beta, n, delta, c=1.0) -> Requirements:
    """Theorem 2: iteration-averaged KL loss ≤ β with probability ≥ 1 − 3δ if

        m ≥ (C1/β)·(√(2/π)/c + 3√ln(2n/δ))²,  C1 = 96/(1 + e²),  B = 1,  η ≤ β/3,  T ≥ 9/β².

    β ∈ (0, 1), δ ∈ (0, 1/3), c ∈ (0, 1], n ≥ 1.
    """
    beta = _in_range("beta", beta, 0.0, 1.0)
    n, delta, c = _check_n(n), _check_soft_delta(delta), _check_c(c)
    width = C1 / beta * soft_concentration(n, delta, c) ** 2
    return _requirements(width, beta / 3.0, 9.0 / beta ** 2, 1.0)


def error_bound_from_kl(kl, gamma):
    """Lemma 3: training error ≤ (32/γ²)·KL loss (for a KL loss ≥ 0 and margin γ ∈ (0, 1/2])."""
    kl = _in_range("kl", kl, 0.0, np.inf, low_closed=True)
    return _out(32.0 * kl / _check_gamma(gamma) ** 2)


def kl_target_for_error(eps, gamma):
    """The KL level β = γ²ε/32 at which Lemma 3 gives training error ≤ ε (ε ∈ (0, 1))."""
    return _out(_check_gamma(gamma) ** 2 * _in_range("eps", eps, 0.0, 1.0) / 32.0)


def soft_error_requirements(gamma, eps, n, delta, c=1.0) -> Requirements:
    """Corollary 4: iteration-averaged training 0-1 error ≤ ε (probability ≥ 1 − 3δ) if

        m ≥ (C2/(γ²ε))·(√(2/π)/c + 3√ln(2n/δ))²,  C2 = 32·C1,  B = 1,  η ≤ γ²ε/3,  T ≥ 9/(γ⁴ε²).

    γ ∈ (0, 1/2], ε ∈ (0, 1), δ ∈ (0, 1/3), c ∈ (0, 1], n ≥ 1.

    The width is Theorem 2's at β = γ²ε/32 (Lemma 3), exactly. The step size and step count are
    *not*: Theorem 2 at that β would ask η ≤ γ²ε/96 and T ≥ 9216/(γ⁴ε²). We return the corollary as
    papers.md states it (32× the step size, 1/1024 the steps); which of the two the paper means is
    unknown here (a printed simplification, or a looser constant in Lemma 3's use).
    """
    gamma, eps = _check_gamma(gamma), _in_range("eps", eps, 0.0, 1.0)
    n, delta, c = _check_n(n), _check_soft_delta(delta), _check_c(c)
    width = C2 / (gamma ** 2 * eps) * soft_concentration(n, delta, c) ** 2
    return _requirements(width, gamma ** 2 * eps / 3.0, 9.0 / (gamma ** 4 * eps ** 2), 1.0)


# ---------------------------------------------------------------------------------------------
# Hard labels: Proposition 5 and the unprojected order
# ---------------------------------------------------------------------------------------------

def hard_requirements(gamma, beta, n, delta, c=1.0, lr=1.0) -> Requirements:
    """Proposition 5: iteration-averaged logistic loss ≤ β (so 0-1 error ≤ β/ln 2) if

        B = (2/γ)·ln(2/(ln2·β)),   η ≤ 1,   T ≥ (8/(γ²η))·ln²(2/(ln2·β))/(ln2·β),
        m ≥ (16/γ⁴)·((2√2/(c√π))·ln(2/(ln2·β)) + 3√ln(2n/δ))².

    ``lr`` is the step η ∈ (0, 1] actually used (the step count depends on it); the returned ``lr`` is it.
    Ranges (ours where papers.md states none): γ ∈ (0, 1/2]; β ∈ (0, ln 2), because at the symmetric
    initialisation f = 0 and the logistic loss is already ln 2; δ ∈ (0, 1) (ln(2n/δ) needs only δ > 0);
    c ∈ (0, 1]; n ≥ 1.
    """
    gamma, beta = _check_gamma(gamma), _in_range("beta", beta, 0.0, LN2)
    n, delta, c = _check_n(n), _in_range("delta", delta, 0.0, 1.0), _check_c(c)
    lr = _in_range("lr", lr, 0.0, 1.0, high_closed=True)
    log_factor = hard_log_factor(beta)
    width = 16.0 / gamma ** 4 * hard_concentration(beta, n, delta, c) ** 2
    steps = 8.0 / (gamma ** 2 * lr) * log_factor ** 2 / (LN2 * beta)
    return _requirements(width, lr, steps, 2.0 / gamma * log_factor)


def hard_error_requirements(gamma, eps, n, delta, c=1.0, lr=1.0) -> Requirements:
    """Proposition 5 for 0-1 error ≤ ε: :func:`hard_requirements` at β = ε·ln 2 (error ≤ β/ln 2 = ε).

    ε ∈ (0, 1); the other arguments as in :func:`hard_requirements`.
    """
    return hard_requirements(gamma, _in_range("eps", eps, 0.0, 1.0) * LN2, n, delta, c, lr)


def unprojected_hard_width_order(gamma):
    """Ji & Telgarsky's hard-label width without projection, m = O(1/γ⁸), returned as 1/γ⁸.

    papers.md gives the order only, not the constant or the log factors, so this is the order with
    constant 1 and no logs: use it for slopes (exponent 8 in 1/γ), never as a width to train at.
    """
    return _out(1.0 / _check_gamma(gamma) ** 8)


# ---------------------------------------------------------------------------------------------
# Soft against hard
# ---------------------------------------------------------------------------------------------

def hard_over_soft_width_ratio(gamma, eps, n, delta, c=1.0):
    """Proposition 5's width over Corollary 4's, both for training error ≤ ε (hard at β = ε·ln 2):

        m_hard/m_soft = [(16/γ⁴)·H²] / [(C2/(γ²ε))·S²] = (ε/γ²) · (16/C2) · (H/S)²,

    with S = √(2/π)/c + 3√ln(2n/δ) and H = (2√2/(c√π))·ln(2/(ln²2·ε)) + 3√ln(2n/δ). This is the
    "ε/γ² up to logs" of papers.md, with the logs and constants kept. > 1 means soft labels need fewer
    neurons. δ ∈ (0, 1/3) (Corollary 4's range).
    """
    soft = soft_error_requirements(gamma, eps, n, delta, c).width
    hard = hard_error_requirements(gamma, eps, n, delta, c).width
    return _out(np.asarray(hard) / np.asarray(soft))


def soft_needs_fewer_neurons(gamma, eps, n, delta, c=1.0):
    """The theory's prediction that soft labels win: m_soft < m_hard, i.e. γ² < ε·(16/C2)·(H/S)²
    (:func:`crossover_gamma`); the rule of thumb is γ² < ε. A bool, or a bool array for array inputs."""
    wins = np.asarray(hard_over_soft_width_ratio(gamma, eps, n, delta, c)) > 1.0
    return bool(wins) if wins.ndim == 0 else wins


def crossover_gamma(eps, n, delta, c=1.0):
    """The margin at which the two width bounds are equal, for error ε: since m_hard/m_soft ∝ 1/γ²
    exactly at fixed (ε, n, δ, c),

        γ*(ε) = √(ε · (16/C2) · (H/S)²),

    and soft labels need fewer neurons iff γ < γ*. (γ* may exceed 1/2, where soft labels win for every
    possible margin.) The boundary of the phase figure over (γ, ε).
    """
    eps = _in_range("eps", eps, 0.0, 1.0)
    n, delta, c = _check_n(n), _check_soft_delta(delta), _check_c(c)
    ratio = hard_concentration(eps * LN2, n, delta, c) / soft_concentration(n, delta, c)
    return _out(np.sqrt(eps * 16.0 / C2 * ratio ** 2))
