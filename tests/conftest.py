"""Fixtures shared by the tests (no test module imports another: what two modules share lives here).

The folders mirror the package: tests/kd_theory/… test the library, tests/experiments/NAME/… an
experiment. pytest runs with ``--import-mode=importlib`` (pyproject.toml), so test files in different
folders may share a name and tests/experiments never shadows the ``experiments`` package.
"""
import gzip
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

from kd_theory.results import rows_from_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("KD_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))

# the metrics compared between the engine and the reference trainer
CHECKED = ("avg_train_loss", "avg_train_error", "final_train_loss", "final_train_error", "test_acc", "test_loss")


@pytest.fixture
def x64():
    """Run a test in float64 (finite differences need it), restoring the flag afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="session")
def repo():
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope="session")
def shared_data():
    """The project's shared data folder (../shared/data), or skip when this machine does not have it."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"{SHARED_DATA} is absent (set KD_SHARED_DATA to a folder with the shared data)")
    return SHARED_DATA


def run_launcher(*args, timeout=300, env=None):
    """``python -m experiments.run ARGS`` from the repository root; the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def rejudge_copy(tmp_path):
    """``rejudge_copy(out, *tables)`` → (copy, results): a finished folder copied and judged again as a user
    does (``--rejudge``). With the same code nothing may change: the test fails unless it exits 0, its
    ``rejudged`` record names the commit that trained the folder, and results.json (less that record), the
    named tables and runs.csv equal, byte for byte, what the run wrote. results: the new results.json."""
    def rejudge(out, *tables):
        copy = tmp_path / "rejudged"
        shutil.copytree(out, copy)
        done = run_launcher("--rejudge", f"--out={copy}")
        assert done.returncode == 0, done.stderr[-2000:]
        again = json.loads((copy / "results.json").read_text())
        record = again.pop("rejudged")
        assert set(record) == {"trained_by", "environment"}
        assert record["trained_by"] == json.loads((out / "config.json").read_text())["environment"]["git_commit"]
        stored = json.loads((out / "results.json").read_text())
        assert json.dumps(again, sort_keys=True) == json.dumps(stored, sort_keys=True)
        for name in (*tables, "runs.csv"):
            assert (copy / name).read_bytes() == (out / name).read_bytes(), name
        return copy, again
    return rejudge


@pytest.fixture(scope="session")
def launch():
    """A function that runs the launcher as a user does: ``launch("--experiment=…", "--out=…", …)``."""
    return run_launcher


@pytest.fixture(scope="session")
def run_experiment(tmp_path_factory):
    """``run_experiment(name, *args)`` → (out, done, results, rows): the launcher run as a user runs it into a
    fresh folder, failing the test with the tail of stderr unless it exits 0; results.json and runs.csv read."""
    def run(name, *args):
        out = tmp_path_factory.mktemp(name) / "out"
        done = run_launcher(f"--experiment={name}", f"--out={out}", *args)
        assert done.returncode == 0, done.stderr[-3000:]
        return out, done, json.loads((out / "results.json").read_text()), _read_csv_rows(out / "runs.csv")
    return run


def _read_csv_rows(path):
    """The rows of a results CSV as written (kd_theory.results.rows_from_csv: "" → None, booleans, ints, floats)."""
    return rows_from_csv(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def read_csv_rows():
    return _read_csv_rows


def write_idx(path, array, gz=False, magic=None):
    """An IDX file (MNIST's format) holding ``array`` as uint8, optionally gzipped, optionally with a
    bad ``magic`` header."""
    array = np.asarray(array, np.uint8)
    header = magic if magic is not None else bytes([0, 0, 8, array.ndim])
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with (gzip.open if gz else open)(path, "wb") as fh:
        fh.write(raw)


def write_mnist(directory, n_train=40, n_test=20, gz=False, seed=0):
    """Four small random MNIST IDX files in ``directory``; returns the arrays written."""
    from kd_theory import data
    rng = np.random.default_rng(seed)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": np.arange(n_train) % 10,
              "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": np.arange(n_test) % 10}
    for key, stem in data.MNIST_FILES.items():
        write_idx(os.path.join(directory, stem + (".gz" if gz else "")), arrays[key], gz)
    return arrays


@pytest.fixture(scope="session")
def mnist_writer():
    """``mnist_writer(directory, n_train=40, n_test=20, gz=False, seed=0)`` writes small MNIST IDX files;
    ``mnist_writer.idx(path, array, gz, magic)`` one IDX file."""
    write_mnist.idx = write_idx
    return write_mnist


def make_two_tasks(num_classes=2):
    """Two small tasks of different shapes (n = 90 and 60, d = 5) with a hard and a soft target:
    sphere-XOR labels (binary), or for C classes the sector of (x₁, x₂) as the label."""
    from kd_theory import data, losses, sweep
    tasks = {}
    for name, (d, n) in {"a": (5, 90), "b": (5, 60)}.items():
        ds = data.sphere_xor(d, n_train=n, n_test=40, label_noise=0.05, seed=len(name) + n)
        if num_classes == 2:
            p = 1 / (1 + np.exp(-4 * ds.X_train[:, 0] * ds.X_train[:, 1] * d))
            hard = np.asarray(losses.hard_target(ds.y_train))
            y_train, y_test = ds.y_train, ds.y_test
        else:
            def sector(X):
                angle = np.arctan2(X[:, 1], X[:, 0]) + np.pi
                return np.floor(angle / (2 * np.pi) * num_classes).astype(np.int32) % num_classes
            y_train, y_test = sector(ds.X_train), sector(ds.X_test)
            angles = np.arctan2(ds.X_train[:, 1], ds.X_train[:, 0])[:, None]
            centres = -np.pi + (np.arange(num_classes) + 0.5) * 2 * np.pi / num_classes
            logits = 3 * np.cos(angles - centres)
            p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            hard = np.eye(num_classes, dtype=np.float32)[y_train]
        tasks[name] = sweep.Task(ds.X_train, y_train, ds.X_test, y_test, {"hard": hard, "soft": p},
                                 num_classes=num_classes)
    return tasks


@pytest.fixture(scope="session")
def two_tasks():
    """``two_tasks(num_classes=2)``: two small engine tasks of different shapes (see make_two_tasks)."""
    return make_two_tasks


def _one_by_one(run, task, options):
    """The rows of ``run`` trained alone by the reference trainer (autodiff, one network)."""
    from kd_theory import nets, rng, train
    objective = task.objective
    outputs = None if task.num_classes == 2 else task.num_classes
    p0 = nets.init(rng.student_key(options.base_seed, run.seed), run.width, task.X_train.shape[1], options.init,
                   num_outputs=outputs)
    rows = []
    for steps in options.steps:
        final, m = train.projected_gradient_descent(
            p0, task.X_train, task.y_train, task.targets[run.target], lr=run.lr, steps=steps, B=run.B,
            train_output_layer=options.train_output_layer)
        f_test = nets.apply(final, task.X_test)
        rows.append({"avg_train_loss": m.avg_train_loss, "avg_train_error": m.avg_train_error,
                     "final_train_loss": m.final_train_loss, "final_train_error": m.final_train_error,
                     "test_acc": 1 - objective.error(f_test, task.y_test),
                     "test_loss": np.mean(objective.loss(f_test, objective.hard_target(task.y_test,
                                                                                         task.num_classes)))})
    return rows


@pytest.fixture(scope="session")
def one_by_one():
    """``one_by_one(run, task, options)``: the rows of one run trained alone by the reference trainer."""
    return _one_by_one


def _assert_rows_close(rows, expected_rows, tasks, atol=1e-5):
    """Losses to ``atol``; 0-1 metrics to within one flipped indicator. Programs of different shapes
    round differently, so a point whose output is at rounding level can land on either side of zero
    at one step: a 0-1 metric then moves by exactly 1/n (or 1/(n·steps) for an iteration average)."""
    assert len(rows) == len(expected_rows)
    for got, want in zip(rows, expected_rows):
        task = tasks[got["dataset"]]
        n, n_test, steps = len(task.y_train), len(task.y_test), got["steps"]
        one_flip = {"avg_train_error": 1 / (n * steps), "final_train_error": 1 / n, "test_acc": 1 / n_test}
        for k in CHECKED:
            tol = one_flip.get(k, 0.0) + atol
            np.testing.assert_allclose(got[k], want[k], rtol=0 if k in one_flip else 1e-5, atol=tol,
                                       err_msg=f"{k} of {got}")


@pytest.fixture(scope="session")
def assert_rows_close():
    return _assert_rows_close


@pytest.fixture(scope="session")
def sweep_script():
    """The small sweep script run in subprocesses (tests/kd_theory/sweep/sweep_script.py) as a module:
    its path is ``.__file__``, its problem ``.small_problem()``."""
    path = os.path.join(REPO, "tests", "kd_theory", "sweep", "sweep_script.py")
    spec = importlib.util.spec_from_file_location("sweep_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
