"""The command line end to end, as a user runs it, and each bad input it must refuse."""
import json

import pytest


@pytest.mark.parametrize("args, message", [
    (["--experiment=tabel1"], "unknown --experiment='tabel1'"),
    (["--experiment=table1", "--preset=huge"], "unknown --preset='huge'"),
    (["--experiment=table1", "--config.sedes=3"], "sedes"),
    (["--experiment=table1", "--config.student_widths=(4,5)"], "even widths"),
    (["--experiment=table1", "--config.student_widths=(0,4)"], "(0 is not an integer ≥ 1)"),
    (["--experiment=table1", "--config.select_seeds=0"], "config.select_seeds=0"),
    (["--experiment=table1", "--config.report_seeds=-1"], "config.report_seeds=-1"),
    (["--experiment=table1", "--config.seeds=10"], "seeds"),
    (["--experiment=table1", "--config.lr=(0.0,)"], "config.lr"),
    (["--experiment=table1", "--config.val_fraction=0.0"], "val_fraction"),
    (["--experiment=table1", "--config.select_subset=-5"], "select_subset"),
    (["--experiment=table1", "--config.alpha=1.5"], "alpha"),
    (["--experiment=table1", "--config.data_dir=/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--experiment=table1", "--config.temperature=(4.0,4.0)"], "distinct"),
    (["--experiment=table1", "--config.datasets=('full','full')"], "distinct"),
    (["--experiment=table1", "--config.teacher.width=511"], "an even integer"),
    (["--experiment=table1", "--config.teacher.kind=kernel"], "kernel-limit teacher has no temperature"),
    (["--experiment=table1", "--config.engine.memory_budget_gb=inf"], "memory_budget_gb=inf"),
])
def test_bad_input_is_refused_and_writes_nothing(tmp_path, launch, args, message):
    out = tmp_path / "out"
    done = launch(*args, f"--out={out}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not out.exists()
    if "unknown --experiment" in message:
        assert "table1" in done.stderr and "margin" in done.stderr


def test_malformed_mnist_is_refused(tmp_path, launch, mnist_writer):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    mnist_writer(str(mnist))
    (mnist / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    out = tmp_path / "out"
    done = launch("--experiment=table1", f"--out={out}", f"--config.data_dir={mnist}")
    assert done.returncode == 2 and "t10k-images-idx3-ubyte" in done.stderr, done.stderr[-2000:]
    assert not out.exists()


def test_unwritable_out_is_refused(tmp_path, launch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    done = launch("--experiment=table1", f"--out={blocker}/sub")
    assert done.returncode == 2 and "not a directory" in done.stderr and str(blocker) in done.stderr


def test_presets_are_listed_when_one_is_unknown(launch, tmp_path):
    done = launch("--experiment=table1", "--preset=huge", f"--out={tmp_path / 'o'}")
    assert done.returncode == 2 and "default" in done.stderr and "tiny" in done.stderr and "paper" in done.stderr


def test_rejudge_refuses_what_it_cannot_judge_with_a_clear_error(launch, tmp_path):
    done = launch("--rejudge")
    assert done.returncode != 0 and "--rejudge needs --out=DIR" in done.stderr
    done = launch("--rejudge", f"--out={tmp_path}", "--config.lr=(1.0,)")
    assert done.returncode != 0 and "--rejudge takes only --out=DIR" in done.stderr
    done = launch("--rejudge", f"--out={tmp_path}")
    assert done.returncode != 0
    assert "not a finished results folder (no config.json, runs.csv, results.json)" in done.stderr
    (tmp_path / "config.json").write_text('{"experiment": "report", "config": {}}')
    (tmp_path / "runs.csv").write_text("a\n1\n")
    (tmp_path / "results.json").write_text('{"verdict": "reproduced"}')
    done = launch("--rejudge", f"--out={tmp_path}")
    assert done.returncode != 0 and "--experiment=report cannot judge a stored folder again" in done.stderr
    assert json.loads((tmp_path / "results.json").read_text()) == {"verdict": "reproduced"}   # left as it was


def test_rejudge_carries_over_what_the_run_wrote_but_never_a_verdict_the_rules_no_longer_give():
    from experiments import run
    stored = {"experiment": "x", "timings": {"total_s": 1.0}, "data": {"n": 3}, "verdict": "reproduced",
              "old_verdict": "reproduced", "rows": [1], "rejudged": {"trained_by": "abc"}}
    judged = {"verdict": "inconclusive", "rows": [2], "new": 1}
    merged = run._merged(stored, judged)
    assert merged == {"experiment": "x", "timings": {"total_s": 1.0}, "data": {"n": 3}, "verdict": "inconclusive",
                      "rows": [2], "new": 1}
    assert list(merged) == ["experiment", "timings", "data", "verdict", "rows", "new"]   # the stored order, new last


def test_a_stored_config_missing_a_later_option_gets_its_default():
    from experiments import run
    from experiments.biased_soft.config import get_config
    saved = {"experiment": "biased_soft", "preset": "tiny",
             "config": {"lr": [1.0, 2.0], "teacher": {"width": 16}, "removed_option": 3}}
    config = run._stored_config("biased_soft", saved)
    tiny = get_config("tiny").to_dict()
    assert config["lr"] == [1.0, 2.0] and config["teacher"]["width"] == 16          # what the folder ran
    assert config["student"] == tiny["student"] and config["teacher"]["steps"] == tiny["teacher"]["steps"]
    assert "removed_option" not in config
