"""Kill -9 at a random finished unit, rerun: the same results as an uninterrupted run, for every resumable
experiment (its tiny preset split into several units of work). deep_noise, whose units are its noise levels, is
killed and resumed in its own tests (tests/experiments/deep_noise: against the end-to-end run it already makes,
counting the levels reused), not again here."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

# experiment -> (overrides that split its tiny run into several units, the folder its finished units go to)
RESUMABLE = {
    "table1": (["--config.engine.memory_budget_gb=0.0005"], "chunks"),
    "biased_soft": (["--config.engine.memory_budget_gb=0.02"], "chunks"),   # 8 chunks
}
# results.json keys that legitimately differ between two runs of the same command
VOLATILE = ("timings",)


def _results(out):
    results = json.loads((out / "results.json").read_text())
    return {k: v for k, v in results.items() if k not in VOLATILE}


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_killed_run_resumes_to_the_same_results(tmp_path, name, repo, launch):
    extra, units = RESUMABLE[name]
    args = [f"--experiment={name}", "--preset=tiny", "--compilation_cache=off", *extra]
    whole = tmp_path / "whole"
    done = launch(*args, f"--out={whole}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    total = len(os.listdir(whole / units))
    assert total >= 2, f"the overrides give {total} unit(s): nothing to kill between"

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *args, f"--out={out}"], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = random.Random(0).randint(1, total - 1)   # kill after this many finished units
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        folder = out / units
        if folder.is_dir() and len([f for f in os.listdir(folder) if f.endswith(".json")]) >= wanted:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    done = launch(*args, f"--out={out}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _results(out) == _results(whole)
