"""The biased-soft-label protocol, computed from the engine's rows.

* Seeds 0..S−1 **select**: per soft-label set, the (lr, steps) with the best mean **validation**
  accuracy (ties → fewer steps, then a smaller lr). The validation labels are the true digits.
* Seeds S..S+R−1 **report**: their **test** accuracy at the chosen (lr, steps), mean ± std, and the
  paired gap to the true-label student at its own chosen (lr, steps) (same seed = same init),
  with its 95% t-interval; Holm over the sets.
* **Headline**: among the sets whose teacher top-1 accuracy on its training labels is below
  ``headline_top1``, the one with the best selection-seed validation accuracy (chosen without
  looking at any test accuracy); its reported gap is the headline.
"""
from __future__ import annotations

from experiments.common import seed_sets
from kd_theory import stats

REGIME_KEYS = ("lr", "steps")
SUMMARY_METRICS = ("val_acc", "test_acc", "train_acc", "final_train_loss")
REFERENCE = "true"


def _tie_break(s) -> tuple:
    """Among equal validation accuracies prefer fewer steps, then a smaller lr (the cheapest)."""
    return (s["steps"], s["lr"])


def choose(rows) -> dict:
    """{label_set: summary row of the (lr, steps) with the best mean validation accuracy over the
    selection seeds}."""
    select = stats.summarise(rows, ("label_set",) + REGIME_KEYS, SUMMARY_METRICS,
                             include=lambda r: r["role"] == "select")
    return {k[0]: v for k, v in stats.select_best(select, group_keys=("label_set",), score="val_acc_mean",
                                                  tie_break=_tie_break).items()}


def _at(name: str, regime: dict):
    """A row filter: the report-seed rows of set ``name`` at ``regime``."""
    def include(r):
        return r["role"] == "report" and r["label_set"] == name and all(r[k] == regime[k] for k in REGIME_KEYS)
    return include


def report(rows, chosen: dict, alpha: float) -> dict:
    """{label_set: test accuracy of the report seeds at its chosen regime (mean, std, n) and, for every
    set but the reference, the paired gap to the reference (Holm over those sets)}."""
    reported = {}
    for name, regime in chosen.items():
        (s,) = stats.summarise(rows, ("label_set",), ("test_acc",), include=_at(name, regime))
        reported[name] = {"lr": regime["lr"], "steps": regime["steps"], "select_val_acc": regime["val_acc_mean"],
                          "select_n_seeds": regime["n_seeds"], "test_acc_mean": s["test_acc_mean"],
                          "test_acc_std": s["test_acc_std"], "n_seeds": s["n_seeds"]}
    if REFERENCE not in chosen:
        return reported
    cells = []
    for name, regime in chosen.items():
        if name != REFERENCE:
            cells += stats.paired_gaps(rows, treatment=_at(name, regime), baseline=_at(REFERENCE, chosen[REFERENCE]),
                                       match_keys=(), cell_keys=("label_set",), metric="test_acc")
    for c in stats.add_holm(cells, alpha):
        reported[c["label_set"]].update({k: c[k] for k in ("gap_mean", "gap_se", "gap_low", "gap_high", "p_value",
                                                           "p_holm", "significant")})
    return reported


def condition_side(delta_plus_gamma: float, band: float) -> str:
    """Where a set sits against the paper's condition Δ + γ < 1: "holds" (≤ 1 − band), "fails"
    (≥ 1 + band) or "near" (within the band: shown, not judged)."""
    if delta_plus_gamma <= 1 - band:
        return "holds"
    if delta_plus_gamma >= 1 + band:
        return "fails"
    return "near"


def headline(sets: list[dict], top1_below: float) -> dict | None:
    """The set with teacher top-1 < ``top1_below`` and the best selection-seed validation accuracy, or
    None when no set has such a teacher."""
    candidates = [s for s in sets if s["teacher_top1"] < top1_below and s["label_set"] != REFERENCE]
    if not candidates:
        return None
    best = max(candidates, key=lambda s: (s["select_val_acc"], -s["teacher_top1"]))
    return {"label_set": best["label_set"], "candidates": [s["label_set"] for s in candidates],
            "rule": f"teacher top-1 < {top1_below:g}; best mean validation accuracy of the selection seeds"}


def analyse(rows, info: list[dict], config) -> dict:
    """results.json's science: per soft-label set its indicators, chosen regime, reported accuracy and
    gap; the headline; the protocol stated."""
    chosen = choose(rows)
    reported = report(rows, chosen, config.alpha)
    sets = []
    for i in info:
        entry = dict(i, **reported.get(i["label_set"], {}))
        for name, ind in i["indicators"].items():
            entry[f"condition_{name}"] = condition_side(ind["delta"] + ind["gamma"], config.condition_band)
        sets.append(entry)
    select_seeds, report_seeds = seed_sets(config)
    nonfinite = [{k: r[k] for k in ("label_set", "lr", "seed", "steps", "role")} for r in rows if not r["finite"]]
    return {
        "protocol": {
            "select_seeds": list(select_seeds), "report_seeds": list(report_seeds),
            "selection": "per soft-label set: the (lr, steps) with the best mean validation accuracy (true labels "
                         "of the held-out images) over the selection seeds; ties → fewer steps, smaller lr",
            "reported": "test accuracy of the report seeds at the chosen (lr, steps), mean ± std over seeds",
            "gap_test": f"paired by seed against the true-label student at its own chosen (lr, steps); 95% "
                        f"t-interval; paired t-test, Holm over the sets, α = {config.alpha}",
            "teacher_top1": "1 − Δ̂ at k = 1 on the training images (ties go to the lower class index)",
            "close_points": float(config.close_points), "condition_band": float(config.condition_band),
            "headline_top1": float(config.headline_top1),
            "k": int(config.k), "k_paper": int(config.k_paper),
        },
        "grid": {"lr": [float(v) for v in config.lr], "steps": sorted(int(s) for s in config.steps),
                 "student_width": int(config.student_width)},
        "label_sets": sets,
        "headline": headline(sets, config.headline_top1),
        "nonfinite_runs": nonfinite,
        "paper": PAPER,
    }


# Yuan et al. 2023 as papers.md §2 has them (CIFAR, WideResNet-28×2) — [summary]-tagged numbers.
PAPER = {
    "sbt_teacher_top1": "< 30%",
    "sbt_student_cifar10": "≈ 90%",
    "true_label_student_cifar10": 95.29,
    "true_label_student_cifar100": 78.13,
    "partial_cifar10_delta0.1_gamma0.1": 93.98,
    "condition": "Δ + γ < 1 (sufficient)",
    "source": "Yuan et al., NeurIPS 2023 (arXiv 2302.08155), as summarised in papers.md §2",
}
