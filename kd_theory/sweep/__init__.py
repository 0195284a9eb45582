"""The sweep engine: a grid of runs → chunks that fit memory → one compiled program per chunk →
an executor (local, sharded over local devices, or submitit/Slurm) → one row per run and checkpoint.

    tasks = {"xor": Task(X_train, y_train, X_test, y_test, targets={"hard": t, "soft": p})}
    runs = grid(dataset=["xor"], width=[16, 32], target=["hard", "soft"], seed=range(8))
    result = run_sweep(runs, tasks, EngineOptions(steps=(200,)), out_dir="out/")

The engine knows nothing of any paper: it trains two-layer networks on (X, t) pairs with the
objective of the task (binary or C classes) and reports the metrics of :data:`METRICS` (and
:data:`VAL_METRICS` for tasks with a validation set). With
``out_dir`` every finished chunk is written at once and a rerun skips it.

Modules: plan (tasks, runs, options, chunks), layout (runs packed into slices), program (the compiled
chunk), executors, store (resume), progress, engine (run_sweep).
"""
from kd_theory.sweep.engine import SweepResult, default_memory_budget_gb, run_sweep
from kd_theory.sweep.executors import EXECUTORS, ChunkJob, LocalExecutor, SubmititExecutor, make_executor
from kd_theory.sweep.plan import EngineOptions, Run, Task, bytes_per_run, grid, plan_chunks, validate_runs
from kd_theory.sweep.program import DEFAULT_CACHE, METRICS, VAL_METRICS, ProgramCache

__all__ = ["Task", "Run", "EngineOptions", "grid", "run_sweep", "SweepResult", "default_memory_budget_gb",
           "METRICS", "VAL_METRICS", "EXECUTORS", "make_executor", "LocalExecutor", "SubmititExecutor", "ChunkJob",
           "bytes_per_run", "plan_chunks", "validate_runs", "ProgramCache", "DEFAULT_CACHE"]
