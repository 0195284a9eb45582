"""Part 1, real crowds: every aggregator on every crowd with gold labels, plain and after the spectral
task-type partition, beside the published figures.

Accuracy = the fraction of gold tasks whose aggregated label equals the gold label. ``MV`` breaks ties
to the lowest label (``MajorityVote()``, crowd-kit's rule); ``MV (random ties)`` is the expected accuracy
when ties are broken uniformly at random, the rule of the published figures. The partition of a crowd is
computed once (:func:`kd_theory.crowd.partition_tasks`) and every aggregator is run on each of its two
types (:class:`kd_theory.crowd.TaskTypeAware` with those types), so "partition − plain" compares the same
aggregator with and without the split.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.crowd.published import published_for
from kd_theory.crowd import LabelMatrix, TaskTypeAware, load_crowd, partition_tasks
from kd_theory.crowd.evaluation import BINARY_ONLY, accuracy, make_aggregator, mv_random_ties_accuracy
from kd_theory.crowd.io import bundled_path

MODES = ("plain", "partition")


def crowd_folders(crowd_dir: str) -> list[Path]:
    """The crowds under ``crowd_dir`` ("" = the bundled ``sp``): the folder itself if it holds answers.csv,
    else its sub-folders that do (sorted by name)."""
    if not crowd_dir:
        return [bundled_path("sp")]
    folder = Path(crowd_dir)
    try:
        if (folder / "answers.csv").is_file():
            return [folder]
        return sorted(p for p in folder.iterdir() if (p / "answers.csv").is_file()) if folder.is_dir() else []
    except OSError:  # unreadable: the caller reports "no crowds here"
        return []


def timed_accuracy(aggregator, answers: pd.DataFrame, truth: pd.Series) -> tuple[float, float, str]:
    """(accuracy on the gold tasks, seconds, error message); a method that cannot run (e.g. TE on a type
    with fewer than 3 workers) gives NaN and its error."""
    start = time.perf_counter()
    try:
        value, error = accuracy(aggregator.fit_predict(answers), truth), ""
    except ValueError as exc:
        value, error = float("nan"), str(exc)
    return value, time.perf_counter() - start, error


def mv_by_type(answers: pd.DataFrame, truth: pd.Series, types: pd.Series) -> dict:
    """Per type of the partition: its number of tasks, of gold tasks, and majority vote's expected
    accuracy (random ties) on its gold tasks — how much harder one type is than the other."""
    out = {}
    for group in sorted(types.unique()):
        gold = truth[types.loc[truth.index] == group]
        out[str(int(group))] = {"n_tasks": int((types == group).sum()), "n_gold": int(len(gold)),
                                "mv_random_ties": mv_random_ties_accuracy(answers, gold) if len(gold)
                                else float("nan")}
    return out


def evaluate_crowd(name: str, answers: pd.DataFrame, truth: pd.Series, aggregator_names, partition_seed: int):
    """(rows, summary) of one crowd: one row per (aggregator, mode) with accuracy and seconds."""
    matrix = LabelMatrix.from_dataframe(answers)
    binary = matrix.n_classes == 2
    start = time.perf_counter()
    types = pd.Series(partition_tasks(matrix, partition_seed), index=matrix.task_ids, name="type")
    partition_seconds = time.perf_counter() - start
    accuracies = {"MV (random ties)": {"plain": mv_random_ties_accuracy(answers, truth)}}
    rows = []
    for agg in aggregator_names:
        if agg in BINARY_ONLY and not binary:
            continue
        accuracies[agg] = {}
        for mode in MODES:
            aggregator = make_aggregator(agg)
            if mode == "partition":
                aggregator = TaskTypeAware(aggregator, types=types)
            value, seconds, error = timed_accuracy(aggregator, answers, truth)
            accuracies[agg][mode] = value
            rows.append({"part": "real", "crowd": name, "aggregator": agg, "mode": mode, "accuracy": value,
                         "seconds": seconds, "error": error})
    summary = {"crowd": name, "n_tasks": matrix.n_tasks, "n_workers": matrix.n_workers,
               "n_answers": matrix.n_answers, "n_classes": matrix.n_classes, "n_gold": int(len(truth)),
               "answers_per_task": matrix.n_answers / matrix.n_tasks,
               "accuracy": accuracies, "partition_seconds": partition_seconds,
               "types": mv_by_type(answers, truth, types),
               "skipped_binary_only": [a for a in aggregator_names if a in BINARY_ONLY and not binary],
               "errors": {f"{r['aggregator']} {r['mode']}": r["error"] for r in rows if r["error"]},
               "published": [p._asdict() for p in published_for(name)]}
    return rows, summary


def comparisons(crowds: list[dict]) -> list[dict]:
    """Each published figure beside ours: difference in points."""
    out = []
    for c in crowds:
        for p in c["published"]:
            ours = 100 * c["accuracy"][p["ours"]]["plain"] if p["ours"] in c["accuracy"] else float("nan")
            out.append(dict(p, ours_value=ours, difference=ours - p["accuracy"]))
    return out


def partition_effect(crowds: list[dict]) -> list[dict]:
    """Per aggregator: partition − plain accuracy (points) on each crowd, and on how many crowds it helps
    (> +0.5 point), hurts (< −0.5) or makes no difference."""
    names = [a for a in dict.fromkeys(a for c in crowds for a in c["accuracy"]) if a != "MV (random ties)"]
    out = []
    for agg in names:
        diffs = {c["crowd"]: 100 * (c["accuracy"][agg]["partition"] - c["accuracy"][agg]["plain"])
                 for c in crowds if agg in c["accuracy"]}
        finite = [d for d in diffs.values() if np.isfinite(d)]
        out.append({"aggregator": agg, "difference": diffs,
                    "helps": sum(d > 0.5 for d in finite), "hurts": sum(d < -0.5 for d in finite),
                    "same": sum(abs(d) <= 0.5 for d in finite), "mean_difference": float(np.mean(finite))
                    if finite else float("nan")})
    return out


def run_real(config, folders: list[Path]) -> tuple[list, dict]:
    rows, crowds, skipped = [], [], []
    for folder in folders:
        answers, truth = load_crowd(folder)
        if truth is None:
            skipped.append({"crowd": folder.name, "reason": "no truth.csv: no gold labels to score"})
            continue
        crowd_rows, summary = evaluate_crowd(folder.name, answers, truth, tuple(config.real_aggregators),
                                             config.partition_seed)
        rows += crowd_rows
        crowds.append(dict(summary, folder=str(folder)))
    return rows, {"crowds": crowds, "skipped": skipped, "published": comparisons(crowds),
                  "partition_effect": partition_effect(crowds), "aggregators": list(config.real_aggregators),
                  "tie_rule": "MV: ties to the lowest label (MajorityVote(), crowd-kit's rule); MV (random ties): "
                              "expected accuracy with ties broken uniformly at random (the published figures' rule)",
                  "partition": "spectral task-type partition [ours, papers.md §3], computed once per crowd with "
                               f"seed {config.partition_seed}; type 0 = the cluster of higher mean pair agreement"}
