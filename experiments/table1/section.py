"""Table 1's part of the reproduction report, from its results.json (digits or MNIST).

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.table1.analysis.judge`); this module only lays them out beside the paper's numbers.
"""
from __future__ import annotations

import math

from experiments import sections
from experiments.table1 import render
from experiments.table1.analysis import PAPER_TABLE1, paper_gap

SOURCE = "Mandal et al. (2024), Table 1 (MNIST, test accuracy %)"


def _gaps(results) -> dict:
    return {(g["dataset"], g["width"]): g for g in results["gaps"] if g["view"] == "own_best"}


def _points(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.2f}"


def paper_rows(results) -> tuple:
    """Per data set: the teacher, and per width hard, soft and soft − hard, the paper's beside ours."""
    ours = {(t["dataset"], t["width"], t["label"]): t for t in results["table"] if t["view"] == "own_best"}
    teacher = render._teacher_accuracy(results)
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
                rows.append(sections.PaperComparison(f"{ds}, m = {m}, {label}{on}", f"{paper[(m, label)]:.2f}",
                                                     render._cell(ours.get((ds, m, label))), SOURCE))
            rows.append(sections.PaperComparison(
                f"{ds}, m = {m}, soft − hard (points){on}", _points(paper_gap(ds, m)),
                render._gap(gaps.get((ds, m))), SOURCE))
    return tuple(rows)


def summary(results) -> str:
    head = results["headline_cell"]
    text = (f"Students of {', '.join(map(str, sorted(results['grid']['widths'])))} neurons on {results['source']} "
            f"\"digit > 4\", {results['protocol']['teachers']} teacher(s); settings chosen on validation accuracy, "
            f"test accuracy of fresh seeds. {results['evidence']} ")
    gaps = _gaps(results)
    if gaps:
        spread = [100 * g["gap_mean"] for g in gaps.values() if math.isfinite(g["gap_mean"])]
        significant = sum(g["significant"] for g in gaps.values())
        text += (f"Over all {len(gaps)} (data set, width) cells the gap is {min(spread):+.2f} … {max(spread):+.2f} "
                 f"points; {significant} significant after Holm.")
    if results.get("interaction_verdict"):
        text += f" The interaction (gap on full − gap on reduced): {results['interaction_verdict']['verdict']}."
    return text


def section(results: dict, results_dir: str) -> sections.Section:
    tables = sections.tables_in(render.headline_markdown(results)) + (render.chosen_markdown(results),)
    return sections.Section(
        experiment="table1", title=f"Table 1: soft vs hard students ({results['source']})",
        summary=summary(results), tables=tables, figures=("table1.png", "regimes.png"), paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir), **sections.verdict_fields(results))
