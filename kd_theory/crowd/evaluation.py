"""Accuracy of every aggregator on real crowds with gold labels, beside the published figures.

    python -m kd_theory.crowd.evaluation ../shared/data/crowd      # every folder with answers.csv
    python -m kd_theory.crowd.evaluation --bundled                  # sp, shipped with the package

Accuracy = fraction of gold tasks whose aggregated label equals the gold label. "MV (random ties)" is the
expected accuracy when ties are broken uniformly at random (Zhang et al.'s rule; the other sources do not
state theirs); "MV" breaks ties to the lowest label. Binary-only methods (TE, SML) are left out on multiclass crowds.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kd_theory.crowd.dawid_skene import DawidSkene, OneCoinDawidSkene
from kd_theory.crowd.glad import GLAD
from kd_theory.crowd.io import bundled_path, load_crowd
from kd_theory.crowd.majority_vote import MajorityVote, Wawa, expected_accuracy_random_ties
from kd_theory.crowd.spectral import SpectralMetaLearner
from kd_theory.crowd.task_types import TaskTypeAware
from kd_theory.crowd.triangular import TriangularEstimation

# Published accuracies on the gold tasks (../shared/data/README.md and each PROVENANCE.md).
PUBLISHED = {
    "rte": "MV 89.7 (random ties, Zhang et al. 2014: 10.31 % error); DS ≈ 92.9 (recalled, unverified)",
    "product": "Zheng et al. 2017 Table 6: MV 89.66 / DS 93.66; crowd-kit paper MV 0.897 / DS 0.940",
    "possent": "Zheng et al. 2017 Table 6: MV 93.31 / DS 96.00",
    "relevance": "Zheng et al. 2017 Table 6: MV 54.19 / DS 61.30; crowd-kit paper MV 0.536 / DS 0.615",
    "dog": "none (a numpy DS 0.843, MV 0.822 random ties)",
    "sp": "none (a numpy DS 0.915, MV 0.886 random ties)",
}


# The aggregators by the names tables use (constructors with their defaults); TE and SML are binary methods.
AGGREGATORS = {"MV": MajorityVote, "Wawa": Wawa, "DS": DawidSkene, "OneCoinDS": OneCoinDawidSkene, "GLAD": GLAD,
               "TE": TriangularEstimation, "SML": SpectralMetaLearner}
BINARY_ONLY = ("TE", "SML")


def make_aggregator(name: str):
    """A fresh aggregator with its default settings, by its name in :data:`AGGREGATORS`."""
    if name not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {name!r}; known: {', '.join(AGGREGATORS)}")
    return AGGREGATORS[name]()


def aggregators(binary: bool) -> dict:
    """The aggregators compared, by name (binary-only ones only when ``binary``)."""
    named = {name: make_aggregator(name) for name in AGGREGATORS if binary or name not in BINARY_ONLY}
    named["types+DS"] = TaskTypeAware(DawidSkene())
    if binary:
        named["types+TE"] = TaskTypeAware(TriangularEstimation())
    return named


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    """Fraction of the gold tasks whose label equals the gold label."""
    return float((labels.loc[truth.index].to_numpy() == truth.to_numpy()).mean())


def mv_random_ties_accuracy(answers: pd.DataFrame, truth: pd.Series) -> float:
    """Expected accuracy of majority vote on the gold tasks of ``truth`` when ties are broken uniformly
    at random (Zhang et al.'s rule)."""
    shares = MajorityVote().fit_predict_proba(answers)
    gold_index = shares.columns.get_indexer(truth.to_numpy())
    if (gold_index < 0).any():
        first = int(np.argmax(gold_index < 0))
        raise ValueError(f"gold label {truth.iloc[first]} (task {truth.index[first]!r}) is given by no answer; "
                         f"the answers use {list(shares.columns)}")
    return expected_accuracy_random_ties(shares.loc[truth.index].to_numpy(), gold_index)


def evaluate_crowd(answers: pd.DataFrame, truth: pd.Series) -> dict:
    """{aggregator: accuracy on the gold tasks} plus "MV (random ties)" and seconds per aggregator."""
    row = {"MV (random ties)": mv_random_ties_accuracy(answers, truth)}
    seconds = {}
    for name, aggregator in aggregators(binary=answers["label"].nunique() == 2).items():
        start = time.perf_counter()
        try:
            row[name] = accuracy(aggregator.fit_predict(answers), truth)
        except ValueError as error:  # e.g. the partition left one type with too few workers for TE
            row[name] = f"error: {error}"
        seconds[name] = round(time.perf_counter() - start, 2)
    return {"accuracy": row, "seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, help="folder of crowds (one sub-folder each)")
    parser.add_argument("--bundled", action="store_true", help="evaluate the bundled sp crowd")
    args = parser.parse_args(argv)
    if args.bundled:
        folders = [bundled_path("sp")]
    elif args.data_dir is not None:
        folders = sorted(p for p in args.data_dir.iterdir() if (p / "answers.csv").exists())
    else:
        parser.error("give a data folder or --bundled")
    results = {}
    for folder in folders:
        answers, truth = load_crowd(folder)
        if truth is None:
            print(f"{folder.name}: no truth.csv, skipped", flush=True)
            continue
        results[folder.name] = evaluate_crowd(answers, truth)
        accuracies = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in results[folder.name]["accuracy"].items())
        print(f"{folder.name}: {accuracies} | published: {PUBLISHED.get(folder.name, 'none')}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
