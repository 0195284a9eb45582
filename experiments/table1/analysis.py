"""Table 1's analysis of the engine's rows: the two views, the interaction, the claim and its verdict.

* **Selection** (:func:`kd_theory.protocol.choose`): per (dataset, width, label) the setting (lr, B,
  steps, and T for soft labels) with the best mean **validation** accuracy of the selection seeds (every
  teacher's); a setting that diverged on a selection seed is never chosen; ties → fewer steps, a smaller
  lr, a smaller ball, a lower T. The *unconstrained* students are chosen the same way among B = ∞.
* **Report**: the report seeds' **test** accuracy at the chosen settings (fresh initialisations).
* View 1, *each label type at its own best setting*: soft − hard paired by seed, Holm over the
  (dataset, width) cells of the view, with Holm-level intervals.
* View 2, *matched setting*: soft(T) − hard at the same (lr, B, steps) over the whole grid, paired by
  seed, Holm over every cell, with the share of runs whose ball binds. It chooses nothing.
* The *interaction*: (soft − hard on full) − (soft − hard on reduced) at the smallest width, paired by seed.
* With several teachers each has its own students (disjoint seeds); gaps pool them ("teachers × student
  seeds") and the spread across teachers stands beside the spread across seeds.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from kd_theory import stats
from kd_theory.protocol import selection, verdicts

SETTING_KEYS = ("lr", "B", "temperature", "steps")
GROUP_KEYS = ("dataset", "width", "label")
CELL_KEYS = ("dataset", "width")
SUMMARY_METRICS = ("val_acc", "test_acc", "train_acc", "avg_train_loss", "final_train_loss", "avg_train_error",
                   "max_move_B", "binds")
BIND_TOLERANCE = 1e-3  # a run's ball binds when some neuron ends within 0.1% of the radius B/√m
LEAD_POINTS = 3.0      # the teacher must lead the best student of the compared width by this many points

# Table 1 of the paper (MNIST, test accuracy %, teacher 512 neurons): {dataset: {"teacher", (m, label)}}
PAPER_TABLE1 = {
    "reduced": {"teacher": 98.75, (8, "hard"): 97.19, (8, "soft"): 97.67, (6, "hard"): 96.84, (6, "soft"): 97.26,
                (4, "hard"): 93.04, (4, "soft"): 95.83},
    "full": {"teacher": 98.34, (8, "hard"): 95.77, (8, "soft"): 96.58, (6, "hard"): 95.33, (6, "soft"): 96.00,
             (4, "hard"): 88.84, (4, "soft"): 95.62},
}

CLAIM = verdicts.Claim(
    quote="Students with 4, 6, 8 neurons trained on the teacher's soft labels beat the same students trained on hard "
          "labels (MNIST \"digit > 4\"); at m = 4 the soft − hard gap grows from 2.8 points (reduced: 93.04 → 95.83) "
          "to 6.8 points (full: 88.84 → 95.62).",
    source="Mandal, Lin & Srikant (2024), Table 1 (papers.md §1.7)", type="prediction", paraphrased=True)
INTERACTION_CLAIM = verdicts.Claim(
    quote="The soft-label advantage grows with difficulty: at m = 4 the gap is 6.8 points on full vs 2.8 on reduced "
          "(a difference of +4.0 points).",
    source="Mandal, Lin & Srikant (2024), Table 1 (papers.md §1.7, 'Headline')", type="prediction", paraphrased=True)


def B_label(B) -> str:
    return "none" if B is None else f"{B:g}"


def binds(row) -> bool:
    """Whether the projection was active at the end: some neuron sits on its ball (B given)."""
    return row["B"] is not None and row["max_move_B"] >= (1 - BIND_TOLERANCE) * row["B"]


def tie_break(s) -> tuple:
    """Among settings of equal validation accuracy prefer fewer steps, a smaller lr, a smaller ball, a
    lower temperature: deterministic, and the cheapest of equals."""
    return (s["steps"], s["lr"], math.inf if s["B"] is None else s["B"], s["temperature"] or 0.0)


def paper_lead(dataset: str, width: int) -> float:
    """The paper's teacher minus its best student of ``width`` (hard or soft), in points."""
    paper = PAPER_TABLE1.get(dataset, {})
    return paper.get("teacher", math.nan) - max(paper.get((width, label), math.nan) for label in ("hard", "soft"))


def paper_gap(dataset: str, width: int) -> float:
    """The paper's soft − hard in points (NaN where it has no such cell)."""
    paper = PAPER_TABLE1.get(dataset, {})
    return paper.get((width, "soft"), math.nan) - paper.get((width, "hard"), math.nan)


def _with_binds(rows):
    return [dict(r, binds=float(binds(r))) for r in rows]


def choose(rows, steps) -> dict:
    """{(view, dataset, width, label): chosen summary row}; rows at checkpoints outside ``steps`` (the
    settle checkpoint) are not choices."""
    rows = [r for r in _with_binds(rows) if r["steps"] in steps]
    chosen = {}
    for view, allowed in (("own_best", lambda s: True), ("unconstrained", lambda s: s["B"] is None)):
        best = selection.choose(rows, group_keys=GROUP_KEYS, setting_keys=SETTING_KEYS, tie_break=tie_break,
                                allowed=allowed, metrics=SUMMARY_METRICS)
        chosen.update({(view,) + k: v for k, v in best.items()})
    return chosen


def regimes_to_report(chosen: dict, dataset: str) -> list[dict]:
    """The distinct chosen settings of one dataset, as run specifications for the report seeds."""
    specs = {(s["width"], s["label"], s["temperature"], s["lr"], s["B"]) for (view, ds, *_), s in chosen.items()
             if ds == dataset}
    return [dict(zip(("width", "label", "temperature", "lr", "B"), spec))
            for spec in sorted(specs, key=lambda t: tuple(str(v) for v in t))]


def _report_rows(rows):
    """Report-seed rows trained on the whole training split (what the reported numbers use)."""
    return [r for r in _with_binds(rows) if r["role"] == "report" and r.get("train_set", "full") == "full"]


def own_best_view(rows, chosen, config) -> tuple[list, list]:
    """Table rows (test accuracy of the report seeds at each chosen setting) and the paired soft − hard
    gaps per (view, dataset, width), Holm-corrected within each view."""
    report_rows = _report_rows(rows)
    over = "teachers × student seeds" if config.teachers > 1 else "student seeds"
    table, gaps = [], []
    for view in ("own_best", "unconstrained"):
        view_chosen = {k[1:]: v for k, v in chosen.items() if k[0] == view}
        reported = selection.report(report_rows, view_chosen, group_keys=GROUP_KEYS, setting_keys=SETTING_KEYS,
                                    metrics=("test_acc", "binds"))
        for group, regime in sorted(view_chosen.items(), key=lambda kv: str(kv[0])):
            s = reported.get(group)
            if s is None:
                continue
            table.append({"view": view, **dict(zip(GROUP_KEYS, group)), **{k: regime[k] for k in SETTING_KEYS},
                          "select_val_acc": regime["val_acc_mean"], "select_n_seeds": regime["n_seeds"],
                          "test_acc_mean": s["test_acc_mean"], "test_acc_std": s["test_acc_std"],
                          "n_seeds": s["n_seeds"], "n_diverged": s["n_diverged"], "binds": s["binds_mean"]})
        comparisons = [((ds, m, "soft"), (ds, m, "hard")) for ds in config.datasets for m in config.student_widths]
        cells = selection.compare(report_rows, view_chosen, comparisons, group_keys=GROUP_KEYS,
                                  setting_keys=SETTING_KEYS, alpha=config.alpha, over=over)
        gaps += [dict(c, view=view, dataset=c["treatment"]["dataset"], width=c["treatment"]["width"]) for c in cells]
    return table, gaps


def teacher_spread(rows, chosen, config) -> list[dict]:
    """Per (view, dataset, width): each teacher's mean soft − hard gap over its report seeds, their mean and
    spread across teachers (and a t-interval over teachers when there are two or more), beside the mean
    spread across student seeds within a teacher."""
    report_rows = _report_rows(rows)
    out = []
    for view in ("own_best", "unconstrained"):
        view_chosen = {k[1:]: v for k, v in chosen.items() if k[0] == view}
        for ds in config.datasets:
            for m in config.student_widths:
                soft, hard = view_chosen.get((ds, m, "soft")), view_chosen.get((ds, m, "hard"))
                if soft is None or hard is None:
                    continue
                values = {}
                for label, regime in (("soft", soft), ("hard", hard)):
                    include = selection.at_chosen(view_chosen, GROUP_KEYS, SETTING_KEYS, group=(ds, m, label))
                    for r in report_rows:
                        if include(r) and not r.get("diverged"):
                            values[(label, r["teacher"], r["seed"])] = r["test_acc"]
                per_teacher = defaultdict(list)
                for (label, k, s), v in values.items():
                    if label == "soft" and ("hard", k, s) in values:
                        per_teacher[k].append(v - values[("hard", k, s)])
                means = [float(np.mean(d)) for _, d in sorted(per_teacher.items())]
                within = [float(np.std(d, ddof=1)) for d in per_teacher.values() if len(d) > 1]
                across = stats.paired_summary(means)
                out.append({"view": view, "dataset": ds, "width": m, "teacher_gaps": means,
                            "across_teachers_std": float(np.std(means, ddof=1)) if len(means) > 1 else math.nan,
                            "within_teacher_seed_std": float(np.mean(within)) if within else math.nan,
                            "over_teachers": across._asdict()})
    return out


def matched_view(rows, config, source_role: str) -> tuple[list, list]:
    """soft(T) − hard at the same (dataset, width, lr, B, steps), paired by seed, over the whole grid of the
    rows of ``source_role``; Holm over all its cells; with the share of hard and of soft runs whose ball
    binds. Returns (cells, the per-setting summary)."""
    use = [r for r in _with_binds(rows) if r["role"] == source_role and r["steps"] in config.steps]
    summary = stats.summarise(use, GROUP_KEYS + SETTING_KEYS, SUMMARY_METRICS)
    match = CELL_KEYS + ("lr", "B", "steps")
    cells = stats.paired_gaps(use, treatment=lambda r: r["label"] == "soft", baseline=lambda r: r["label"] == "hard",
                              match_keys=match, cell_keys=match + ("temperature",), metric="test_acc",
                              over="teachers × student seeds" if config.teachers > 1 else "student seeds")
    bind = {tuple(s[k] for k in match) + (s["label"], s["temperature"]): s["binds_mean"] for s in summary}
    for c in cells:
        key = tuple(c[k] for k in match)
        c["hard_binds"] = bind.get(key + ("hard", None))
        c["soft_binds"] = bind.get(key + ("soft", c["temperature"]))
    ordered = sorted(cells, key=lambda c: tuple(str(c[k]) for k in match + ("temperature",)))
    return stats.add_holm(ordered, config.alpha), summary


def headline_cell(datasets, widths) -> tuple:
    """(dataset, width) the verdict reads: *full* (else the first data set) at the smallest width."""
    return ("full" if "full" in datasets else datasets[0]), min(widths)


def settled(rows, chosen_row, settle_step: int) -> bool:
    """Whether the chosen setting's mean training loss (selection seeds) changed by < 1% over the last 10%
    of the steps: read at the settle checkpoint (90% of the largest) and at the largest."""
    def mean_loss(step):
        values = [r["final_train_loss"] for r in rows if r["role"] == "select" and r["steps"] == step
                  and not r.get("diverged") and all(r[k] == chosen_row[k] for k in GROUP_KEYS + ("lr", "B",
                                                                                              "temperature"))]
        return float(np.mean(values)) if values else math.nan
    return verdicts.loss_settled(mean_loss(settle_step), mean_loss(chosen_row["steps"]))


def label_softness(teacher_rows, dataset: str, T: float) -> float | None:
    """The worst teacher's label softness at T on ``dataset`` (kd_theory.teachers.label_softness); None when
    a teacher row lacks it (folders trained before 2026-12-07)."""
    values = [t.get("label_softness", {}).get(f"{T:g}") for t in teacher_rows if t["dataset"] == dataset]
    return None if not values or any(v is None for v in values) else max(values)


def converged(rows, chosen_rows, config, teacher_rows=()) -> verdicts.Precondition:
    """No chosen setting the verdict reads at a non-natural edge of its grid: B = ∞ is a natural limit; the
    largest step count is one when the training loss had settled; the lowest T is one when every teacher's
    labels there are already its hard labels (verdicts.lowest_temperature_reached); lr has none."""
    grid = {"lr": list(config.lr), "B": [math.inf if b is None else b for b in config.B],
            "temperature": list(config.temperature), "steps": list(config.steps)}
    settle_step = settle_checkpoint(config.steps)
    marked = [dict(r, B=math.inf if r["B"] is None else r["B"], _cell_keys=GROUP_KEYS,
                   settled=settled(rows, r, settle_step)) for r in chosen_rows]

    def lowest_t(T, row):
        return verdicts.lowest_temperature_reached(T, grid["temperature"],
                                                   label_softness(teacher_rows, row["dataset"], T))
    return verdicts.grid_edges(marked, grid, natural={
        "B": lambda v, r: v == math.inf and "no radius: the unconstrained student",
        "steps": lambda v, r: r["settled"] and verdicts.SETTLED, "temperature": lowest_t})


def settle_checkpoint(steps) -> int:
    """The checkpoint at 90% of the largest step count (to tell whether the loss had settled)."""
    return max(1, int(round(0.9 * max(steps))))


def _teacher_accuracy(teacher_rows, dataset) -> float:
    return float(np.mean([t["test_acc"] for t in teacher_rows if t["dataset"] == dataset]))


def teacher_leads(table, teacher_rows, datasets, width: int) -> dict:
    """{data set: the *teacher lead* precondition}: the teachers' mean test accuracy minus the best student
    of width ``width`` (hard or soft, each at its chosen setting). The teacher must know more than the
    students it teaches in the compared cell; a wider student that comes near it is not in the comparison."""
    best = {ds: max([t["test_acc_mean"] for t in table if t["dataset"] == ds and t["view"] == "own_best"
                     and t["width"] == width and math.isfinite(t["test_acc_mean"])], default=math.nan)
            for ds in datasets}
    return {ds: verdicts.teacher_lead(_teacher_accuracy(teacher_rows, ds), best[ds], LEAD_POINTS,
                                      name=f"teacher lead ({ds}, m = {width})") for ds in datasets}


def interaction_preconditions(lead: dict, converged_p, power_p, outcome: str) -> list:
    """The interaction's preconditions. The teacher must lead on *full*, where the claim puts the larger gap.
    On *reduced* it predicts the smaller gap, and a teacher that leads those students by little can only keep
    that gap small (or negative), pushing the difference *towards* the claim: its lead is needed before a
    positive verdict, not before "not reproduced" or "contradicted" (the paper's own teacher led its best
    *reduced* m = 4 student by 2.92 points, under a 3-point rule)."""
    positive = outcome in ("reproduced", "partly reproduced")
    return [lead["full"]] + ([lead["reduced"]] if positive else []) + [converged_p, power_p]


def judge(rows, chosen, table, gaps, interaction, teacher_rows, config) -> tuple[dict, dict]:
    """The section's verdict (the m-smallest gap on the hard data set) and the interaction's verdict."""
    dataset, width = headline_cell(list(config.datasets), list(config.student_widths))
    own = {(g["dataset"], g["width"]): g for g in gaps if g["view"] == "own_best"}
    head = own.get((dataset, width))
    lead = teacher_leads(table, teacher_rows, config.datasets, width)
    read = [s for (view, ds, m, label), s in chosen.items() if view == "own_best" and m == width]
    effect = paper_gap(dataset, width) / 100
    pre = [lead[dataset], converged(rows, [s for s in read if s["dataset"] == dataset], config, teacher_rows)]
    if head is not None:
        pre.append(verdicts.power(head["gap_low_adj"], head["gap_high_adj"], effect))
        outcome = verdicts.prediction_outcome(head["gap_mean"], head["gap_low_adj"], head["gap_high_adj"],
                                              head["significant"], effect, head["deterministic"])
        evidence = (f"soft − hard at m = {width} on {dataset}: {100 * head['gap_mean']:+.2f} points, Holm-level "
                    f"interval [{100 * head['gap_low_adj']:+.2f}, {100 * head['gap_high_adj']:+.2f}] over "
                    f"{head['n_seeds']} {head['over']} (paper: {100 * effect:+.2f}).")
    else:
        pre.append(verdicts.Precondition("power", "no paired runs", abs(effect), False, "a gap to test"))
        outcome, evidence = "inconclusive", f"no soft − hard pairs at m = {width} on {dataset}."
    rule = (f"reproduced when soft − hard at m = {width} on {dataset} (each label type at its validation-chosen "
            f"setting) is Holm-significant and positive and its corrected interval reaches the paper's "
            f"{100 * effect:+.2f} points; partly when significant and positive but smaller; contradicted when "
            "significantly negative; not reproduced otherwise")
    headline = verdicts.judge(CLAIM, pre, outcome, rule, evidence).to_json()

    i_effect = (paper_gap("full", width) - paper_gap("reduced", width)) / 100
    if interaction is None:
        i_verdict = None
    else:
        significant = math.isfinite(interaction["p_value"]) and interaction["p_value"] < config.alpha
        i_outcome = verdicts.prediction_outcome(interaction["mean"], interaction["low"], interaction["high"],
                                                significant, i_effect, interaction["deterministic"])
        i_pre = interaction_preconditions(lead, converged(rows, read, config, teacher_rows),
                                          verdicts.power(interaction["low"], interaction["high"], i_effect), i_outcome)
        i_evidence = (f"(soft − hard on full) − (soft − hard on reduced) at m = {width}: "
                      f"{100 * interaction['mean']:+.2f} points, 95% interval [{100 * interaction['low']:+.2f}, "
                      f"{100 * interaction['high']:+.2f}] over {interaction['n_seeds']} {interaction['over']} "
                      f"(paper: {100 * i_effect:+.2f}). The teachers lead the reduced m = {width} students by "
                      f"{lead['reduced'].value:+.2f} points (the paper's by {paper_lead('reduced', width):+.2f}; "
                      "required only for a positive verdict, which a short lead there could produce).")
        i_rule = ("reproduced when the difference of the gaps is positive with its 95% interval (one test) above 0 "
                  "and reaching the paper's size; partly when positive but smaller; contradicted when significantly "
                  "negative; not reproduced otherwise")
        i_verdict = verdicts.judge(INTERACTION_CLAIM, i_pre, i_outcome, i_rule, i_evidence).to_json()
    return headline, i_verdict


def analyse(rows, teacher_rows, config, source: str) -> dict:
    """Everything results.json holds besides bookkeeping."""
    chosen = choose(rows, tuple(config.steps))
    table, gaps = own_best_view(rows, chosen, config)
    matched_role = "select" if config.select_subset else "report"
    matched, matched_summary = matched_view(rows, config, matched_role)
    regimes = stats.regime_summary(matched, regime_keys=SETTING_KEYS, cell_keys=CELL_KEYS)
    dataset, width = headline_cell(list(config.datasets), list(config.student_widths))
    own_chosen = {k[1:]: v for k, v in chosen.items() if k[0] == "own_best"}
    interaction = None
    if {"full", "reduced"} <= set(config.datasets):
        interaction = selection.difference_of_gaps(
            _report_rows(rows), own_chosen, (("full", width, "soft"), ("full", width, "hard")),
            (("reduced", width, "soft"), ("reduced", width, "hard")), group_keys=GROUP_KEYS,
            setting_keys=SETTING_KEYS, over="teachers × student seeds" if config.teachers > 1 else "student seeds")
    headline, interaction_verdict = judge(rows, chosen, table, gaps, interaction, teacher_rows, config)
    diverged = [{k: r[k] for k in ("dataset", "width", "label", "temperature", "teacher", "seed", "lr", "B", "steps",
                                    "role", "diverged_step")} for r in rows if r.get("diverged")]
    matched_note = (f"test accuracy of the selection seeds, students trained on the {config.select_subset}-image "
                    "subset (this view chooses nothing)" if config.select_subset else
                    "test accuracy of the report seeds")
    return {
        **headline,
        "interaction": interaction, "interaction_verdict": interaction_verdict,
        "protocol": {
            "selection": "per (dataset, width, label): the setting (lr, B, steps; and T for soft) with the best mean "
                         "validation accuracy over the selection seeds of every teacher; a setting that diverged on a "
                         "selection seed is never chosen; ties → fewer steps, smaller lr, smaller B, lower T",
            "select_train_set": f"subset of {config.select_subset} training images" if config.select_subset
            else "the whole training split",
            "reported": "test accuracy of the report seeds at the chosen setting (mean ± std over the runs that did not "
                        "diverge; diverged runs are counted, never averaged)",
            "gap_test": f"paired t-test per cell (scipy), Holm over the cells of each view, α = "
                        f"{config.alpha}; each interval at the level Holm tested its cell at (it excludes 0 exactly when the cell is significant); a gap with zero "
                        "spread is deterministic (no test)",
            "matched_source": matched_note,
            "bind_rule": f"a run binds when max_j ‖W_j − W_j(0)‖·√m ≥ (1 − {BIND_TOLERANCE})·B at the end",
            "teachers": int(config.teachers),
            "seeds": "teacher k's students are seeds k·(S+R)…: S select then R report (kd_theory.rng 'student' stream)",
        },
        "headline_cell": {"dataset": dataset, "width": width},
        "teacher": teacher_rows,
        "chosen": [dict(s, view=k[0]) for k, s in sorted(chosen.items(), key=lambda kv: str(kv[0]))],
        "table": table,
        "gaps": gaps,
        "teacher_spread": teacher_spread(rows, chosen, config),
        "matched": matched,
        "regimes": regimes,
        "summary": matched_summary,
        "paper": {ds: {(k if isinstance(k, str) else f"m={k[0]} {k[1]}"): v for k, v in cells.items()}
                  for ds, cells in PAPER_TABLE1.items()},
        "source": source,
        "grid": {"widths": list(config.student_widths), "datasets": list(config.datasets),
                 "lr": list(config.lr), "B": [B_label(b) for b in config.B],
                 "temperature": list(config.temperature), "steps": list(config.steps),
                 "settle_checkpoint": settle_checkpoint(config.steps)},
        "diverged_runs": diverged,
        "n_diverged": len(diverged),
    }
