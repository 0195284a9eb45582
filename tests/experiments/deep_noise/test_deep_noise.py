"""The deep experiment: VGG shapes, fixed input noise, the CIFAR loader, the many-run trainer (early
stopping by masking, vmapped = one by one, the L2 gradient) and the launcher end to end."""
import csv
import json
import math
import os
import pickle
import subprocess

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import deep_noise
from experiments.deep_noise import config as deep_config
from kd_theory import deep_train, images, losses, vgg
from tests.conftest import PYTHON, REPO

TINY_CHANNELS = {"VGG 8+3": (2, 3, 3, 3, 4, 4, 4, 4), "VGG 2+3": (2, 3)}


# --- models -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset, size, maps", [
    ("VGG 8+3", 8, [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]),      # digits: 3 pools, then 1×1 maps
    ("VGG 8+3", 28, [(14, 14), (7, 7), (3, 3), (1, 1), (1, 1)]),   # MNIST: floor(7/2) = 3
    ("VGG 8+3", 32, [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]),   # CIFAR: 5 pools, as VGG-11
    ("VGG 2+3", 8, [(4, 4), (2, 2)]),
    ("VGG 2+3", 32, [(16, 16), (8, 8)]),
])
def test_vgg_layers_and_feature_maps_follow_the_pooling_rule(preset, size, maps):
    assert vgg.feature_map_sizes(vgg.PRESETS[preset], size, size) == maps
    channels = TINY_CHANNELS[preset]
    model = vgg.make_vgg(preset, channels, (5, 6))
    x = jnp.ones((3, size, size, 1 if size != 32 else 3))
    params = model.init(jax.random.PRNGKey(0), x)["params"]
    assert model.apply({"params": params}, x).shape == (3,)
    convs = [params[f"Conv_{i}"]["kernel"].shape for i in range(len(channels))]
    assert [c[-1] for c in convs] == list(channels) and all(c[:2] == (3, 3) for c in convs)
    assert f"Conv_{len(channels)}" not in params
    # the first dense layer sees the last feature map flattened: the module pools exactly as the rule says
    h, w = maps[-1]
    assert params["Dense_0"]["kernel"].shape == (h * w * channels[-1], 5)
    assert params["Dense_1"]["kernel"].shape == (5, 6) and params["Dense_2"]["kernel"].shape == (6, 1)
    assert "Dense_3" not in params


def test_vgg_refuses_wrong_layer_counts():
    with pytest.raises(ValueError, match="VGG 8\\+3 needs 8 positive conv channel counts"):
        vgg.make_vgg("VGG 8+3", (4, 4), (5, 5))
    with pytest.raises(ValueError, match="2 positive hidden dense widths"):
        vgg.make_vgg("VGG 2+3", (4, 4), (5,))
    with pytest.raises(ValueError, match="unknown VGG preset 'VGG 3\\+3'"):
        vgg.make_vgg("VGG 3+3", (4, 4, 4), (5, 5))
    with pytest.raises(ValueError, match="shape \\(n, H, W, C\\)"):
        vgg.make_vgg("VGG 2+3", (4, 4), (5, 5)).init(jax.random.PRNGKey(0), jnp.ones((2, 8, 8)))


# --- data and noise -------------------------------------------------------------------------------------------------

def test_digits_binary_task_and_stratified_80_10_10_split():
    pixels, digits = images.digits_images()
    assert pixels.shape == (1797, 8, 8, 1) and pixels.min() == 0 and pixels.max() == 1
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    assert np.array_equal(y == 1, strata > 4) and len(y) == 1797
    train, val, test = images.stratified_split(strata, (0.8, 0.1, 0.1), seed=3)
    assert len(train) + len(val) + len(test) == 1797 and abs(len(val) - 180) <= 1 and abs(len(test) - 180) <= 1
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    for d in range(10):  # stratified: each digit's share is the same in every part, to rounding
        assert abs(np.mean(strata[test] == d) - np.mean(strata == d)) < 0.02
    sub = images.stratified_split(strata, (0.8, 0.1, 0.1), seed=3, max_examples=500)
    assert sum(map(len, sub)) == 500
    X3, y3, _ = images.binary_task(pixels, digits, (3,), (5,))
    assert len(y3) == np.sum((digits == 3) | (digits == 5)) and set(np.unique(y3)) == {-1, 1}
    with pytest.raises(ValueError, match="disjoint"):
        images.binary_task(pixels, digits, (3, 5), (5,))
    with pytest.raises(ValueError, match="three positive shares"):
        images.stratified_split(strata, (0.8, 0.1, 0.2))


def test_noise_is_fixed_per_example_and_has_the_asked_variance():
    pixels, digits = images.digits_images()
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    split = images.stratified_split(strata, seed=0)
    xi = images.standard_noise(X.shape, seed=7)
    assert np.array_equal(xi, images.standard_noise(X.shape, seed=7))
    low, high = images.noisy_splits(X, y, split, 0.01, xi), images.noisy_splits(X, y, split, 0.2, xi)
    for part, idx in zip((0, 2, 4), split):
        # every split carries its own examples' fixed draw, scaled by √v (the same ξ at each variance)
        np.testing.assert_allclose(low[part] - X[idx], 0.1 * xi[idx], atol=1e-6)
        np.testing.assert_allclose(high[part] - X[idx], math.sqrt(0.2) * xi[idx], atol=1e-6)
    # sample variance of N = 115,008 draws: its standard error is v·√(2/(N−1)); allow 5 of them
    for v in (0.03, 0.2):
        noise = images.add_noise(X, v, xi) - X
        assert abs(noise.var() - v) < 5 * v * math.sqrt(2 / (noise.size - 1))
        assert abs(noise.mean()) < 5 * math.sqrt(v / noise.size)
    assert np.array_equal(images.add_noise(X, 0.0, xi), X)
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"noise variance must be a finite number ≥ 0; got {bad}"):
            images.add_noise(X, bad, xi)
    with pytest.raises(ValueError, match="does not match images"):
        images.add_noise(X, 0.1, xi[:10])
    with pytest.raises(ValueError, match="shape \\(n, H, W, C\\)"):
        images.check_images(np.zeros((4, 8, 8)))


def _write_cifar(folder, sizes, rng, skip=()):
    """Small CIFAR-10 python batches (as the official ones: dict of bytes keys, data (N, 3072) uint8)."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, n in zip(images.CIFAR_FILES, sizes):
        if name in skip:
            continue
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, fh)
        written[name] = (data, labels)
    return written


def test_cifar_loader_reads_the_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_cifar(folder, (3, 4, 2, 5, 3, 6), rng)
    for directory in (folder, tmp_path):   # the batch folder itself, or the folder that holds it
        X, labels = images.cifar10_images(str(directory))
        assert X.shape == (23, 32, 32, 3) and X.dtype == np.float32 and X.min() >= 0 and X.max() <= 1
        data = np.concatenate([written[n][0] for n in images.CIFAR_FILES])
        assert labels.tolist() == sum((written[n][1] for n in images.CIFAR_FILES), [])
        # row layout: 1024 red, then 1024 green, then 1024 blue values, each a 32×32 image row-major
        i, r, c = 7, 5, 30
        for ch in range(3):
            assert X[i, r, c, ch] == pytest.approx(data[i, ch * 1024 + r * 32 + c] / 255.0)
    Xb, yb, classes = images.binary_task(X, labels, (3,), (5,))
    assert np.array_equal(classes, labels[(labels == 3) | (labels == 5)]) and np.array_equal(yb == 1, classes == 5)


def test_cifar_loader_errors_name_the_file(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        images.cifar10_images(str(tmp_path / "nowhere"))
    partial = tmp_path / "partial"
    _write_cifar(partial, (2,) * 6, rng, skip=("data_batch_3", "test_batch"))
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3, test_batch"):
        images.cifar10_images(str(partial))
    bad = tmp_path / "bad"
    _write_cifar(bad, (2,) * 6, rng)
    with open(bad / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match="data_batch_2: 'data' must have shape \\(N, 3072\\).*\\(2, 1024\\)"):
        images.cifar10_images(str(bad))
    with open(bad / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}, fh)
    with pytest.raises(ValueError, match="data_batch_2: 'labels' must have shape \\(2,\\)"):
        images.cifar10_images(str(bad))
    with open(bad / "data_batch_2", "wb") as fh:
        fh.write(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_2 is not a CIFAR-10 python batch"):
        images.cifar10_images(str(bad))


# --- training -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_task():
    pixels, digits = images.digits_images()
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    train, val, test = images.stratified_split(strata, seed=0, max_examples=200)
    s = images.noisy_splits(X, y, (train, val, test), 0.05, images.standard_noise(X.shape, 0))
    return s, vgg.make_vgg("VGG 2+3", (2, 3), (4, 4))


HYPER = deep_train.Hyper(learning_rate=3e-3, l2=1e-3, batch_size=32, max_epochs=10, patience=2)


@pytest.mark.parametrize("runs_per_vmap, unroll", [(0, False), (1, True)])   # the GPU and the CPU layout
def test_runs_trained_together_equal_runs_trained_one_by_one(tiny_task, runs_per_vmap, unroll):
    data, model = tiny_task
    hyper = HYPER._replace(runs_per_vmap=runs_per_vmap, unroll_epoch=unroll)
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    hard = np.asarray(losses.hard_target(data.y_train.astype(np.float32)))
    targets = np.stack([hard, hard, np.clip(hard, 0.2, 0.8), hard])   # runs may differ in targets too
    together = deep_train.train_runs(model, keys, data.X_train, targets, data.X_val, data.y_val, hyper)
    stops = np.asarray(together.epochs)
    assert stops.min() < hyper.max_epochs, "the test needs a run that stops early"
    for i in range(len(keys)):
        alone = deep_train.train_runs(model, keys[i:i + 1], data.X_train, targets[i:i + 1], data.X_val, data.y_val,
                                      hyper)
        assert int(alone.epochs[0]) == stops[i] and int(alone.best_epoch[0]) == int(together.best_epoch[i])
        assert float(alone.best_val_acc[0]) == pytest.approx(float(together.best_val_acc[i]), abs=1e-6)
        for a, b in zip(jax.tree.leaves(alone.best_params), jax.tree.leaves(together.best_params)):
            np.testing.assert_allclose(a[0], b[i], rtol=1e-4, atol=1e-5)
    # the kept parameters are those of the best epoch: their validation accuracy is the recorded best
    val_acc = deep_train.run_accuracy(model, together.best_params, data.X_val, data.y_val)
    np.testing.assert_allclose(np.asarray(val_acc), np.asarray(together.best_val_acc), atol=1e-6)
    # a run stops exactly `patience` epochs after its best one, or at max_epochs
    best = np.asarray(together.best_epoch)
    assert np.all((stops == np.minimum(best + hyper.patience, hyper.max_epochs)))


def test_a_stopped_run_never_changes_while_others_train(tiny_task):
    data, model = tiny_task
    keys = jax.random.split(jax.random.PRNGKey(4), 4)
    targets = np.tile(np.asarray(losses.hard_target(data.y_train.astype(np.float32))), (4, 1))
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
        # meanwhile some other run that was still active did change
        others = [r for r in range(len(keys)) if active[first, r]]
        if others:
            r = others[0]
            before = np.asarray(history[first].params["params"]["Dense_2"]["kernel"])[r]
            after = np.asarray(history[first + 1].params["params"]["Dense_2"]["kernel"])[r]
            assert not np.array_equal(before, after)
    assert frozen_checked > 0, "the test needs a run that stops before the last epoch"


def test_l2_objective_gradient_matches_the_formula_and_finite_differences(x64):
    model = vgg.make_vgg("VGG 2+3", (2, 3), (4, 4))
    key_x, key_p, key_t = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.uniform(key_x, (5, 8, 8, 1), jnp.float64)
    t = jax.random.uniform(key_t, (5,), jnp.float64)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(key_p, x))
    params = jax.tree.map(lambda a: a + 0.1, params)   # non-zero biases: they must get no L2 gradient
    lam = 0.3
    kernels = [p for path, p in jax.tree_util.tree_leaves_with_path(params) if path[-1].key == "kernel"]
    assert len(kernels) == 5   # 2 conv + 3 dense
    assert float(deep_train.l2_penalty(params)) == pytest.approx(0.5 * sum(float(jnp.sum(k ** 2)) for k in kernels))
    data_loss = lambda p: jnp.mean(jax.nn.softplus(model.apply(p, x)) - t * model.apply(p, x))
    grad = jax.grad(deep_train.objective)(params, model.apply, x, t, lam)
    expected = jax.tree_util.tree_map_with_path(
        lambda path, g, p: g + (lam * p if path[-1].key == "kernel" else 0.0), jax.grad(data_loss)(params), params)
    for a, b in zip(jax.tree.leaves(grad), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    flat, unflatten = jax.flatten_util.ravel_pytree(params)
    f = jax.jit(lambda v: deep_train.objective(unflatten(v), model.apply, x, t, lam))
    g = jax.flatten_util.ravel_pytree(grad)[0]
    h = 1e-6
    for i in np.random.default_rng(0).choice(flat.size, 12, replace=False):
        e = jnp.zeros_like(flat).at[i].set(h)
        assert float((f(flat + e) - f(flat - e)) / (2 * h)) == pytest.approx(float(g[i]), rel=1e-5, abs=1e-8)


# --- the experiment -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("noise_vars", (0.01, -0.1), "config.noise_vars=(0.01, -0.1) is not allowed: finite numbers >= 0"),
    ("preset", "svhn", "config.preset='svhn' is not allowed: digits, mnist, cifar"),
    ("teacher_channels", (4, 4), "config.teacher_channels=(4, 4) is not allowed: 8 positive integers for VGG 8+3"),
    ("student_dense", (4, 0), "config.student_dense"),
    ("temperatures", (0.0,), "config.temperatures"),
    ("report_seeds", 1, "at least 2"),
    ("split", (0.8, 0.1, 0.2), "config.split"),
    ("positive_classes", (4, 5), "config.positive_classes"),
    ("negative_classes", (11,), "config.negative_classes"),
    ("max_examples", -2, "config.max_examples"),
    ("max_examples", 80, "config.max_examples"),
    ("patience", 0, "config.patience"),
    ("l2", -1.0, "config.l2"),
    ("runs_per_vmap", -3, "config.runs_per_vmap"),
])
def test_bad_config_values_are_refused_naming_the_key(key, value, message):
    config = deep_config.get_config()
    config[key] = value
    with pytest.raises(ValueError) as err:
        deep_noise.validate(config)
    assert message in str(err.value)


def test_cifar_preset_needs_a_data_dir():
    config = deep_config.get_config()
    config.preset = "cifar"
    with pytest.raises(ValueError, match="config.data_dir=''"):
        deep_noise.validate(config)


def _launch(*args, timeout=600):
    return subprocess.run([PYTHON, "-m", "experiments.run", "--experiment=deep_noise", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--config.noise_vars=(0.01,-0.05)"], "config.noise_vars"),
    (["--config.preset=cifar", "--config.data_dir={empty}"], "lacks data_batch_1"),
])
def test_launcher_refuses_bad_input_and_writes_nothing(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    done = _launch(f"--out={out}", *[a.format(empty=empty) for a in args])
    assert done.returncode != 0 and message in done.stderr
    assert not out.exists()


TINY = ["--config.noise_vars=(0.01,0.2)", "--config.select_seeds=2", "--config.report_seeds=2",
        "--config.temperatures=(1.0,4.0)", "--config.max_examples=200", "--config.max_epochs=3",
        "--config.patience=2", "--config.teacher_channels=(2,3,3,3,4,4,4,4)", "--config.teacher_dense=(8,8)",
        "--config.student_channels=(2,3)", "--config.student_dense=(4,4)"]


@pytest.mark.slow
def test_launcher_end_to_end_writes_every_file_and_its_numbers_come_from_the_runs(tmp_path):
    out = tmp_path / "out"
    done = _launch(f"--out={out}", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"config.json", "runs.csv", "results.json", "deep_noise.md", "deep_noise.png"} <= set(os.listdir(out))
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["report_seeds"] == 2 and config["environment"]["jax_version"] == jax.__version__
    assert config["environment"]["backend"] and config["environment"]["device"]
    results = json.loads((out / "results.json").read_text())
    with open(out / "runs.csv") as fh:
        runs = list(csv.DictReader(fh))
    # 2 noise levels × 4 seeds × (teacher + hard + 2 temperatures)
    assert len(runs) == 2 * 4 * 4
    assert {(r["noise_var"], r["model"]) for r in results["rows"]} == {(v, m) for v in (0.01, 0.2)
                                                                       for m in ("teacher", "hard", "soft")}
    for row in results["rows"]:
        assert {"noise_var", "model", "test_acc_mean", "test_acc_std", "n_seeds"} <= set(row) and row["n_seeds"] == 2
        T = "" if row["temperature"] is None else str(row["temperature"])
        acc = [float(r["test_acc"]) for r in runs if float(r["noise_var"]) == row["noise_var"] and
               r["model"] == row["model"] and r["role"] == "report" and r["temperature"] == T]
        assert row["test_acc_mean"] == pytest.approx(np.mean(acc)) and row["test_acc_std"] == pytest.approx(
            np.std(acc, ddof=1))
    for chosen in results["chosen_temperature"]:   # T chosen on the selection seeds' validation accuracy
        val = {T: np.mean([float(r["val_acc"]) for r in runs if r["model"] == "soft" and r["role"] == "select"
                           and float(r["noise_var"]) == chosen["noise_var"] and float(r["temperature"]) == T])
               for T in (1.0, 4.0)}
        best = max(val.values())
        assert chosen["temperature"] == min(T for T, v in val.items() if v == best)
    assert [g["noise_var"] for g in results["gaps"]] == [0.01, 0.2] and all("p_holm" in g for g in results["gaps"])
    assert results["paper"]["soft"][3] == 74.9 and "| 0.2 |" in (out / "deep_noise.md").read_text()
    # each finished level is on disk: a rerun (e.g. after an interruption) reuses them and trains nothing
    again = _launch(f"--out={out}", *TINY)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("reusing the finished level") == 2 and "teachers:" not in again.stderr
    assert json.loads((out / "results.json").read_text())["rows"] == results["rows"]


def test_a_finished_level_is_reused_only_with_the_same_settings(tmp_path):
    from experiments import deep_noise
    from experiments.deep_noise.config import get_config
    from kd_theory.results import OutputDir
    out, config = OutputDir(str(tmp_path)), get_config()
    assert deep_noise.finished_level(out, config, 0.05) is None            # nothing written yet
    rows = [{"model": "teacher", "temperature": None, "seed": 0, "test_acc": 0.5}]
    out.write_json(deep_noise.level_file(0.05), {"config": deep_noise.level_config(config), "rows": rows})
    assert deep_noise.finished_level(out, config, 0.05) == rows
    config.noise_vars, config.alpha = (0.05,), 0.01                         # not part of a level's settings
    assert deep_noise.finished_level(out, config, 0.05) == rows
    config.learning_rate = 3e-3                                             # a different run: train again
    assert deep_noise.finished_level(out, config, 0.05) is None
