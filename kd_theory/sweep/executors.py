"""Where chunks run. Every executor takes the same picklable chunk jobs and returns the same rows,
so the results files do not depend on which one ran.

* :class:`LocalExecutor` — in this process, on all local devices (the run axis sharded across them).
* :class:`SubmititExecutor` — a Slurm job array through submitit (``cluster="local"`` runs the same
  code in local subprocesses, for tests and single machines).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

@dataclasses.dataclass
class ChunkJob:
    """Everything one chunk needs, with the tasks restricted to the chunk's datasets."""
    chunk: object
    runs: list
    tasks: dict
    options: object


def run_chunk_job(job: ChunkJob, progress=None, devices=None, cache=None):
    """Entry point of a chunk on whatever machine runs it (all its local devices by default; the
    process's default program cache unless ``cache`` is given)."""
    from kd_theory.sweep.program import execute_chunk
    return execute_chunk(job.chunk, job.runs, job.tasks, job.options, devices=devices, cache=cache,
                         progress=progress)


class LocalExecutor:
    """Chunks one after another in this process; each chunk's run axis is sharded over ``devices``
    (default: every local device)."""
    name = "local"

    def __init__(self, devices=None):
        self.devices = devices

    def map(self, jobs: list[ChunkJob], on_done: Callable, progress_factory: Callable | None = None,
            cache=None):
        for job in jobs:
            progress = progress_factory(job) if progress_factory else None
            on_done(job, run_chunk_job(job, progress, self.devices, cache))


class SubmititExecutor:
    """Farm chunks to Slurm as one job array (``cluster='slurm'``) or to local subprocesses
    (``cluster='local'``). Extra keyword arguments go to ``executor.update_parameters`` (e.g.
    ``slurm_partition``, ``gpus_per_node``, ``timeout_min``)."""

    def __init__(self, folder: str, cluster: str | None = None, **parameters):
        try:
            import submitit
        except ImportError as exc:
            raise ImportError("the submitit executor needs the submitit package: pip install submitit "
                              "(or pip install 'kd-theory[cluster]')") from exc
        self.name = f"submitit-{cluster or 'auto'}"
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        if parameters:
            self.executor.update_parameters(**parameters)

    def map(self, jobs: list[ChunkJob], on_done: Callable, progress_factory: Callable | None = None,
            cache=None):
        """``cache`` is unused: chunks compile in the job's own process."""
        import submitit
        submitted = self.executor.map_array(run_chunk_job, jobs)
        pending = dict(zip((j.job_id for j in submitted), zip(submitted, jobs)))
        for done in submitit.helpers.as_completed([j for j, _ in pending.values()]):
            job = pending[done.job_id][1]
            on_done(job, done.result())


EXECUTORS = {
    "local": lambda folder, **parameters: LocalExecutor(**parameters),
    "submitit-local": lambda folder, **parameters: SubmititExecutor(
        os.path.join(folder or ".", "submitit"), cluster="local", **parameters),
    "slurm": lambda folder, **parameters: SubmititExecutor(
        os.path.join(folder or ".", "submitit"), cluster="slurm", **parameters),
}


def make_executor(name: str, folder: str | None = None, **parameters):
    """The executor called ``name`` (a key of :data:`EXECUTORS`); submitit ones keep their files
    under ``folder``/submitit; ``parameters`` go to the executor."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; allowed: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](folder, **parameters)
