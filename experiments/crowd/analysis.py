"""The crowd experiment's analysis: summaries of the simulated grid, Kong et al.'s two claims and the verdict.

Kong, Mandal, Katselis & Srikant (papers.md §3) claim (a) that the spectral partition followed by
Dawid-Skene on each type gives **higher label accuracy than Dawid-Skene when difficulty varies by type**,
and (b) that **the types are perfectly recoverable when the number of workers grows like log(number of
tasks)**. Both are tested on the simulated two-type crowds, as stated, at the grid's largest ratio
ρ_max = n / ln d (the regime (b) speaks of) — the real crowds' types are unknown, so they are described
beside the published figures but are not evidence here.

(a) *partition helps where the types differ, and only there.* At (d_max, ρ_max), in each variant whose
types differ in difficulty (easy_hard, distinct_skills): the gain partition+DS − pooled DS, paired by
crowd, Holm over those variants; and its excess over the control's gain (same_skills, where a worker is
equally good on both types) at the same (d, ρ), paired by seed index (independent crowds, so the paired
t-test on equal-size samples is valid), Holm over the same variants. Per variant: *reproduced* when
the gain is significantly positive and exceeds the control's significantly; *partly* when the gain is
significantly positive only; *contradicted* when the gain is significantly negative; else *not
reproduced*. Power: the gain's Holm-level interval must be narrower than the oracle's mean gain there
(DS on the true types: what a perfect partition would add), so a null result could have seen it.

(b) *recovery tends to 1 when n grows like ln d.* With n = ρ ln d held at ρ_max, the recovery error
(1 − type recovery) at the smallest d minus that at the largest d, paired by seed index, Holm over the
typed variants, must be positive (the error falls as d grows); and at d_max the error at the smallest ρ
minus that at ρ_max must be positive (more workers per ln d recover more). Per variant: *reproduced*
when both are significantly positive; *contradicted* when the error grows with d significantly;
*partly* when only one is positive; else *not reproduced*. Power: the d-trend's Holm-level interval
narrower than the error at the smallest d (so the test could see the error vanish).

Preconditions: the crowd sizes span at least two decades of d (d_max / d_min ≥ 100), at least two
ratios, the control variant and a typed variant ran, and the two power conditions. The overall verdict
combines the parts: contradicted if either is, reproduced if both are, partly reproduced if either is
at least partly, else not reproduced; inconclusive when any precondition is unmet.
"""
from __future__ import annotations

import math

import numpy as np

from kd_theory import stats
from kd_theory.protocol import verdicts

TYPED = ("easy_hard", "distinct_skills")   # variants whose types differ in difficulty
CONTROL = "same_skills"                    # one accuracy per worker on both types
METHOD = "DS"
GRID_KEYS = ("variant", "n_tasks", "ratio")
DECADES = 2.0                              # the claim is about d → ∞: sizes must span this many decades
SOURCE = "Kong, Mandal, Katselis & Srikant, arXiv 2302.07393 (papers.md §3)"

CLAIM = verdicts.Claim(
    quote="Claims: higher label accuracy than any Dawid-Skene algorithm when difficulty varies; types are "
          "perfectly recoverable when the number of workers grows like log(number of tasks).",
    source=SOURCE, type="prediction", paraphrased=True)
PARTITION_CLAIM = verdicts.Claim(
    quote="The spectral partition, then Dawid-Skene on each type, gives higher label accuracy than Dawid-Skene "
          "when difficulty varies by type.", source=SOURCE, type="prediction", paraphrased=True)
RECOVERY_CLAIM = verdicts.Claim(
    quote="Types are perfectly recoverable when the number of workers grows like log(number of tasks).",
    source=SOURCE, type="prediction", paraphrased=True)


# ------------------------------------------------------------------------------------------ summaries

def recovery_summary(rows) -> list[dict]:
    """Per (variant, d, ρ): type recovery and its error over the crowds (mean ± std, min, share perfect)."""
    types = [r for r in rows if r.get("mode") == "types"]
    out = []
    for s in stats.summarise(types, GRID_KEYS + ("n_workers",), ("type_recovery", "recovery_error")):
        values = [r["type_recovery"] for r in types if all(r[k] == s[k] for k in GRID_KEYS)]
        out.append(dict(s, type_recovery_min=float(min(values)), perfect_share=float(np.mean(np.equal(values, 1.0)))))
    return sorted(out, key=lambda s: tuple(s[k] for k in GRID_KEYS))


def accuracy_summary(rows) -> list[dict]:
    """Per (variant, d, ρ, aggregator, mode): accuracy over the crowds (mean ± std)."""
    scored = [r for r in rows if r.get("mode") in ("plain", "partition", "oracle")]
    out = stats.summarise(scored, GRID_KEYS + ("n_workers", "aggregator", "mode"), ("accuracy",))
    return sorted(out, key=lambda s: tuple(s[k] for k in GRID_KEYS + ("aggregator", "mode")))


def grid_gaps(rows, alpha: float) -> list[dict]:
    """partition − plain and oracle − plain per (variant, d, ρ, aggregator), paired by crowd; Holm over all
    the cells of each mode (the tables' families; the verdict tests its own cells)."""
    scored = [r for r in rows if r.get("mode") in ("plain", "partition", "oracle")]
    gaps = []
    for mode in ("partition", "oracle"):
        cells = stats.paired_gaps(scored, treatment=lambda r, m=mode: r["mode"] == m,
                                  baseline=lambda r: r["mode"] == "plain",
                                  match_keys=GRID_KEYS + ("aggregator",),
                                  cell_keys=GRID_KEYS + ("n_workers", "aggregator"), metric="accuracy",
                                  over="crowds")
        gaps += [dict(c, mode=mode) for c in stats.add_holm(cells, alpha)]
    return sorted(gaps, key=lambda g: (g["mode"],) + tuple(g[k] for k in GRID_KEYS + ("aggregator",)))


def errors(rows) -> list[str]:
    return sorted({f"{r['aggregator']} {r['mode']} at d={r['n_tasks']}, n={r['n_workers']}: {r['error']}"
                   for r in rows if r.get("error")})


# ------------------------------------------------------------------------------------------ the tests

def _by_seed(rows, metric: str, **where) -> dict:
    return {r["seed"]: r[metric] for r in rows if all(r.get(k) == v for k, v in where.items())
            and r.get(metric) is not None and math.isfinite(r[metric])}


def _difference(first: dict, second: dict, **coords) -> dict:
    """first − second over the seeds both have (a paired summary as a gap cell)."""
    seeds = sorted(set(first) & set(second))
    s = stats.paired_summary([first[k] - second[k] for k in seeds])
    return {**coords, "gap_mean": s.mean, "gap_se": s.se, "gap_low": s.low, "gap_high": s.high,
            "p_value": s.p_value, "n_seeds": s.n, "deterministic": s.deterministic}


def direction(cell) -> int:
    """+1 / −1 when the cell's difference is Holm-significantly positive / negative (or deterministic with
    that sign), 0 otherwise."""
    if cell is None:
        return 0
    outcome = verdicts.prediction_outcome(cell["gap_mean"], cell.get("gap_low_adj", math.nan),
                                          cell.get("gap_high_adj", math.nan), cell.get("significant", False),
                                          None, cell.get("deterministic", False))
    return {"reproduced": 1, "contradicted": -1}.get(outcome, 0)


def combine(outcomes) -> str:
    """Parts' outcomes → one: contradicted if any is, reproduced if all are, partly if any is at least
    partly, else not reproduced."""
    outcomes = list(outcomes)
    if not outcomes:
        return "not reproduced"
    if "contradicted" in outcomes:
        return "contradicted"
    if all(o == "reproduced" for o in outcomes):
        return "reproduced"
    if any(o in ("reproduced", "partly reproduced") for o in outcomes):
        return "partly reproduced"
    return "not reproduced"


def signed(value, digits: int = 2) -> str:
    """+x.xx / −x.xx; "n/a" when not finite; a rounded zero is "+0.00", never "-0.00"."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def _points(cell) -> str:
    if cell is None or not math.isfinite(cell["gap_mean"]):
        return "n/a"
    if cell.get("deterministic"):
        return f"{signed(100 * cell['gap_mean'])} (deterministic)"
    return (f"{signed(100 * cell['gap_mean'])} [{signed(100 * cell['gap_low_adj'])}, "
            f"{signed(100 * cell['gap_high_adj'])}]{'*' if cell['significant'] else ''}")


def _grid(rows) -> dict:
    types = [r for r in rows if r.get("mode") == "types"]
    return {"variants": sorted({r["variant"] for r in types}), "n_tasks": sorted({r["n_tasks"] for r in types}),
            "ratios": sorted({r["ratio"] for r in types})}


def partition_test(rows, alpha: float) -> dict:
    """Claim (a) at (d_max, ρ_max): gains, their excess over the control's, the oracle's gains, per variant."""
    g = _grid(rows)
    if not g["n_tasks"]:
        return {"cells": [], "specific": [], "oracle": {}, "outcomes": {}, "at": None}
    d, rho = g["n_tasks"][-1], g["ratios"][-1]
    at = {"n_tasks": d, "ratio": rho, "aggregator": METHOD}
    typed = [v for v in TYPED if v in g["variants"]]

    def gain(variant, mode="partition"):
        treated = _by_seed(rows, "accuracy", variant=variant, mode=mode, **at)
        plain = _by_seed(rows, "accuracy", variant=variant, mode="plain", **at)
        return {s: treated[s] - plain[s] for s in set(treated) & set(plain)}

    control = gain(CONTROL) if CONTROL in g["variants"] else {}
    cells = stats.add_holm([_difference(gain(v), {s: 0.0 for s in gain(v)}, variant=v) for v in typed], alpha)
    specific = stats.add_holm([_difference(gain(v), control, variant=v) for v in typed if control], alpha)
    oracle = {v: stats.mean_std(gain(v, "oracle").values())[0] for v in typed}
    outcomes = {}
    for cell in cells:
        v = cell["variant"]
        spec = next((s for s in specific if s["variant"] == v), None)
        sign, excess = direction(cell), direction(spec)
        outcomes[v] = ("contradicted" if sign < 0 else "reproduced" if sign > 0 and excess > 0
                       else "partly reproduced" if sign > 0 else "not reproduced")
    control_cell = _difference(control, {s: 0.0 for s in control}, variant=CONTROL) if control else None
    return {"at": {"n_tasks": d, "ratio": rho}, "cells": cells, "specific": specific, "oracle": oracle,
            "control": control_cell, "outcomes": outcomes}


def recovery_test(rows, alpha: float) -> dict:
    """Claim (b): the recovery error's fall from d_min to d_max at ρ_max, and from ρ_min to ρ_max at d_max."""
    g = _grid(rows)
    typed = [v for v in TYPED if v in g["variants"]]
    if not g["n_tasks"]:
        return {"d_trend": [], "rho_trend": [], "outcomes": {}, "error_at_smallest_d": {}}
    d_min, d_max, r_min, r_max = g["n_tasks"][0], g["n_tasks"][-1], g["ratios"][0], g["ratios"][-1]

    def error(variant, d, rho):
        return _by_seed(rows, "recovery_error", variant=variant, n_tasks=d, ratio=rho, mode="types")

    d_trend = stats.add_holm([_difference(error(v, d_min, r_max), error(v, d_max, r_max), variant=v,
                                          ratio=r_max, smaller_d=d_min, larger_d=d_max) for v in typed], alpha)
    rho_trend = stats.add_holm([_difference(error(v, d_max, r_min), error(v, d_max, r_max), variant=v,
                                            n_tasks=d_max, smaller_ratio=r_min, larger_ratio=r_max)
                                for v in typed], alpha)
    outcomes = {}
    for v in typed:
        d_sign = direction(next(c for c in d_trend if c["variant"] == v))
        rho_sign = direction(next(c for c in rho_trend if c["variant"] == v))
        outcomes[v] = ("contradicted" if d_sign < 0 else "reproduced" if d_sign > 0 and rho_sign > 0
                       else "partly reproduced" if d_sign > 0 or rho_sign > 0 else "not reproduced")
    at_smallest = {v: stats.mean_std(error(v, d_min, r_max).values())[0] for v in typed}
    return {"d_trend": d_trend, "rho_trend": rho_trend, "outcomes": outcomes, "error_at_smallest_d": at_smallest,
            "at": {"ratio": r_max, "smaller_d": d_min, "larger_d": d_max, "smaller_ratio": r_min}}


# ------------------------------------------------------------------------------------------ verdict

def _width(cell) -> float:
    if cell is None:
        return math.inf
    if cell.get("deterministic"):
        return 0.0
    low, high = cell.get("gap_low_adj", math.nan), cell.get("gap_high_adj", math.nan)
    return high - low if math.isfinite(low) and math.isfinite(high) else math.inf


def _power(name: str, cell, effect: float, what: str) -> verdicts.Precondition:
    width = _width(cell)
    met = bool(math.isfinite(effect) and effect > 0 and width < effect)
    now = f"{100 * width:.2f}" if math.isfinite(width) else "no interval"
    return verdicts.Precondition(name, round(100 * width, 4) if math.isfinite(width) else "no interval",
                                 round(100 * effect, 4) if math.isfinite(effect) else "n/a", met,
                                 f"width of the Holm-level interval (points) < {what} (points), which must be > 0",
                                 f"more crowds per grid point, for an interval ({name}: now {now} points) narrower "
                                 f"than {what} (the paper preset: 20 seeds)")


def preconditions(rows, part_a: dict, part_b: dict) -> list[verdicts.Precondition]:
    g = _grid(rows)
    pre = []
    if g["n_tasks"]:
        span = math.log10(g["n_tasks"][-1] / g["n_tasks"][0])
        pre.append(verdicts.at_least("sizes span two decades", round(span, 3), DECADES,
                                     "log10(largest d / smallest d): the claim is about d → ∞",
                                     f"crowd sizes d spanning {DECADES:g} decades (now {span:.2f}; the paper preset: "
                                     "d from 500 to 50,000)"))
    else:
        pre.append(NOT_SIMULATED)
        return pre
    pre.append(verdicts.at_least("ratios", len(g["ratios"]), 2, "number of ratios n / ln d in the grid",
                                 f"≥ 2 ratios n / ln d (now {len(g['ratios'])})"))
    typed = [v for v in TYPED if v in g["variants"]]
    pre.append(verdicts.Precondition("typed variant ran", typed or "none", list(TYPED), bool(typed),
                                     "a variant whose types differ in difficulty was simulated",
                                     f"a variant whose types differ in difficulty ({', '.join(TYPED)})"))
    pre.append(verdicts.Precondition("control ran", CONTROL in g["variants"], True, CONTROL in g["variants"],
                                     f"the control {CONTROL} (types do not matter) was simulated",
                                     f"the control {CONTROL} simulated beside the typed variants"))
    for cell in part_a["cells"]:
        v = cell["variant"]
        pre.append(_power(f"power (a, {v})", cell, part_a["oracle"].get(v, math.nan),
                          "the oracle's mean gain (DS on the true types − pooled DS)"))
    for cell in part_b["d_trend"]:
        v = cell["variant"]
        pre.append(_power(f"power (b, {v})", cell, part_b["error_at_smallest_d"].get(v, math.nan),
                          "the mean recovery error at the smallest d"))
    return pre


def evidence_a(part_a: dict) -> str:
    if part_a["at"] is None:
        return "No simulated crowds ran."
    a = part_a["at"]
    cells = "; ".join(
        f"{c['variant']} {_points(c)} (oracle {signed(100 * part_a['oracle'][c['variant']])}; excess over the control "
        f"{_points(next((s for s in part_a['specific'] if s['variant'] == c['variant']), None))})"
        for c in part_a["cells"])
    control = f"; control {CONTROL} {signed(100 * part_a['control']['gap_mean'])}" if part_a["control"] else ""
    outcomes = ", ".join(f"{v} {o}" for v, o in part_a["outcomes"].items()) or "no variant whose types differ"
    return (f"(a) At d = {a['n_tasks']:,}, n/ln d = {a['ratio']:g}, partition+DS − pooled DS (points, Holm-level "
            f"interval over crowds): {cells or 'none'}{control}. Per variant: {outcomes}.")


def evidence_b(part_b: dict) -> str:
    b = part_b.get("at")
    if not b:
        return "No simulated crowds ran."
    outcomes = ", ".join(f"{v} {o}" for v, o in part_b["outcomes"].items()) or "no variant whose types differ"
    return (f"(b) Recovery error at n/ln d = {b['ratio']:g}, d = {b['smaller_d']:,} minus d = {b['larger_d']:,} "
            f"(points): " + "; ".join(f"{c['variant']} {_points(c)}" for c in part_b["d_trend"])
            + f"; at d = {b['larger_d']:,}, n/ln d = {b['smaller_ratio']:g} minus {b['ratio']:g}: "
            + "; ".join(f"{c['variant']} {_points(c)}" for c in part_b["rho_trend"]) + f". Per variant: {outcomes}.")


RULE_A = ("(a) at the largest crowd size and ratio n/ln d, in each variant whose types differ in difficulty: "
          "partition+DS − pooled DS (paired by crowd, Holm over the variants) significantly positive, and "
          "significantly above the same gain in the same-skills control (paired by seed index, Holm). A variant "
          "reproduces (a) when both are positive, partly when only the gain is, contradicts it when the gain is "
          "significantly negative")
RULE_B = ("(b) the type-recovery error falling significantly from the smallest to the largest d at the largest n/ln d, "
          "and from the smallest to the largest n/ln d at the largest d (paired by seed index, Holm over the "
          "variants whose types differ). A variant reproduces (b) when both fall, partly when one does, contradicts "
          "it when the error grows significantly with d")
RULE = (f"{RULE_A}; {RULE_B}. Over the variants and the parts: contradicted if any is, reproduced if all are, partly "
        "reproduced if any is at least partly, else not reproduced")
NOT_SIMULATED = verdicts.Precondition("simulated crowds ran", "no", "yes", False, "the simulated part ran",
                                      "the simulated part run (--config.parts)")


def judge(rows, alpha: float) -> tuple[dict, dict, dict, dict, dict]:
    """(the verdict of both claims, that of (a), that of (b)) as results.json dicts, and the two tests."""
    part_a, part_b = partition_test(rows, alpha), recovery_test(rows, alpha)
    pre = preconditions(rows, part_a, part_b)
    shared = [p for p in pre if not p.name.startswith("power")]
    pre_a = shared + [p for p in pre if p.name.startswith("power (a")]
    pre_b = [p for p in shared if p.name != "control ran"] + [p for p in pre if p.name.startswith("power (b")]
    text_a, text_b = evidence_a(part_a), evidence_b(part_b)
    outcome_a, outcome_b = combine(part_a["outcomes"].values()), combine(part_b["outcomes"].values())
    overall = verdicts.judge(CLAIM, pre, combine([outcome_a, outcome_b]), RULE, f"{text_a} {text_b}").to_json()
    verdict_a = verdicts.judge(PARTITION_CLAIM, pre_a, outcome_a, RULE_A, text_a).to_json()
    verdict_b = verdicts.judge(RECOVERY_CLAIM, pre_b, outcome_b, RULE_B, text_b).to_json()
    return overall, verdict_a, verdict_b, part_a, part_b


def analyse_simulated(rows, info: dict, alpha: float) -> dict:
    """Everything results.json holds about the simulated part, and the verdict."""
    overall, verdict_a, verdict_b, part_a, part_b = judge(rows, alpha)
    return {"verdict": overall, "simulated": {
        "grid": info, "recovery": recovery_summary(rows), "accuracy": accuracy_summary(rows),
        "gaps": grid_gaps(rows, alpha), "errors": errors(rows), "partition_test": part_a, "recovery_test": part_b,
        "partition_verdict": verdict_a, "recovery_verdict": verdict_b}}


def no_simulation_verdict() -> dict:
    """The verdict when the simulated part did not run: inconclusive, the precondition named."""
    return verdicts.judge(CLAIM, [NOT_SIMULATED], "not reproduced", RULE, "The simulated part did not run.").to_json()
