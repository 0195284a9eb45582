"""The biased-soft-label experiment's part of the report, from its results.json alone.

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.biased_soft.analysis.judge_headline`); the second claim's verdict (accuracy degrades as
Δ + γ → 1) is in the summary. This module only lays them out beside the paper's numbers.
"""
from __future__ import annotations

import math

from experiments import sections
from experiments.biased_soft import render

SOURCE = "Yuan et al., NeurIPS 2023 (papers.md §2, [summary])"


def _find(results, dataset, name):
    return next((s for s in results["label_sets"] if s["dataset"] == dataset and s["label_set"] == name), None)


def paper_rows(results) -> tuple:
    """The paper's numbers (CIFAR-10, WideResNet-28×2) beside ours on the largest task."""
    dataset = results["protocol"]["headline_task"]
    on = f" (ours: {results['source']}, {dataset}, two-layer students)"
    reference = _find(results, dataset, "true")
    rows = [sections.PaperComparison(f"true-label student{on}", "95.29% (CIFAR-10)",
                                     render.student_cell(reference) if reference else "n/a", SOURCE)]
    head = next((h for h in results["headline"] if h["dataset"] == dataset), None)
    s = _find(results, dataset, head["label_set"]) if head else None
    if s is not None:
        rows += [sections.PaperComparison("skillful-but-bad teacher's top-1 (headline set)", "< 30%",
                                          f"{100 * s['teacher_top1']:.1f}% ({s['label_set']})", SOURCE),
                 sections.PaperComparison(f"its student{on}", "≈ 90% (CIFAR-10)", render.student_cell(s), SOURCE),
                 sections.PaperComparison("its student − ρ × the true-label student (points; ρ = 90 / 95.29)",
                                          "0 by construction", render.ratio_text(s), SOURCE)]
    partial = [x for x in render.task_sets(results, dataset) if x["generator"] == "partial" and render.reported(x)]
    if partial:
        near = min(partial, key=lambda x: math.hypot(x["indicators"]["own"]["delta"] - 0.1,
                                                     x["indicators"]["own"]["gamma"] - 0.1))
        own = near["indicators"]["own"]
        rows.append(sections.PaperComparison(
            "partial-label student at (Δ, γ) = (0.1, 0.1)", "93.98% (CIFAR-10)",
            f"{render.student_cell(near)} at our nearest point (Δ̂, γ̂) = ({own['delta']:.2f}, {own['gamma']:.2f}), "
            f"{near['label_set']}", SOURCE))
    return tuple(rows)


def summary(results) -> str:
    dataset = results["protocol"]["headline_task"]
    degradation = results["degradation_verdict"]
    sizes = ", ".join(f"{n:,}" for n in results["grid"]["train_sizes"])
    return (f"Two-layer students of {results['grid']['student_width']} neurons on {results['source']} (ten classes, "
            f"n = {sizes} training images) learn from {len(render.task_sets(results, dataset))} soft-label sets each; "
            f"(lr, steps) chosen per set on validation, test accuracy of fresh seeds reported. {results['evidence']} "
            f"Accuracy degrades as Δ + γ → 1: **{degradation['verdict']}** — {degradation['evidence']}")


def section(results: dict, results_dir: str) -> sections.Section:
    dataset = results["protocol"]["headline_task"]
    tables = sections.tables_in(render.headline_markdown(results)) + (render.correlation_markdown(results),)
    if len(results["tasks"]) > 1:
        tables += (render.learning_curve_markdown(results).split("\n\nHeadline")[0],)
    figures = ("biased_soft.png", "delta_gamma.png") + (("learning_curve.png",) if len(results["tasks"]) > 1 else ())
    return sections.Section(
        experiment="biased_soft", title=f"Learning from biased soft labels ({results['source']}, {dataset})",
        summary=summary(results), tables=tables, figures=figures, paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir), **sections.verdict_fields(results))
