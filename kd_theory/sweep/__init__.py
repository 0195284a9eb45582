"""The sweep engine: a grid of runs → chunks that fit memory → one compiled program per chunk →
an executor (local, sharded over local devices, or submitit/Slurm) → one row per run and checkpoint.

    tasks = {"xor": Task(X_train, y_train, X_test, y_test, targets={"hard": t, "soft": p})}
    runs = grid(dataset=["xor"], width=[16, 32], target=["hard", "soft"], seed=range(8))
    result = run_sweep(runs, tasks, EngineOptions(steps=(200,)), out_dir="out/")

The engine knows nothing of any paper: it trains two-layer networks on (X, t) pairs and reports
the metrics of :data:`kd_theory.sweep.program.METRICS` (and ``VAL_METRICS`` for tasks with a
validation set). With ``out_dir`` every finished chunk is
written at once and a rerun skips it.
"""
from __future__ import annotations

import dataclasses
import sys
import time

from kd_theory.sweep.executors import EXECUTORS, ChunkJob, LocalExecutor, SubmititExecutor, make_executor
from kd_theory.sweep.plan import (EngineOptions, Run, Task, bytes_per_run, grid, plan_chunks,
                                  validate_runs)
from kd_theory.sweep.program import METRICS, VAL_METRICS
from kd_theory.sweep.store import ChunkStore, run_hash

__all__ = ["Task", "Run", "EngineOptions", "grid", "run_sweep", "SweepResult", "default_memory_budget_gb",
           "METRICS", "VAL_METRICS", "EXECUTORS", "make_executor", "LocalExecutor", "SubmititExecutor", "bytes_per_run"]


@dataclasses.dataclass
class SweepResult:
    rows: list            # one dict per (run, checkpoint): the run's coordinates + metrics
    timings: dict         # total_s, compile_s (this process), run_s
    n_chunks: int         # chunks run now
    n_resumed_runs: int   # runs whose results were found on disk


def default_memory_budget_gb() -> float:
    """Half of the first device's memory where JAX reports it (GPU/TPU), else a quarter of the host's
    RAM, at most 8 GiB (CPU chunks larger than that gain nothing)."""
    import jax
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # not every backend implements memory_stats
        stats = {}
    if stats.get("bytes_limit"):
        return 0.5 * stats["bytes_limit"] / 2**30
    try:
        import os
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 2**30
    return min(8.0, 0.25 * total / 2**30)


class _Progress:
    """One log line per finished chunk (runs done, runs/s, time left) and ticks inside long chunks."""

    def __init__(self, total_runs: int, enabled: bool, stream=sys.stderr):
        self.total, self.done, self.enabled, self.stream = total_runs, 0, enabled, stream
        self.t0 = time.perf_counter()

    def log(self, msg):
        if self.enabled:
            print(f"[sweep] {msg}", file=self.stream, flush=True)

    def chunk_done(self, n_runs: int, index: int, n_chunks: int):
        self.done += n_runs
        elapsed = time.perf_counter() - self.t0
        rate = self.done / max(elapsed, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        self.log(f"chunk {index}/{n_chunks} done: {self.done}/{self.total} runs, {rate:.2f} runs/s, "
                 f"elapsed {elapsed:.1f}s, about {left:.0f}s left")

    def ticker(self, job, total_steps: int):
        if not self.enabled:
            return None
        last = [0, time.perf_counter()]

        def tick(step):
            step, now = int(step), time.perf_counter()
            # a sharded program may call back once per device; log at most every 5 s
            if step > last[0] and (now - last[1] >= 5.0 or step == total_steps):
                last[0], last[1] = step, now
                self.log(f"  chunk {job.chunk.index}: step {step}/{total_steps} "
                         f"({len(job.chunk.run_indices)} runs, {time.perf_counter() - self.t0:.1f}s)")
        return tick


def run_sweep(runs, tasks, options: EngineOptions = EngineOptions(), *, out_dir: str | None = None,
              memory_budget_gb: float | None = None, executor=None, progress: bool = True) -> SweepResult:
    """Run every run of ``runs`` (a list of :class:`Run`) on ``tasks`` and return their rows."""
    t_start = time.perf_counter()
    runs = list(runs)
    options = options.validate()
    validate_runs(runs, tasks, options)
    budget_gb = default_memory_budget_gb() if memory_budget_gb is None else float(memory_budget_gb)
    if budget_gb <= 0:
        raise ValueError(f"memory_budget_gb must be > 0; got {memory_budget_gb}")
    fingerprints = {name: task.fingerprint() for name, task in tasks.items()}
    hashes = [run_hash(r, fingerprints[r.dataset], options) for r in runs]
    store = ChunkStore(out_dir) if out_dir else None
    finished = store.load() if store else {}
    pending = [i for i, h in enumerate(hashes) if h not in finished]
    dtype_bytes = 8 if options.dtype == "float64" else 4
    pending_runs = [runs[i] for i in pending]
    chunks = plan_chunks(pending_runs, tasks, budget_gb * 2**30, dtype_bytes) if pending_runs else []
    executor = executor or LocalExecutor()
    prog = _Progress(len(pending), progress)
    if len(pending) < len(runs):
        prog.log(f"resuming: {len(runs) - len(pending)} of {len(runs)} runs found in {store.directory}")
    prog.log(f"{len(pending)} runs in {len(chunks)} chunk(s), budget {budget_gb:.2f} GiB, "
             f"executor {executor.name}")
    jobs, job_hashes = [], {}
    for chunk in chunks:
        # a job carries only its own runs and data sets (it may be pickled to a cluster node)
        order = chunk.run_indices
        local = {i: k for k, i in enumerate(order)}
        job_chunk = dataclasses.replace(chunk, blocks=tuple(
            dataclasses.replace(b, runs=tuple(local[i] for i in b.runs)) for b in chunk.blocks))
        used = sorted({pending_runs[i].dataset for i in order})
        jobs.append(ChunkJob(job_chunk, [pending_runs[i] for i in order], {k: tasks[k] for k in used}, options))
        job_hashes[chunk.index] = [hashes[pending[i]] for i in order]

    from kd_theory.sweep import program
    compile_before = program._CACHE.compile_s
    results = {hashes[i]: finished[hashes[i]] for i in range(len(runs)) if hashes[i] in finished}

    def on_done(job, chunk_rows):
        by_hash = {job_hashes[job.chunk.index][k]: rows for k, rows in chunk_rows.items()}
        if store:
            store.save(by_hash, {"chunk": job.chunk.index, "executor": executor.name})
        results.update(by_hash)
        prog.chunk_done(len(chunk_rows), job.chunk.index + 1, len(chunks))

    executor.map(jobs, on_done, lambda job: prog.ticker(job, max(options.steps)))
    rows = [{**run.coords(), **row} for run, h in zip(runs, hashes) for row in results[h]]
    total = time.perf_counter() - t_start
    compile_s = program._CACHE.compile_s - compile_before
    return SweepResult(rows, {"total_s": total, "compile_s": compile_s, "run_s": total - compile_s},
                       len(chunks), len(runs) - len(pending))
