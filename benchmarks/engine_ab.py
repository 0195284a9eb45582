"""A/B of two engine layouts: the engine of the checkout given as argv[1] (this one, or e.g. a worktree of
an older commit: ``git worktree add --detach /tmp/old a9b476d``) on the reference sweep (128 runs, 200
steps) and the Table-1 workload (960 runs, 3,000 steps) of ``sweep_bench.py``, twice each (the first call
compiles, the second reuses the compiled program). Run each checkout in its own process, in the same
minutes:

    .venv/bin/python benchmarks/engine_ab.py /tmp/old && .venv/bin/python benchmarks/engine_ab.py .
"""
import os
import sys
import time

tree = os.path.abspath(sys.argv[1])
sys.path.insert(0, tree)
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))  # sweep_bench's workloads (this checkout)
import kd_theory  # noqa: E402  (from the checkout given)
from kd_theory import sweep  # noqa: E402
assert kd_theory.__file__.startswith(tree), kd_theory.__file__
from sweep_bench import (LR, TABLE1_B, TABLE1_LR, TABLE1_STEPS, TABLE1_WIDTHS, TARGETS,  # noqa: E402
                         make_problem, table1_problem)


def timed(runs, tasks, steps):
    """Wall seconds and compile seconds of one run_sweep (the module's own program cache: the first
    call of a workload compiles, the second reuses)."""
    t0 = time.perf_counter()
    r = sweep.run_sweep(runs, tasks, sweep.EngineOptions(steps=(steps,)), progress=False)
    return time.perf_counter() - t0, r.timings.get("compile_s")


def main():
    problem = table1_problem()
    tasks = {k: sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, t) for k, (ds, t) in problem.items()}
    runs = sweep.grid(dataset=list(problem), width=list(TABLE1_WIDTHS), target=list(next(iter(problem.values()))[1]),
                      seed=range(20), lr=[TABLE1_LR], B=list(TABLE1_B))
    ds, targets = make_problem()
    ref_runs = sweep.grid(dataset=["xor"], width=[16 * 2 ** k for k in range(8)], target=list(TARGETS), seed=range(8),
                          lr=[LR])
    ref_tasks = {"xor": sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, dict(targets))}
    for rep in range(2):
        w, c = timed(ref_runs, ref_tasks, 200)
        print(f"{tree}: reference sweep {w:.2f} s (compile {c})", flush=True)
        w, c = timed(runs, tasks, TABLE1_STEPS)
        print(f"{tree}: table-1 workload {w:.2f} s (compile {c})", flush=True)


if __name__ == "__main__":
    main()
