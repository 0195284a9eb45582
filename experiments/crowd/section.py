"""The crowd experiment's section of the report, from results.json and the files render wrote.

Claims checked (each only when the parts and grid it needs ran):

1. *published figures* — on every real crowd with verified published majority-vote / Dawid-Skene
   accuracies, ours are within ``PUBLISHED_TOLERANCE`` points of each;
2. *type recovery* (Kong et al.: types are perfectly recoverable when n_workers grows like log n_tasks)
   — at the largest ratio n / ln d of the grid, provided it is ≥ ``LARGE_RATIO``, mean type recovery
   ≥ ``RECOVERY_THRESHOLD`` in every variant;
3. *partitioning helps* (Kong et al.: higher accuracy than Dawid-Skene run on all tasks when skills
   depend on the type) — at every grid point with n / ln d ≥ ``LARGE_RATIO``, in every variant,
   partition − plain for DS has a 95% interval whose lower end is above −``NO_HARM_POINTS`` points, and
   at one of them at least the lower end is above 0.

Verdict: every checked claim holds → reproduced; some → partly reproduced; none → not reproduced; no
claim checkable → no published claim. The bridge (students on crowd labels) is our own question: it is
reported, never part of the verdict.
"""
from __future__ import annotations

import math

from experiments.crowd.render import (bridge_markdown, gap_text, pct, real_markdown, simulated_markdown)
from experiments.sections import PaperComparison, Section

PUBLISHED_TOLERANCE = 1.0   # points
RECOVERY_THRESHOLD = 0.99
LARGE_RATIO = 4.0
NO_HARM_POINTS = 0.5


def published_claim(results) -> tuple[bool | None, str]:
    figures = [p for p in results.get("real", {}).get("published", []) if p["verified"]]
    if not figures:
        return None, "no crowd with verified published figures ran"
    bad = [p for p in figures if not abs(p["difference"]) <= PUBLISHED_TOLERANCE]
    text = (f"{len(figures) - len(bad)} of {len(figures)} verified published MV/DS figures within "
            f"{PUBLISHED_TOLERANCE:g} point")
    if bad:
        text += " (off: " + ", ".join(f"{p['crowd']} {p['method']} {p['difference']:+.2f}" for p in bad) + ")"
    return not bad, text


def largest_ratio(sim) -> float | None:
    ratios = sim["grid"]["ratios"]
    return max(ratios) if ratios and max(ratios) >= LARGE_RATIO else None


def recovery_claim(results) -> tuple[bool | None, str]:
    sim = results.get("simulated")
    if sim is None or largest_ratio(sim) is None:
        return None, f"no simulated grid point with n/ln d ≥ {LARGE_RATIO:g}"
    top = largest_ratio(sim)
    recs = [r for r in sim["recovery"] if r["ratio"] == top]
    ok = all(r["type_recovery_mean"] >= RECOVERY_THRESHOLD for r in recs)
    return ok, "type recovery at n/ln d = {:g}: ".format(top) + ", ".join(
        f"{r['variant']} {pct(r['type_recovery_mean'])}%" for r in recs)


def partition_claim(results) -> tuple[bool | None, str]:
    sim = results.get("simulated")
    if sim is None or largest_ratio(sim) is None or "DS" not in sim["grid"]["aggregators"]:
        return None, f"no simulated DS at n/ln d ≥ {LARGE_RATIO:g}"
    gaps = [g for g in sim["gaps"] if g["mode"] == "partition" and g["aggregator"] == "DS"
            and g["ratio"] >= LARGE_RATIO]
    low = [g["gap_low"] if math.isfinite(g["gap_low"]) else g["gap_mean"] for g in gaps]
    ok = bool(gaps) and all(v > -NO_HARM_POINTS / 100 for v in low) and any(v > 0 for v in low)
    return ok, f"DS partition − plain at n/ln d ≥ {LARGE_RATIO:g} (points): " + ", ".join(
        f"{g['variant']} {g['ratio']:g}: {gap_text(g, 2)}" for g in gaps)


def verdict(results) -> tuple[str, list[str]]:
    checks = [published_claim(results), recovery_claim(results), partition_claim(results)]
    tested = [ok for ok, _ in checks if ok is not None]
    notes = [f"{'holds' if ok else 'fails' if ok is not None else 'not checked'}: {text}" for ok, text in checks]
    if not tested:
        return "no published claim", notes
    if all(tested):
        return "reproduced", notes
    return ("partly reproduced" if any(tested) else "not reproduced"), notes


def paper_rows(results) -> tuple:
    rows = [PaperComparison(f"{p['crowd']} {p['method']} accuracy (%)", f"{p['accuracy']:.2f}",
                            f"{p['ours_value']:.2f} ({p['ours']})", p["source"])
            for p in results.get("real", {}).get("published", [])]
    sim = results.get("simulated")
    if sim is not None and sim["recovery"]:
        top = max(sim["grid"]["ratios"])
        for r in (r for r in sim["recovery"] if r["ratio"] == top):
            rows.append(PaperComparison(f"type recovery, {r['variant']}, n/ln d = {top:g} (n = {r['n_workers']})",
                                        "perfect when n grows like log d (asymptotic claim, no number)",
                                        f"{pct(r['type_recovery_mean'])}% (min {pct(r['type_recovery_min'])}%)",
                                        "Kong, Mandal, Katselis & Srikant, arXiv 2302.07393 (v1/v2)"))
    return tuple(rows)


def summary_text(results, notes) -> str:
    lines = [" ".join(notes) + "."]
    real = results.get("real")
    if real and real["partition_effect"]:
        helps = {e["aggregator"]: (e["helps"], e["same"], e["hurts"]) for e in real["partition_effect"]}
        lines.append("Real crowds, partition − plain (crowds where it helps / makes no difference / hurts, ±0.5 "
                     "point): " + ", ".join(f"{a} {h}/{s}/{x}" for a, (h, s, x) in helps.items()) + ".")
    bridge = results.get("bridge")
    if bridge:
        gaps = ", ".join(f"{g['treatment']} − {g['baseline']} {gap_text(g, 2)}" for g in bridge["gaps"])
        lines.append(f"Digits students on crowd labels (width {bridge['table'][0]['width']}; points, paired by "
                     f"seed): {gaps}.")
    return "\n\n".join(lines)


def section(results: dict, results_dir: str) -> Section:
    verdict_name, notes = verdict(results)
    tables, figures = [], []
    if "simulated" in results:
        tables.append(simulated_markdown(results["simulated"]))
        figures.append("crowd_simulated.png")
    if results.get("real", {}).get("crowds"):
        tables.append(real_markdown(results["real"]))
        figures.append("crowd_real.png")
    if "bridge" in results:
        tables.append(bridge_markdown(results["bridge"]))
        figures.append("crowd_bridge.png")
    criterion = (f"published MV/DS accuracies matched within {PUBLISHED_TOLERANCE:g} point on every crowd that has "
                 f"verified ones; type recovery ≥ {100 * RECOVERY_THRESHOLD:g}% at the largest n/ln d ≥ "
                 f"{LARGE_RATIO:g} in every variant; at every n/ln d ≥ {LARGE_RATIO:g}, DS after the partition not worse "
                 f"than plain DS by more than {NO_HARM_POINTS:g} point (95% interval) and better (interval above 0) "
                 "at one grid point at least")
    return Section(experiment="crowd", title="Crowdsourced soft labels with task types (Kong, Mandal et al.)",
                   verdict=verdict_name, criterion=criterion, summary=summary_text(results, notes),
                   tables=tuple(tables), figures=tuple(figures), paper=paper_rows(results),
                   provenance={"config": results.get("config", {}), "environment": results.get("environment", {}),
                               "timings": results.get("timings", {})})
