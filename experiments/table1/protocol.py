"""The Table-1 selection protocol and its two views, computed from the engine's rows.

* Seeds 0..S−1 **select**: for every (dataset, width, label) the regime (lr, B, steps, and T for
  soft labels) with the best mean **validation** accuracy; the unconstrained students (B = none)
  are chosen the same way among plain-GD regimes.
* Seeds S..S+R−1 **report**: their **test** accuracy at the chosen regimes (fresh initialisations,
  never looked at while choosing).
* View 1, *each label type at its own best regime*: hard and soft at their own chosen regimes,
  soft − hard paired by seed, Holm-corrected over the (dataset, width) cells.
* View 2, *matched regime*: soft(T) − hard at the same (lr, B, steps) over the whole grid, paired by
  seed, Holm-corrected over every cell of the grid, with the share of runs whose ball binds. It
  chooses nothing, so it may use any seeds: the report seeds, or (when regimes are chosen on a
  training subset) the selection seeds' test accuracy with students trained on that subset.
"""
from __future__ import annotations

import math

from experiments.common import seed_sets
from kd_theory import stats

REGIME_KEYS = ("lr", "B", "temperature", "steps")
CELL_KEYS = ("dataset", "width")
SUMMARY_KEYS = ("dataset", "width", "label") + REGIME_KEYS  # one regime of one student
SUMMARY_METRICS = ("val_acc", "test_acc", "train_acc", "avg_train_loss", "avg_train_error", "max_move_B", "binds")
BIND_TOLERANCE = 1e-3  # a run's ball binds when some neuron ends within 0.1% of the radius B/√m

# Table 1 of the paper (MNIST, test accuracy %, teacher 512 neurons): {dataset: {"teacher", (m, label)}}
PAPER_TABLE1 = {
    "reduced": {"teacher": 98.75, (8, "hard"): 97.19, (8, "soft"): 97.67, (6, "hard"): 96.84, (6, "soft"): 97.26,
                (4, "hard"): 93.04, (4, "soft"): 95.83},
    "full": {"teacher": 98.34, (8, "hard"): 95.77, (8, "soft"): 96.58, (6, "hard"): 95.33, (6, "soft"): 96.00,
             (4, "hard"): 88.84, (4, "soft"): 95.62},
}


def run_B(config_B: float):
    """The config's B (0 = plain GD) as the engine's B (None = no projection)."""
    return None if config_B == 0 else float(config_B)


def B_label(B) -> str:
    return "none" if B is None else f"{B:g}"


def binds(row) -> bool:
    """Whether the projection was active at the end: some neuron sits on its ball (B given)."""
    return row["B"] is not None and row["max_move_B"] >= (1 - BIND_TOLERANCE) * row["B"]


def _tie_break(s) -> tuple:
    """Among regimes with equal validation accuracy prefer fewer steps, a smaller lr, a smaller ball,
    a lower temperature: deterministic, and the cheapest of equals."""
    return (s["steps"], s["lr"], math.inf if s["B"] is None else s["B"], s["temperature"] or 0.0)


def _summary(rows, include):
    rows = [dict(r, binds=float(binds(r))) for r in rows if include(r)]
    return stats.summarise(rows, SUMMARY_KEYS, SUMMARY_METRICS)


def choose_regimes(rows, config) -> dict:
    """{(view, dataset, width, label): summary row of the regime chosen on selection seeds' validation
    accuracy}; view "own_best" searches the whole grid, "unconstrained" only B = none."""
    select = _summary(rows, lambda r: r["role"] == "select")
    chosen = {}
    for view, allowed in (("own_best", lambda s: True), ("unconstrained", lambda s: s["B"] is None)):
        best = stats.select_best([s for s in select if allowed(s)], group_keys=("dataset", "width", "label"),
                                 score="val_acc_mean", tie_break=_tie_break)
        chosen.update({(view,) + k: v for k, v in best.items()})
    return chosen


def regimes_to_report(chosen: dict, dataset: str) -> list[dict]:
    """The distinct chosen regimes of one dataset, as run specifications for the report seeds."""
    specs = {(s["width"], s["label"], s["temperature"], s["lr"], s["B"]) for (view, ds, *_), s in chosen.items()
             if ds == dataset}
    return [dict(zip(("width", "label", "temperature", "lr", "B"), spec))
            for spec in sorted(specs, key=lambda t: tuple(str(v) for v in t))]


def _is_report(r) -> bool:
    """Report-seed rows trained on the whole training split (what the reported numbers use)."""
    return r["role"] == "report" and r.get("train_set", "full") == "full"


def _at(regime):
    """A row filter: the report-seed rows at ``regime``."""
    def include(r):
        return _is_report(r) and all(r[k] == regime[k] for k in SUMMARY_KEYS)
    return include


def own_best_view(rows, chosen, config) -> tuple[list, list]:
    """Table rows (test accuracy of the report seeds at each chosen regime) and the paired soft − hard
    gaps per (view, dataset, width), Holm-corrected within each view."""
    reported = {tuple(s[k] for k in SUMMARY_KEYS): s for s in _summary(rows, _is_report)}
    table, gaps = [], []
    for view in ("own_best", "unconstrained"):
        cells = []
        for (v, ds, m, label), regime in sorted(chosen.items(), key=lambda kv: str(kv[0])):
            s = reported.get(tuple(regime[k] for k in SUMMARY_KEYS)) if v == view else None
            if s is None:
                continue
            table.append({"view": view, "dataset": ds, "width": m, "label": label,
                          **{k: regime[k] for k in REGIME_KEYS},
                          "select_val_acc": regime["val_acc_mean"], "select_n_seeds": regime["n_seeds"],
                          "test_acc_mean": s["test_acc_mean"], "test_acc_std": s["test_acc_std"],
                          "n_seeds": s["n_seeds"], "binds": s["binds_mean"]})
        for ds in config.datasets:
            for m in config.student_widths:
                hard, soft = chosen.get((view, ds, m, "hard")), chosen.get((view, ds, m, "soft"))
                if hard is None or soft is None:
                    continue
                g = stats.paired_gaps(rows, treatment=_at(soft), baseline=_at(hard), match_keys=CELL_KEYS,
                                      cell_keys=CELL_KEYS, metric="test_acc")
                cells += [dict(c, view=view) for c in g]
        gaps += stats.add_holm(cells, config.alpha)
    return table, gaps


def matched_source(config) -> tuple[str, str]:
    """Which seeds the matched view reads (the role of their rows) and how table1.md says so."""
    if config.select_subset:
        return "select", (f"test accuracy of the selection seeds, students trained on the "
                          f"{config.select_subset}-image subset (this view chooses nothing)")
    return "report", "test accuracy of the report seeds"


def matched_view(use, summary, config) -> list:
    """soft(T) − hard at the same (dataset, width, lr, B, steps), paired by seed, over the whole grid of
    rows ``use`` (their :func:`_summary` is ``summary``); Holm over all its cells; with the share of hard
    and of soft runs whose ball binds."""
    match = CELL_KEYS + ("lr", "B", "steps")
    cells = stats.paired_gaps(use, treatment=lambda r: r["label"] == "soft", baseline=lambda r: r["label"] == "hard",
                              match_keys=match, cell_keys=match + ("temperature",), metric="test_acc")
    bind = {tuple(s[k] for k in match) + (s["label"], s["temperature"]): s["binds_mean"] for s in summary}
    for c in cells:
        key = tuple(c[k] for k in match)
        c["hard_binds"] = bind.get(key + ("hard", None))
        c["soft_binds"] = bind.get(key + ("soft", c["temperature"]))
    return stats.add_holm(sorted(cells, key=lambda c: tuple(str(c[k]) for k in match + ("temperature",))),
                          config.alpha)


def analyse(rows, teacher_rows, config) -> dict:
    """Everything results.json holds besides bookkeeping: the chosen regimes, both views, the regime
    summary, the paper's numbers and the non-finite runs."""
    chosen = choose_regimes(rows, config)
    table, gaps = own_best_view(rows, chosen, config)
    source, matched_note = matched_source(config)
    use = [r for r in rows if r["role"] == source]
    matched_summary = _summary(use, lambda r: True)
    matched = matched_view(use, matched_summary, config)
    regimes = stats.regime_summary(matched, regime_keys=REGIME_KEYS, cell_keys=CELL_KEYS)
    select_seeds, report_seeds = seed_sets(config)
    nonfinite = [{k: r[k] for k in ("dataset", "width", "label", "temperature", "seed", "lr", "B", "steps", "role")}
                 for r in rows if not r["finite"]]
    return {
        "protocol": {
            "select_seeds": list(select_seeds), "report_seeds": list(report_seeds),
            "selection": "per (dataset, width, label): the regime (lr, B, steps; and T for soft) with the best mean "
                         "validation accuracy over the selection seeds; ties → fewer steps, smaller lr, smaller B, "
                         "lower T",
            "select_train_set": f"subset of {config.select_subset} training images" if config.select_subset
            else "the whole training split",
            "reported": "test accuracy of the report seeds at the chosen regime (mean ± std over seeds)",
            "gap_test": f"paired t-test per cell, Holm over the cells of each view, α = {config.alpha}; "
                        "95% t-interval of the mean paired gap",
            "matched_source": matched_note,
            "bind_rule": f"a run binds when max_j ‖W_j − W_j(0)‖·√m ≥ (1 − {BIND_TOLERANCE})·B at the end",
        },
        "teacher": teacher_rows,
        "chosen": [dict(s, view=k[0]) for k, s in sorted(chosen.items(), key=lambda kv: str(kv[0]))],
        "table": table,
        "gaps": gaps,
        "matched": matched,
        "regimes": regimes,
        # every regime's mean ± std over the matched view's seeds, for claims about single regimes
        "summary": matched_summary,
        "paper": {ds: {(k if isinstance(k, str) else f"m={k[0]} {k[1]}"): v for k, v in cells.items()}
                  for ds, cells in PAPER_TABLE1.items()},
        "source": "MNIST" if config.data_dir else "sklearn digits 8x8",
        "grid": {"widths": list(config.student_widths), "datasets": list(config.datasets),
                 "lr": list(config.lr), "B": [B_label(run_B(b)) for b in config.B],
                 "temperature": list(config.temperature), "steps": list(config.steps)},
        "nonfinite_runs": nonfinite,
    }
