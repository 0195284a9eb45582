"""Certified NTK margin γ: exact answers, agreement with independent solvers, bound validity, bad input."""
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import data, margin, ntk, references
from kd_theory.precision import maybe_x64


def _sphere_xor(n=40, d=5, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0).astype(np.float32)


def _conic_reference(X, y, Z):
    pytest.importorskip("cvxpy")
    return references.margin_dual_conic(X, y, Z)


PROBLEMS = {
    "sphere-xor-d5": lambda: _sphere_xor() + (2000,),
    "xor-support-d4": lambda: data.noisy_xor_support(4) + (1024,),  # degenerate: gates cancel at q*
    "digits-60": lambda: (data.digits_task("full").X_train[:60], data.digits_task("full").y_train[:60], 512),
}


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_agrees_with_conic_solver(name):
    pytest.importorskip("cvxpy")
    X, y, K = PROBLEMS[name]()
    est = margin.estimate_margin(X, y, num_gates=K, key=jax.random.PRNGKey(1), tol=5e-4)
    ref = _conic_reference(X, y, est.gates)
    assert est.converged and est.lower <= est.upper
    assert est.lower <= ref * (1 + 1e-6) and ref <= est.upper * (1 + 1e-6), (est.lower, ref, est.upper)
    assert abs(est.value - ref) <= 1e-3 * ref


def test_early_stopped_bounds_are_still_valid():
    pytest.importorskip("cvxpy")
    X, y = _sphere_xor(n=30, d=4, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for iters in (1, 3, 10):
            est = margin.estimate_margin(X, y, num_gates=500, key=jax.random.PRNGKey(2), tol=1e-6,
                                         max_iters=iters)
            ref = _conic_reference(X, y, est.gates)
            assert not est.converged
            assert est.lower <= ref * (1 + 1e-9) <= est.upper * (1 + 1e-9), (iters, est.lower, ref, est.upper)


def test_early_stop_warns():
    X, y = _sphere_xor(n=30, d=4, seed=3)
    with pytest.warns(RuntimeWarning, match="no certified gap"):
        margin.estimate_margin(X, y, num_gates=256, key=jax.random.PRNGKey(2), tol=1e-6, max_iters=2)


def test_float64_solve_matches_float32():
    X, y = _sphere_xor()
    e32 = margin.estimate_margin(X, y, num_gates=1000, key=jax.random.PRNGKey(0), tol=1e-4)
    e64 = margin.estimate_margin(X, y, gates=e32.gates.astype(np.float64), tol=1e-4, dtype=np.float64)
    assert e64.q.dtype == np.float64 and e64.converged
    assert max(e32.lower, e64.lower) <= min(e32.upper, e64.upper)  # both certify the same γ_K


def test_separable_data_certifies_half_the_linear_margin():
    """v ≡ u is feasible: γ_K ≥ min_i y_i uᵀx_i · P_K(zᵀx_i > 0). With antithetic gates (z and −z) every
    x is on for exactly half of them, so γ_K ≥ ĝ/2 (ĝ = min_i y_i uᵀx_i ≥ ḡ) holds exactly at K, as the
    population statement γ ≥ ḡ/2 does: the certified interval must respect it."""
    gbar, tol = 0.2, 1e-3
    ds = data.separable_with_margin(dim=6, margin=gbar, n_train=150, n_test=1, seed=0)
    X, y = ds.X_train, ds.y_train
    u = np.asarray(ds.info["direction"])
    g_hat = float(np.min(y * (X.astype(np.float64) @ u)))
    assert g_hat >= gbar - 1e-6
    Z = np.asarray(margin.sample_gates(jax.random.PRNGKey(0), 2048, 6))
    est = margin.estimate_margin(X, y, gates=np.concatenate([Z, -Z]), tol=tol)
    assert est.converged
    assert est.upper >= g_hat / 2                 # γ_K ≤ upper, and γ_K ≥ ĝ/2
    assert est.lower >= (1 - tol) * g_hat / 2     # lower ≥ (1 − tol)·upper ≥ (1 − tol)·γ_K


# ---------------------------------------------------------------------------------------------
# Exact answers (no conic solver)
# ---------------------------------------------------------------------------------------------

ORTHOGONAL_PAIR_GAMMA = (1 + 1 / np.sqrt(2)) / 4  # 0.42678: derived in test_orthogonal_pair_exact_margin


def _brackets(est, exact, rtol=1e-6):
    """lower ≤ exact ≤ upper up to float rounding, and the interval is as tight as promised."""
    assert est.lower <= exact * (1 + rtol) and exact <= est.upper * (1 + rtol), (est.lower, exact, est.upper)
    assert est.upper - est.lower <= est.tol * est.upper


def test_antipodal_pair_exact_margin():
    """x (y = +1) and −x (y = −1), ‖x‖ = 1. g_q(z) = x·[q₁ 1(zᵀx > 0) + q₂ 1(zᵀx < 0)], so
    ‖g_q(z)‖ is q₁ on one half-space and q₂ on the other: F(q) = (q₁ + q₂)/2 = 1/2 for every q, γ = 1/2
    (= ‖x‖/2, the largest possible). On K gates, f(q) = q₁ p̂ + q₂ (1 − p̂) with p̂ the fraction of gates on
    x: linear in q, so γ_K = min(p̂, 1 − p̂) exactly; with antithetic gates p̂ = 1/2 and γ_K = γ."""
    x = np.array([0.6, -0.8, 0.0])
    X, y = np.stack([x, -x]).astype(np.float32), np.array([1.0, -1.0], np.float32)
    Z = np.asarray(margin.sample_gates(jax.random.PRNGKey(3), 501, 3))
    p_hat = np.mean(Z.astype(np.float64) @ x > 0)
    _brackets(margin.estimate_margin(X, y, gates=Z, tol=1e-4), min(p_hat, 1 - p_hat))
    _brackets(margin.estimate_margin(X, y, gates=np.concatenate([Z, -Z]), tol=1e-4), 0.5)


def _orthogonal_pair():
    return np.eye(2, dtype=np.float32), np.array([1.0, -1.0], np.float32)


def _orthogonal_pair_sampled_dual(q1, Z):
    """f(q) on gates Z for x₁ = e₁ (y = +1), x₂ = e₂ (y = −1), q = (q₁, 1 − q₁): by counting quadrants."""
    on1, on2 = Z[:, 0] > 0, Z[:, 1] > 0
    both, only1, only2 = np.mean(on1 & on2), np.mean(on1 & ~on2), np.mean(~on1 & on2)
    return both * np.hypot(q1, 1 - q1) + only1 * q1 + only2 * (1 - q1)


def test_orthogonal_pair_exact_margin():
    """x₁ = e₁ (y = +1), x₂ = e₂ (y = −1). g_q(z) = q₁ 1(z₁ > 0) e₁ − q₂ 1(z₂ > 0) e₂; the four sign
    quadrants of (z₁, z₂) have probability 1/4 each and give ‖g‖ = √(q₁² + q₂²), q₁, q₂, 0, so
    F(q) = (√(q₁² + q₂²) + q₁ + q₂)/4 = (√(q₁² + q₂²) + 1)/4, smallest at q = (1/2, 1/2):
    γ = (1 + 1/√2)/4 ≈ 0.42678.
    One gate per quadrant makes f = F exactly, so γ_K = γ. With K = 2^16 random gates γ_K − γ has a
    standard deviation of about sd(‖g‖)/√K ≈ 0.26/256 ≈ 0.001: the 0.005 asserted is 5 of them. γ_K itself
    is minimised exactly by a 1-D grid over q₁ (f is a function of q₁ alone)."""
    X, y = _orthogonal_pair()
    quadrants = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], np.float32)
    _brackets(margin.estimate_margin(X, y, gates=quadrants, tol=1e-5), ORTHOGONAL_PAIR_GAMMA)
    est = margin.estimate_margin(X, y, num_gates=2 ** 16, key=jax.random.PRNGKey(4), tol=1e-5)
    Z = est.gates.astype(np.float64)
    gamma_K = np.min(_orthogonal_pair_sampled_dual(np.linspace(0, 1, 200001), Z))
    _brackets(est, gamma_K, rtol=1e-5)  # the 1-D grid is within ~1e-10 of the minimum
    assert abs(est.value - ORTHOGONAL_PAIR_GAMMA) < 0.005


def test_fresh_gate_dual_is_unbiased_for_the_population_dual():
    """Orthogonal pair, q = (0.3, 0.7): ‖g_q(z)‖ takes √(q₁² + q₂²), q₁, q₂, 0 with probability 1/4 each, so
    F(q) and the standard deviation of one draw are known exactly; F(q) ≥ γ."""
    X, y = _orthogonal_pair()
    q = np.array([0.3, 0.7])
    values = np.array([np.hypot(*q), q[0], q[1], 0.0])
    F, sd = values.mean(), values.std()
    K = 2 ** 16
    mean, se = margin.fresh_gate_dual(q, X, y, num_gates=K, key=jax.random.PRNGKey(5))
    assert abs(mean - F) < 4 * sd / np.sqrt(K)
    np.testing.assert_allclose(se, sd / np.sqrt(K), rtol=0.05)
    assert F > ORTHOGONAL_PAIR_GAMMA
    with pytest.raises(ValueError, match="simplex"):
        margin.fresh_gate_dual(np.array([0.5, 0.6]), X, y, num_gates=16, key=jax.random.PRNGKey(0))


def test_margin_is_positively_homogeneous():
    """γ(cX) = c·γ(X) for c > 0: the gates 1(zᵀcx > 0) do not change and A_k scales by c (so does γ_K)."""
    X, y = _sphere_xor(n=30, d=4, seed=5)
    Z = np.asarray(margin.sample_gates(jax.random.PRNGKey(6), 1000, 4))
    tol = 1e-4
    base = margin.estimate_margin(X, y, gates=Z, tol=tol)
    for c in (0.25, 3.0):
        scaled = margin.estimate_margin(c * X, y, gates=Z, tol=tol)
        assert c * base.lower <= scaled.upper * (1 + 1e-6) and scaled.lower <= c * base.upper * (1 + 1e-6)
        assert abs(scaled.value - c * base.value) <= tol * c * base.upper
        svm = lambda X: np.array(margin.svm_margin(X, y, tol=1e-6, dtype=np.float64))
        lower, upper = svm(c * X)
        assert c * svm(X)[0] <= upper * (1 + 1e-9) and lower <= c * svm(X)[1] * (1 + 1e-9)


# ---------------------------------------------------------------------------------------------
# The SVM bound against an independent QP
# ---------------------------------------------------------------------------------------------

def _first_layer_ntk_numpy(X):
    """Θ_W(x, x') = ⟨x, x'⟩(π − θ)/(2π), written out again in NumPy float64 (not kd_theory.ntk)."""
    X = np.asarray(X, np.float64)
    dots = X @ X.T
    norms = np.linalg.norm(X, axis=1)
    theta = np.arccos(np.clip(dots / np.outer(norms, norms), -1.0, 1.0))
    return dots * (np.pi - theta) / (2 * np.pi)


def test_enumeration_reference_on_a_hand_solved_qp():
    """min over Δ₂ of a q₁² + b q₂² is ab/(a + b), at q ∝ (b, a)."""
    value, q = references.simplex_qp_by_enumeration(np.diag([2.0, 3.0]))
    np.testing.assert_allclose(value, 6.0 / 5.0, rtol=1e-12)
    np.testing.assert_allclose(q, [0.6, 0.4], rtol=1e-12)
    with pytest.raises(ValueError, match="square Q"):
        references.simplex_qp_by_enumeration(np.ones((2, 3)))


@pytest.mark.parametrize("seed", [0, 1])
def test_svm_margin_matches_an_independent_qp(seed):
    """Float64: the certified interval holds the exact γ₂ to rounding. Float32: to the ~1e-4 relative error of
    the float32 kernel (arccos near θ = 0: a few 1e-4 relative, documented in svm_margin)."""
    X, y = _sphere_xor(n=10, d=3, seed=10 + seed)
    Q = y[:, None] * _first_layer_ntk_numpy(X) * y[None, :]
    gamma2 = np.sqrt(references.simplex_qp_by_enumeration(Q)[0])
    tol = 1e-6
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 1e-3)):
        lower, upper = margin.svm_margin(X, y, tol=tol, dtype=dtype)
        assert lower <= gamma2 * (1 + rtol) and gamma2 <= upper * (1 + rtol), (dtype, lower, gamma2, upper)
        assert upper - lower <= 2 * tol * upper  # a gap tol in γ₂² is about tol/2 in γ₂


def test_svm_margin_of_the_exact_pairs():
    """Antipodal and orthogonal pairs: Θ_W(x₁, x₂) = 0 (θ = π, or ⟨x₁, x₂⟩ = 0) and Θ_W(x, x) = 1/2, so
    γ₂² = min (q₁² + q₂²)/2 = 1/4: γ₂ = 1/2, above γ = 1/2 and γ ≈ 0.4268 respectively."""
    x = np.array([0.6, 0.8], np.float32)
    for X, y in ((np.stack([x, -x]), np.array([1.0, -1.0], np.float32)), _orthogonal_pair()):
        lower, upper = margin.svm_margin(X, y, tol=1e-6)
        assert lower <= 0.5 * (1 + 1e-6) and 0.5 <= upper * (1 + 1e-6)


def test_noisy_xor_margin_shrinks_like_one_over_d():
    gammas = {}
    for d in (4, 6, 8):
        X, y = data.noisy_xor_support(d)
        gammas[d] = margin.estimate_margin(X, y, num_gates=2048, key=jax.random.PRNGKey(d), tol=2e-3).value
    dims = np.array(list(gammas))
    g = np.array([gammas[d] for d in dims])
    assert np.all(np.diff(g) < 0)
    assert np.all((g * dims > 1 / 50) & (g * dims < 1 / 2)), g * dims  # Θ(1/d): 1/(50d) ≤ γ ≤ 1/(2d)
    ratio = gammas[4] / gammas[8]  # 2 for exactly 1/d, 4 for 1/d², √2 for 1/√d
    assert 2.0 <= ratio <= 3.2, ratio


def test_bounds_against_svm_and_norm():
    X, y = _sphere_xor()
    est = margin.estimate_margin(X, y, num_gates=2000, key=jax.random.PRNGKey(0), tol=1e-4)
    # Sampled, exact: (1/K)Σ‖A_k q‖ ≤ √(qᵀ(yyᵀ ⊙ Θ_K)q) with Θ_K the empirical NTK of the gates (a = 1).
    sampled_kernel = functools.partial(ntk.empirical_ntk, {"W": jnp.asarray(est.gates), "a": jnp.ones(len(est.gates))})
    lo2_K, up2_K = margin.svm_margin(X, y, tol=1e-5, kernel=sampled_kernel)
    assert est.upper <= lo2_K  # certified: γ_K ≤ upper ≤ (lower bound of γ₂,K) ≤ γ₂,K
    # Population: γ ≤ γ₂ (about 6-10% apart on this problem, far beyond the sampling error).
    lo2, up2 = margin.svm_margin(X, y, tol=1e-5)
    assert est.upper < lo2 < 1.2 * est.upper
    active = np.mean(est.gates @ X.T > 0, axis=0)
    assert est.lower <= np.min(np.linalg.norm(X, axis=1) * active)  # γ_K ≤ min_i ‖x_i‖·P_K(zᵀx_i > 0)
    assert est.value <= margin.norm_upper_bound(X)


def test_invariances():
    X, y = _sphere_xor(n=30, seed=4)
    Z = np.asarray(margin.sample_gates(jax.random.PRNGKey(5), 1000, X.shape[1]))
    base = margin.estimate_margin(X, y, gates=Z, tol=1e-4)
    perm = np.random.default_rng(0).permutation(len(X))
    permuted = margin.estimate_margin(X[perm], y[perm], gates=Z, tol=1e-4)
    flipped = margin.estimate_margin(-X, -y, gates=-Z, tol=1e-4)  # y x and every gate are unchanged
    for other in (permuted, flipped):
        assert max(base.lower, other.lower) <= min(base.upper, other.upper)
    np.testing.assert_allclose(flipped.upper, base.upper, rtol=1e-6)
    np.testing.assert_allclose(permuted.q, base.q[perm], atol=1e-3)


def test_vmapped_solve_over_datasets():
    problems = [_sphere_xor(n=24, d=4, seed=s) for s in range(3)]
    Xs, ys = (jnp.stack([p[i] for p in problems]) for i in (0, 1))
    Zs = jax.random.normal(jax.random.PRNGKey(0), (3, 800, 4))
    batched = jax.vmap(margin.solve_margin_dual, in_axes=(0, 0, 0, None, None))(Xs, ys, Zs, 1e-4, 5000)
    for b in range(3):
        single = margin.estimate_margin(problems[b][0], problems[b][1], gates=np.asarray(Zs[b]), tol=1e-4)
        assert float(batched.lower[b]) <= single.upper * (1 + 1e-5)
        assert single.lower <= float(batched.upper[b]) * (1 + 1e-5)
        assert float(batched.upper[b] - batched.lower[b]) <= 1e-4 * float(batched.upper[b])


def test_fresh_gate_check_close_for_generic_data():
    X, y = _sphere_xor(n=20, d=3, seed=6)
    est = margin.estimate_margin(X, y, num_gates=8192, key=jax.random.PRNGKey(0), tol=1e-4)
    fresh = margin.fresh_gate_margins(est, X, y, num_gates=32768, key=jax.random.PRNGKey(9))
    assert fresh.shape == (20,)
    assert abs(float(fresh.min()) - est.value) < 0.15 * est.value


def test_kernel_teacher_logits():
    X, y = _sphere_xor(n=40, d=5, seed=7)
    X_eval = _sphere_xor(n=15, d=5, seed=8)[0]
    key = jax.random.PRNGKey(3)
    z = margin.kernel_teacher_logits(X, y, num_gates=1024, key=key, tol=1e-3)
    est = margin.estimate_margin(X, y, num_gates=1024, key=key, tol=1e-3)
    assert z.shape == (40,)
    np.testing.assert_allclose(np.min(y * z), est.lower, rtol=1e-4)  # y_i z_i ≥ γ_K, with equality at the min
    active = np.mean(est.gates @ X.T > 0, axis=0)
    assert np.all(np.abs(z) <= active * np.linalg.norm(X, axis=1) + 1e-6)  # |z| ≤ ‖x‖·P_K(gate on)
    z_eval = margin.kernel_teacher_logits(X, y, X_eval, num_gates=1024, key=key, tol=1e-3)
    assert z_eval.shape == (15,) and np.all(np.abs(z_eval) <= 0.5 + 0.05)
    p = jax.nn.sigmoid(z)
    assert np.all((p > 0.5) == (y > 0))


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_exactly_parallel_opposite_labels_gives_zero_margin(scale):
    X, y = _sphere_xor(n=12, d=4, seed=1)
    X[9] = scale * X[2]  # exact in float32: a power of two
    y[9] = -y[2]
    with pytest.warns(RuntimeWarning, match=r"exactly parallel.*\(2, 9\)"):
        est = margin.estimate_margin(X, y, num_gates=256, key=jax.random.PRNGKey(0))
    assert est.lower == est.upper == 0.0 and est.zero_margin_pairs == ((2, 9),)
    # The returned q certifies it: f(q) = 0 on any gates.
    upper, _ = margin.margin_bounds(jnp.asarray(est.q, jnp.float32), jnp.asarray(X), jnp.asarray(y),
                                    jnp.asarray(est.gates))
    assert float(upper) < 1e-6
    with pytest.raises(ValueError, match="γ = 0"), pytest.warns(RuntimeWarning):
        margin.kernel_teacher_logits(X, y, num_gates=256, key=jax.random.PRNGKey(0))


def test_exactly_parallel_is_decided_exactly():
    x = np.array([0.3, -1.7, 2.9e-3, 0.0], np.float32)
    assert margin.exactly_parallel(x, np.float64(2.5) * x.astype(np.float64))  # exact: 24 + 3 bits fit in 53
    assert not margin.exactly_parallel(x, np.float32(2.5) * x)  # each entry rounded to float32 on its own
    assert not margin.exactly_parallel(x, -x)                   # c < 0: antiparallel
    assert margin.exactly_parallel(x, x) and margin.exactly_parallel(x, np.float32(0.5) * x)
    assert not margin.exactly_parallel(x, x + np.array([0, 0, 0, 1e-30], np.float32))


def test_nearly_parallel_opposite_labels_only_warn():
    """1 − cos ≤ 1e-9 but not exactly parallel: γ > 0 (tiny), so no γ = 0 certificate, only a warning."""
    X, y = _sphere_xor(n=12, d=4, seed=1)
    X[9] = X[2] + np.array([0, 0, 0, 2e-6], np.float32)  # 1 − cos ≈ 1e-12
    y[9] = -y[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = margin.estimate_margin(X, y, num_gates=256, key=jax.random.PRNGKey(0), max_iters=50)
    messages = " ".join(str(w.message) for w in caught)
    assert "nearly parallel" in messages and "(2, 9)" in messages
    assert est.zero_margin_pairs == () and est.near_parallel_pairs == ((2, 9),)
    assert est.iterations > 0 and est.lower <= est.upper
    # q ∝ 1/‖x‖ on the pair nearly cancels g(z): a tiny certified upper bound that the lower bound respects.
    q_pair = np.zeros(len(X))
    q_pair[[2, 9]] = 0.5
    with jax.enable_x64(True):
        pair_upper, _ = margin.margin_bounds(*(jnp.asarray(a, jnp.float64) for a in (q_pair, X, y, est.gates)))
    assert 0 < float(pair_upper) < 1e-5 and est.lower <= float(pair_upper)


def test_antiparallel_opposite_labels_is_fine():
    X, y = _sphere_xor(n=12, d=4, seed=1)
    X[9], y[9] = -X[2], -y[2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = margin.estimate_margin(X, y, num_gates=512, key=jax.random.PRNGKey(0))
    assert est.lower > 0


@pytest.mark.parametrize("mutate,match", [
    (lambda X, y: X.__setitem__((5, 1), np.nan), r"inputs \[5\] contain NaN"),
    (lambda X, y: X.__setitem__((3, 0), np.inf), r"inputs \[3\] contain NaN or inf"),
    (lambda X, y: X.__setitem__(7, 0.0), r"inputs \[7\] have zero norm"),
    (lambda X, y: y.__setitem__(4, 0.0), r"points \[4\]"),
    (lambda X, y: y.__setitem__(slice(None), 1.0), "both classes"),
])
def test_bad_inputs_raise_naming_points(mutate, match):
    X, y = _sphere_xor(n=12, d=4, seed=2)
    mutate(X, y)
    with pytest.raises(ValueError, match=match):
        margin.estimate_margin(X, y, num_gates=64, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=match):
        margin.svm_margin(X, y)


def test_maybe_x64():
    with maybe_x64("float64"):
        assert jnp.asarray(1.0, jnp.float64).dtype == jnp.float64
    with maybe_x64(np.float32):
        assert jnp.asarray(1.0).dtype == jnp.float32
    with pytest.raises(ValueError, match="dtype"):
        maybe_x64("not-a-dtype")
