"""The scaling experiment's part of the reproduction report, from its results.json.

The theory's exponents (Corollary 4 for soft labels: m ∝ 1/(γ² ε); Proposition 5 for hard labels:
m ∝ 1/γ⁴ · ln(1/ε)) beside the fitted slopes of log m* at the headline regime.
"""
from __future__ import annotations

import math

from experiments import sections
from experiments.scaling import render

SOURCE = {"soft": "Mandal et al. (2024), Corollary 4", "hard": "Mandal et al. (2024), Proposition 5"}
AXES = {"inv_gamma": "1/γ", "inv_eps": "1/ε"}
HEADLINE_LABELS = ("soft", "hard")


def theory_target(entry) -> float:
    """The exponent an interval is checked against: the theorem's, or for a logarithmic law the slope of the
    theorem's widths fitted at the same points (what "logarithmic" means over this range of ε)."""
    t = entry["theory_exponent"]
    return float(t) if isinstance(t, (int, float)) else float(entry["theory_fit"])


def _entries(results):
    """(label, axis, entry) of the headline slopes, soft and hard."""
    return [(label, axis, results["slopes"][label][axis]) for label in HEADLINE_LABELS if label in results["slopes"]
            for axis in AXES]


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def verdict(results) -> tuple[str, str]:
    criterion = (f"at the headline regime ({results['headline_regime']}): reproduced when the bootstrap interval "
                 "of every soft and hard exponent (in 1/γ and 1/ε) contains the theory's exponent (for the "
                 "logarithmic law: the bounds' slope at the same points); partly when some do, or when every "
                 "interval lies above 0 (m* grows with 1/γ and 1/ε as the theory says); not reproduced otherwise")
    entries = _entries(results)
    if not entries:
        return "not reproduced", criterion
    contains = [_finite(e["low"], e["high"]) and e["low"] <= theory_target(e) <= e["high"] for _, _, e in entries]
    grows = all(_finite(e["low"]) and e["low"] > 0 for _, _, e in entries)
    if all(contains):
        return "reproduced", criterion
    if any(contains) or grows:
        return "partly reproduced", criterion
    return "not reproduced", criterion


def _theory_text(entry) -> str:
    t = entry["theory_exponent"]
    if isinstance(t, (int, float)):
        return f"{t:g}"
    return f"{t} (bounds' slope here: {render._num(entry['theory_fit'])})"


def paper_rows(results) -> tuple:
    return tuple(sections.PaperComparison(
        f"{label} labels: exponent of {AXES[axis]} in m*", _theory_text(e),
        f"{render._num(e['value'])} [{render._num(e['low'])}, {render._num(e['high'])}] ({e['n_points']} points, "
        f"{e['n_censored']} censored)", SOURCE[label]) for label, axis, e in _entries(results))


def summary(results) -> str:
    n = len(results["datasets"])
    gammas = [v["gamma"] for v in results["datasets"].values()]
    text = (f"m* = {results['definition']['m_star']}, over {n} data sets with measured margins γ_K = "
            f"{min(gammas):.3f} … {max(gammas):.3f} and ε ∈ {{{', '.join(f'{e:g}' for e in results['epsilons'])}}}. ")
    parts = [f"{label} {AXES[axis]}: **{render._num(e['value'])}** (theory {_theory_text(e)})"
             for label, axis, e in _entries(results)]
    text += f"Fitted exponents at the {results['headline_regime']} regime: " + "; ".join(parts) + ". "
    decided = [c for c in results["phase"] if c["regime"] == results["headline_regime"]]
    if decided:
        soft = sum(c["winner"] == "soft" for c in decided)
        hard = sum(c["winner"] == "hard" for c in decided)
        text += f"Soft labels need fewer neurons in {soft} of {len(decided)} (data set, ε) cells, hard in {hard}."
    return text


def section(results: dict, results_dir: str) -> sections.Section:
    verdict_, criterion = verdict(results)
    tables = sections.tables_in(render.slopes_markdown(results)) + (render.phase_markdown(results),)
    figures = ("slopes.png", "phase.png", "mstar_gamma.png", "mstar_eps.png")
    if results.get("accuracy"):
        tables += (render.accuracy_markdown(results["accuracy"]),)
        figures += ("accuracy.png",)
    return sections.Section(
        experiment="scaling", title="Neuron scaling: m*(γ, ε) for soft and hard labels", verdict=verdict_,
        criterion=criterion, summary=summary(results), tables=tables, figures=figures, paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir))
