"""The scaling experiment's part of the reproduction report, from its results.json.

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.scaling.analysis.judge`); this module lays out the bound tests, the fitted exponents
beside the bounds' and the theorems' nominal ones, and the soft/hard ratio map.
"""
from __future__ import annotations

from experiments import sections
from experiments.scaling import render

SOURCE = {"soft": "Mandal et al. (2024), Corollary 4", "hard": "Mandal et al. (2024), Proposition 5"}


def paper_rows(results) -> tuple:
    """Per label type and axis: the theorem's exponent (nominal, and the bound's own at our points) beside ours."""
    rows = []
    for label, d in results["bound_tests"].items():
        for axis, e in d["exponents"].items():
            rows.append(sections.PaperComparison(
                f"{label} labels: exponent of {render.AXES[axis]} in m* (an upper bound)",
                f"≤ {e['nominal_exponent']} (the bound at our points: {render._num(e['bound_exponent'])})",
                f"{render._num(e['value'])} [{render._num(e['low'])}, {render._num(e['high'])}] ({e['n_points']} points)",
                SOURCE[label]))
    return tuple(rows)


def summary(results) -> str:
    gammas = [v["gamma"] for v in results["datasets"].values()]
    text = (f"m* = {results['definition']['m_star']}, over {len(gammas)} data sets with measured margins γ_K = "
            f"{min(gammas):.3f} … {max(gammas):.3f} and ε ∈ {{{', '.join(f'{e:g}' for e in results['epsilons'])}}}, "
            "each label type trained at its theorem's own (η, B, T). ")
    text += " ".join(f"{label.capitalize()} labels: {v['verdict']}." for label, v in results["label_verdicts"].items())
    if results["n_not_run"]:
        text += f" {results['n_not_run']} points were not run (their theorem's T is beyond theorem.max_steps)."
    decided = [c for c in results["phase"] if c["regime"] == "theorem" and render._finite(c["ratio"])]
    if decided:
        soft = sum(c["ratio"] > 1 for c in decided)
        text += (f" At the theorems' settings soft labels needed fewer neurons in {soft} of {len(decided)} "
                 "(data set, ε) cells.")
    return text


def section(results: dict, results_dir: str) -> sections.Section:
    tables = (render.bound_markdown(results), render.exponents_markdown(results), render.phase_markdown(results))
    figures = ("bound.png", "exponents.png", "mstar.png", "phase.png")
    if results.get("accuracy"):
        tables += (render.accuracy_markdown(results["accuracy"]),)
        figures += ("accuracy.png",)
    return sections.Section(
        experiment="scaling", title="Neuron scaling: m*(γ, ε) against the theorems' bounds", summary=summary(results),
        tables=tables, figures=figures, paper=paper_rows(results), provenance=sections.provenance(results, results_dir),
        **sections.verdict_fields(results))
