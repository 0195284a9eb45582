"""The CNN students of the biased-soft-label experiment (``--config.student=cnn``): end to end at tiny size, the
inputs as images, paired seeds across sets, finished units reused, and the convergence rule of early stopping."""
import os

import numpy as np
import pytest

import experiments.biased_soft as biased_soft
from experiments.biased_soft import analysis, cnn
from experiments.biased_soft.config import get_config

pytestmark = pytest.mark.slow

CNN_TINY = ["--preset=tiny", "--config.student=cnn", "--config.cnn.channels=(2,3)", "--config.cnn.dense=(4,4)",
            "--config.cnn.max_epochs=3", "--config.cnn.patience=2", "--config.cnn.lr=(0.001,0.01)",
            "--config.cnn.batch_size=128"]


def cnn_config():
    config = get_config("tiny")
    config.student = "cnn"
    config.cnn.channels, config.cnn.dense, config.cnn.max_epochs, config.cnn.patience = (2, 3), (4, 4), 3, 2
    config.cnn.lr, config.cnn.batch_size = (0.001, 0.01), 128
    return config


@pytest.fixture(scope="module")
def cnn_run(run_experiment):
    out, _, results, rows = run_experiment("biased_soft", *CNN_TINY)
    return out, results, rows


def test_cnn_students_end_to_end(cnn_run):
    out, results, rows = cnn_run
    assert {"runs.csv", "results.json", "biased_soft.md", "biased_soft.png"} <= set(os.listdir(out))
    n_sets = len(results["label_sets"])
    assert len(rows) == n_sets * 2 * (2 + 2)                       # sets × lr × (select + report seeds)
    assert {r["steps"] for r in rows} == {3} and {r["lr"] for r in rows} == {0.001, 0.01}
    assert all(1 <= r["best_epoch"] <= r["epochs"] <= 3 for r in rows if not r["diverged"])
    assert len(os.listdir(out / "units")) == 2                     # one stored unit per (task, lr)
    grid = results["grid"]
    assert grid["student"] == "cnn" and grid["steps"] == [3] and grid["cnn"]["channels"] == [2, 3]
    assert "CNN students (VGG 2+3" in (out / "biased_soft.md").read_text()
    converged = next(p for p in results["preconditions"] if p["name"] == "converged")
    assert "early" in converged["rule"]
    # each set's lr is the best mean validation accuracy of the selection seeds (ties → smaller lr)
    for s in results["label_sets"]:
        means = {lr: np.mean([r["val_acc"] for r in rows if r["label_set"] == s["label_set"] and r["lr"] == lr
                              and r["role"] == "select"]) for lr in (0.001, 0.01)}
        best = max(means.values())
        assert s["lr"] == min(lr for lr, m in means.items() if m == best)
        reported = [r["test_acc"] for r in rows if r["label_set"] == s["label_set"] and r["lr"] == s["lr"]
                    and r["role"] == "report"]
        assert s["test_acc_mean"] == pytest.approx(np.mean(reported), abs=1e-9)


def test_inputs_become_images_with_unit_mean_square_pixels():
    rows = np.random.default_rng(0).normal(size=(5, 48))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    images = cnn.as_images(rows, (4, 4, 3))
    assert images.shape == (5, 4, 4, 3) and images.dtype == np.float32
    np.testing.assert_allclose(np.mean(images.reshape(5, -1) ** 2, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(images[2, 1, 3], rows[2, (1 * 4 + 3) * 3:(1 * 4 + 3) * 3 + 3] * np.sqrt(48), rtol=1e-5)
    with pytest.raises(ValueError, match="not images of shape"):
        cnn.as_images(rows, (4, 4, 1))


@pytest.fixture(scope="module")
def tiny_task():
    config = cnn_config()
    config.teacher.temperatures, config.sbt.alphas = (), ()
    ds = biased_soft.load_dataset(config)
    name = biased_soft.task_name(len(ds.y_train))
    task, sets = biased_soft.build_task(config, ds, name)
    return config, task, sets


def test_a_seed_is_one_initialisation_for_every_set(tiny_task):
    """Two sets with the same labels under different names train to the same numbers, seed by seed: every gap to
    the true labels is paired by initialisation."""
    config, task, sets = tiny_task
    true = sets[0]
    twin = true._replace(target=true.target._replace(name="true again"))
    rows = cnn.train_rows(config, task, [true, twin], 0.01)
    by = {(r["label_set"], r["seed"]): r for r in rows}
    for seed in range(config.select_seeds + config.report_seeds):
        a, b = by[("true", seed)], by[("true again", seed)]
        assert (a["val_acc"], a["test_acc"], a["best_epoch"]) == (b["val_acc"], b["test_acc"], b["best_epoch"])
    assert len({by[("true", s)]["val_acc"] for s in range(4)} | {by[("true", s)]["final_train_loss"] for s in range(4)}) > 2


def test_a_finished_unit_is_reused(tiny_task, tmp_path, monkeypatch):
    config, task, sets = tiny_task
    config = cnn_config()
    config.cnn.lr = (0.01,)
    first, _ = cnn.rows(config, {task.name: task}, {task.name: sets[:2]}, str(tmp_path))
    monkeypatch.setattr(cnn, "train_rows", lambda *a, **k: pytest.fail("a finished unit was trained again"))
    again, timings = cnn.rows(config, {task.name: task}, {task.name: sets[:2]}, str(tmp_path))
    assert again == first and list(timings.values()) == [0.0]
    config.cnn.patience = 1                                          # another unit: trained, not reused
    with pytest.raises(pytest.fail.Exception):
        cnn.rows(config, {task.name: task}, {task.name: sets[:2]}, str(tmp_path))


def test_cnn_convergence_rule():
    config = cnn_config()
    row = {"dataset": "n=10", "label_set": "true", "lr": 0.001, "steps": 3}
    runs = [dict(row, seed=s, settled=True, diverged=False) for s in range(3)]
    assert analysis.cnn_converged(runs, [row], config).met is False        # 0.001: the smaller edge of (0.001, 0.01)
    config.cnn.lr = (0.001,)
    assert analysis.cnn_converged(runs, [row], config).met is True         # one value: no choice, no edge
    runs[1]["settled"] = False
    pre = analysis.cnn_converged(runs, [row], config)
    assert pre.met is False and pre.value == ["not settled: true lr=0.001"]
    runs[1]["diverged"] = True                                             # a diverged run is counted elsewhere
    assert analysis.cnn_converged(runs, [row], config).met is True


def test_the_validation_subset_is_the_subset_streams_draw(tiny_task):
    config, task, _ = tiny_task
    n = len(task.data.y_val)
    assert np.array_equal(cnn.validation_indices(config, task), np.arange(n))        # val_size None: all
    config = cnn_config()
    config.cnn.val_size = 50
    idx = cnn.validation_indices(config, task)
    assert len(idx) == 50 and len(set(idx)) == 50 and np.all(np.diff(idx) > 0) and idx.max() < n
    assert np.array_equal(idx, cnn.validation_indices(config, task))
    from kd_theory import data, rng
    assert np.array_equal(idx, data.subset_indices(n, 50, rng.stream_seed(0, "subset", "cnn-validation", task.name)))
