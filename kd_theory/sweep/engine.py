"""run_sweep: plan the pending runs into chunks, hand them to an executor, store and gather the rows."""
from __future__ import annotations

import dataclasses
import os
import time

from kd_theory.sweep.executors import ChunkJob, LocalExecutor
from kd_theory.sweep.plan import EngineOptions, plan_chunks, validate_runs
from kd_theory.sweep.program import DEFAULT_CACHE, ProgramCache
from kd_theory.sweep.progress import Progress
from kd_theory.sweep.store import chunk_store, run_hash


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
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 2**30
    return min(8.0, 0.25 * total / 2**30)


def run_sweep(runs, tasks, options: EngineOptions = EngineOptions(), *, out_dir: str | None = None,
              memory_budget_gb: float | None = None, executor=None, progress: bool = True,
              cache: ProgramCache = DEFAULT_CACHE) -> SweepResult:
    """Run every run of ``runs`` (a list of :class:`Run`) on ``tasks`` and return their rows.

    ``cache`` holds the compiled chunk programs of in-process executors (a fresh
    :class:`ProgramCache` makes every chunk compile anew, e.g. to time compiles).
    """
    t_start = time.perf_counter()
    runs = list(runs)
    options = options.validate()
    validate_runs(runs, tasks, options)
    budget_gb = default_memory_budget_gb() if memory_budget_gb is None else float(memory_budget_gb)
    if budget_gb <= 0:
        raise ValueError(f"memory_budget_gb must be > 0; got {memory_budget_gb}")
    # a run's key covers its task's data and its own target only (Task.fingerprint)
    targets_of = {}
    for r in runs:
        targets_of.setdefault(r.dataset, set()).add(r.target)
    fingerprints = {(name, target): fp for name, targets in targets_of.items()
                    for target, fp in tasks[name].fingerprints(sorted(targets)).items()}
    hashes = [run_hash(r, fingerprints[r.dataset, r.target], options) for r in runs]
    store = chunk_store(out_dir) if out_dir else None
    finished = store.load() if store else {}
    pending = [i for i, h in enumerate(hashes) if h not in finished]
    dtype_bytes = 8 if options.dtype == "float64" else 4
    pending_runs = [runs[i] for i in pending]
    chunks = plan_chunks(pending_runs, tasks, budget_gb * 2**30, dtype_bytes) if pending_runs else []
    executor = executor or LocalExecutor()
    prog = Progress(len(pending), progress)
    if len(pending) < len(runs):
        prog.log(f"resuming: {len(runs) - len(pending)} of {len(runs)} runs found in {store.directory}")
    prog.log(f"{len(pending)} runs in {len(chunks)} chunk(s), budget {budget_gb:.2f} GiB, "
             f"executor {executor.name}")
    jobs, job_hashes = [], {}
    for chunk in chunks:
        # a job carries only its own runs and data sets (it may be pickled to a cluster node)
        order = chunk.run_indices
        job_chunk = dataclasses.replace(chunk, run_indices=tuple(range(len(order))))
        used = sorted({pending_runs[i].dataset for i in order})
        jobs.append(ChunkJob(job_chunk, [pending_runs[i] for i in order], {k: tasks[k] for k in used}, options))
        job_hashes[chunk.index] = [hashes[pending[i]] for i in order]

    compile_before = cache.compile_s
    results = {hashes[i]: finished[hashes[i]] for i in range(len(runs)) if hashes[i] in finished}

    def on_done(job, chunk_rows):
        by_hash = {job_hashes[job.chunk.index][k]: rows for k, rows in chunk_rows.items()}
        if store:
            store.put_many(by_hash, {"chunk": job.chunk.index, "executor": executor.name})
        results.update(by_hash)
        prog.chunk_done(len(chunk_rows), job.chunk.index + 1, len(chunks))

    executor.map(jobs, on_done, lambda job: prog.ticker(job, max(options.steps)), cache=cache)
    rows = [{**run.coords(), **row} for run, h in zip(runs, hashes) for row in results[h]]
    total = time.perf_counter() - t_start
    compile_s = cache.compile_s - compile_before
    return SweepResult(rows, {"total_s": total, "compile_s": compile_s, "run_s": total - compile_s},
                       len(chunks), len(runs) - len(pending))
