"""Noisy 2-XOR margins to large d: γ₂ in closed form, γ by structured Monte Carlo, against brute force and
against the generic certified estimators of kd_theory.margin."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import data, margin, ntk
from kd_theory import xor_margin as xm


def _support64(d):
    """The whole support in float64 (data.noisy_xor_support rounds 1/√(d−1) to float32)."""
    X, y = data.noisy_xor_support(d)
    return np.rint(X * np.sqrt(d - 1)).astype(np.float64) / np.sqrt(d - 1), y.astype(np.float64)


def _brute_force_gate_sums(d, Z):
    """g(z_k) = (1/N) Σ_i y_i 1(z_kᵀx_i > 0) x_i by summing over all N = 4·2^(d−2) points."""
    X, y = _support64(d)
    return ((Z @ X.T > 0) * y) @ X / len(X)


# ---------------------------------------------------------------------------------------------
# γ₂
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [3, 4, 5, 6, 7, 8])
def test_svm_margin_exact_is_the_all_pairs_sum(d):
    """The O(d)-term sum equals (1/N²) Σ_ij y_i y_j Θ(x_i, x_j) over all N² pairs of the support: h(q) at
    the uniform q, Θ(x, x') = ⟨x,x'⟩(π − θ)/(2π) written out here (kd_theory.ntk's closed form)."""
    X, y = _support64(d)
    cos = np.rint(X * np.sqrt(d - 1)) @ np.rint(X * np.sqrt(d - 1)).T / (d - 1)  # integers / (d − 1): no rounding
    theta = cos * (np.pi - np.arccos(cos)) / (2 * np.pi)
    assert xm.svm_margin_exact(d) == pytest.approx(math.sqrt(float(y @ theta @ y)) / len(y), rel=1e-12)


@pytest.mark.parametrize("d", [4, 8])
def test_svm_margin_exact_is_the_certified_svm_bound(d):
    """γ₂ (uniform q) lies inside the certified interval of the generic solver (kd_theory.margin.svm_margin),
    whose minorant certifies that no q does better than the uniform one."""
    X, y = _support64(d)
    exact = xm.svm_margin_exact(d)
    lower, upper = margin.svm_margin(X, y, tol=1e-8)
    assert lower * (1 - 1e-12) <= exact <= upper * (1 + 1e-12), (lower, exact, upper)
    assert upper - lower <= 1e-8 * upper


def test_svm_margin_exact_at_large_d():
    """Float64 keeps its digits (long double gives the same value) and γ₂ approaches 1/(2√π (d − 1))
    from above (k''(0) = 1/π; the next term is about 0.75/d)."""
    for d in (100, 1000):
        g2 = xm.svm_margin_exact(d)
        assert g2 == pytest.approx(xm.svm_margin_exact(d, dtype=np.longdouble), rel=1e-12)
        assert 0 < g2 * 2 * math.sqrt(math.pi) * (d - 1) - 1 < 1 / d


# ---------------------------------------------------------------------------------------------
# One gate
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [3, 4, 5, 7, 10])
def test_exact_gate_sums_equal_brute_force(d, x64):
    """Meet in the middle over the 2^(d−2) noise sums gives g(z) of the full 4·2^(d−2)-point sum, and its
    norm is what kd_theory.margin.dual_values (the generic estimator) computes at the uniform q."""
    Z = np.random.default_rng(d).standard_normal((25, d))
    G = xm.gate_sums(Z, method="exact")
    np.testing.assert_allclose(G, _brute_force_gate_sums(d, Z), rtol=0, atol=1e-15)
    X, y = _support64(d)
    norms = margin.dual_values(jnp.full(len(X), 1.0 / len(X)), jnp.asarray(X), jnp.asarray(y), jnp.asarray(Z))
    np.testing.assert_allclose(np.linalg.norm(G, axis=1), np.asarray(norms), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("d", [3, 6, 10])
def test_lattice_model_is_exact_for_gates_on_the_lattice(d):
    """With w on the lattice (step 1/64) and no smoothing the lattice model is the exact distribution of
    wᵀs: the DFT pmf, the leave-one-out division and the assembly of g are checked to rounding."""
    Z = np.random.default_rng(100 + d).standard_normal((20, d))
    Z[:, 2:] = np.round(Z[:, 2:] * 64) / 64
    G = xm.gate_sums(Z, method="lattice", step=1 / 64, smoothing=0.0)
    np.testing.assert_allclose(G, _brute_force_gate_sums(d, Z), rtol=0, atol=1e-14)


def test_lattice_model_against_exact_on_gaussian_gates():
    """Gaussian gates at d = 24 (2^22 noise patterns): the model's per-gate error is small, and its mean over
    gates (what biases γ) is consistent with zero (measured: 2e-5 ± 2e-5 relative on 300 gates)."""
    d = 24
    Z = np.random.default_rng(7).standard_normal((80, d))
    exact = np.linalg.norm(xm.gate_sums(Z, method="exact"), axis=1)
    model = np.linalg.norm(xm.gate_sums(Z, method="lattice"), axis=1)
    rel = (model - exact) / exact.mean()
    assert np.sqrt(np.mean(rel ** 2)) < 2e-3
    assert abs(rel.mean()) < 4 * rel.std(ddof=1) / np.sqrt(len(rel)) + 5e-5, rel.mean()
    # the lattice is the only approximation: refining it moves the per-gate values by less than the model error
    finer = np.linalg.norm(xm.gate_sums(Z[:20], method="lattice", points_per_sd=256), axis=1)
    assert np.max(np.abs(finer - model[:20]) / exact.mean()) < 5e-3


def test_noise_moments_exact_small_case():
    """m = 2, w = (1, 2): wᵀs ∈ {3, −1, 1, −3} for s = (1,1), (1,−1), (−1,1), (−1,−1). At a = 1.5 the open
    patterns are the sums > −1.5: all but (−1,−1): p = 3/4, v = ((1 + 1 − 1)/4, (1 − 1 + 1)/4) = (1/4, 1/4).
    At a = −2 only (1,1): p = 1/4, v = (1/4, 1/4)."""
    p, v = xm.noise_moments(np.array([1.0, 2.0]), np.array([1.5, -2.0]), method="exact")
    np.testing.assert_array_equal(p, [0.75, 0.25])
    np.testing.assert_array_equal(v, [[0.25, 0.25], [0.25, 0.25]])


# ---------------------------------------------------------------------------------------------
# γ
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [1, 3, 10])
def test_control_variate_means(m):
    """b² = (z₁² + z₂²)/‖z‖² ~ Beta(1, m/2): the closed-form E b and E b³ against a large sample."""
    Z = np.random.default_rng(m).standard_normal((200_000, m + 2))
    C, means = xm.control_variates(Z)
    se = C.std(axis=0) / np.sqrt(len(C))
    assert np.all(np.abs(C.mean(axis=0) - means) < 4 * se), (C.mean(axis=0), means, se)


@pytest.mark.parametrize("d", [5, 8])
def test_margin_estimate_against_fresh_gates(d, x64):
    """F(q_unif) on fresh gates (kd_theory.margin.fresh_gate_dual over the 4·2^(d−2) points) is an unbiased
    estimate of γ: the structured estimate agrees within the two standard errors. The control variates
    shrink the error and agree with the plain mean."""
    est = xm.margin_estimate(d, 3000, seed=d)
    assert est.method == "exact" and est.standard_error < est.plain_standard_error
    assert abs(est.value - est.plain_mean) < 4 * est.plain_standard_error
    X, y = _support64(d)
    fresh, fresh_se = margin.fresh_gate_dual(np.full(len(X), 1.0 / len(X)), X, y, num_gates=8192,
                                             key=jax.random.PRNGKey(d))
    assert abs(est.value - fresh) < 4 * math.hypot(est.standard_error, fresh_se), (est, fresh, fresh_se)


def test_margin_estimate_against_the_certified_solver(x64):
    """The certified solve on K = 1024 gates (d = 6), two checks:
    - lower ≤ γ_K ≤ f_K(q_unif), and f_K(q_unif) is an unbiased estimate of γ: the certified lower bound may
      not exceed the structured γ by more than f_K's Monte-Carlo error (E γ_K ≤ γ: the sampled minimum is
      optimistic);
    - the uniform q is optimal: the solver's q̂ (fitted to its own gates) is no better than uniform on
      fresh gates (the paired mean of ‖g_q̂(z)‖ − ‖g_unif(z)‖ is not significantly negative)."""
    d = 6
    est = xm.margin_estimate(d, 3000, seed=d)
    X, y = _support64(d)
    uniform = jnp.full(len(X), 1.0 / len(X))
    certified = margin.estimate_margin(X, y, num_gates=1024, key=jax.random.PRNGKey(0), tol=2e-3, dtype=np.float64)
    f_k = np.asarray(margin.dual_values(uniform, jnp.asarray(X), jnp.asarray(y), jnp.asarray(certified.gates)))
    assert certified.upper <= f_k.mean() * (1 + 1e-9)
    assert certified.lower <= est.value + 4 * math.hypot(est.standard_error, f_k.std() / np.sqrt(len(f_k)))
    args = (jnp.asarray(X), jnp.asarray(y), jnp.asarray(np.random.default_rng(1).standard_normal((16384, d))))
    diff = np.asarray(margin.dual_values(jnp.asarray(certified.q), *args) - margin.dual_values(uniform, *args))
    assert diff.mean() > -3 * diff.std(ddof=1) / np.sqrt(len(diff)), diff.mean()


def test_margin_estimate_large_d_scales_like_one_over_d():
    """At d = 100 (lattice model) γ·d is near its large-d value (≈ 0.25: p(a) − p(−a) ≈ 2φ(0)a/√m, so
    γ ≈ E‖(z₁, z₂)‖ · 2φ(0)/(4√(d−1)√(d−2)) = 1/(4√((d−1)(d−2)))) and below γ₂·d; the controls leave a
    standard error far below the plain one."""
    d = 100
    est = xm.margin_estimate(d, 40, seed=3)
    assert est.method == "lattice"
    assert est.standard_error < est.plain_standard_error / 20
    leading = 1 / (4 * math.sqrt((d - 1) * (d - 2)))
    assert abs(est.value / leading - 1) < 0.02, est.value / leading
    assert est.value < xm.svm_margin_exact(d)


def test_margin_table_and_command_line(capsys):
    """The table's γ₂ rows are svm_margin_exact; over d ≥ 100 γ₂ ∝ d^−1 up to the 1/d correction (γ₂·d
    falls from 0.2864 to 0.2825 between d = 100 and 1000: slope −1.006); the command line prints both
    tables and the slopes, and names a bad --gates-at."""
    table = xm.margin_table([100, 300, 1000], [4, 5], num_gates={4: 40, 5: 40}, fit_from=4)
    assert [r["gamma2"] for r in table["svm"]] == [xm.svm_margin_exact(d) for d in (100, 300, 1000)]
    assert -1.01 < table["slopes"]["gamma2"]["slope"] < -1.0
    assert [r["d"] for r in table["margin"]] == [4, 5] and table["slopes"]["gamma"]["n"] == 2
    with pytest.raises(ValueError, match=r"names no K for d = \[5\]"):
        xm.margin_table([], [4, 5], num_gates={4: 40})
    xm.main(["--gates", "8", "--svm-dims", "3", "50", "--margin-dims", "3", "4", "--fit-from", "3"])
    out = capsys.readouterr().out
    assert "| 50 | 0.0058188015 | 0.290940 |" in out and "log-log slope over d ≥ 3" in out
    with pytest.raises(SystemExit):
        xm.main(["--gates-at", "4:10", "--margin-dims", "4"])
    assert "--gates-at: '4:10' is not D=K" in capsys.readouterr().err


def test_bad_input():
    with pytest.raises(ValueError, match="d must be an integer ≥ 3"):
        xm.svm_margin_exact(2)
    with pytest.raises(ValueError, match="d must be an integer ≥ 3"):
        xm.margin_estimate(4.5, 100)
    with pytest.raises(ValueError, match="num_gates must be an integer ≥ 4"):
        xm.margin_estimate(5, 3)
    with pytest.raises(ValueError, match=r"gates must be finite, of shape \(K ≥ 4, 5\)"):
        xm.margin_estimate(5, 10, gates=np.zeros((10, 4)))
    with pytest.raises(ValueError, match="unknown method 'fast'"):
        xm.margin_estimate(5, 10, method="fast")
    with pytest.raises(ValueError, match="m = 48 > 40 is too many"):
        xm.margin_estimate(50, 10, method="exact")
