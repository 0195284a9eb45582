"""The network and the losses: the formulas, their gradients, and the paper's invariants."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import losses, nets


def _data(key, n=30, d=5):
    X = jax.random.normal(key, (n, d))
    X = X / jnp.linalg.norm(X, axis=1, keepdims=True)
    y = jnp.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize("width", [2, 4, 64, 512])
def test_symmetric_init_gives_zero_output(width):
    X, _ = _data(jax.random.PRNGKey(1))
    params = nets.symmetric_init(jax.random.PRNGKey(width), width, X.shape[1])
    assert params["W"].shape == (width, X.shape[1]) and params["a"].shape == (width,)
    np.testing.assert_array_equal(params["W"][: width // 2], params["W"][width // 2:])
    np.testing.assert_array_equal(params["a"][: width // 2], -params["a"][width // 2:])
    assert set(np.unique(params["a"]).tolist()) <= {-1.0, 1.0}
    half = nets.apply({"W": params["W"][: width // 2], "a": params["a"][: width // 2]}, X)
    assert float(jnp.max(jnp.abs(half))) > 0.05   # each half is of order 1 ...
    f0 = nets.apply(params, X)
    assert float(jnp.max(jnp.abs(f0))) <= 1e-6     # ... and they cancel up to float32 rounding,
    y = jnp.where(X[:, 0] > 0, 1.0, -1.0)
    assert float(losses.error_rate(f0, y)) == 1.0  # so every point is a tie (a mistake) at W(0)


def test_standard_init_is_not_symmetric():
    X, _ = _data(jax.random.PRNGKey(1))
    params = nets.standard_init(jax.random.PRNGKey(0), 64, X.shape[1])
    assert float(jnp.max(jnp.abs(nets.apply(params, X)))) > 0.01


@pytest.mark.parametrize("width", [3, 0, -2])
def test_bad_widths_are_clear_errors(width):
    with pytest.raises(ValueError, match=f"width={width}"):
        nets.symmetric_init(jax.random.PRNGKey(0), width, 4)
    if width <= 0:
        with pytest.raises(ValueError, match=f"width={width}"):
            nets.standard_init(jax.random.PRNGKey(0), width, 4)
    with pytest.raises(ValueError, match="unknown init scheme"):
        nets.init(jax.random.PRNGKey(0), 4, 4, scheme="xavier")


def test_apply_matches_the_formula():
    X, _ = _data(jax.random.PRNGKey(2), n=7, d=3)
    p = nets.standard_init(jax.random.PRNGKey(3), 6, 3)
    expected = np.array([sum(float(p["a"][j]) * max(0.0, float(p["W"][j] @ x)) for j in range(6)) / np.sqrt(6)
                         for x in np.asarray(X)])
    np.testing.assert_allclose(nets.apply(p, X), expected, rtol=1e-5, atol=1e-6)


def test_stacked_networks_equal_single_networks():
    X, _ = _data(jax.random.PRNGKey(4))
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    ps = [nets.standard_init(k, 8, X.shape[1]) for k in keys]
    stacked = {"W": jnp.stack([p["W"] for p in ps]), "a": jnp.stack([p["a"] for p in ps])}
    out = nets.apply(stacked, X)
    assert out.shape == (3, X.shape[0])
    for r, p in enumerate(ps):
        np.testing.assert_allclose(out[r], nets.apply(p, X), rtol=1e-6, atol=1e-6)


def test_hand_written_gradients_equal_autodiff(x64):
    X, y = _data(jax.random.PRNGKey(6), n=40, d=6)
    X = X.astype(jnp.float64)
    p = nets.standard_init(jax.random.PRNGKey(7), 10, 6, dtype=jnp.float64)
    t = jax.nn.sigmoid(3.0 * X[:, 2])  # soft targets
    loss = lambda q: jnp.mean(losses.binary_kl(nets.apply(q, X), t))
    auto = jax.grad(loss)(p)
    H = nets.pre_activations(p["W"], X)
    coef = nets.output_coefficients(p["a"])
    residual = losses.logit_residual(nets.output_from_pre_activations(H, coef), t)
    np.testing.assert_allclose(nets.hidden_layer_gradient(H, coef, residual, X), auto["W"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets.output_layer_gradient(H, residual), auto["a"], rtol=1e-10, atol=1e-12)


def test_network_gradient_against_finite_differences(x64):
    X, y = _data(jax.random.PRNGKey(8), n=25, d=4)
    X = X.astype(jnp.float64)
    p = nets.standard_init(jax.random.PRNGKey(9), 6, 4, dtype=jnp.float64)
    loss = lambda W: jnp.mean(losses.logistic(nets.apply({"W": W, "a": p["a"]}, X), y))
    g = jax.grad(loss)(p["W"])
    direction = jax.random.normal(jax.random.PRNGKey(10), p["W"].shape, jnp.float64)
    eps = 1e-6
    fd = (loss(p["W"] + eps * direction) - loss(p["W"] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g, direction), fd, rtol=1e-6)


def test_projection_keeps_every_neuron_in_its_ball():
    key = jax.random.PRNGKey(11)
    W0 = jax.random.normal(key, (4, 16, 5))
    W = W0 + 3.0 * jax.random.normal(jax.random.PRNGKey(12), W0.shape)
    radius = jnp.array([0.1, 0.5, 1.0, jnp.inf])
    P = nets.project_to_balls(W, W0, radius)
    dist = jnp.linalg.norm(P - W0, axis=-1)
    for r in range(3):
        assert float(jnp.max(dist[r])) <= float(radius[r]) * (1 + 1e-6)
        # points outside land on the sphere, in the direction they came from
        np.testing.assert_allclose(dist[r], radius[r], rtol=1e-5)
    np.testing.assert_allclose(P[3], W[3], rtol=1e-6)           # inf: no projection
    inside = W0 + 1e-3 * (W - W0)
    np.testing.assert_allclose(nets.project_to_balls(inside, W0, 1.0), inside, rtol=1e-6)


# ---------------------------------------------------------------- losses

@pytest.mark.parametrize("name", ["logistic", "binary_kl", "binary_cross_entropy"])
def test_loss_gradients_against_finite_differences(x64, name):
    f = jnp.linspace(-6.0, 6.0, 25, dtype=jnp.float64)
    if name == "logistic":
        second = jnp.where(jnp.arange(25) % 2 == 0, 1.0, -1.0)
        fn, target = (lambda f: losses.logistic(f, second)), losses.hard_target(second)
    else:
        second = jnp.linspace(0.01, 0.99, 25, dtype=jnp.float64)
        fn, target = (lambda f: getattr(losses, name)(f, second)), second
    eps = 1e-6
    fd = (fn(f + eps) - fn(f - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.vmap(jax.grad(lambda v, i: fn(f.at[i].set(v))[i]), (0, 0))(f, jnp.arange(25)),
                               fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(losses.logit_residual(f, target), fd, rtol=1e-6, atol=1e-9)


def test_binary_kl_is_nonnegative_and_zero_exactly_at_the_teacher(x64):
    p = jnp.linspace(0.0, 1.0, 41, dtype=jnp.float64)
    f = jnp.linspace(-8.0, 8.0, 81, dtype=jnp.float64)
    kl = losses.binary_kl(f[:, None], p[None, :])
    assert float(jnp.min(kl)) >= -1e-12
    interior = p[1:-1]
    at_teacher = losses.binary_kl(jnp.log(interior / (1 - interior)), interior)
    np.testing.assert_allclose(at_teacher, 0.0, atol=1e-12)
    assert float(jnp.min(losses.binary_kl(jnp.log(interior / (1 - interior)) + 0.5, interior))) > 0


def test_kl_with_hard_targets_is_the_logistic_loss():
    f = jnp.linspace(-5, 5, 11)
    for y in (-1.0, 1.0):
        np.testing.assert_allclose(losses.binary_kl(f, losses.hard_target(y)), losses.logistic(f, y), rtol=1e-6, atol=1e-6)


def test_error_rate_counts_zero_output_as_a_mistake():
    y = jnp.array([1.0, -1.0, 1.0, -1.0])
    assert float(losses.error_rate(jnp.array([1.0, -2.0, 0.0, 0.5]), y)) == 0.5
    assert float(losses.accuracy(jnp.array([1.0, -2.0, 3.0, -0.5]), y)) == 1.0
    # a rounding-level output is a tie, hence a mistake, whatever its sign
    assert float(losses.error_rate(jnp.array([1e-9, -1e-9, 1e-3, -1e-3]), y)) == 0.5


def test_soft_cross_entropy_gradient_and_minimum(x64):
    z = jax.random.normal(jax.random.PRNGKey(0), (5, 4), jnp.float64)
    p = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (5, 4), jnp.float64))
    T = 2.5
    g = jax.grad(lambda z: jnp.sum(losses.soft_cross_entropy(z, p, T)))(z)
    np.testing.assert_allclose(g, (jax.nn.softmax(z / T) - p) / T, rtol=1e-10)
    # minimised when softmax(z/T) = p: the loss then equals the entropy of p
    zstar = T * jnp.log(p)
    np.testing.assert_allclose(losses.soft_cross_entropy(zstar, p, T), -jnp.sum(p * jnp.log(p), -1), rtol=1e-10)


def test_error_rate_counts_non_finite_outputs_as_mistakes():
    # a diverged run must not report 100% accuracy (NaN compares false with 0)
    y = jnp.array([1.0, -1.0, 1.0, -1.0])
    assert float(losses.error_rate(jnp.array([jnp.nan, jnp.nan, 1.0, -1.0]), y)) == 0.5
    assert float(losses.error_rate(jnp.array([jnp.inf, -jnp.inf, jnp.nan, -1.0]), y)) == 0.75
    assert float(losses.accuracy(jnp.full(4, jnp.nan), y)) == 0.0


def test_binary_kl_is_exact_for_hard_targets_and_matches_float64():
    # float32 KL against a float64 evaluation of the definition, over hard and soft targets
    f = np.linspace(-30, 30, 121).astype(np.float32)
    p = np.array([0.0, 1e-4, 0.2, 0.5, 0.73, 1 - 1e-4, 1.0], np.float32)
    F, P = np.meshgrid(f.astype(np.float64), p.astype(np.float64), indexing="ij")
    log_s, log_1ms = -np.logaddexp(0, -F), -np.logaddexp(0, F)  # ln σ(f), ln(1 − σ(f)) in float64
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = (np.where(P > 0, P * (np.log(P) - log_s), 0.0)
               + np.where(P < 1, (1 - P) * (np.log(1 - P) - log_1ms), 0.0))
    got = np.asarray(losses.binary_kl(jnp.asarray(F, jnp.float32), jnp.asarray(P, jnp.float32)), np.float64)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)
    # the case the BCE − H(p) form got wrong: f = 15 with a hard target is 3.06e-7, not 0
    assert float(losses.binary_kl(jnp.float32(15.0), jnp.float32(1.0))) == pytest.approx(np.log1p(np.exp(-15.0)),
                                                                                       rel=1e-5)


# ---------------------------------------------------------------- C outputs (multiclass)

C = 4


def _multiclass_problem(n=30, d=5, width=8, scheme="standard"):
    X = jax.random.normal(jax.random.PRNGKey(20), (n, d), jnp.float64)
    X = X / jnp.linalg.norm(X, axis=1, keepdims=True)
    p = nets.init(jax.random.PRNGKey(21), width, d, scheme, jnp.float64, num_outputs=C)
    t = jax.nn.softmax(2.0 * jax.random.normal(jax.random.PRNGKey(22), (n, C), jnp.float64))
    return X, p, t


@pytest.mark.parametrize("width", [2, 16, 128])
def test_multiclass_symmetric_init_gives_zero_output(width):
    X, _ = _data(jax.random.PRNGKey(1))
    params = nets.symmetric_init(jax.random.PRNGKey(width), width, X.shape[1], num_outputs=C)
    assert params["W"].shape == (width, X.shape[1]) and params["a"].shape == (width, C)
    np.testing.assert_array_equal(params["W"][: width // 2], params["W"][width // 2:])
    np.testing.assert_array_equal(params["a"][: width // 2], -params["a"][width // 2:])
    assert set(np.unique(params["a"]).tolist()) == {-1.0, 1.0}
    f0 = nets.apply(params, X)
    assert f0.shape == (X.shape[0], C) and float(jnp.max(jnp.abs(f0))) <= 1e-6
    labels = jnp.arange(X.shape[0]) % C
    assert float(losses.multiclass_error_rate(f0, labels)) == 1.0  # all outputs tie: every point a mistake


def test_neurons_are_keyed_by_index_not_width():
    # neuron j's draw does not depend on the width: the narrow network is a prefix of the wide one
    narrow = nets.standard_init(jax.random.PRNGKey(3), 6, 5)
    wide = nets.standard_init(jax.random.PRNGKey(3), 40, 5)
    np.testing.assert_array_equal(narrow["W"], wide["W"][:6])
    np.testing.assert_array_equal(narrow["a"], wide["a"][:6])
    sym_narrow, sym_wide = (nets.symmetric_init(jax.random.PRNGKey(3), m, 5) for m in (6, 40))
    np.testing.assert_array_equal(sym_narrow["W"][:3], sym_wide["W"][:3])
    # the per-neuron function is what init evaluates at every position
    w, a = nets.neuron_init(jax.random.PRNGKey(3), 25, 40, 5, "symmetric")
    np.testing.assert_array_equal(w, sym_wide["W"][25])
    assert float(a) == float(sym_wide["a"][25]) == -float(sym_wide["a"][5])


def test_multiclass_apply_matches_the_formula(x64):
    X, p, _ = _multiclass_problem(n=7, d=3, width=6)
    expected = np.array([[sum(float(p["a"][j, c]) * max(0.0, float(p["W"][j] @ x)) for j in range(6)) / np.sqrt(6)
                          for c in range(C)] for x in np.asarray(X)])
    np.testing.assert_allclose(nets.apply(p, X), expected, rtol=1e-12)


def test_multiclass_hand_written_gradients_equal_autodiff(x64):
    X, p, t = _multiclass_problem()
    auto = jax.grad(lambda q: jnp.mean(losses.multiclass_kl(nets.apply(q, X), t)))(p)
    H = nets.pre_activations(p["W"], X)
    coef = nets.coefficients_of(p)
    residual = losses.softmax_residual(nets.output_from_pre_activations(H, coef), t)
    np.testing.assert_allclose(nets.hidden_layer_gradient(H, coef, residual, X), auto["W"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets.output_layer_gradient(H, residual), auto["a"], rtol=1e-10, atol=1e-12)
    # the per-neuron form the engine uses: residual gathered per neuron, then the gate
    per_neuron = jnp.broadcast_to(residual, (p["W"].shape[0],) + residual.shape)
    np.testing.assert_allclose(nets.gated_products(H, nets.neuron_signal(coef, per_neuron, True), X), auto["W"],
                               rtol=1e-10, atol=1e-12)


def test_multiclass_gradient_against_finite_differences(x64):
    X, p, t = _multiclass_problem(width=6)
    loss = lambda W: jnp.mean(losses.multiclass_kl(nets.apply({"W": W, "a": p["a"]}, X), t))
    H = nets.pre_activations(p["W"], X)
    coef = nets.coefficients_of(p)
    g = nets.hidden_layer_gradient(H, coef, losses.softmax_residual(nets.output_from_pre_activations(H, coef), t), X)
    direction = jax.random.normal(jax.random.PRNGKey(23), p["W"].shape, jnp.float64)
    eps = 1e-6
    fd = (loss(p["W"] + eps * direction) - loss(p["W"] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g, direction), fd, rtol=1e-6)


def test_multiclass_kl_is_the_cross_entropy_for_one_hot_and_zero_at_the_target(x64):
    f = jax.random.normal(jax.random.PRNGKey(24), (6, C), jnp.float64) * 5
    y = jnp.array([0, 1, 2, 3, 0, 2])
    np.testing.assert_allclose(losses.multiclass_kl(f, losses.one_hot_target(y, C)),
                               -jax.nn.log_softmax(f)[jnp.arange(6), y], rtol=1e-12)
    p = jax.nn.softmax(f)
    np.testing.assert_allclose(losses.multiclass_kl(jnp.log(p), p), 0.0, atol=1e-12)
    assert float(jnp.min(losses.multiclass_kl(f + 1.0 * jnp.arange(C), p))) > 0
    # the residual is d/df of the loss
    g = jax.grad(lambda z: jnp.sum(losses.multiclass_kl(z, p * 0.5 + 0.125)))(f)
    np.testing.assert_allclose(losses.softmax_residual(f, p * 0.5 + 0.125), g, rtol=1e-10, atol=1e-12)


def test_multiclass_error_and_top_k_by_hand():
    f = jnp.array([[3.0, 1.0, 0.0],     # y=0 correct
                   [3.0, 1.0, 0.0],     # y=1 second
                   [0.0, 0.0, 0.0],     # y=2 three-way tie: a mistake, and not in the top 2
                   [jnp.nan, 0.0, 1.0],  # y=2 non-finite row: a mistake
                   [1.0, 2.0, 2.0]])    # y=2 tied with class 1: a mistake, in the top 2
    y = jnp.array([0, 1, 2, 2, 2])
    assert float(losses.multiclass_error_rate(f, y)) == pytest.approx(4 / 5)
    assert float(losses.top_k_accuracy(f, y, 1)) == pytest.approx(1 / 5)
    assert float(losses.top_k_accuracy(f, y, 2)) == pytest.approx(3 / 5)
    assert float(losses.top_k_accuracy(f, y, 3)) == pytest.approx(4 / 5)


def test_objectives_table():
    assert losses.OBJECTIVES == {"binary": losses.BINARY, "multiclass": losses.MULTICLASS}
    assert losses.objective_for(2) is losses.BINARY and losses.objective_for(10) is losses.MULTICLASS
    with pytest.raises(ValueError, match="num_classes=1"):
        losses.objective_for(1)
