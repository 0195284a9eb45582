"""The margin experiment's part of the reproduction report, from its results.json.

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.margin.analysis.judge_rate`): Ji & Telgarsky's γ = Θ(1/d) for noisy 2-XOR, read from the
exponent of γ over large d. The recalled constant γ ≥ 1/(50d) has its own verdict beside it. The digits'
margins have no published value; they are reported for the other experiments' sense of difficulty.
"""
from __future__ import annotations

from experiments import sections
from experiments.margin import render
from experiments.margin.analysis import RECALLED_CONSTANT, SOURCE


def paper_rows(results) -> tuple:
    fit = results["fits"]["gamma"]
    lowest = min(results["gamma"], key=lambda r: r["gamma_d"])
    return (sections.PaperComparison(f"noisy 2-XOR: exponent of γ against d (d = {fit['d_min']:g} … {fit['d_max']:g})",
                                     "−1 (γ = Θ(1/d))", render._fit(fit), SOURCE),
            sections.PaperComparison("noisy 2-XOR: smallest γ·d", f"≥ {RECALLED_CONSTANT:g} (recalled)",
                                     f"{lowest['gamma_d']:.4f} ± {lowest['gamma_d_se']:.1g} (d = {lowest['d']})",
                                     SOURCE))


def summary(results) -> str:
    gamma = sorted(results["gamma"], key=lambda r: r["d"])
    parts = [f"Noisy 2-XOR over its whole support: γ·d falls from {gamma[0]['gamma_d']:.3f} (d = {gamma[0]['d']}) to "
             f"{gamma[-1]['gamma_d']:.4f} (d = {gamma[-1]['d']}), towards 1/4; γ₂·d towards 1/(2√π). "
             f"{results['evidence']} The bound γ ≥ 1/(50d): {results['bound_verdict']['verdict']}."]
    ratio = results["summary"].get("digits_gamma_K_ratio_reduced_over_full")
    if ratio is not None:
        parts.append(f"Digits: γ_K(reduced) / γ_K(full) = **{ratio:.2f}** (the easier Table-1 set has the "
                     f"{'larger' if ratio > 1 else 'smaller'} margin).")
    if results["certified"]:
        parts.append("A certified interval is for γ_K of one draw of K gates; other draws move it by more than its "
                     "width (see the table).")
    return " ".join(parts)


def section(results: dict, results_dir: str) -> sections.Section:
    md = "\n\n".join([render.dimension_markdown(results), render.fit_markdown(results), render.check_markdown(results)]
                     + ([render.certified_markdown(results)] if results["certified"] else []))
    return sections.Section(
        experiment="margin", title="The NTK margin γ of the limiting kernel", summary=summary(results),
        tables=sections.tables_in(md), figures=("margin.png",), paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir), **sections.verdict_fields(results))
