"""Part 2, simulated two-type crowds over the number of workers relative to log(number of tasks).

For each variant (easy/hard, distinct skills), ratio ρ and seed: a crowd of d tasks (exactly round(β d) of
type 0) and n = max(3, round(ρ · ln d)) workers (:func:`two_type_crowd`); the spectral
partition's type recovery (the fraction of tasks whose type it finds, up to naming the two types); and
every aggregator's accuracy on all tasks *plain*, after the spectral *partition*, and with the *oracle*
(the true types). Gaps partition − plain and oracle − plain are paired by seed (same crowd).
"""
from __future__ import annotations

import math

import jax
import numpy as np
import pandas as pd

from experiments.crowd.real import timed_accuracy
from kd_theory import stats
from kd_theory.crowd import TaskTypeAware, partition_tasks, simulate_answers, two_type_skills, type_recovery
from kd_theory.crowd.evaluation import make_aggregator
from kd_theory.crowd.simulate import VARIANTS, exact_share_types, one_coin_confusion_matrices

MODES = ("plain", "partition", "oracle")


def n_workers_for(ratio: float, n_tasks: int) -> int:
    """n = max(3, round(ρ · ln d)): at least the three workers Triangular Estimation needs."""
    return max(3, int(round(ratio * math.log(n_tasks))))


def crowd_key(config, variant: str, ratio: float, seed: int):
    """fold_in(fold_in(fold_in(PRNGKey(sim_seed), index of the variant in VARIANTS), round(1000 ρ)), seed):
    every crowd is its own draw and does not move when other grid points are added or removed."""
    key = jax.random.fold_in(jax.random.PRNGKey(config.sim_seed), VARIANTS.index(variant))
    return jax.random.fold_in(jax.random.fold_in(key, int(round(1000 * ratio))), seed)


def two_type_crowd(key, n_tasks: int, n_workers: int, answers_per_task: int, beta: float, variant: str):
    """The two-type model of :func:`kd_theory.crowd.simulate_two_type_crowd` with exactly round(β d) tasks of
    type 0 (:func:`kd_theory.crowd.simulate.exact_share_types`) and uniform binary labels. A fixed share
    keeps the oracle's per-type crowds the same size in every draw, so they reuse one compiled program
    (compilation, not EM, is most of an aggregator's time at these sizes)."""
    skill_key, type_key, label_key, answer_key = jax.random.split(key, 4)
    skills = two_type_skills(skill_key, n_workers, variant)
    types = exact_share_types(type_key, n_tasks, beta)
    truth = np.asarray(jax.random.bernoulli(label_key, 0.5, (n_tasks,))).astype(np.int64)
    return simulate_answers(answer_key, one_coin_confusion_matrices(skills, 2), types, truth, answers_per_task,
                            skills)


def one_crowd(config, variant: str, ratio: float, seed: int) -> list[dict]:
    """Rows of one simulated crowd: type recovery, and each aggregator's accuracy in each mode."""
    d = int(config.sim_tasks)
    n = n_workers_for(ratio, d)
    per_task = int(config.sim_answers_per_task) or n
    crowd = two_type_crowd(crowd_key(config, variant, ratio, seed), d, n, min(per_task, n), float(config.sim_beta),
                           variant)
    answers, truth = crowd.answers(), crowd.truth_series()
    found = partition_tasks(crowd.matrix, seed=int(config.partition_seed))
    types = {"plain": None, "partition": pd.Series(found, index=crowd.matrix.task_ids),
             "oracle": crowd.types_series()}
    base = {"part": "simulated", "variant": variant, "ratio": float(ratio), "n_workers": n, "n_tasks": d,
            "seed": int(seed)}
    rows = [dict(base, aggregator="", mode="types", type_recovery=type_recovery(found, crowd.types),
                 share_type0=float(np.mean(crowd.types == 0)))]
    for agg in config.sim_aggregators:
        for mode in MODES:
            aggregator = make_aggregator(agg)
            if types[mode] is not None:
                aggregator = TaskTypeAware(aggregator, types=types[mode])
            value, seconds, error = timed_accuracy(aggregator, answers, truth)
            rows.append(dict(base, aggregator=agg, mode=mode, accuracy=value, seconds=seconds, error=error))
    return rows


def summarise(rows: list[dict]) -> dict:
    """Type recovery and accuracy per grid point (mean ± std over seeds), and the paired gaps
    partition − plain and oracle − plain per (variant, ratio, aggregator), with 95% t-intervals."""
    types = [r for r in rows if r["mode"] == "types"]
    recovery = stats.summarise(types, ("variant", "ratio", "n_workers"), ("type_recovery",))
    for r in recovery:
        seeds = [t["type_recovery"] for t in types if (t["variant"], t["ratio"]) == (r["variant"], r["ratio"])]
        r["perfect_share"] = float(np.mean([v == 1.0 for v in seeds]))
        r["type_recovery_min"] = float(min(seeds))
    scored = [r for r in rows if r["mode"] in MODES]
    accuracy = stats.summarise(scored, ("variant", "ratio", "n_workers", "aggregator", "mode"), ("accuracy",))
    gaps = []
    for mode in ("partition", "oracle"):
        cells = stats.paired_gaps(scored, treatment=lambda r, m=mode: r["mode"] == m,
                                  baseline=lambda r: r["mode"] == "plain",
                                  match_keys=("variant", "ratio", "aggregator"),
                                  cell_keys=("variant", "ratio", "n_workers", "aggregator"), metric="accuracy")
        gaps += [dict(c, mode=mode) for c in cells]
    return {"recovery": sorted(recovery, key=lambda r: (r["variant"], r["ratio"])),
            "accuracy": sorted(accuracy, key=lambda r: (r["variant"], r["ratio"], r["aggregator"], r["mode"])),
            "gaps": sorted(gaps, key=lambda r: (r["mode"], r["variant"], r["ratio"], r["aggregator"])),
            "errors": sorted({f"{r['aggregator']} {r['mode']} at n={r['n_workers']}: {r['error']}"
                              for r in scored if r["error"]})}


def run_simulated(config) -> tuple[list, dict]:
    rows = []
    for variant in config.sim_variants:
        for ratio in config.sim_worker_ratios:
            for seed in range(int(config.sim_seeds)):
                rows += one_crowd(config, variant, float(ratio), seed)
    summary = summarise(rows)
    summary["grid"] = {"variants": list(config.sim_variants), "ratios": list(config.sim_worker_ratios),
                       "n_workers": [n_workers_for(r, config.sim_tasks) for r in config.sim_worker_ratios],
                       "n_tasks": int(config.sim_tasks), "ln_n_tasks": math.log(config.sim_tasks),
                       "answers_per_task": int(config.sim_answers_per_task) or "all workers",
                       "beta": float(config.sim_beta), "seeds": int(config.sim_seeds),
                       "aggregators": list(config.sim_aggregators)}
    return rows, summary
