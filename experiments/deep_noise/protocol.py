"""The selection protocol of the deep experiment and its summaries, computed from per-run rows.

* Seeds 0..S−1 **select**: per noise level, the temperature T whose soft students have the best
  mean **validation** accuracy (ties → the lower T). Nothing else is tuned: teacher and hard student
  have no free choice here (lr, λ, batch size are fixed by the config for every model).
* Seeds S..S+R−1 **report**: test accuracy at the early-stopping point (the epoch of best validation
  accuracy) of the teacher, the hard student and the soft student at the chosen T.
* soft − hard is paired by seed (the two students share their initialisation and the teacher of
  the soft one has the same seed index), with a t-interval and a paired t-test per noise level,
  Holm-corrected over the noise levels; the widening of the gap between the lowest and the highest
  noise level is the paired difference of the two gaps, seed by seed.
"""
from __future__ import annotations

from experiments.common import seed_sets
from kd_theory import stats

MODELS = ("teacher", "hard", "soft")
# Figure 1 of the paper (CIFAR-10 cat/dog, test accuracy %, read off the plot ±0.2)
PAPER_FIGURE1 = {
    "noise_var": (0.01, 0.03, 0.05, 0.1, 0.2),
    "teacher": (82.5, 78.4, 79.1, 77.6, 73.4),
    "hard": (74.6, 74.2, 73.7, 67.1, 62.1),
    "soft": (75.9, 75.1, 74.1, 74.9, 70.3),
}


def choose_temperatures(rows) -> dict:
    """{noise_var: summary row of the temperature with the best mean validation accuracy of the
    selection seeds' soft students}."""
    summary = stats.summarise(rows, ("noise_var", "temperature"), ("val_acc",),
                              lambda r: r["model"] == "soft" and r["role"] == "select")
    best = stats.select_best(summary, group_keys=("noise_var",), score="val_acc_mean",
                             tie_break=lambda s: (s["temperature"],))
    return {k[0]: v for k, v in best.items()}


def _reported(chosen):
    """Row filter: report seeds of the teacher, the hard student, and the soft student at the chosen T."""
    def include(r):
        return r["role"] == "report" and (r["model"] != "soft" or r["temperature"] == chosen[r["noise_var"]]["temperature"])
    return include


def table_rows(rows, chosen) -> list[dict]:
    """One row per (noise_var, model): test accuracy mean ± std over the report seeds, n_seeds, and
    the validation accuracy and stopping epoch beside."""
    summary = stats.summarise(rows, ("noise_var", "model"), ("test_acc", "val_acc", "best_epoch", "epochs"),
                              _reported(chosen))
    out = []
    for s in sorted(summary, key=lambda s: (s["noise_var"], MODELS.index(s["model"]))):
        out.append({"noise_var": s["noise_var"], "model": s["model"], "test_acc_mean": s["test_acc_mean"],
                    "test_acc_std": s["test_acc_std"], "n_seeds": s["n_seeds"],
                    "temperature": chosen[s["noise_var"]]["temperature"] if s["model"] == "soft" else None,
                    "val_acc_mean": s["val_acc_mean"], "best_epoch_mean": s["best_epoch_mean"],
                    "stop_epoch_mean": s["epochs_mean"]})
    return out


def soft_minus_hard(rows, chosen, alpha: float) -> list[dict]:
    """Paired soft(T*) − hard test-accuracy gaps per noise level, Holm over the noise levels."""
    include = _reported(chosen)
    gaps = stats.paired_gaps([r for r in rows if include(r)], treatment=lambda r: r["model"] == "soft",
                             baseline=lambda r: r["model"] == "hard", match_keys=("noise_var",),
                             cell_keys=("noise_var", "temperature"))
    return stats.add_holm(sorted(gaps, key=lambda g: g["noise_var"]), alpha)


def gap_widening(rows, chosen) -> dict:
    """Per report seed, (soft − hard at the highest noise) − (soft − hard at the lowest): its paired
    summary says whether the gap grows with the noise."""
    include = _reported(chosen)
    acc = {(r["noise_var"], r["model"], r["seed"]): r["test_acc"] for r in rows if include(r)}
    levels = sorted({r["noise_var"] for r in rows})
    low, high = levels[0], levels[-1]
    seeds = sorted({s for (_, _, s) in acc})
    diffs = [(acc[(high, "soft", s)] - acc[(high, "hard", s)]) - (acc[(low, "soft", s)] - acc[(low, "hard", s)])
             for s in seeds if all((v, m, s) in acc for v in (low, high) for m in ("soft", "hard"))]
    summary = stats.paired_summary(diffs)
    return {"low_noise_var": low, "high_noise_var": high, **summary._asdict()}


def analyse(rows, config) -> dict:
    chosen = choose_temperatures(rows)
    select_seeds, report_seeds = seed_sets(config)
    return {
        "protocol": {
            "select_seeds": list(select_seeds), "report_seeds": list(report_seeds),
            "selection": "per noise level: the temperature T with the best mean validation accuracy of the soft "
                         "students of the selection seeds (ties → lower T); nothing else is tuned",
            "reported": "test accuracy of the report seeds at their early-stopping point (best validation epoch), "
                        "mean ± std (ddof 1) over seeds",
            "gap_test": f"soft − hard paired by seed; paired t-test per noise level, Holm over the noise levels, "
                        f"α = {config.alpha}; 95% t-interval of the mean gap",
        },
        "chosen_temperature": [{"noise_var": v, "temperature": s["temperature"], "val_acc_mean": s["val_acc_mean"],
                                "n_seeds": s["n_seeds"]} for v, s in sorted(chosen.items())],
        "rows": table_rows(rows, chosen),
        "gaps": soft_minus_hard(rows, chosen, config.alpha),
        "gap_widening": gap_widening(rows, chosen),
        # every temperature on the report seeds, for claims that do not depend on the selection
        "all_temperatures": stats.summarise(rows, ("noise_var", "model", "temperature"), ("test_acc", "val_acc"),
                                            lambda r: r["role"] == "report"),
        "paper": {k: list(v) for k, v in PAPER_FIGURE1.items()},
    }
