"""From the engine's rows to m*(γ, ε), the bound tests, the soft/hard ratio map and the verdict.

* **success**(seed, width) = the run did not diverge and its iteration-averaged training error at its own T
  is ≤ ε. m* = :func:`kd_theory.stats.minimum_width` with ``success_fraction``; its interval is the
  percentile bootstrap over seeds. m* is *censored* when it is not inside the grid: no grid width succeeds
  (m* = inf, or the interval reaches inf), or it sits at the grid's smallest width when a smaller network
  exists (2 is the smallest symmetric network, 1 the smallest standard one).
* **The bound's shape** f(γ, ε, n) = the theorem's own width (Corollary 4 for soft labels, Proposition 5 at
  β = ε·ln 2 for hard ones; :mod:`kd_theory.bounds`). The claim is m* = O(f): m* ≤ C·f for one constant C
  per label type. C is fixed at the *anchor*, the measured point with the smallest f (the easiest point), as
  the smallest C that covers its whole interval: C = high(anchor)/f(anchor). Every other point then
  respects the bound when the lower end of its interval is ≤ C·f(p). Fitting C on all points would make
  the test unable to fail; anchoring at the easiest point tests what the bound's shape says — how fast the
  width needed may grow as γ and ε shrink — and using both interval ends means a violation must survive
  the seed noise of the anchor and of the point.
* **Exponents**: least squares of log m* on log(1/γ) (one intercept per (family, ε)) and on log(1/ε) (one
  per data set) over the measured points; the bound's own exponent is f fitted the same way at the same
  points (exactly 2 and 1 for Corollary 4 at fixed n; 4 and a small, logarithmic slope for Proposition 5).
  The interval is the union of the bootstrap over seeds (seed noise) and the regression t-interval (scatter
  about the line, grid rounding included); the exponent respects the bound when its interval's lower end
  is ≤ the bound's (:func:`kd_theory.protocol.verdicts.exponent_outcome` with kind "at_most").
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from kd_theory import bounds, rng, stats
from kd_theory.protocol import verdicts

LABELS = ("hard", "soft")
REGIMES = ("theorem", "equal")
AXES = {"inv_gamma": "1/γ", "inv_eps": "1/ε"}
NOMINAL_EXPONENTS = {"soft": {"inv_gamma": 2.0, "inv_eps": 1.0}, "hard": {"inv_gamma": 4.0, "inv_eps": "ln(1/ε)"}}
MAX_INTERVAL_WIDTH = 0.5   # issue 23: an exponent's 95% interval must be at most this wide to decide anything
ACC_GROUP_KEYS = ("dataset", "width", "label")
ACC_SETTING_KEYS = ("lr", "B", "temperature", "steps")

CLAIM = verdicts.Claim(
    quote="with gradient descent, soft-label training needs O(1/(γ² ε)) neurons to reach average classification "
          "loss ε, hard-label training O(1/γ⁴ · ln(1/ε)), where γ is the separation margin of the limiting "
          "(infinite-width NTK) kernel.",
    source="Mandal, Lin & Srikant (2024), Corollary 4 and Proposition 5 (papers.md §1, 'Question', and §1.6)",
    type="bound")
LABEL_CLAIMS = {
    "soft": verdicts.Claim(
        quote="Corollary 4 (soft, 0-1 error): m ≥ (C2/(γ² ε))(√(2/π)/c + 3√ln(2n/δ))², C2 = 32·C1 ≈ 366.2, B = 1, "
              "η ≤ γ² ε/3, T ≥ 9/(γ⁴ ε²) give iteration-averaged training error ≤ ε.",
        source="Mandal, Lin & Srikant (2024), Corollary 4 (papers.md §1.6)", type="bound"),
    "hard": verdicts.Claim(
        quote="Proposition 5 (hard): B = (2/γ) ln(2/(ln2 · β)), η ≤ 1, T ≥ (8/(γ² η)) · ln²(2/(ln2 · β)) / (ln2 · β), "
              "m ≥ (16/γ⁴)((2√2/(c√π)) ln(2/(ln2 · β)) + 3√ln(2n/δ))² give iteration-averaged logistic loss ≤ β "
              "(so error ≤ β/ln 2).",
        source="Mandal, Lin & Srikant (2024), Proposition 5 (papers.md §1.6)", type="bound"),
}
PHASE_CLAIM = ("Ratio of the two width bounds ≈ ε/γ² up to logs [ours]: soft wins roughly when γ² < ε. "
               "(papers.md §1.6; descriptive here, no verdict)")


# ---------------------------------------------------------------------------------------------
# m* per point
# ---------------------------------------------------------------------------------------------

def success_matrix(values: dict, seeds, widths, passes) -> np.ndarray:
    """(S, J) booleans: passes(values[(seed, width)]); a missing, diverged (None) or non-finite value fails."""
    out = np.zeros((len(seeds), len(widths)), bool)
    for i, s in enumerate(seeds):
        for j, m in enumerate(widths):
            v = values.get((s, m))
            out[i, j] = v is not None and math.isfinite(v) and bool(passes(v))
    return out


def smallest_network(init: str) -> int:
    """The smallest width a network of this initialisation can have (2 for the symmetric init's pairs)."""
    return 2 if init == "symmetric" else 1


def minimum_width_with_interval(widths, successes, config, bootstrap_seed: int) -> dict:
    """m*, its percentile-bootstrap interval over seeds (``config``: success_fraction, bootstrap, level,
    init) and whether it is censored (not inside the grid)."""
    fraction = config.success_fraction
    m_star = stats.minimum_width(widths, successes, fraction)
    ci = stats.bootstrap_interval(lambda idx: stats.minimum_width(widths, successes[idx], fraction),
                                  successes.shape[0], n_boot=config.bootstrap, level=config.level, seed=bootstrap_seed)
    above = not (math.isfinite(m_star) and math.isfinite(ci.high))
    below = math.isfinite(m_star) and m_star == widths[0] and widths[0] > smallest_network(config.init)
    return {"m_star": m_star, "low": ci.low, "high": ci.high, "censored": bool(above or below),
            "censored_where": "above the grid" if above else ("at the grid's smallest width" if below else ""),
            "success_share": successes.mean(axis=0).round(4).tolist()}


def bound_width(label: str, gamma: float, eps: float, n: int, delta: float) -> float:
    """The bound's shape f(γ, ε, n): Corollary 4's width (soft) or Proposition 5's at β = ε·ln 2 (hard)."""
    if label == "soft":
        return float(bounds.soft_error_requirements(gamma, eps, n, delta).width)
    return float(bounds.hard_error_requirements(gamma, eps, n, delta).width)


def _values_by_point(rows) -> dict:
    """{(regime, dataset, label, eps_target): {(seed, width): error or None when diverged}} and the diverged rows."""
    out = defaultdict(dict)
    for r in rows:
        eps = r["eps_target"]
        out[(r["regime"], r["dataset"], r["label"], None if eps is None else float(eps))][(r["seed"], r["width"])] = (
            None if r.get("diverged") else r["avg_train_error"])
    return out


def settings_met(used: set, theorem: dict) -> bool:
    """Whether every run of a point used its theorem's settings, read off the rows: η ≤ the theorem's, B its
    radius, and T (the checkpoint read) ≥ the theorem's step count."""
    return bool(used) and all(lr <= theorem["lr"] * (1 + 1e-9) and B is not None
                              and abs(B - theorem["B"]) <= 1e-9 * theorem["B"]
                              and min(T, steps) >= theorem["steps_required"] for lr, B, T, steps in used)


def minimum_widths(rows, info: dict, plan: list, config) -> tuple[list, list]:
    """The m* table (one entry per (regime, data set, label, ε), not-run theorem points included with
    ``run`` False) and, per entry, its (S, J) success matrix (None where not run)."""
    widths, seeds = list(config.widths), list(range(config.seeds))
    values = _values_by_point(rows)
    diverged, used = defaultdict(int), defaultdict(set)
    for r in rows:
        eps = r["eps_target"]
        key = (r["regime"], r["dataset"], r["label"], None if eps is None else float(eps))
        diverged[key] += bool(r.get("diverged"))
        used[key].add((r["lr"], r["B"], r["T"], r["steps"]))
    settings = {(p["dataset"], p["label"], p["eps"]): p for p in plan}
    table, successes = [], []
    regimes = ("theorem", "equal") if config.equal.enabled else ("theorem",)
    for regime in regimes:
        for name, entry in info.items():
            for label in LABELS:
                for eps in config.epsilons:
                    eps = float(eps)
                    key = (regime, name, label, eps if regime == "theorem" else None)
                    point = {"regime": regime, "dataset": name, "family": entry["family"], "label": label, "eps": eps,
                             "gamma": entry["gamma"], "gamma_std": entry["gamma_std"], "n": entry["n"],
                             "bound_width": bound_width(label, entry["gamma"], eps, entry["n"], config.theorem.delta)}
                    if regime == "theorem":
                        s = settings[(name, label, eps)]
                        point.update(lr=s["lr"], B=s["B"], T=s["steps_required"], run=s["run"], not_run=s["not_run"],
                                     settings_met=s["run"] and settings_met(used.get(key, set()), s))
                    else:
                        e = config.equal
                        point.update(lr=e.lr, B=e.B, T=e.steps, run=True, not_run="")
                    if not point["run"]:
                        point.update(m_star=None, low=None, high=None, censored=False, censored_where="",
                                     success_share=None, n_diverged=0)
                        table.append(point)
                        successes.append(None)
                        continue
                    ok = success_matrix(values.get(key, {}), seeds, widths, lambda v, e=eps: v <= e)
                    boot = rng.stream_seed(config.seed, "bootstrap", f"m_star/{regime}/{name}/{label}/{eps:g}")
                    point.update(minimum_width_with_interval(widths, ok, config, boot), n_diverged=diverged[key])
                    table.append(point)
                    successes.append(ok)
    return table, successes


# ---------------------------------------------------------------------------------------------
# The bound tests
# ---------------------------------------------------------------------------------------------

def measured(table, label: str, regime: str = "theorem") -> list[int]:
    """Indices of the points of ``label`` in ``regime`` that ran and whose m* is inside the grid."""
    return [i for i, p in enumerate(table) if p["regime"] == regime and p["label"] == label and p["run"]
            and not p["censored"]]


def bound_check(points: list[dict]) -> dict:
    """m* ≤ C·f at every point, with C = high(anchor)/f(anchor) at the point of smallest f (see the module
    docstring). Returns the anchor, C, and per point C·f and whether its interval's lower end respects it."""
    if not points:
        return {"anchor": None, "C": math.nan, "checks": [], "n_respecting": 0, "n_compared": 0}
    anchor = min(range(len(points)), key=lambda i: (points[i]["bound_width"], points[i]["m_star"]))
    a = points[anchor]
    C = a["high"] / a["bound_width"]
    checks = []
    for i, p in enumerate(points):
        limit = C * p["bound_width"]
        checks.append({"dataset": p["dataset"], "eps": p["eps"], "gamma": p["gamma"], "m_star": p["m_star"],
                       "low": p["low"], "high": p["high"], "bound_width": p["bound_width"], "C_times_f": limit,
                       "anchor": i == anchor, "respects": bool(p["low"] <= limit * (1 + 1e-12))})
    compared = [c for c in checks if not c["anchor"]]
    return {"anchor": {"dataset": a["dataset"], "eps": a["eps"], "m_star": a["m_star"], "high": a["high"],
                       "bound_width": a["bound_width"]},
            "C": C, "checks": checks, "n_respecting": sum(c["respects"] for c in compared), "n_compared": len(compared)}


def _axis_values(points, axis):
    if axis == "inv_gamma":
        return [1 / p["gamma"] for p in points], [f"{p['family']}@ε={p['eps']:g}" for p in points]
    return [1 / p["eps"] for p in points], [p["dataset"] for p in points]


def exponent_fit(points: list[dict], successes: list, axis: str, config, bootstrap_seed: int) -> dict:
    """The fitted exponent of m* in ``axis`` over ``points`` with its bootstrap (seeds resampled alike at every
    point, each m* recomputed) and regression intervals, their union, and the bound's exponent (f fitted the
    same way at the same points)."""
    xs, groups = _axis_values(points, axis)
    fit = stats.loglog_slope(np.asarray(xs, float), np.asarray([p["m_star"] for p in points], float), groups=groups)
    bound_fit = stats.loglog_slope(np.asarray(xs, float), np.asarray([p["bound_width"] for p in points], float),
                                   groups=groups)
    widths, fraction = list(config.widths), config.success_fraction

    def resampled(idx):
        m = [stats.minimum_width(widths, ok[idx], fraction) for ok in successes]
        return stats.loglog_slope(np.asarray(xs, float), np.asarray(m, float), groups=groups).slope

    if points and math.isfinite(fit.slope):
        boot = stats.bootstrap_interval(resampled, successes[0].shape[0], n_boot=config.bootstrap, level=config.level,
                                        seed=bootstrap_seed)
    else:
        boot = stats.BootstrapInterval(math.nan, math.nan, 0)
    ends = [boot.low, boot.high, fit.low, fit.high]
    low, high = (min(boot.low, fit.low), max(boot.high, fit.high)) if all(map(math.isfinite, ends)) else (math.nan,
                                                                                                         math.nan)
    return {"value": fit.slope, "low": low, "high": high, "width": high - low,
            "bootstrap_low": boot.low, "bootstrap_high": boot.high, "n_bootstrap_valid": boot.n_valid,
            "regression_low": fit.low, "regression_high": fit.high, "n_points": fit.n,
            "n_groups": len(set(groups)), "bound_exponent": bound_fit.slope}


def judge_label(label: str, table: list, successes: list, config) -> tuple[verdicts.Verdict, dict]:
    """One label type's verdict: the bound at every measured point and both exponents, with the measured
    preconditions (every point run at its theorem's settings, every m* inside the grid, exponent intervals
    no wider than :data:`MAX_INTERVAL_WIDTH`)."""
    planned = [p for p in table if p["regime"] == "theorem" and p["label"] == label]
    not_run = [p for p in planned if not p["run"]]
    off = [p for p in planned if p["run"] and not p["settings_met"]]
    censored = [p for p in planned if p["run"] and p["censored"]]
    used = measured(table, label)
    points, oks = [table[i] for i in used], [successes[i] for i in used]
    check = bound_check(points)
    exponents = {axis: exponent_fit(points, oks, axis, config,
                                    rng.stream_seed(config.seed, "bootstrap", f"exponent/{label}/{axis}"))
                 for axis in AXES}
    for axis, e in exponents.items():
        e["nominal_exponent"] = NOMINAL_EXPONENTS[label][axis]
        e["outcome"] = verdicts.exponent_outcome(e["low"], e["high"], e["bound_exponent"], kind="at_most")
    bound = verdicts.bound_outcome(check["n_respecting"], check["n_compared"])
    outcomes = [bound] + [e["outcome"] for e in exponents.values()]
    outcome = ("contradicted" if "contradicted" in outcomes else
               "consistent" if all(o == "consistent" for o in outcomes) else "inconclusive")
    largest = max((p["T"] for p in not_run), default=0)
    pre = [
        verdicts.Precondition(
            f"{label}: theorem's settings", f"{len(planned) - len(not_run) - len(off)} of {len(planned)} points run "
            "at them" + (f"; {len(not_run)} not run: T required up to {largest:,} > theorem.max_steps = "
                         f"{config.theorem.max_steps:,}" if not_run else "")
            + (f"; {len(off)} run at other settings" if off else ""), "every point", not (not_run or off),
            "every (data set, ε) point trained at its theorem's own η, B and T, read off the runs (no cap; a T beyond "
            "theorem.max_steps is not run)"),
        verdicts.Precondition(
            f"{label}: m* inside the grid", [f"{p['dataset']} ε={p['eps']:g}: {p['censored_where']}" for p in censored]
            or "none censored", "none censored", not censored,
            "no point's m* or its interval beyond the largest grid width, nor at the smallest grid width when a "
            "smaller network exists"),
    ]
    for axis, e in exponents.items():
        width = e["width"]
        pre.append(verdicts.Precondition(
            f"{label}: exponent of {AXES[axis]} interval width", round(width, 3) if math.isfinite(width) else
            "no interval", MAX_INTERVAL_WIDTH, bool(math.isfinite(width) and width <= MAX_INTERVAL_WIDTH),
            f"width of the exponent's 95% interval (bootstrap over seeds ∪ regression) ≤ {MAX_INTERVAL_WIDTH}"))
    parts = [f"{len(points)} measured points"]
    if check["anchor"]:
        a = check["anchor"]
        parts.append(f"C = {check['C']:.3g} fixed at {a['dataset']} ε={a['eps']:g} (m* ≤ {a['high']:g}, f = "
                     f"{a['bound_width']:.3g}); {check['n_respecting']} of {check['n_compared']} other points have "
                     "the lower end of their interval ≤ C·f")
    for axis, e in exponents.items():
        parts.append(f"exponent of {AXES[axis]}: {_num(e['value'])} [{_num(e['low'])}, {_num(e['high'])}] vs the "
                     f"bound's {_num(e['bound_exponent'])} ({e['outcome']})")
    rule = (f"{label} labels: consistent when every measured m* respects C·f (C fixed once, at the easiest point) and "
            "each exponent's interval (1/γ and 1/ε) starts at or below the bound's own exponent at the same points; "
            "contradicted when a point's interval lies wholly above C·f or an exponent's interval lies wholly above "
            "the bound's; inconclusive otherwise")
    settle = settle_text(label, not_run, largest, censored, exponents)
    evidence = "; ".join(parts) + "."
    verdict = verdicts.judge(LABEL_CLAIMS[label], pre, outcome, rule, evidence, settle)
    detail = {"bound": dict(check, outcome=bound), "exponents": exponents, "n_planned": len(planned),
              "n_not_run": len(not_run), "n_censored": len(censored), "n_measured": len(points), "outcome": outcome,
              "evidence": evidence}
    return verdict, detail


def settle_text(label: str, not_run: list, largest: int, censored: list, exponents: dict) -> str:
    """What would answer the claim, one remedy per unmet precondition, with its measured value ("" when all
    are met: the verdict then stands on its own)."""
    needs = ([f"every (γ, ε) point run at its theorem's T (theorem.max_steps ≥ {largest:,} for this grid: a GPU)"]
             if not_run else []) + (["a width grid that contains every m*"] if censored else [])
    wide = [f"{AXES[axis]} {e['width']:.2f}" if math.isfinite(e["width"]) else f"{AXES[axis]} none"
            for axis, e in exponents.items() if not (math.isfinite(e["width"]) and e["width"] <= MAX_INTERVAL_WIDTH)]
    if wide:
        needs.append(f"{label} exponent intervals no wider than {MAX_INTERVAL_WIDTH} (now: {', '.join(wide)}): a wider "
                     "range of γ and ε (smaller margins and errors, so far larger theorem T: a GPU) and more seeds, "
                     "as in the `paper` preset")
    return "; ".join(needs)


def combine(outcomes: list[str]) -> str:
    """Both label types together: contradicted when either is, consistent when both are, else inconclusive."""
    if "contradicted" in outcomes:
        return "contradicted"
    return "consistent" if outcomes and all(o == "consistent" for o in outcomes) else "inconclusive"


def judge(table, successes, config) -> tuple[verdicts.Verdict, dict, dict]:
    """The section's verdict (both label types) and each label type's own."""
    per_label, details = {}, {}
    for label in ("soft", "hard"):
        per_label[label], details[label] = judge_label(label, table, successes, config)
    outcome = combine([details[label]["outcome"] for label in per_label])
    pre = [p for label in per_label for p in per_label[label].preconditions]
    evidence = " ".join(f"{label.capitalize()}: {details[label]['evidence']}" for label in per_label)
    rule = ("each label type's bound tested as a bound (see its own verdict): consistent when both are consistent, "
            "contradicted when either is contradicted, inconclusive otherwise")
    settle = "; ".join(v.settle for v in per_label.values() if v.settle)
    return verdicts.judge(CLAIM, pre, outcome, rule, evidence, settle), per_label, details


# ---------------------------------------------------------------------------------------------
# Descriptive: the soft/hard ratio map
# ---------------------------------------------------------------------------------------------

def ratio(hard: float, soft: float) -> float:
    """m*_hard / m*_soft; NaN when both are censored above (nothing is known), inf or 0 when one is."""
    if not math.isfinite(hard) and not math.isfinite(soft):
        return math.nan
    return hard / soft


def phase(table, successes, config) -> list[dict]:
    """Per regime and (data set, ε) where both label types ran: m*_hard / m*_soft with a bootstrap interval
    (seeds resampled alike for both: hard and soft students of seed s share their initialisation), beside
    the bounds' own ratio and the rule of thumb γ² < ε."""
    cell = {(p["regime"], p["dataset"], p["eps"], p["label"]): i for i, p in enumerate(table)}
    widths, fraction = list(config.widths), config.success_fraction
    out = []
    for (regime, name, eps, label), i in cell.items():
        j = cell.get((regime, name, eps, "hard"))
        if label != "soft" or j is None or not (table[i]["run"] and table[j]["run"]):
            continue
        soft_ok, hard_ok, p = successes[i], successes[j], table[i]
        value = ratio(table[j]["m_star"], p["m_star"])
        ci = stats.bootstrap_interval(
            lambda idx: ratio(stats.minimum_width(widths, hard_ok[idx], fraction),
                              stats.minimum_width(widths, soft_ok[idx], fraction)),
            soft_ok.shape[0], n_boot=config.bootstrap, level=config.level,
            seed=rng.stream_seed(config.seed, "bootstrap", f"ratio/{regime}/{name}/{eps:g}"))
        out.append({"regime": regime, "dataset": name, "family": p["family"], "gamma": p["gamma"], "eps": eps,
                    "n": p["n"], "m_star_hard": table[j]["m_star"], "m_star_soft": p["m_star"], "ratio": value,
                    "low": ci.low, "high": ci.high,
                    "bound_ratio": float(bounds.hard_over_soft_width_ratio(p["gamma"], eps, p["n"],
                                                                           config.theorem.delta)),
                    "rule_of_thumb_soft_fewer": bool(p["gamma"] ** 2 < eps)})
    return out


def phase_boundary(info, config) -> dict:
    """γ*(ε) of :func:`kd_theory.bounds.crossover_gamma` at the median n of the data sets, for the figure."""
    n = int(np.median([v["n"] for v in info.values()]))
    eps = np.geomspace(1e-3, 0.9, 60)
    return {"eps": eps.tolist(), "gamma_star": np.asarray(bounds.crossover_gamma(eps, n, config.theorem.delta)).tolist(),
            "n": n, "delta": config.theorem.delta}


# ---------------------------------------------------------------------------------------------
# Part B
# ---------------------------------------------------------------------------------------------

def tie_break(s) -> tuple:
    """Among settings of equal validation accuracy: fewer steps, smaller lr, smaller ball, lower T."""
    return (s["steps"], s["lr"], math.inf if s["B"] is None else s["B"], s["temperature"] or 0.0)


def accuracy_minimum_widths(rows, chosen: dict, teachers: list, config) -> dict:
    """Part B: per (task, label), the report seeds' test accuracy at the setting chosen for each width on
    validation accuracy of the selection seeds, and m* for each target share of the teacher's test accuracy
    (a diverged report run fails; a width whose every selection setting diverged fails for every seed)."""
    a = config.accuracy
    teacher_acc = {t["dataset"]: t["test_acc"] for t in teachers}
    widths = list(a.widths)
    values = defaultdict(dict)      # (dataset, label) -> {(seed, width): test_acc or None}
    curve_rows = defaultdict(list)
    for r in rows:
        group = (r["dataset"], r["width"], r["label"])
        c = chosen.get(group)
        if r["role"] != "report" or c is None or any(r[k] != c[k] for k in ACC_SETTING_KEYS):
            continue
        values[(r["dataset"], r["label"])][(r["seed"], r["width"])] = None if r.get("diverged") else r["test_acc"]
        curve_rows[(r["dataset"], r["label"], r["width"])].append(r)
    report = sorted({r["seed"] for r in rows if r["role"] == "report"})
    out = []
    for ds in teacher_acc:
        for label in ("hard", "soft"):
            curve = []
            for m in widths:
                c = chosen.get((ds, m, label))
                accs = [v for (s, w), v in values[(ds, label)].items() if w == m and v is not None]
                mean, std = stats.mean_std(accs)
                curve.append({"width": m, "test_acc_mean": mean, "test_acc_std": std, "n_seeds": len(accs),
                              "n_diverged": sum(v is None for (s, w), v in values[(ds, label)].items() if w == m),
                              **({k: c[k] for k in ACC_SETTING_KEYS} if c else {"chosen": None})})
            for share in a.targets:
                threshold = share * teacher_acc[ds]
                ok = success_matrix(values[(ds, label)], report, widths, lambda v, t=threshold: v >= t)
                boot = rng.stream_seed(config.seed, "bootstrap", f"accuracy/{ds}/{label}/{share:g}")
                point = minimum_width_with_interval(widths, ok, config, boot)
                out.append({"dataset": ds, "label": label, "target_share": share, "target_acc": threshold, **point,
                            "curve": curve})
    diverged = [{k: r[k] for k in ("dataset", "width", "label", "temperature", "seed", "lr", "B", "steps", "role",
                                   "diverged_step")} for r in rows if r.get("diverged")]
    return {"teacher": teachers, "m_star": out, "widths": widths, "report_seeds": report,
            "chosen": [dict(v, **dict(zip(ACC_GROUP_KEYS, k))) for k, v in sorted(chosen.items(), key=str)],
            "diverged_runs": diverged, "n_diverged": len(diverged),
            "protocol": "per (task, width, label) the setting (lr, B, steps, T) with the best mean validation "
                        "accuracy of the selection seeds (a setting that diverged on one is never chosen); m* = the "
                        f"smallest width at which ≥ {config.success_fraction:g} of the report seeds (fresh "
                        "initialisations) reach the target share of the teacher's test accuracy"}


# ---------------------------------------------------------------------------------------------
# Everything results.json holds besides bookkeeping
# ---------------------------------------------------------------------------------------------

def analyse(rows, info: dict, plan: list, config) -> dict:
    table, successes = minimum_widths(rows, info, plan, config)
    verdict, per_label, details = judge(table, successes, config)
    diverged = [{k: r[k] for k in ("regime", "dataset", "label", "eps_target", "width", "seed", "lr", "B", "T",
                                    "diverged_step")} for r in rows if r.get("diverged")]
    return {
        **verdict.to_json(),
        "label_verdicts": {label: v.to_json() for label, v in per_label.items()},
        "bound_tests": details,
        "definition": {
            "success": "the run did not diverge and its iteration-averaged training error at its own T is ≤ ε",
            "m_star": f"the smallest grid width at which ≥ {config.success_fraction:g} of {config.seeds} seeds "
                      "succeed; inf = no grid width does (never extrapolated)",
            "interval": f"{config.level:g} percentile bootstrap over seeds ({config.bootstrap} resamples)",
            "censored": "m* or its interval beyond the largest grid width, or m* at the smallest grid width when a "
                        f"smaller network exists (smallest network: {smallest_network(config.init)} neurons)",
            "bound_width": "f(γ, ε, n) = the theorem's width: Corollary 4 (soft), Proposition 5 at β = ε·ln 2 (hard), "
                           f"c = 1, δ = {config.theorem.delta:g}",
            "gamma": f"γ_K = the certified margin of K = {config.margin.gates} gates: the mean of the midpoints over "
                     f"{config.margin.draws} independent draws (the theorems' settings use it)",
            "theorem": f"each label type's theorem's own η, B and T, no cap; T beyond {config.theorem.max_steps:,} = "
                       f"not run; Corollary 4 read as {config.theorem.corollary4_reading}; Proposition 5 at η = "
                       f"{config.theorem.hard_lr:g}",
            "equal": (f"descriptive: η = {config.equal.lr:g}, B = "
                      f"{'none' if config.equal.B is None else format(config.equal.B, 'g')}, T = {config.equal.steps} "
                      "for both label types at every point (no theorem sets these)") if config.equal.enabled else "",
            "exponents": "least squares of log m* on log(1/γ) (one intercept per (family, ε)) and on log(1/ε) (one "
                         "per data set) over the measured points; interval = bootstrap over seeds ∪ regression "
                         "t-interval; the bound's exponent = f fitted the same way at the same points",
        },
        "datasets": info,
        "widths": list(config.widths),
        "epsilons": [float(e) for e in config.epsilons],
        "smallest_network": smallest_network(config.init),
        "m_star": table,
        "theorem_points": plan,
        "n_not_run": sum(not p["run"] for p in plan),
        "phase": phase(table, successes, config),
        "phase_claim": PHASE_CLAIM,
        "phase_boundary": phase_boundary(info, config),
        "diverged_runs": diverged,
        "n_diverged": len(diverged),
    }


def _num(v, fmt="{:.2f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)
