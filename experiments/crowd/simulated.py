"""Part 2, simulated two-type crowds over the crowd size d and the number of workers relative to ln d.

For each crowd size d, ratio ρ, variant and seed: a crowd of d tasks (exactly round(β d) of type 0, so the
oracle's per-type crowds have one size per grid point) and n = max(3, round(ρ · ln d)) workers
(:func:`kd_theory.crowd.exact_share_two_type_crowd`), every worker answering every task unless
``sim_answers_per_task`` says otherwise. Measured on it: the spectral partition's type recovery (the share
of tasks whose type it finds, up to naming the two types) and every aggregator's accuracy on all tasks
(*plain*, pooled), and of the per-type aggregators after the *partition* and with the true types (the
*oracle*). Gaps partition − plain and oracle − plain are paired by crowd (same answers).

Keys: the crowd of (variant, d, ρ, seed s) is the "crowd" stream at index ("simulated", variant, d, ρ, s),
its partition's start vectors the "partition" stream at the same index: every crowd is its own draw and
does not move when grid points are added or removed. Per grid point (d, ρ) every crowd has the same
shape, so each aggregator compiles once per grid point (Dawid-Skene per type too:
:meth:`kd_theory.crowd.base.Aggregator.fit_tasks`).

Each finished crowd's rows are stored at once under OUT/crowds/ (:func:`experiments.common.stored_rows`), keyed
by everything that determines them (:func:`crowd_unit`): a killed run resumes at the crowd in progress, and
adding a grid point, a seed or a real crowd reuses the finished crowds.
"""
from __future__ import annotations

import functools
import math
import sys

import numpy as np
import pandas as pd

from experiments import common
from experiments.crowd.real import timed_accuracy
from kd_theory import rng
from kd_theory.crowd import TaskTypeAware, exact_share_two_type_crowd, partition_tasks, type_recovery
from kd_theory.crowd.evaluation import make_aggregator
from kd_theory.progress import bar

MODES = ("plain", "partition", "oracle")


def n_workers_for(ratio: float, n_tasks: int) -> int:
    """n = max(3, round(ρ · ln d)): at least the three workers Triangular Estimation needs."""
    return max(3, int(round(ratio * math.log(n_tasks))))


def crowd_index(variant: str, n_tasks: int, ratio: float, seed: int) -> tuple:
    """The stream index of one simulated crowd (the same for its answers and its partition)."""
    return ("simulated", variant, int(n_tasks), f"{ratio:g}", int(seed))


def one_crowd(config, variant: str, n_tasks: int, ratio: float, seed: int) -> list[dict]:
    """Rows of one simulated crowd: type recovery, and each aggregator's accuracy in each of its modes."""
    n = n_workers_for(ratio, n_tasks)
    per_task = n if config.sim_answers_per_task is None else min(int(config.sim_answers_per_task), n)
    index = crowd_index(variant, n_tasks, ratio, seed)
    crowd = exact_share_two_type_crowd(rng.stream_key(config.seed, "crowd", *index), n_tasks, n, per_task,
                                       float(config.sim_beta), variant)
    answers, truth = crowd.answers(), crowd.truth_series()
    found = partition_tasks(crowd.matrix, seed=rng.stream_seed(config.seed, "partition", *index))
    types = {"plain": None, "partition": pd.Series(found, index=crowd.matrix.task_ids),
             "oracle": crowd.types_series()}
    base = {"part": "simulated", "variant": variant, "n_tasks": int(n_tasks), "ratio": float(ratio), "n_workers": n,
            "answers_per_task": per_task, "seed": int(seed)}
    recovery = type_recovery(found, crowd.types)
    rows = [dict(base, aggregator="", mode="types", type_recovery=recovery, recovery_error=1.0 - recovery,
                 share_type0=float(np.mean(crowd.types == 0)))]
    jobs = [(a, "plain") for a in config.sim_aggregators] + [(a, m) for a in config.per_type
                                                             for m in ("partition", "oracle")]
    for agg, mode in jobs:
        aggregator = make_aggregator(agg)
        if types[mode] is not None:
            aggregator = TaskTypeAware(aggregator, types=types[mode])
        value, seconds, error = timed_accuracy(aggregator, answers, truth)
        rows.append(dict(base, aggregator=agg, mode=mode, accuracy=value, seconds=seconds, error=error))
    return rows


def grid(config) -> list[tuple]:
    """(d, ρ, variant, seed) of every crowd, grid point by grid point (one compilation each)."""
    return [(int(d), float(ratio), variant, seed) for d in config.sim_tasks for ratio in config.sim_worker_ratios
            for variant in config.sim_variants for seed in range(int(config.sim_seeds))]


@functools.cache
def code_version() -> str:
    """A hash of the sources that determine a crowd's rows (the simulator, the partition, every aggregator,
    this module), read once a process: stored crowds are reused only by the same math."""
    import importlib
    import pkgutil

    import kd_theory.crowd
    from kd_theory.results import source_hash
    names = sorted(m.name for m in pkgutil.iter_modules(kd_theory.crowd.__path__) if not m.ispkg)
    return source_hash(sys.modules[__name__], kd_theory.crowd,
                       *(importlib.import_module(f"kd_theory.crowd.{name}") for name in names))


def crowd_unit(config, variant: str, n_tasks: int, ratio: float, seed: int) -> dict:
    """Everything that determines one simulated crowd's rows: its index, the root seed, the crowd's shape and
    the aggregators run on it, and the code. Not the grid's other points, α or the progress bars."""
    return {"experiment": "crowd", "part": "simulated", "index": list(crowd_index(variant, n_tasks, ratio, seed)),
            "root_seed": int(config.seed), "beta": float(config.sim_beta),
            "answers_per_task": None if config.sim_answers_per_task is None else int(config.sim_answers_per_task),
            "aggregators": list(config.sim_aggregators), "per_type": list(config.per_type), "code": code_version()}


def run_simulated(config, out_dir: str) -> tuple[list, dict]:
    import jax
    rows, reused, point = [], 0, None
    for d, ratio, variant, seed in bar(grid(config), "simulated crowds", enabled=bool(config.engine.progress),
                                       unit="crowd"):
        if point != (d, ratio):
            # a grid point's programs are not used again; kept, they pile up (per-type TE compiles once a crowd) and
            # the paper grid's ~1,000 programs exhausted the process's memory maps (LLVM "Cannot allocate memory")
            jax.clear_caches()
            point = (d, ratio)
        crowd_rows, was_stored = common.stored_rows(out_dir, "crowds", crowd_unit(config, variant, d, ratio, seed),
                                                    lambda: one_crowd(config, variant, d, ratio, seed))
        rows += crowd_rows
        reused += was_stored
    if reused:
        print(f"simulated crowds: {reused} of {len(grid(config))} reused from crowds/", file=sys.stderr, flush=True)
    info = {"variants": list(config.sim_variants), "n_tasks": [int(d) for d in config.sim_tasks],
            "ratios": [float(r) for r in config.sim_worker_ratios],
            "n_workers": {str(d): [n_workers_for(r, d) for r in config.sim_worker_ratios] for d in config.sim_tasks},
            "answers_per_task": "every worker" if config.sim_answers_per_task is None
            else int(config.sim_answers_per_task), "beta": float(config.sim_beta), "seeds": int(config.sim_seeds),
            "aggregators": list(config.sim_aggregators), "per_type": list(config.per_type)}
    return rows, info
