"""The deep experiment's part of the reproduction report (the paper's Figure 1), from its results.json.

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.deep_noise.analysis.judge`); this module only lays them out beside the paper's numbers.
"""
from __future__ import annotations

import math

from experiments import sections
from experiments.deep_noise import render
from experiments.deep_noise.analysis import MODELS, PAPER_FIGURE1, SOURCE


def paper_rows(results) -> tuple:
    ours = {(r["noise_var"], r["model"]): r for r in results["rows"]}
    gaps = {g["noise_var"]: g for g in results["gaps"]}
    on = f" (ours on {results['data']['source']})" if results["data"]["dataset"] != "cifar" else ""
    rows = []
    for v in results["grid"]["noise_vars"]:
        paper = {m: render.paper_value(results, m, v) for m in MODELS}
        if None in paper.values():
            continue
        for m in MODELS:
            rows.append(sections.PaperComparison(f"variance {v:g}: {render.LABELS[m]}{on}", f"{paper[m]:.1f}",
                                                 render.cell(ours.get((v, m))), SOURCE))
        rows.append(sections.PaperComparison(f"variance {v:g}: soft − hard (points){on}",
                                             f"{paper['soft'] - paper['hard']:+.1f}", render.gap_cell(gaps.get(v)),
                                             SOURCE))
    return tuple(rows)


def summary(results) -> str:
    m = results["models"]
    text = (f"{m['teacher']['name']} teacher and {m['student']['name']} students on {results['data']['source']} with "
            f"Gaussian input noise. {results['evidence']} ")
    w = results["widening_verdict"]
    text += f"The widening: {w['verdict']} ({w['evidence']}) "
    leads = [l["lead_points"] for l in results.get("teacher_lead", []) if math.isfinite(l["lead_points"])]
    if leads:
        paper = [t - max(h, s)
                 for t, h, s in zip(PAPER_FIGURE1["teacher"], PAPER_FIGURE1["hard"], PAPER_FIGURE1["soft"])]
        text += (f"The teacher leads the best student by {min(leads):+.1f} … {max(leads):+.1f} points across the noise "
                 f"levels (paper: {min(paper):+.1f} … {max(paper):+.1f}).")
    return text


def section(results: dict, results_dir: str) -> sections.Section:
    return sections.Section(
        experiment="deep_noise", title=f"Figure 1: deep networks and input noise ({results['data']['source']})",
        summary=summary(results), tables=sections.tables_in(render.table_markdown(results)),
        figures=("deep_noise.png", "deep_noise_gap.png"), paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir), **sections.verdict_fields(results))
