"""The crowd experiment's section of the report, from results.json and the files render wrote.

The verdict, its rule, the claim and the measured preconditions are results.json's own
(:func:`experiments.crowd.analysis.judge`, Kong et al.'s two claims on the simulated crowds); this module
lays them out beside the published figures of the real crowds (descriptive) and the bridge (ours).
"""
from __future__ import annotations

from experiments import sections
from experiments.crowd import render
from experiments.crowd.analysis import signed


def paper_rows(results) -> tuple:
    rows = []
    for c in results.get("real", {}).get("crowds", []):
        for p in c["published"]:
            ours = ", ".join(f"{v:.2f} ({render.RULE_NAMES.get(k, k)})" for k, v in p["ours"].items())
            label = f"{p['crowd']} {p['method']} accuracy (%)" + ("" if p["verified"] else " (recalled, unverified)")
            rows.append(sections.PaperComparison(label, f"{p['accuracy']:.2f}", ours, p["source"]))
    sim = results.get("simulated")
    if sim and sim["recovery"]:
        top_d, top_r = max(sim["grid"]["n_tasks"]), max(sim["grid"]["ratios"])
        for r in (r for r in sim["recovery"] if r["n_tasks"] == top_d and r["ratio"] == top_r):
            rows.append(sections.PaperComparison(
                f"type recovery, {r['variant']}, d = {top_d:,}, n/ln d = {top_r:g} (n = {r['n_workers']})",
                "perfect when n grows like log d (asymptotic, no number)",
                f"{render.pct(r['type_recovery_mean'])}% (min {render.pct(r['type_recovery_min'])}%, "
                f"{100 * r['perfect_share']:.0f}% of crowds perfect)", "Kong, Mandal, Katselis & Srikant, arXiv "
                                                                        "2302.07393"))
    return tuple(rows)


def summary(results) -> str:
    lines = [results["evidence"]]
    real = results.get("real")
    if real and real["partition_effect"]:
        lines.append("Real crowds (descriptive; types unknown), partition − pooled (points): " + "; ".join(
            f"{e['aggregator']}: " + ", ".join(f"{c} {signed(v)}" for c, v in e["difference"].items())
            for e in real["partition_effect"]) + ".")
    bridge = results.get("bridge")
    if bridge and bridge["table"]:
        gaps = ", ".join(f"{g['treatment']} − {g['baseline']} {render.gap_text(g)}" for g in bridge["gaps"])
        lines.append(f"Digits students on crowd labels [ours] (width {bridge['table'][0]['width']}; points, paired by "
                     f"seed): {gaps}.")
    return "\n\n".join(lines)


def section(results: dict, results_dir: str) -> sections.Section:
    tables, figures = [], []
    if "simulated" in results:
        tables += list(sections.tables_in(render.claim_tables(results["simulated"])))
        tables.append(render.recovery_table(results["simulated"]))
        figures.append("crowd_simulated.png")
    if results.get("real", {}).get("crowds"):
        tables += [render.tie_rule_table(results["real"]), render.real_accuracy_table(results["real"])]
        figures.append("crowd_real.png")
    if "bridge" in results:
        tables += list(sections.tables_in(render.bridge_markdown(results["bridge"])))
        figures.append("crowd_bridge.png")
    return sections.Section(
        experiment="crowd", title="Crowdsourcing with task types (Kong, Mandal et al.)", summary=summary(results),
        tables=tuple(tables), figures=tuple(figures), paper=paper_rows(results),
        provenance=sections.provenance(results, results_dir), **sections.verdict_fields(results))
