"""A small sweep run in a subprocess by tests/test_sweep.py (kill-and-resume, several devices, submitit).

usage: python tests/sweep_script.py OUT_DIR MODE   with MODE in {slow, devices, submitit}
Writes OUT_DIR/rows.json with the sweep's rows.
"""
import json
import os
import sys

import numpy as np


def small_problem(n_seeds=4):
    from kd_theory import data, losses, sweep
    ds = data.sphere_xor(6, n_train=120, n_test=60, label_noise=0.1, seed=0)
    p = 1 / (1 + np.exp(-3 * ds.X_train[:, 0] * ds.X_train[:, 1] * 6))
    task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                      {"hard": np.asarray(losses.hard_target(ds.y_train)), "soft": p})
    runs = sweep.grid(dataset=["xor"], width=[4, 8, 16], target=["hard", "soft"], seed=range(n_seeds),
                      lr=[0.5, 2.0], B=[None, 1.0])
    return {"xor": task}, runs


def main(out, mode):
    from kd_theory import sweep
    tasks, runs = small_problem()
    options = sweep.EngineOptions(steps=(20, 60))
    if mode == "slow":          # many small chunks, so a kill lands between chunk files
        budget = 3 * sweep.bytes_per_run(16, 120, 60, 6) / 2**30
        result = sweep.run_sweep(runs, tasks, options, out_dir=out, memory_budget_gb=budget, progress=True)
    elif mode == "devices":     # one chunk over every local device, then the same on one device
        import jax
        assert len(jax.local_devices()) == 4, jax.local_devices()
        result = sweep.run_sweep(runs, tasks, options, progress=False)
        single = sweep.run_sweep(runs, tasks, options, progress=False,
                                 executor=sweep.LocalExecutor(devices=jax.local_devices()[:1]))
        with open(os.path.join(out, "rows_single.json"), "w") as fh:
            json.dump(single.rows, fh)
        side_by_side = sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(20, 60), slice_layout="vmap",
                                                                        slice_neurons=16), progress=False)
        with open(os.path.join(out, "rows_vmap.json"), "w") as fh:
            json.dump(side_by_side.rows, fh)
    elif mode == "submitit":
        budget = 40 * sweep.bytes_per_run(16, 120, 60, 6) / 2**30
        result = sweep.run_sweep(runs, tasks, options, out_dir=out, memory_budget_gb=budget, progress=False,
                                 executor=sweep.make_executor("submitit-local", out))
        assert result.n_chunks > 1
    else:
        raise SystemExit(f"unknown mode {mode}")
    with open(os.path.join(out, "rows.json"), "w") as fh:
        json.dump(result.rows, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
