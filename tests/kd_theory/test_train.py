"""Projected GD and the optax trainer."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from kd_theory import data, losses, nets, teachers, train


@pytest.fixture(scope="module")
def xor():
    ds = data.noisy_xor(6, n_train=200, n_test=100, seed=0)
    return jnp.asarray(ds.X_train), jnp.asarray(ds.y_train)


def test_projected_gd_stays_in_the_balls(xor):
    X, y = xor
    m, B = 16, 0.5
    p0 = nets.symmetric_init(jax.random.PRNGKey(0), m, X.shape[1])
    final, metrics = train.projected_gradient_descent(p0, X, y, losses.hard_target(y), lr=5.0, steps=200, B=B)
    dist = jnp.linalg.norm(final["W"] - p0["W"], axis=1)
    assert float(jnp.max(dist)) <= B / np.sqrt(m) * (1 + 1e-5)
    assert float(jnp.max(dist)) >= 0.99 * B / np.sqrt(m)  # the constraint is active at this step size
    np.testing.assert_array_equal(final["a"], p0["a"])     # output layer fixed by default


def test_iteration_average_is_the_mean_of_the_loss_curve(xor):
    X, y = xor
    p0 = nets.symmetric_init(jax.random.PRNGKey(1), 32, X.shape[1])
    _, m = train.projected_gradient_descent(p0, X, y, losses.hard_target(y), lr=1.0, steps=50)
    assert m.loss_curve.shape == (50,)
    np.testing.assert_allclose(m.loss_curve[0], np.log(2.0), rtol=1e-6)  # f = 0 at init
    np.testing.assert_allclose(m.avg_train_loss, jnp.mean(m.loss_curve), rtol=1e-6)
    assert float(m.final_train_loss) < float(m.loss_curve[0])
    # the curve is R(W(0)), ..., R(W(T-1)): check it against plain GD written out by hand
    p, target = p0, losses.hard_target(y)
    for t in range(3):
        np.testing.assert_allclose(m.loss_curve[t], train.mean_loss(p, X, target), rtol=1e-5)
        g = jax.grad(train.mean_loss)(p, X, target)
        p = dict(p, W=p["W"] - 1.0 * g["W"])
    assert bool(jnp.all(jnp.diff(m.loss_curve) <= 1e-6))  # small step: monotone decrease


def test_soft_training_approaches_its_teacher(xor):
    X, y = xor
    p = jax.nn.sigmoid(2.0 * y * (0.5 + jnp.abs(X[:, 0])))
    p0 = nets.symmetric_init(jax.random.PRNGKey(2), 256, X.shape[1])
    _, m = train.projected_gradient_descent(p0, X, y, p, lr=4.0, steps=400)
    assert float(m.final_train_loss) < 0.25 * float(losses.binary_kl(jnp.zeros_like(p), p).mean())


def test_trainable_output_layer_moves(xor):
    X, y = xor
    p0 = nets.standard_init(jax.random.PRNGKey(3), 8, X.shape[1])
    final, _ = train.projected_gradient_descent(p0, X, y, losses.hard_target(y), lr=1.0, steps=5,
                                                train_output_layer=True)
    assert float(jnp.max(jnp.abs(final["a"] - p0["a"]))) > 0


@pytest.mark.parametrize("batch_size", [None, 32])
def test_optax_training_reduces_the_loss(xor, batch_size):
    X, y = xor
    p0 = nets.symmetric_init(jax.random.PRNGKey(4), 64, X.shape[1])
    _, loss_t = train.train_with_optax(p0, X, losses.hard_target(y), optax.adam(0.01), steps=300,
                                       key=jax.random.PRNGKey(5), batch_size=batch_size)
    assert float(jnp.mean(loss_t[-20:])) < 0.8 * float(loss_t[0])


def test_bad_optimizer_and_batch_size():
    with pytest.raises(ValueError, match="unknown optimizer"):
        train.make_optimizer("lbfgs", 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        train.make_optimizer("sgd", 0.0)
    X = jnp.ones((10, 3))
    p0 = nets.symmetric_init(jax.random.PRNGKey(0), 4, 3)
    with pytest.raises(ValueError, match="batch_size"):
        train.train_with_optax(p0, X, jnp.ones(10), optax.sgd(0.1), steps=2, batch_size=11)


def test_wide_teacher_is_accurate_on_digits():
    ds = data.digits_task("full")
    params = teachers.train_network_teacher(jax.random.PRNGKey(0), ds.X_train, ds.y_train, steps=500)
    acc = float(losses.accuracy(nets.apply(params, ds.X_test), ds.y_test))
    assert acc > 0.95
    p = teachers.soft_labels(nets.apply(params, ds.X_train), temperature=4.0)
    assert float(p.min()) > 0 and float(p.max()) < 1
    with pytest.raises(ValueError, match="temperature"):
        teachers.soft_labels(jnp.zeros(3), 0.0)


def test_label_softness_is_the_distance_from_the_teachers_hard_labels_and_falls_to_zero_as_t_falls():
    f = jnp.array([-3.0, -0.5, 0.2, 1.0, 4.0])
    by_T = []
    for T in (8.0, 1.0, 0.25, 1 / 64):
        p = teachers.soft_labels(f, T)
        by_T.append(teachers.label_softness(p))
        assert by_T[-1] == pytest.approx(float(jnp.mean(jnp.abs(p - (f > 0)))), rel=1e-6)
    assert by_T == sorted(by_T, reverse=True) and by_T[-1] < 1e-5 and by_T[0] > 0.3
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    p = teachers.soft_labels(logits, 1.0, num_classes=3)
    # total variation to the argmax's one-hot: 1 − max_c p_c per example
    assert teachers.label_softness(p, num_classes=3) == pytest.approx(float(jnp.mean(1 - p.max(axis=-1))))
    assert teachers.label_softness(p[1:], num_classes=3) == pytest.approx(2 / 3)


def test_multiclass_projected_gd_matches_plain_gd_by_hand(xor):
    X, y = xor
    labels = (jnp.arange(X.shape[0]) % 3).astype(jnp.int32)
    t = losses.one_hot_target(labels, 3)
    p0 = nets.symmetric_init(jax.random.PRNGKey(6), 8, X.shape[1], num_outputs=3)
    final, m = train.projected_gradient_descent(p0, X, labels, t, lr=1.0, steps=3, B=0.5)
    np.testing.assert_allclose(m.loss_curve[0], np.log(3.0), rtol=1e-6)  # f = 0: softmax uniform
    p = p0
    for _ in range(3):
        g = jax.grad(lambda q: jnp.mean(losses.multiclass_kl(nets.apply(q, X), t)))(p)
        p = dict(p, W=nets.project_to_balls(p["W"] - g["W"], p0["W"], 0.5 / np.sqrt(8)))
    np.testing.assert_allclose(final["W"], p["W"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.final_train_error, losses.multiclass_error_rate(nets.apply(p, X), labels), atol=1e-6)


def test_optimizer_table():
    assert set(train.OPTIMIZERS) == {"sgd", "adam"}
    assert isinstance(train.make_optimizer("adam", 0.1), optax.GradientTransformation)


def test_multiclass_teacher_and_softmax_labels():
    ds = data.digits_task("full", num_classes=10)
    params = teachers.train_network_teacher(jax.random.PRNGKey(0), ds.X_train, ds.y_train, steps=300, width=128,
                                            num_classes=10)
    assert params["a"].shape == (128, 10)
    f = nets.apply(params, ds.X_test)
    assert 1 - float(losses.multiclass_error_rate(f, ds.y_test)) > 0.9
    p = teachers.soft_labels(f, temperature=4.0, num_classes=10)
    np.testing.assert_allclose(jnp.sum(p, -1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p, jax.nn.softmax(f / 4.0), rtol=1e-6)
    with pytest.raises(ValueError, match="last axis"):
        teachers.soft_labels(f, num_classes=3)
    assert set(teachers.TEACHERS) == set(teachers.TEACHER_KINDS) == {"network", "kernel"}
