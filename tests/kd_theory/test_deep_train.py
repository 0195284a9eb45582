"""The many-run trainer of the deep experiment: runs trained together equal runs trained one by one, a stopped
run never changes, the coupled L2 through optax is the old loss-side penalty, the one-draw He init, diverged
runs flagged, and the 'settled' rule."""
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from kd_theory import deep_train, images, losses, vgg


@pytest.fixture(scope="module")
def tiny_task():
    pixels, digits = images.digits_images()
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    train, val, test = images.stratified_split(strata, seed=0, max_examples=200)
    s = images.noisy_splits(X, y, (train, val, test), 0.05, images.standard_noise(X.shape, 0))
    return s, vgg.make_vgg("VGG 2+3", (2, 3), (4, 4))


HYPER = deep_train.Hyper(learning_rate=3e-3, l2=1e-3, batch_size=32, max_epochs=10, patience=2)


def _hard(data):
    return np.asarray(losses.hard_target(data.y_train.astype(np.float32)))


@pytest.mark.parametrize("runs_per_vmap, unroll", [(0, False), (1, True)])   # the GPU and the CPU layout
def test_runs_trained_together_equal_runs_trained_one_by_one(tiny_task, runs_per_vmap, unroll):
    data, model = tiny_task
    hyper = HYPER._replace(runs_per_vmap=runs_per_vmap, unroll_epoch=unroll)
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    hard = _hard(data)
    targets = np.stack([hard, hard, np.clip(hard, 0.2, 0.8), hard])   # runs may differ in targets too
    together = deep_train.train_runs(model, keys, data.X_train, targets, data.X_val, data.y_val, hyper)
    stops = np.asarray(together.epochs)
    assert stops.min() < hyper.max_epochs, "the test needs a run that stops early"
    assert not np.any(np.asarray(together.diverged))
    for i in range(len(keys)):
        alone = deep_train.train_runs(model, keys[i:i + 1], data.X_train, targets[i:i + 1], data.X_val, data.y_val,
                                      hyper)
        assert int(alone.epochs[0]) == stops[i] and int(alone.best_epoch[0]) == int(together.best_epoch[i])
        assert float(alone.best_val_acc[0]) == pytest.approx(float(together.best_val_acc[i]), abs=1e-6)
        assert float(alone.train_loss[0]) == pytest.approx(float(together.train_loss[i]), rel=1e-4)
        for a, b in zip(jax.tree.leaves(alone.best_params), jax.tree.leaves(together.best_params)):
            np.testing.assert_allclose(a[0], b[i], rtol=1e-4, atol=1e-5)
    # the kept parameters are those of the best epoch: their validation accuracy is the recorded best
    val_acc = deep_train.run_accuracy(model, together.best_params, data.X_val, data.y_val)
    np.testing.assert_allclose(np.asarray(val_acc), np.asarray(together.best_val_acc), atol=1e-6)
    # a run stops exactly `patience` epochs after its best one, or at max_epochs
    best = np.asarray(together.best_epoch)
    assert np.all(stops == np.minimum(best + hyper.patience, hyper.max_epochs))


def test_a_stopped_run_never_changes_while_others_train(tiny_task):
    data, model = tiny_task
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    targets = np.tile(_hard(data), (4, 1))
    state = deep_train.compiled_init(model, data.X_train.shape[1:], HYPER)(keys)
    epoch = deep_train.compiled_epoch(model, HYPER)
    history = [state]
    for _ in range(HYPER.max_epochs):
        history.append(epoch(history[-1], jnp.asarray(data.X_train), jnp.asarray(targets), jnp.asarray(data.X_val),
                             jnp.asarray(data.y_val)))
    active = np.stack([np.asarray(s.active) for s in history])          # (epochs + 1, runs)
    frozen_checked = 0
    for run in range(len(keys)):
        stopped = np.flatnonzero(~active[:, run])
        if stopped.size == 0:
            continue
        first = stopped[0]
        assert np.all(~active[first:, run]), "a stopped run never restarts"
        for later in history[first + 1:]:
            for a, b in zip(jax.tree.leaves(history[first]), jax.tree.leaves(later)):
                np.testing.assert_array_equal(np.asarray(a)[run], np.asarray(b)[run])
            frozen_checked += 1
        others = [r for r in range(len(keys)) if active[first, r]]   # meanwhile a run still training did change
        if others:
            r = others[0]
            before = np.asarray(history[first].params["params"]["Dense_2"]["kernel"])[r]
            after = np.asarray(history[first + 1].params["params"]["Dense_2"]["kernel"])[r]
            assert not np.array_equal(before, after)
    assert frozen_checked > 0, "the test needs a run that stops before the last epoch"


# --- coupled L2 through optax --------------------------------------------------------------------------------------

def _problem(dtype):
    model = vgg.make_vgg("VGG 2+3", (2, 3), (4, 4))
    key_x, key_p, key_t = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.uniform(key_x, (5, 8, 8, 1), dtype)
    t = jax.random.uniform(key_t, (5,), dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), model.init(key_p, x))
    params = jax.tree.map(lambda a: a + 0.1, params)   # non-zero biases: they must get no L2 term
    return model, x, t, params


def _kernels(params):
    return [p for path, p in jax.tree_util.tree_leaves_with_path(params) if deep_train.is_kernel(path)]


def test_the_l2_term_enters_as_the_gradient_of_the_penalty_on_the_kernels_only(x64):
    """add_decayed_weights (masked) turns the data gradient into the gradient of
    L(θ) = data(θ) + (λ/2) Σ_K ‖K‖², checked against central finite differences of L written out here."""
    model, x, t, params = _problem(jnp.float64)
    lam = 0.3
    assert len(_kernels(params)) == 5   # 2 conv + 3 dense
    mask = deep_train.kernel_mask(params)
    assert sum(jax.tree.leaves(mask)) == 5 and len(jax.tree.leaves(mask)) == 10
    full = lambda p: deep_train.objective(p, model.apply, x, t) + 0.5 * lam * sum(jnp.sum(k ** 2) for k in _kernels(p))
    decay = optax.add_decayed_weights(lam, mask=deep_train.kernel_mask)
    grads = jax.grad(deep_train.objective)(params, model.apply, x, t)
    effective, _ = decay.update(grads, decay.init(params), params)
    flat, unflatten = jax.flatten_util.ravel_pytree(params)
    f = jax.jit(lambda v: full(unflatten(v)))
    g = jax.flatten_util.ravel_pytree(effective)[0]
    h = 1e-6
    for i in np.random.default_rng(0).choice(flat.size, 16, replace=False):
        e = jnp.zeros_like(flat).at[i].set(h)
        assert float((f(flat + e) - f(flat - e)) / (2 * h)) == pytest.approx(float(g[i]), rel=1e-5, abs=1e-8)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(effective), jax.tree.leaves(grads)):
        if not deep_train.is_kernel(path):
            np.testing.assert_array_equal(a, b)


def test_optax_l2_gives_the_updates_of_the_l2_penalty_added_to_the_loss():
    """Five Adam steps, float32: the optimizer of deep_train (penalty as add_decayed_weights before Adam) and the
    old form (Adam on the gradient of data + (λ/2)‖K‖²) give the same parameters to float tolerance; AdamW's
    decoupled decay (after Adam's scaling) does not — the test can tell the two apart."""
    model, x, t, params = _problem(jnp.float32)
    hyper = deep_train.Hyper(learning_rate=1e-2, l2=0.05)
    penalised = lambda p: deep_train.objective(p, model.apply, x, t) + 0.5 * hyper.l2 * sum(
        jnp.sum(k ** 2) for k in _kernels(p))

    def run(opt, loss):
        p, state = params, opt.init(params)
        for _ in range(5):
            updates, state = opt.update(jax.grad(loss)(p), state, p)
            p = optax.apply_updates(p, updates)
        return jax.flatten_util.ravel_pytree(p)[0]

    new = run(deep_train.optimizer(hyper), lambda p: deep_train.objective(p, model.apply, x, t))
    old = run(optax.adam(hyper.learning_rate), penalised)
    decoupled = run(optax.adamw(hyper.learning_rate, weight_decay=hyper.l2, mask=deep_train.kernel_mask),
                    lambda p: deep_train.objective(p, model.apply, x, t))
    start = jax.flatten_util.ravel_pytree(params)[0]
    np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6)
    assert float(jnp.max(jnp.abs(decoupled - old))) > 100 * float(jnp.max(jnp.abs(new - old))) + 1e-6
    assert float(jnp.max(jnp.abs(new - start))) > 1e-2   # the steps moved the parameters


def test_the_first_adam_step_by_hand():
    """Step 1 of Adam is −lr·ĝ/(|ĝ| + ε) per entry, with ĝ = g + λK on kernels and ĝ = g on biases."""
    model, x, t, params = _problem(jnp.float32)
    hyper = deep_train.Hyper(learning_rate=1e-2, l2=0.05)
    opt = deep_train.optimizer(hyper)
    grads = jax.grad(deep_train.objective)(params, model.apply, x, t)
    updates, _ = opt.update(grads, opt.init(params), params)
    for (path, u), g, p in zip(jax.tree_util.tree_leaves_with_path(updates), jax.tree.leaves(grads),
                               jax.tree.leaves(params)):
        ghat = g + hyper.l2 * p if deep_train.is_kernel(path) else g
        np.testing.assert_allclose(u, -hyper.learning_rate * ghat / (jnp.abs(ghat) + 1e-8), rtol=1e-5, atol=1e-9)


# --- initialisation, divergence, settling --------------------------------------------------------------------------

def test_init_params_is_he_normal_from_one_draw_with_zero_biases():
    model = vgg.make_vgg("VGG 2+3", (16, 64), (256, 8))
    key = jax.random.PRNGKey(3)
    params = deep_train.init_params(model, key, (8, 8, 1))
    reference = model.init(key, jnp.zeros((1, 8, 8, 1)))
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    for (path, p), r in zip(jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(reference)):
        assert p.shape == r.shape and p.dtype == r.dtype
        if not deep_train.is_kernel(path):
            assert not np.any(np.asarray(p))
            continue
        fan_in = int(np.prod(p.shape[:-1]))
        z = np.asarray(p).ravel() * np.sqrt(fan_in / 2.0)
        assert np.abs(z).max() <= deep_train.TRUNCATION / deep_train.TRUNCATED_STD + 1e-5   # truncated at ±2σ
        if z.size >= 4096:   # variance 2/fan_in: the standardised draws have variance 1 (5 standard errors)
            assert abs(z.var() - 1.0) < 5 * np.sqrt(2 / z.size) * 1.2
            assert abs(z.mean()) < 5 / np.sqrt(z.size)
    again = deep_train.init_params(model, key, (8, 8, 1))
    other = deep_train.init_params(model, jax.random.PRNGKey(4), (8, 8, 1))
    for a, b, c in zip(jax.tree.leaves(params), jax.tree.leaves(again), jax.tree.leaves(other)):
        np.testing.assert_array_equal(a, b)
        assert a.size == 1 or not np.any(np.asarray(a)) or not np.array_equal(a, c)


def test_a_diverging_run_is_flagged_and_stops(tiny_task):
    data, model = tiny_task
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    targets = np.tile(_hard(data), (2, 1))
    state = deep_train.train_runs(model, keys, data.X_train, targets, data.X_val, data.y_val,
                                  HYPER._replace(learning_rate=1e38, max_epochs=5))
    assert np.all(np.asarray(state.diverged)) and not np.any(np.asarray(state.active))
    assert np.all(np.asarray(state.epochs) < 5)   # it stopped when it went non-finite
    sane = deep_train.train_runs(model, keys, data.X_train, targets, data.X_val, data.y_val, HYPER)
    assert not np.any(np.asarray(sane.diverged)) and np.all(np.isfinite(np.asarray(sane.train_loss)))


def test_settled_means_stopped_early_or_flat_over_the_last_tenth():
    hyper = deep_train.Hyper(max_epochs=100)
    assert hyper.settle_epoch == 90
    state = deep_train.RunState(None, None, None, best_val_acc=jnp.array([0.9, 0.9, 0.95, 0.9]),
                                best_epoch=jnp.array([40, 95, 95, 80]), epochs=jnp.array([60, 100, 100, 100]),
                                active=None, shuffle_key=None, train_loss=None,
                                settle_val_acc=jnp.array([-1.0, 0.9, 0.9, 0.9]), diverged=None)
    # stopped early (epoch 60 < 100); flat after epoch 90; rose after epoch 90; flat (best at epoch 80)
    assert np.asarray(deep_train.settled(state, hyper)).tolist() == [True, True, False, True]
