"""Closed-form and empirical NTKs of the two-layer ReLU network, and the kernel predictor."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import losses, nets, ntk


def _points(n, d, seed, unit=False):
    X = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    if unit:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return jnp.asarray(X)


@pytest.mark.parametrize("name", ntk.KERNELS)
def test_closed_forms_symmetric_psd(name):
    X = _points(60, 4, 0)
    X = X.at[7].set(X[3])  # a duplicate point: the Gram matrix is singular but still PSD
    K = np.asarray(ntk.get_kernel(name)(X, X), np.float64)
    np.testing.assert_allclose(K, K.T, atol=1e-5)
    eig = np.linalg.eigvalsh((K + K.T) / 2)
    assert eig.min() >= -1e-5 * eig.max()


def test_closed_form_values():
    """Known values: diagonal ‖x‖²/2 for Θ_W and the NNGP; orthogonal inputs θ = π/2."""
    x = jnp.array([[3.0, 0.0], [0.0, 2.0], [-1.5, 0.0]])
    theta_w, k = ntk.ntk_first_layer(x, x), ntk.nngp(x, x)
    np.testing.assert_allclose(np.diag(theta_w), [4.5, 2.0, 1.125], rtol=1e-6)
    np.testing.assert_allclose(np.diag(k), [4.5, 2.0, 1.125], rtol=1e-6)
    assert abs(float(theta_w[0, 1])) < 1e-6                     # ⟨x,x'⟩ = 0
    np.testing.assert_allclose(k[0, 1], 3.0 * 2.0 / (2 * np.pi), rtol=1e-6)  # sin θ = 1
    np.testing.assert_allclose(k[0, 2], 0.0, atol=1e-6)                   # θ = π: no common gate
    np.testing.assert_allclose(theta_w[0, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(ntk.ntk_both_layers(x, x), theta_w + k, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown kernel"):
        ntk.get_kernel("third")


def test_gram_blocks_match_direct():
    X1, X2 = _points(53, 6, 1), _points(17, 6, 2)
    for name in ntk.KERNELS:
        f = ntk.get_kernel(name)
        np.testing.assert_allclose(ntk.gram(f, X1, X2, block_size=8), f(X1, X2), rtol=1e-4, atol=1e-4)
    params = nets.standard_init(jax.random.PRNGKey(0), 32, 6)
    f = functools.partial(ntk.empirical_ntk, params, layers="both")
    np.testing.assert_allclose(ntk.gram(f, X1, block_size=10), f(X1, X1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layers,closed", [("first", ntk.ntk_first_layer), ("second", ntk.ntk_second_layer),
                                           ("both", ntk.ntk_both_layers)])
def test_empirical_converges_like_one_over_sqrt_width(layers, closed):
    X = _points(24, 5, 3, unit=True)
    target = np.asarray(closed(X, X))
    widths = [64, 256, 1024, 4096, 16384]
    errors = []
    for m in widths:
        errs = [np.sqrt(np.mean((np.asarray(ntk.empirical_ntk(nets.standard_init(jax.random.PRNGKey(s), m, 5),
                                                              X, layers=layers)) - target) ** 2))
                for s in range(4)]
        errors.append(np.mean(errs))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert -0.65 < slope < -0.35, (slope, errors)
    assert errors[-1] < 0.02


@pytest.mark.parametrize("layers", ["first", "second", "both"])
def test_autodiff_route_equals_gate_formula(layers):
    params = nets.standard_init(jax.random.PRNGKey(4), 48, 7)
    X1, X2 = _points(11, 7, 5), _points(9, 7, 6)
    W, a = params["W"], params["a"]
    apply_fn, trained = {
        "first": (lambda W_, X: nets.apply({"W": W_, "a": a}, X), W),
        "second": (lambda a_, X: nets.apply({"W": W, "a": a_}, X), a),
        "both": (nets.apply, params),
    }[layers]
    generic = ntk.empirical_ntk_autodiff(apply_fn, trained, X1, X2, batch_size=4)
    np.testing.assert_allclose(generic, ntk.empirical_ntk(params, X1, X2, layers), rtol=2e-5, atol=2e-5)
    assert generic.shape == (11, 9)


def _train_student(width, X, y, X_test, steps, lr, seed=0):
    """Full-batch GD on W only (a fixed), mean logistic loss, symmetric init so f(0) = 0."""
    params = nets.symmetric_init(jax.random.PRNGKey(seed), width, X.shape[1])
    a = params["a"]
    loss = lambda W: jnp.mean(losses.logistic(nets.apply({"W": W, "a": a}, X), y))
    grad = jax.jit(jax.grad(loss))
    W = params["W"]
    for _ in range(steps):
        W = W - lr * grad(W)
    return nets.apply({"W": W, "a": a}, X), nets.apply({"W": W, "a": a}, X_test)


def test_wide_student_tracks_kernel_gradient_descent():
    X, X_test = _points(20, 5, 7, unit=True), _points(10, 5, 8, unit=True)
    y = jnp.sign(X[:, 0] * X[:, 1])
    steps, lr = 100, 4.0
    f_tr, f_te = ntk.kernel_gradient_descent(ntk.ntk_first_layer(X, X), losses.hard_target(y), steps=steps,
                                             learning_rate=lr, theta_test=ntk.ntk_first_layer(X_test, X))
    assert float(jnp.mean(losses.logistic(f_tr, y))) < 0.5 * np.log(2)  # the kernel model did learn
    scale = float(jnp.max(jnp.abs(f_tr)))
    gaps = {}
    for m in (64, 16384):
        s_tr, s_te = _train_student(m, X, y, X_test, steps, lr)
        gaps[m] = max(float(jnp.max(jnp.abs(s_tr - f_tr))), float(jnp.max(jnp.abs(s_te - f_te)))) / scale
    assert gaps[16384] < 0.05, gaps
    assert gaps[16384] < gaps[64] / 4, gaps  # tracking comes from width (≈ 1/√m), not by luck


def test_kernel_gradient_descent_one_step_and_soft_targets():
    X = _points(6, 3, 9, unit=True)
    theta = ntk.ntk_first_layer(X, X)
    p = jnp.linspace(0.2, 0.8, 6)
    f1, none = ntk.kernel_gradient_descent(theta, p, steps=1, learning_rate=0.5)
    assert none is None
    np.testing.assert_allclose(f1, -0.5 / 6 * theta @ (0.5 - p), rtol=1e-6)  # σ(0) = 1/2
