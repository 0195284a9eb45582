"""Certified NTK margin γ: agreement with a conic solver, bound validity, known margins, bad input."""
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import data, margin, ntk


def _sphere_xor(n=40, d=5, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0).astype(np.float32)


def _conic_reference(X, y, Z):
    pytest.importorskip("cvxpy")
    return margin.conic_reference(X, y, Z)


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


def test_separable_data_has_margin_at_least_half_gbar():
    gbar = 0.2
    ds = data.separable_with_margin(dim=6, margin=gbar, n_train=150, n_test=1, seed=0)
    X, y = ds.X_train, ds.y_train
    est = margin.estimate_margin(X, y, num_gates=4096, key=jax.random.PRNGKey(0), tol=1e-3)
    u = np.asarray(ds.info["direction"])
    # Sampled statement, exact: v_k ≡ u is feasible, so γ_K ≥ min_i y_i uᵀx_i · (fraction of gates on x_i).
    active = np.mean(est.gates @ X.T > 0, axis=0)
    assert est.upper >= np.min(y * (X @ u) * active)
    # Population statement γ ≥ ḡ/2, up to the gate-sampling error of a fraction (≈ 3/(2√K) ≈ 2.3%).
    assert est.value >= gbar / 2 * (1 - 0.025)


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

@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_same_direction_opposite_labels_gives_zero_margin(scale):
    X, y = _sphere_xor(n=12, d=4, seed=1)
    X[9] = scale * X[2]
    y[9] = -y[2]
    with pytest.warns(RuntimeWarning, match=r"\(2, 9\)"):
        est = margin.estimate_margin(X, y, num_gates=256, key=jax.random.PRNGKey(0))
    assert est.lower == est.upper == 0.0 and est.zero_margin_pairs == ((2, 9),)
    # The returned q certifies it: f(q) = 0 on any gates.
    upper, _ = margin.margin_bounds(jnp.asarray(est.q, jnp.float32), jnp.asarray(X), jnp.asarray(y),
                                    jnp.asarray(est.gates))
    assert float(upper) < 1e-6
    with pytest.raises(ValueError, match="γ = 0"), pytest.warns(RuntimeWarning):
        margin.kernel_teacher_logits(X, y, num_gates=256, key=jax.random.PRNGKey(0))


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
