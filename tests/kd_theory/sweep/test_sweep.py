"""The sweep engine: equal to the same runs done one by one, chunked, resumed, sharded, farmed out."""
import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from kd_theory import nets, results, sweep, train
from kd_theory.sweep import store

PYTHON = sys.executable


def _script_env(repo, **extra):
    """The environment of a sweep_script subprocess: a script's own folder heads its sys.path, so without
    PYTHONPATH it would import an installed kd_theory instead of this checkout's."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (repo, os.environ.get("PYTHONPATH")))), **extra)

# slice_neurons=8 makes the engine step each class in slices of one or two runs, one after another (map: the
# CPU's layout) or side by side (vmap: the accelerators' layout, forced here on the CPU)
@pytest.mark.parametrize("init,train_output_layer,slice_neurons,slice_layout",
                         [("symmetric", False, 4096, "auto"), ("standard", True, 8, "map"), ("standard", True, 8, "vmap")])
def test_engine_equals_runs_one_by_one(init, train_output_layer, slice_neurons, slice_layout, two_tasks, one_by_one,
                                      assert_rows_close):
    tasks = two_tasks()
    runs = sweep.grid(dataset=["a", "b"], width=[4, 10], target=["hard", "soft"], seed=[0, 3],
                      lr=[0.5, 3.0], B=[None, 0.7])
    options = sweep.EngineOptions(steps=(7, 25), init=init, train_output_layer=train_output_layer, base_seed=5,
                                  slice_neurons=slice_neurons, slice_layout=slice_layout)
    result = sweep.run_sweep(runs, tasks, options, progress=False)
    assert len(result.rows) == 2 * len(runs)
    by_run = {}
    for row in result.rows:
        by_run.setdefault((row["dataset"], row["width"], row["target"], row["seed"], row["lr"], row["B"]), []).append(row)
    for run in runs[::3]:  # a third of the grid, every axis value represented
        rows = by_run[(run.dataset, run.width, run.target, run.seed, run.lr, run.B)]
        assert [r["steps"] for r in rows] == [7, 25]
        if run.B is not None:  # every neuron within B/√m of its init, i.e. max_move_B ≤ B
            assert all(r["max_move_B"] <= run.B * (1 + 1e-5) for r in rows)
        assert_rows_close(rows, one_by_one(run, tasks[run.dataset], options), tasks)


@pytest.mark.parametrize("init,train_output_layer", [("symmetric", False), ("standard", True)])
def test_multiclass_engine_equals_runs_one_by_one(init, train_output_layer, two_tasks, one_by_one,
                                                 assert_rows_close):
    tasks = two_tasks(num_classes=5)
    runs = sweep.grid(dataset=["a", "b"], width=[4, 6, 10], target=["hard", "soft"], seed=[0, 3], lr=[2.0],
                      B=[None, 0.7])
    options = sweep.EngineOptions(steps=(7, 25), init=init, train_output_layer=train_output_layer, base_seed=5)
    result = sweep.run_sweep(runs, tasks, options, progress=False)
    by_run = {}
    for row in result.rows:
        assert 0 <= row["test_top5_acc"] <= 1 and row["test_top5_acc"] >= row["test_acc"] - 1e-6
        by_run.setdefault((row["dataset"], row["width"], row["target"], row["seed"], row["B"]), []).append(row)
    for run in runs[::2]:
        rows = by_run[(run.dataset, run.width, run.target, run.seed, run.B)]
        assert_rows_close(rows, one_by_one(run, tasks[run.dataset], options), tasks)
    # (the reference starts hard and soft runs of a seed from the same nets.init: so does the engine)


def test_binary_and_multiclass_tasks_in_one_chunk(two_tasks, one_by_one, assert_rows_close):
    binary, multi = two_tasks(), two_tasks(num_classes=3)
    tasks = {"bin": binary["a"], "multi": multi["a"]}
    runs = sweep.grid(dataset=["bin", "multi"], width=[4, 8], target=["soft"], seed=[1], lr=[1.0])
    options = sweep.EngineOptions(steps=(12,))
    result = sweep.run_sweep(runs, tasks, options, progress=False)
    assert result.n_chunks == 1
    rows = {(r["dataset"], r["width"]): r for r in result.rows}
    for run in runs:
        assert_rows_close([rows[(run.dataset, run.width)]], one_by_one(run, tasks[run.dataset], options), tasks)


def test_compile_does_not_depend_on_the_widths(sweep_script):
    # the compiled program depends on the slices' shapes (slots, neurons), not on the runs' widths
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    cache = sweep.ProgramCache()
    options = sweep.EngineOptions(steps=(5,))
    first = sweep.run_sweep(sweep.grid(dataset=["xor"], width=[4, 8], target=["hard", "soft"], seed=[0]), tasks,
                            options, progress=False, cache=cache)
    assert first.timings["compile_s"] > 0 and len(cache._compiled) == 1
    other = sweep.run_sweep(sweep.grid(dataset=["xor"], width=[2, 10], target=["hard", "soft"], seed=[0]), tasks,
                            options, progress=False, cache=cache)
    assert len(cache._compiled) == 1 and other.timings["compile_s"] == 0.0


def test_chunking_does_not_change_results(sweep_script, assert_rows_close):
    tasks, runs = sweep_script.small_problem(n_seeds=2)
    options = sweep.EngineOptions(steps=(15,))
    whole = sweep.run_sweep(runs, tasks, options, progress=False)
    budget = 16 * sweep.bytes_per_run(16, 120, 60, 6) / 2**30
    chunked = sweep.run_sweep(runs, tasks, options, memory_budget_gb=budget, progress=False)
    assert whole.n_chunks == 1 and chunked.n_chunks >= 2
    assert_rows_close(chunked.rows, whole.rows, tasks, atol=1e-6)


def test_bad_grids_are_clear_errors(sweep_script):
    tasks, runs = sweep_script.small_problem(n_seeds=1)
    with pytest.raises(ValueError, match="zero runs"):
        sweep.run_sweep([], tasks, progress=False)
    with pytest.raises(MemoryError, match=r"one run of width 4 .* needs about .* GiB"):
        sweep.run_sweep(runs, tasks, memory_budget_gb=1e-6, progress=False)
    with pytest.raises(ValueError, match="even widths"):
        sweep.run_sweep(sweep.grid(dataset=["xor"], width=[5], target=["hard"], seed=[0]), tasks, progress=False)
    with pytest.raises(ValueError, match="lr=-1"):
        sweep.run_sweep(sweep.grid(dataset=["xor"], width=[4], target=["hard"], seed=[0], lr=[-1]), tasks,
                        progress=False)
    with pytest.raises(ValueError, match="no target 'teacher'"):
        sweep.run_sweep(sweep.grid(dataset=["xor"], width=[4], target=["teacher"], seed=[0]), tasks, progress=False)
    with pytest.raises(ValueError, match="steps"):
        sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(0,)), progress=False)


def test_nonfinite_runs_are_flagged_as_diverged(sweep_script):
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    task = tasks["xor"]
    broken = np.array(task.targets["soft"], np.float32)
    broken[3] = np.nan  # a corrupted teacher output: that run's losses are NaN, its neighbour's are not
    tasks = {"xor": sweep.Task(task.X_train, task.y_train, task.X_test, task.y_test,
                               {"hard": task.targets["hard"], "broken": broken})}
    runs = sweep.grid(dataset=["xor"], width=[4], target=["hard", "broken"], seed=[0])
    rows = sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(30,)), progress=False).rows
    assert [r["diverged"] for r in rows] == [False, True]
    assert [r["finite"] for r in rows] == [True, False]


def test_diverging_runs_leave_the_sane_runs_of_their_program_unchanged(sweep_script):
    """lr = 1e35 sends the weights to inf within a few steps; the runs beside it in the same compiled
    program give the same numbers as when they run alone, and the diverged ones are flagged with the step."""
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    sane = sweep.grid(dataset=["xor"], width=[4, 8], target=["hard", "soft"], seed=[0, 1], lr=[1.0], B=[None, 1.0])
    wild = sweep.grid(dataset=["xor"], width=[4, 8], target=["hard", "soft"], seed=[0], lr=[1e35], B=[None])
    options = sweep.EngineOptions(steps=(10, 40))
    mixed = sweep.run_sweep(sane + wild, tasks, options, progress=False)
    alone = sweep.run_sweep(sane, tasks, options, progress=False)
    assert mixed.n_chunks == 1
    mixed_rows = {(r["width"], r["target"], r["seed"], r["lr"], r["B"], r["steps"]): r for r in mixed.rows}
    for row in alone.rows:
        other = mixed_rows[(row["width"], row["target"], row["seed"], row["lr"], row["B"], row["steps"])]
        assert not other["diverged"] and other["diverged_step"] is None
        for k in ("avg_train_loss", "final_train_loss", "test_acc", "train_acc", "max_move_B"):
            assert other[k] == pytest.approx(row[k], rel=1e-6, abs=1e-7), k
    wild_rows = [r for r in mixed.rows if r["lr"] == 1e35]
    assert wild_rows and all(r["diverged"] and not r["finite"] for r in wild_rows)
    assert all(r["diverged_step"] is not None and 0 <= r["diverged_step"] < r["steps"] for r in wild_rows)


def test_resume_in_process(tmp_path, sweep_script):
    tasks, runs = sweep_script.small_problem(n_seeds=2)
    options = sweep.EngineOptions(steps=(10,))
    first = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), progress=False)
    again = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), progress=False)
    assert again.n_resumed_runs == len(runs) and again.n_chunks == 0
    assert again.rows == first.rows
    # a changed option is a different run: nothing is reused
    other = sweep.run_sweep(runs[:4], tasks, sweep.EngineOptions(steps=(11,)), out_dir=str(tmp_path), progress=False)
    assert other.n_resumed_runs == 0


@pytest.mark.parametrize("damage", ["truncated", "wrong structure"])
def test_a_damaged_chunk_is_moved_aside_and_only_its_runs_are_computed_again(tmp_path, sweep_script, damage,
                                                                             assert_rows_close):
    tasks, runs = sweep_script.small_problem(n_seeds=1)
    options = sweep.EngineOptions(steps=(10,))
    budget = 12 * sweep.bytes_per_run(16, 120, 60, 6) / 2**30   # two chunks
    first = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), memory_budget_gb=budget, progress=False)
    chunks = sorted((tmp_path / "chunks").glob("chunk-*.json"))
    assert len(chunks) == first.n_chunks >= 2
    bad = chunks[0]
    saved = json.loads(bad.read_text())
    text = bad.read_text()
    bad.write_text(text[: len(text) // 2] if damage == "truncated" else json.dumps(list(saved["runs"].values())))
    damaged = bad.read_text()
    with pytest.warns(results.CorruptResultWarning, match=re.escape(str(bad)) + " is not a readable chunk file"):
        again = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), memory_budget_gb=budget, progress=False)
    assert again.n_resumed_runs == len(runs) - len(saved["runs"]) and again.n_chunks >= 1
    assert (tmp_path / "chunks" / (bad.name + ".corrupt")).read_text() == damaged   # kept for a look
    assert_rows_close(again.rows, first.rows, tasks, atol=1e-6)
    assert json.loads(bad.read_text())["runs"].keys() == saved["runs"].keys()     # stored again
    third = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), memory_budget_gb=budget, progress=False)
    assert third.n_resumed_runs == len(runs) and third.n_chunks == 0


def test_run_keys_hash_the_run_its_tasks_data_and_its_own_target(sweep_script):
    """A run's key: its coordinates, the options, the engine version and Task.fingerprint(run.target)."""
    tasks, runs = sweep_script.small_problem(n_seeds=1)
    options = sweep.EngineOptions(steps=(10, 30), dtype="float64")
    for run in runs[::7]:
        fingerprint = tasks["xor"].fingerprint(run.target)
        earlier = json.dumps({"run": run.coords(), "task": fingerprint, "steps": list(options.steps),
                              "init": options.init, "train_output_layer": options.train_output_layer,
                              "dtype": options.dtype, "base_seed": options.base_seed, "engine": store.ENGINE_VERSION},
                             sort_keys=True, default=str)
        assert store.run_hash(run, fingerprint, options) == hashlib.sha256(earlier.encode()).hexdigest()[:24]
    # the target's fingerprint, spelled out: the data (classes, train, test, validation), then the target
    task = tasks["xor"]
    for name in task.targets:
        h = hashlib.sha256(f"classes={task.num_classes}".encode())
        extra = () if task.X_val is None else (task.X_val, task.y_val)
        for arr in (task.X_train, task.y_train, task.X_test, task.y_test) + extra:
            h.update(np.ascontiguousarray(arr, np.float32).tobytes())
        h.update(name.encode())
        h.update(np.ascontiguousarray(task.targets[name], np.float32).tobytes())
        assert task.fingerprint(name) == h.hexdigest()[:16]
    # several at once hash the data once and give the same keys
    assert task.fingerprints(sorted(task.targets)) == {name: task.fingerprint(name) for name in task.targets}


def test_a_target_added_to_a_task_leaves_the_other_targets_runs_stored(sweep_script, tmp_path, assert_rows_close):
    """Extending a grid by a label set (a temperature, a generator) trains only that set's runs: the
    others resume from the store, and what they read back equals a fresh computation."""
    tasks, runs = sweep_script.small_problem(n_seeds=1)
    options = sweep.EngineOptions(steps=(10, 30))
    first = sweep.run_sweep(runs, tasks, options, out_dir=str(tmp_path), progress=False)
    task = tasks["xor"]
    sharper = np.clip(2 * np.asarray(task.targets["soft"]) - 0.5, 0.0, 1.0)
    wider = {"xor": dataclasses.replace(task, targets={**task.targets, "sharper": sharper})}
    assert wider["xor"].fingerprint("soft") == task.fingerprint("soft")
    assert wider["xor"].fingerprint() != task.fingerprint()                 # the whole task did change
    added = [dataclasses.replace(r, target="sharper") for r in runs if r.target == "soft"]
    again = sweep.run_sweep(runs + added, wider, options, out_dir=str(tmp_path), progress=False)
    assert again.n_resumed_runs == len(runs)                                # only the new target's runs trained
    fresh = sweep.run_sweep(runs, wider, options, progress=False)
    assert_rows_close([r for r in again.rows if r["target"] != "sharper"], fresh.rows, wider, atol=1e-6)
    assert_rows_close(fresh.rows, first.rows, tasks, atol=1e-6)
    with pytest.raises(KeyError, match="'nope' is not in this task"):
        task.fingerprint("nope")


def _reference(sweep_script):
    tasks, runs = sweep_script.small_problem()
    return sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(20, 60)), progress=False).rows, tasks


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_results(tmp_path, sweep_script, assert_rows_close, repo):
    out = str(tmp_path)
    chunk_dir = os.path.join(out, "chunks")
    proc = subprocess.Popen([PYTHON, sweep_script.__file__, out, "slow"], cwd=repo, env=_script_env(repo),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(chunk_dir) and len(os.listdir(chunk_dir)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = [f for f in os.listdir(chunk_dir) if f.startswith("chunk-")]
    tasks, runs = sweep_script.small_problem()
    total = len(sweep.plan_chunks(runs, tasks, 3 * sweep.bytes_per_run(16, 120, 60, 6)))
    assert 0 < len(finished) < total and not os.path.exists(os.path.join(out, "rows.json"))
    done = subprocess.run([PYTHON, sweep_script.__file__, out, "slow"], cwd=repo, env=_script_env(repo),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming:" in done.stderr
    with open(os.path.join(out, "rows.json")) as fh:
        rows = json.load(fh)
    assert_rows_close(rows, *_reference(sweep_script), atol=1e-6)


@pytest.mark.slow
def test_sharded_over_four_devices_equals_one_device(tmp_path, sweep_script, assert_rows_close, repo):
    env = _script_env(repo, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    done = subprocess.run([PYTHON, sweep_script.__file__, str(tmp_path), "devices"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "rows.json") as fh:
        sharded = json.load(fh)
    with open(tmp_path / "rows_single.json") as fh:
        single = json.load(fh)
    with open(tmp_path / "rows_vmap.json") as fh:
        side_by_side = json.load(fh)   # the accelerators' slice layout, forced: slices vmapped on each device
    reference, tasks = _reference(sweep_script)
    assert_rows_close(sharded, single, tasks, atol=1e-6)
    assert_rows_close(sharded, reference, tasks, atol=1e-6)
    assert_rows_close(side_by_side, reference, tasks, atol=1e-6)


@pytest.mark.slow
def test_submitit_local_executor(tmp_path, sweep_script, assert_rows_close, repo):
    pytest.importorskip("submitit")
    done = subprocess.run([PYTHON, sweep_script.__file__, str(tmp_path), "submitit"],
                          cwd=repo, env=_script_env(repo), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "rows.json") as fh:
        rows = json.load(fh)
    assert_rows_close(rows, *_reference(sweep_script), atol=1e-6)
    assert len(os.listdir(tmp_path / "chunks")) > 1


def test_missing_submitit_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(ImportError, match="pip install submitit"):
        sweep.make_executor("slurm", "/tmp")
    with pytest.raises(ValueError, match="unknown executor 'ray'"):
        sweep.make_executor("ray")


def test_float64_sweeps_really_run_in_float64(sweep_script):
    tasks, _ = sweep_script.small_problem(n_seeds=1)
    runs = sweep.grid(dataset=["xor"], width=[8], target=["hard", "soft"], seed=[0], lr=[2.0], B=[None, 1.0])
    options = sweep.EngineOptions(steps=(40,), dtype="float64")
    inside = sweep.run_sweep(runs, tasks, options, progress=False).rows  # the engine turns x64 on itself
    assert not jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        outside = sweep.run_sweep(runs, tasks, options, progress=False).rows
        for run, row in zip(runs, outside):
            task = tasks["xor"]
            key = jax.random.fold_in(jax.random.PRNGKey(0), run.seed)
            p0 = nets.init(key, run.width, task.X_train.shape[1], "symmetric", dtype=np.float64)
            X, y, t = (np.asarray(a, np.float64) for a in (task.X_train, task.y_train, task.targets[run.target]))
            _, m = train.projected_gradient_descent(p0, X, y, t, lr=run.lr, steps=40, B=run.B)
            np.testing.assert_allclose(row["final_train_loss"], m.final_train_loss, rtol=1e-8)  # float32 would be ~1e-6 off
            np.testing.assert_allclose(row["avg_train_loss"], m.avg_train_loss, rtol=1e-8)
    finally:
        jax.config.update("jax_enable_x64", False)
    for a, b in zip(inside, outside):
        assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-12)


def test_an_accuracy_of_zero_up_to_rounding_is_not_divergence():
    """1 − error in float32 gave val_acc = −7.45e-9 for a student wrong on every validation image (a partial-label
    set that leaves the true label out): a bad run, not a diverged one. A NaN or a clearly negative accuracy is."""
    from kd_theory.sweep.program import diverged
    sane = {"max_move_B": 3.0, "test_loss": 2.3, "val_loss": 2.3, "test_acc": 0.0056, "val_acc": -7.450580596923828e-09}
    assert not diverged(sane)
    assert diverged(dict(sane, val_acc=-0.01)) and diverged(dict(sane, test_acc=1.01))
    assert diverged(dict(sane, val_acc=float("nan"))) and diverged(sane, diverged_step=4)
