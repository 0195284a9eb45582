"""Part 1, real crowds: every aggregator on every crowd with gold labels, pooled and per type of the spectral
partition, beside the published figures. Descriptive: the real crowds' types are unknown, so they are not
part of the verdict.

Accuracy = the fraction of gold tasks whose aggregated label equals the gold label. Majority vote is
scored under three tie rules (:mod:`experiments.crowd.published`): ``MV`` gives a tie to the lowest label
(``MajorityVote()``); crowd-kit 1.4.2 gives it to the label that first appears in the answers
(``MajorityVote(tie_rule="first_seen")``); Zhang et al.'s figures break ties at random (the expected
accuracy). The partition of a crowd is computed once (its key: the "partition" stream, index = the
crowd's name) and every per-type aggregator runs on each of its two types, so "partition − pooled"
compares one aggregator with and without the same split.

Each crowd is read with :func:`kd_theory.crowd.read_crowd` under the config's ``duplicates`` rule and
declared ``labels``; its ``record()`` (label counts, gold label counts, repeated (task, worker) pairs, the
rule applied) and the reader's warnings go to results.json. A crowd file that is almost right is refused
with its file, row and value (the launcher exits with code 2).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.crowd.published import published_for
from kd_theory import rng
from kd_theory.crowd import (DuplicateAnswersWarning, LabelMatrix, MajorityVote, TaskTypeAware, partition_tasks,
                             read_crowd)
from kd_theory.crowd.evaluation import BINARY_ONLY, accuracy, make_aggregator, mv_random_ties_accuracy
from kd_theory.crowd.io import bundled_path
from kd_theory.progress import bar

MODES = ("plain", "partition")
MV_RULES = ("lowest", "first_seen", "random")


def crowd_folders(crowd_dir) -> list[Path]:
    """The crowds under ``crowd_dir`` (None = the bundled ``sp``): the folder itself if it holds answers.csv,
    else its sub-folders that do (sorted by name)."""
    if not crowd_dir:
        return [bundled_path("sp")]
    folder = Path(crowd_dir)
    try:
        if (folder / "answers.csv").is_file():
            return [folder]
        return sorted(p for p in folder.iterdir() if (p / "answers.csv").is_file()) if folder.is_dir() else []
    except OSError:  # unreadable: the rule reports "no crowds here"
        return []


def read_crowds(config) -> list[tuple]:
    """(name, folder, Crowd, the reader's duplicate-answer warnings as text) of every crowd folder, read before
    any work is done so that a bad file stops the run at once (ValueError naming file and row)."""
    out = []
    for folder in crowd_folders(config.crowd_dir):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DuplicateAnswersWarning)
            crowd = read_crowd(folder, duplicates=config.duplicates,
                               labels=None if config.labels is None else tuple(config.labels))
        for w in caught:  # other warnings go on as they came
            if not issubclass(w.category, DuplicateAnswersWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        out.append((folder.name, folder, crowd,
                    [str(w.message) for w in caught if issubclass(w.category, DuplicateAnswersWarning)]))
    return out


def timed_accuracy(aggregator, answers: pd.DataFrame, truth: pd.Series) -> tuple[float, float, str]:
    """(accuracy on the gold tasks, seconds, error message); a method that cannot run (e.g. TE on a type
    with fewer than 3 workers) gives NaN and its error."""
    start = time.perf_counter()
    try:
        value, error = accuracy(aggregator.fit_predict(answers), truth), ""
    except ValueError as exc:
        value, error = float("nan"), str(exc)
    return value, time.perf_counter() - start, error


def mv_tie_rules(answers: pd.DataFrame, truth: pd.Series) -> dict:
    """Majority vote's accuracy on the gold tasks under each tie rule, and how many gold tasks are tied."""
    shares = MajorityVote().fit_predict_proba(answers).loc[truth.index].to_numpy()
    tied = int(((shares == shares.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
    return {"lowest": accuracy(MajorityVote().fit_predict(answers), truth),
            "first_seen": accuracy(MajorityVote(tie_rule="first_seen").fit_predict(answers), truth),
            "random": mv_random_ties_accuracy(answers, truth), "n_tied_gold": tied}


def by_type(answers: pd.DataFrame, truth: pd.Series, types: pd.Series) -> dict:
    """Per type of the partition: its tasks, its gold tasks, and majority vote (random ties) on them."""
    out = {}
    for group in sorted(types.unique()):
        gold = truth[types.loc[truth.index] == group]
        out[str(int(group))] = {"n_tasks": int((types == group).sum()), "n_gold": int(len(gold)),
                                "mv_random_ties": mv_random_ties_accuracy(answers, gold) if len(gold)
                                else float("nan")}
    return out


def published_beside_ours(name: str, accuracy_table: dict, mv: dict) -> list[dict]:
    """Each published figure of crowd ``name`` beside ours (percent): DS beside our DS; MV beside our MV
    under every tie rule, with the rule that comes closest ("" when the rules agree: no tied gold task)."""
    out = []
    for p in published_for(name):
        entry = dict(p._asdict())
        if p.method == "MV":
            ours = {rule: 100 * mv[rule] for rule in MV_RULES}
            agree = max(ours.values()) - min(ours.values()) < 1e-9  # no tied gold task: every rule gives one number
            entry.update(ours=ours, closest_rule="" if agree else min(ours, key=lambda r: abs(ours[r] - p.accuracy)))
            entry["difference"] = {rule: v - p.accuracy for rule, v in ours.items()}
        else:
            value = 100 * accuracy_table.get("DS", {}).get("plain", float("nan"))
            entry.update(ours={"DS": value}, closest_rule="", difference={"DS": value - p.accuracy})
        out.append(entry)
    return out


def evaluate_crowd(name: str, crowd, config, progress: bool = False) -> tuple[list, dict]:
    """(rows, summary) of one crowd with gold labels: one row per (aggregator, mode) with accuracy and seconds,
    and majority vote under each tie rule."""
    answers, truth = crowd.answers, crowd.truth
    matrix = LabelMatrix.from_dataframe(answers)
    binary = matrix.n_classes == 2
    start = time.perf_counter()
    partition_seed = rng.stream_seed(config.seed, "partition", name)
    types = pd.Series(partition_tasks(matrix, partition_seed), index=matrix.task_ids, name="type")
    partition_seconds = time.perf_counter() - start
    mv = mv_tie_rules(answers, truth)
    names = [a for a in config.real_aggregators if binary or a not in BINARY_ONLY]
    per_type = set(config.per_type)
    jobs = [(a, m) for a in names for m in MODES if m == "plain" or a in per_type]
    accuracies, rows = {}, []
    for agg, mode in bar(jobs, f"crowd {name}: aggregators", enabled=progress):
        aggregator = make_aggregator(agg)
        if mode == "partition":
            aggregator = TaskTypeAware(aggregator, types=types)
        value, seconds, error = timed_accuracy(aggregator, answers, truth)
        accuracies.setdefault(agg, {})[mode] = value
        rows.append({"part": "real", "crowd": name, "aggregator": agg, "mode": mode,
                     "tie_rule": "lowest" if agg == "MV" else "", "accuracy": value, "seconds": seconds,
                     "error": error})
    for rule in ("first_seen", "random"):
        rows.append({"part": "real", "crowd": name, "aggregator": "MV", "mode": "plain", "tie_rule": rule,
                     "accuracy": mv[rule], "seconds": float("nan"), "error": ""})
    summary = {"crowd": name, "record": crowd.record(), "n_tasks": matrix.n_tasks, "n_workers": matrix.n_workers,
               "n_answers": matrix.n_answers, "n_classes": matrix.n_classes, "n_gold": int(len(truth)),
               "answers_per_task": matrix.n_answers / matrix.n_tasks, "accuracy": accuracies, "mv_tie_rules": mv,
               "partition_seed": partition_seed, "partition_seconds": partition_seconds,
               "types": by_type(answers, truth, types),
               "skipped_binary_only": [a for a in config.real_aggregators if a in BINARY_ONLY and not binary],
               "errors": {f"{r['aggregator']} {r['mode']}": r["error"] for r in rows if r["error"]},
               "published": published_beside_ours(name, accuracies, mv)}
    return rows, summary


def partition_effect(crowds: list[dict]) -> list[dict]:
    """Per per-type aggregator: partition − pooled accuracy (points) on each crowd."""
    names = list(dict.fromkeys(a for c in crowds for a, acc in c["accuracy"].items() if "partition" in acc))
    out = []
    for agg in names:
        diffs = {c["crowd"]: 100 * (c["accuracy"][agg]["partition"] - c["accuracy"][agg]["plain"])
                 for c in crowds if "partition" in c["accuracy"].get(agg, {})}
        finite = [d for d in diffs.values() if np.isfinite(d)]
        out.append({"aggregator": agg, "difference": diffs,
                    "mean_difference": float(np.mean(finite)) if finite else float("nan")})
    return out


def run_real(config, crowds=None) -> tuple[list, dict]:
    """Every crowd of ``crowds`` (from :func:`read_crowds`; read here when None)."""
    crowds = read_crowds(config) if crowds is None else crowds
    progress = bool(config.engine.progress)
    rows, summaries, skipped = [], [], []
    for name, folder, crowd, caught in bar(crowds, "real crowds", enabled=progress and len(crowds) > 1):
        if crowd.truth is None:
            skipped.append({"crowd": name, "reason": "no truth.csv: no gold labels to score", "record": crowd.record(),
                            "warnings": caught})
            continue
        crowd_rows, summary = evaluate_crowd(name, crowd, config, progress)
        rows += crowd_rows
        summaries.append(dict(summary, folder=str(folder), warnings=caught))
    return rows, {
        "crowd_dir": config.crowd_dir or "bundled sp (kd_theory/crowd/datasets/sp, Apache-2.0)",
        "crowds": summaries, "skipped": skipped, "partition_effect": partition_effect(summaries),
        "aggregators": list(config.real_aggregators), "per_type": list(config.per_type),
        "duplicates": config.duplicates, "labels": None if config.labels is None else list(config.labels),
        "tie_rules": {"MV": "lowest: ties to the lowest label (MajorityVote(), ours)",
                      "first_seen": "ties to the label seen first in the answers file (crowd-kit 1.4.2's "
                                    "MajorityVote; MajorityVote(tie_rule='first_seen'))",
                      "random": "expected accuracy with ties broken uniformly at random (Zhang et al.'s rule)"},
        "partition": "spectral task-type partition [ours, papers.md §3], computed once per crowd (\"partition\" "
                     "stream, index = the crowd's name); type 0 = the cluster of higher mean pair agreement"}
