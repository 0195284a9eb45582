"""The command line end to end, as a user runs it, and each bad input it must refuse."""
import json
import os
import subprocess

import numpy as np
import pytest

from tests.conftest import PYTHON, REPO

TINY = ["--config.seeds=2", "--config.student_widths=(4,6)", "--config.steps=(20,60)", "--config.table_steps=60",
        "--config.teacher_width=64", "--config.teacher_steps=200", "--config.lr=(2.0,)", "--config.table_lr=2.0",
        "--config.B=(0.0,4.0)", "--config.temperature=(1.0,4.0)", "--config.table_temperature=4.0",
        "--config.progress=False"]


def launch(*args, timeout=300):
    return subprocess.run([PYTHON, "-m", "experiments.run", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_table1_end_to_end(tmp_path):
    out = tmp_path / "table1"
    done = launch("--experiment=table1", f"--out={out}", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    names = set(os.listdir(out))
    assert {"config.json", "runs.csv", "results.json", "table1.md", "table1.png", "regimes.png"} <= names
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "table1"
    assert {t["dataset"] for t in results["teacher"]} == {"full", "reduced"}
    for t in results["teacher"]:
        assert 0.8 < t["test_acc"] <= 1.0
    rows = results["rows"]
    # 2 datasets × 2 widths × (hard + 2 temperatures) × 2 B × 2 checkpoints
    assert len(rows) == 2 * 2 * 3 * 2 * 2
    for row in rows:
        assert {"dataset", "width", "label", "test_acc_mean", "test_acc_std", "n_seeds"} <= set(row)
        assert row["dataset"] in ("full", "reduced") and row["label"] in ("hard", "soft")
        assert 0.0 <= row["test_acc_mean"] <= 1.0 and row["n_seeds"] == 2
    assert len(results["table"]) == 2 * 2 * 2
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["seeds"] == 2 and config["environment"]["jax_version"]
    assert config["environment"]["backend"] == "cpu" and config["environment"]["device"]
    header = (out / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"dataset", "width", "label", "temperature", "seed", "lr", "B", "steps", "test_acc"} <= set(header)
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 2 * 2 * 3 * 2 * 2 * 2
    md = (out / "table1.md").read_text()
    assert "| reduced |" in md and "| full |" in md and "m=6 hard" in md
    # the mean in the table is the mean of the seeds in runs.csv
    import csv
    with open(out / "runs.csv") as fh:
        accs = [float(r["test_acc"]) for r in csv.DictReader(fh)
                if r["dataset"] == "full" and r["width"] == "4" and r["label"] == "soft" and r["temperature"] == "4.0"
                and r["B"] == "4.0" and r["steps"] == "60"]
    row = next(r for r in rows if r["dataset"] == "full" and r["width"] == 4 and r["label"] == "soft"
               and r["temperature"] == 4.0 and r["B"] == 4.0 and r["steps"] == 60)
    assert len(accs) == 2 and row["test_acc_mean"] == pytest.approx(np.mean(accs))


@pytest.mark.parametrize("args, message", [
    (["--experiment=tabel1"], "unknown --experiment='tabel1'"),
    (["--experiment=table1", "--config.sedes=3"], "sedes"),
    (["--experiment=table1", "--config.student_widths=(4,5)"], "even widths"),
    (["--experiment=table1", "--config.student_widths=(0,4)"], "positive integers"),
    (["--experiment=table1", "--config.seeds=0"], "config.seeds=0"),
    (["--experiment=table1", "--config.lr=(0.0,)"], "config.lr"),
    (["--experiment=table1", "--config.table_lr=3.0"], "table_lr"),
    (["--experiment=table1", "--config.data_dir=/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--experiment=table1", "--config.temperature=(4.0,4.0)"], "no duplicates"),
    (["--experiment=table1", "--config.datasets=('full','full')"], "distinct names"),
    (["--experiment=table1", "--config.teacher_width=511"], "the teacher is always symmetric"),
    (["--experiment=table1", "--config.teacher=kernel"], "kernel-limit teacher has no temperature"),
    (["--experiment=margin", "--config.xor_dims=(3.5,)"], "xor_dims"),
])
def test_bad_input_is_refused_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    done = launch(*args, f"--out={out}")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not out.exists()
    if "unknown --experiment" in message:
        assert "table1" in done.stderr and "margin" in done.stderr


def test_malformed_mnist_is_refused(tmp_path):
    from tests.test_data import _write_mnist
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    _write_mnist(str(mnist))
    (mnist / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    out = tmp_path / "out"
    done = launch("--experiment=table1", f"--out={out}", f"--config.data_dir={mnist}")
    assert done.returncode != 0 and "t10k-images-idx3-ubyte" in done.stderr, done.stderr[-2000:]
    assert not out.exists()


def test_unwritable_out_is_refused(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    done = launch("--experiment=table1", f"--out={blocker}/sub")
    assert done.returncode != 0 and "not a directory" in done.stderr and str(blocker) in done.stderr


def test_mnist_end_to_end_on_small_idx_files(tmp_path):
    from tests.test_data import _write_mnist
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    _write_mnist(str(mnist), n_train=200, n_test=100, gz=True)
    out = tmp_path / "out"
    done = launch("--experiment=table1", f"--out={out}", f"--config.data_dir={mnist}", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert {t["n_train"] for t in results["teacher"]} == {200, 120}  # full, and reduced without 1, 4, 7, 9


def test_margin_end_to_end(tmp_path):
    out = tmp_path / "margin"
    done = launch("--experiment=margin", f"--out={out}", "--config.digits_variants=('reduced',)",
                  "--config.xor_dims=(3,4,5)", "--config.num_gates=512", "--config.xor_num_gates=512",
                  "--config.fresh_gates=0", "--config.xor_symmetric_gates=1024", "--config.svm=False")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"config.json", "results.json", "runs.csv", "margin.md", "margin.png"} <= set(os.listdir(out))
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "margin" and len(results["rows"]) == 4
    for row in results["rows"]:
        assert 0 < row["gamma_lower"] <= row["gamma_upper"] <= row["norm_bound"]
    xor = [r for r in results["rows"] if r["family"] == "noisy_xor"]
    assert xor[0]["gamma"] > xor[-1]["gamma"]  # γ falls with d


def test_margin_bad_dims_are_refused(tmp_path):
    done = launch("--experiment=margin", f"--out={tmp_path / 'out'}", "--config.xor_dims=(2,3)")
    assert done.returncode != 0 and "xor_dims" in done.stderr and not (tmp_path / "out").exists()
