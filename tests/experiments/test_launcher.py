"""The command line end to end, as a user runs it, and each bad input it must refuse."""
import json
import os
import subprocess

import numpy as np
import pytest

from tests.conftest import PYTHON, REPO

TINY = ["--config.select_seeds=2", "--config.report_seeds=3", "--config.student_widths=(4,6)",
        "--config.steps=(20,60)", "--config.teacher_width=64", "--config.teacher_steps=200", "--config.lr=(2.0,8.0)",
        "--config.B=(0.0,4.0)", "--config.temperature=(1.0,4.0)", "--config.progress=False"]


def launch(*args, timeout=300):
    return subprocess.run([PYTHON, "-m", "experiments.run", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--experiment=tabel1"], "unknown --experiment='tabel1'"),
    (["--experiment=table1", "--config.sedes=3"], "sedes"),
    (["--experiment=table1", "--config.student_widths=(4,5)"], "even widths"),
    (["--experiment=table1", "--config.student_widths=(0,4)"], "positive integers"),
    (["--experiment=table1", "--config.select_seeds=0"], "config.select_seeds=0"),
    (["--experiment=table1", "--config.report_seeds=-1"], "config.report_seeds=-1"),
    (["--experiment=table1", "--config.seeds=10"], "seeds"),
    (["--experiment=table1", "--config.lr=(0.0,)"], "config.lr"),
    (["--experiment=table1", "--config.val_fraction=0.0"], "val_fraction"),
    (["--experiment=table1", "--config.select_subset=-5"], "select_subset"),
    (["--experiment=table1", "--config.alpha=1.5"], "alpha"),
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
    done = launch("--experiment=table1", f"--out={out}", f"--config.data_dir={mnist}", "--config.mnist_val_size=50",
                  "--config.select_subset=100", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    # validation = the last 50 training images; reduced drops 1, 4, 7, 9 (labels are i % 10)
    assert {(t["n_train"], t["n_val"]) for t in results["teacher"]} == {(150, 50), (90, 30)}
    assert {t["n_select_train"] for t in results["teacher"]} == {100, 90}
    assert results["source"] == "MNIST" and "paper (MNIST)" in (out / "table1.md").read_text()
    # selection ran on the subset, the report on the whole training split, only at the chosen regimes
    import csv
    with open(out / "runs.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["train_set"] for r in rows if r["role"] == "select"} == {"subset100"}
    assert {r["train_set"] for r in rows if r["role"] == "report"} == {"full"}
    chosen = {(c["dataset"], c["width"], c["label"], c["lr"], str(c["B"]), str(c["temperature"]))
              for c in results["chosen"]}
    reported = {(r["dataset"], int(r["width"]), r["label"], float(r["lr"]), "None" if r["B"] == "" else r["B"],
                 "None" if r["temperature"] == "" else r["temperature"]) for r in rows if r["role"] == "report"}
    assert reported == chosen


def test_margin_end_to_end(tmp_path):
    out = tmp_path / "margin"
    done = launch("--experiment=margin", f"--out={out}", "--config.digits_variants=('reduced',)",
                  "--config.xor_dims=(3,4,5)", "--config.num_gates=512", "--config.xor_num_gates=512",
                  "--config.gate_seeds=2", "--config.fresh_gates=1024", "--config.vstar_fresh_gates=0",
                  "--config.svm=False")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"config.json", "results.json", "runs.csv", "margin.md", "margin.png"} <= set(os.listdir(out))
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "margin" and len(results["rows"]) == 4
    for row in results["rows"]:
        assert 0 < row["gamma_K_lower"] <= row["gamma_K_upper"] <= row["norm_bound"]
        assert row["gate_seeds"] == 2 and row["gamma_upper_fresh_se"] > 0
    xor = [r for r in results["rows"] if r["family"] == "noisy_xor"]
    assert xor[0]["gamma_K"] > xor[-1]["gamma_K"]  # γ falls with d


def test_margin_bad_dims_are_refused(tmp_path):
    done = launch("--experiment=margin", f"--out={tmp_path / 'out'}", "--config.xor_dims=(2,3)")
    assert done.returncode != 0 and "xor_dims" in done.stderr and not (tmp_path / "out").exists()
