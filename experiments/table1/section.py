"""Table 1's part of the reproduction report, from its results.json (digits demo or the MNIST run).

Verdict: the paper's headline is that soft labels beat hard labels most at the smallest width on the
hard data set (m = 4 on *full*: +6.78 points). Ours reads the paired soft − hard gap of the report
seeds at each label type's own validation-chosen regime (view "own_best").
"""
from __future__ import annotations

import math

from experiments import sections
from experiments.table1 import render
from experiments.table1.protocol import PAPER_TABLE1

SOURCE = "Mandal et al. (2024), Table 1 (MNIST, test accuracy %)"


def headline_cell(results) -> tuple:
    """(dataset, width) the verdict reads: *full* (else the first data set) at the smallest width."""
    datasets = results["grid"]["datasets"]
    return ("full" if "full" in datasets else datasets[0]), min(results["grid"]["widths"])


def _gaps(results) -> dict:
    return {(g["dataset"], g["width"]): g for g in results["gaps"] if g["view"] == "own_best"}


def verdict(results) -> tuple[str, str]:
    """(verdict, criterion) from the own-best-regime gaps."""
    dataset, width = headline_cell(results)
    criterion = (f"reproduced when soft − hard at m = {width} on {dataset} is > 0 with its paired 95% interval "
                 "excluding 0, each label type at its validation-chosen regime; partly when that gap is > 0 but "
                 "its interval includes 0, or another (data set, width) has a gap whose interval lies above 0; "
                 "not reproduced otherwise")
    gaps = _gaps(results)
    head = gaps.get((dataset, width))
    if head is not None and head["gap_low"] > 0:
        return "reproduced", criterion
    positive_elsewhere = any(g["gap_low"] > 0 for g in gaps.values())
    if (head is not None and head["gap_mean"] > 0) or positive_elsewhere:
        return "partly reproduced", criterion
    return "not reproduced", criterion


def _points(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def paper_gap(dataset: str, width: int) -> float:
    """The paper's soft − hard in points (NaN where it has no such cell)."""
    paper = PAPER_TABLE1.get(dataset, {})
    return paper.get((width, "soft"), math.nan) - paper.get((width, "hard"), math.nan)


def paper_rows(results) -> tuple:
    """Per data set: the teacher, and per width hard, soft and soft − hard, the paper's beside ours."""
    ours = {(t["dataset"], t["width"], t["label"]): t for t in results["table"] if t["view"] == "own_best"}
    teacher = {t["dataset"]: t["test_acc"] for t in results["teacher"]}
    gaps, rows = _gaps(results), []
    on = "" if results["source"] == "MNIST" else f" (ours on {results['source']})"
    for ds in render._ordered_datasets(results):
        paper = PAPER_TABLE1.get(ds)
        if paper is None:
            continue
        rows.append(sections.PaperComparison(f"{ds}: teacher{on}", f"{paper['teacher']:.2f}",
                                             render._pct(teacher.get(ds)), SOURCE))
        for m in sorted(results["grid"]["widths"], reverse=True):
            if (m, "hard") not in paper:
                continue
            for label in ("hard", "soft"):
                t = ours.get((ds, m, label))
                rows.append(sections.PaperComparison(
                    f"{ds}, m = {m}, {label}{on}", f"{paper[(m, label)]:.2f}",
                    "n/a" if t is None else render._pct(t["test_acc_mean"], t["test_acc_std"]), SOURCE))
            rows.append(sections.PaperComparison(
                f"{ds}, m = {m}, soft − hard (points){on}", _points(paper_gap(ds, m)),
                render._gap(gaps.get((ds, m))), SOURCE))
    return tuple(rows)


def summary(results) -> str:
    dataset, width = headline_cell(results)
    gaps = _gaps(results)
    head = gaps.get((dataset, width))
    spread = [100 * g["gap_mean"] for g in gaps.values()]
    text = (f"Students of {', '.join(map(str, sorted(results['grid']['widths'])))} neurons on "
            f"{results['source']} \"digit > 4\", regimes chosen on validation accuracy, test accuracy of "
            f"{len(results['protocol']['report_seeds'])} fresh seeds. ")
    if head is not None:
        text += (f"At m = {width} on *{dataset}* soft − hard is {render._gap(head)} points "
                 f"(paper, MNIST: {_points(paper_gap(dataset, width))}). ")
    if spread:
        significant = sum(g["significant"] for g in gaps.values())
        text += (f"Over all {len(spread)} (data set, width) cells the gap is {min(spread):+.2f} … {max(spread):+.2f} "
                 f"points; {significant} significant after Holm.")
    return text


def section(results: dict, results_dir: str) -> sections.Section:
    verdict_, criterion = verdict(results)
    tables = sections.tables_in(render.headline_markdown(results)) + (render.chosen_markdown(results),)
    return sections.Section(
        experiment="table1", title=f"Table 1: soft vs hard students ({results['source']})",
        verdict=verdict_, criterion=criterion, summary=summary(results), tables=tables,
        figures=("table1.png", "regimes.png"), paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir))
