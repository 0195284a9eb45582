"""From the engine's rows to m*(γ, ε), its bootstrap interval, the fitted slopes and the phase table.

* success(seed, width) = the run's iteration-averaged training error at its own T is ≤ ε (a non-finite
  run fails); m* = :func:`kd_theory.stats.minimum_width` with ``success_fraction``; censored (inf)
  when no width of the grid succeeds — never extrapolated.
* Intervals: percentile bootstrap over seeds (:func:`kd_theory.stats.bootstrap_interval`); a slope's
  resample refits on the m* of the same resampled seeds at every point (censored points dropped).
* Slopes (:func:`kd_theory.stats.loglog_slope`): log m* against log(1/γ) over the families whose γ is
  a knob (XOR over d, separable over ḡ), one intercept per (family, ε); and against log(1/ε) over every
  data set, one intercept per data set. The theorems' widths (kd_theory.bounds) at the same points,
  fitted the same way, stand beside.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from experiments.table1.protocol import REGIME_KEYS
from kd_theory import bounds, stats

GAMMA_FAMILIES = ("xor", "separable")
THEORY_EXPONENTS = {"soft": {"inv_gamma": 2.0, "inv_eps": 1.0}, "hard": {"inv_gamma": 4.0, "inv_eps": "logarithmic"}}


def success_matrix(values: dict, seeds, widths, passes) -> np.ndarray:
    """(S, J) booleans: passes(values[(seed, width)]); a missing or non-finite value fails."""
    out = np.zeros((len(seeds), len(widths)), bool)
    for i, s in enumerate(seeds):
        for j, m in enumerate(widths):
            v = values.get((s, m))
            out[i, j] = v is not None and math.isfinite(v) and bool(passes(v))
    return out


def minimum_width_with_interval(widths, successes, config, seed: int = 0) -> dict:
    """m*, its bootstrap interval over seeds and whether it is censored (no grid width succeeds)."""
    fraction = config.success_fraction
    m_star = stats.minimum_width(widths, successes, fraction)
    ci = stats.bootstrap_interval(lambda idx: stats.minimum_width(widths, successes[idx], fraction),
                                  successes.shape[0], n_boot=config.bootstrap, level=config.level, seed=seed)
    return {"m_star": m_star, "low": ci.low, "high": ci.high, "censored": not math.isfinite(m_star),
            "success_share": successes.mean(axis=0).round(4).tolist()}


def label_name(target: str, config) -> str:
    """How a target is named in the slopes: "soft" is the kernel teacher at the headline scale."""
    if target == "hard":
        return "hard"
    if target == f"kernel@s={config.headline_scale:g}":
        return "soft"
    return "soft_" + target


def theory_width(kind: str, gamma: float, eps: float, n: int, delta: float) -> float:
    """Corollary 4's width (soft) or Proposition 5's at β = ε ln 2 (hard)."""
    if kind == "soft":
        return bounds.soft_error_requirements(gamma, eps, n, delta).width
    return bounds.hard_error_requirements(gamma, eps, n, delta).width


def minimum_widths(rows, info, theory, config):
    """The per-point m* table and, per point, its (S, J) success matrix (for the slope bootstrap)."""
    widths, seeds = sorted(config.widths), list(range(config.seeds))
    by_group = defaultdict(dict)
    for r in rows:
        by_group[(r["dataset"], r["regime"], r["label"], r["eps_target"])][(r["seed"], r["width"])] = (
            r["avg_train_error"] if r["finite"] else math.nan)
    table, successes = [], []
    labels = sorted({(r["label"], r["kind"]) for r in rows})
    for k, name in enumerate(info):
        for regime in ("theorem", "equal", "plain_gd"):
            for target, kind in labels:
                for eps in config.epsilons:
                    values = by_group.get((name, regime, target, float(eps) if regime == "theorem" else None))
                    if values is None:
                        continue
                    ok = success_matrix(values, seeds, widths, lambda v, e=eps: v <= e)
                    point = {"dataset": name, "family": info[name]["family"], "gamma": info[name]["gamma"],
                             "gamma_std": info[name]["gamma_std"], "n": info[name]["n"], "regime": regime,
                             "label": label_name(target, config), "target": target, "kind": kind, "eps": float(eps),
                             "theory_width": theory_width(kind, info[name]["gamma"], eps, info[name]["n"],
                                                          config.theory_delta)}
                    if regime == "theorem":
                        t = theory[(name, kind, eps)]
                        point.update(lr=t["lr"], B=t["B"], steps=t["steps"], steps_required=t["steps_required"],
                                     steps_capped=t["capped"])
                    else:
                        point.update(lr=config.equal_lr, B=config.equal_B if regime == "equal" else None,
                                     steps=config.equal_steps)
                    point.update(minimum_width_with_interval(widths, ok, config, seed=config.seed + len(table)))
                    table.append(point)
                    successes.append(ok)
    return table, successes


def _fit(xs, groups, values):
    return stats.loglog_slope(np.asarray(xs, float), np.asarray(values, float), groups=groups)


def slope_entry(points, successes, axis: str, config, seed: int) -> dict:
    """The fitted slope of log m* on log(1/γ) or log(1/ε) over ``points`` (dicts of the m* table), the
    regression t-interval, the bootstrap interval over seeds, and the theorems' widths fitted the same way."""
    if axis == "inv_gamma":
        xs = [1 / p["gamma"] for p in points]
        groups = [f"{p['family']}@{p['eps']:g}" for p in points]
    else:
        xs = [1 / p["eps"] for p in points]
        groups = [p["dataset"] for p in points]
    m_star = [p["m_star"] for p in points]
    fit = _fit(xs, groups, m_star)
    widths, fraction = sorted(config.widths), config.success_fraction

    def resampled_slope(idx):
        return _fit(xs, groups, [stats.minimum_width(widths, ok[idx], fraction) for ok in successes]).slope

    ci = (stats.bootstrap_interval(resampled_slope, successes[0].shape[0], n_boot=config.bootstrap,
                                   level=config.level, seed=seed) if points else stats.BootstrapInterval(
        math.nan, math.nan, 0))
    theory_fit = _fit(xs, groups, [p["theory_width"] for p in points])
    if not math.isfinite(fit.slope):  # no slope on the full sample: no interval either
        ci = stats.BootstrapInterval(math.nan, math.nan, ci.n_valid)
    return {"value": fit.slope, "low": ci.low, "high": ci.high, "interval": "bootstrap percentile over seeds",
            "regression_low": fit.low, "regression_high": fit.high, "n_points": fit.n,
            "n_censored": sum(not math.isfinite(m) for m in m_star), "n_bootstrap_valid": ci.n_valid,
            "theory_fit": theory_fit.slope}


def slopes(table, successes, config) -> dict:
    """{regime: {label: {"inv_gamma": entry, "inv_eps": entry}}} (:func:`slope_entry`)."""
    out = defaultdict(dict)
    keys = sorted({(p["regime"], p["label"], p["kind"]) for p in table})
    for i, (regime, label, kind) in enumerate(keys):
        pick = [j for j, p in enumerate(table) if p["regime"] == regime and p["label"] == label]
        gamma_pick = [j for j in pick if table[j]["family"] in GAMMA_FAMILIES]
        entry = {}
        for axis, chosen in (("inv_gamma", gamma_pick), ("inv_eps", pick)):
            entry[axis] = slope_entry([table[j] for j in chosen], [successes[j] for j in chosen], axis, config,
                                      seed=config.seed + 1000 * i + (axis == "inv_eps"))
            entry[axis]["theory_exponent"] = THEORY_EXPONENTS["soft" if kind == "soft" else "hard"][axis]
        out[regime][label] = entry
    return dict(out)


def phase(table, info, config) -> list:
    """Per regime and (data set, ε): which label needs fewer neurons (soft = kernel teacher at the
    headline scale), beside the theory's verdict with constants (bounds) and the rule of thumb γ² < ε."""
    cell = {(p["regime"], p["dataset"], p["eps"], p["label"]): p for p in table}
    out = []
    for (regime, name, eps, label), soft in sorted(cell.items(), key=str):
        if label != "soft" or (regime, name, eps, "hard") not in cell:
            continue
        hard = cell[(regime, name, eps, "hard")]
        ms, mh = soft["m_star"], hard["m_star"]
        if not math.isfinite(ms) and not math.isfinite(mh):
            winner = "neither"
        elif ms < mh:
            winner = "soft"
        elif mh < ms:
            winner = "hard"
        else:
            winner = "tie"
        g, n = info[name]["gamma"], info[name]["n"]
        out.append({"regime": regime, "dataset": name, "family": info[name]["family"], "gamma": g, "eps": eps,
                    "m_star_soft": ms, "m_star_hard": mh, "winner": winner,
                    "theory_soft_fewer": bool(bounds.soft_needs_fewer_neurons(g, eps, n, config.theory_delta)),
                    "rule_of_thumb_soft_fewer": bool(g * g < eps)})
    return out


def phase_boundary(info, config) -> dict:
    """γ*(ε) of kd_theory.bounds.crossover_gamma at the median n of the data sets, for the figure."""
    n = int(np.median([v["n"] for v in info.values()]))
    eps = np.geomspace(1e-3, 0.5, 60)
    return {"eps": eps.tolist(), "gamma_star": np.asarray(bounds.crossover_gamma(eps, n, config.theory_delta)).tolist(),
            "n": n, "delta": config.theory_delta, "c": 1.0}


def analyse(rows, info, theory, config) -> dict:
    table, successes = minimum_widths(rows, info, theory, config)
    by_regime = slopes(table, successes, config)
    headline = by_regime.get(config.headline_regime, {})
    return {
        "definition": {
            "success": "iteration-averaged training error at the run's own T ≤ ε",
            "m_star": f"smallest grid width at which ≥ {config.success_fraction:g} of {config.seeds} seeds succeed; "
                      "inf = censored (no grid width succeeds; never extrapolated)",
            "interval": f"{config.level:g} percentile bootstrap over seeds ({config.bootstrap} resamples)",
            "slopes": "least squares of log m* on log(1/γ) (families xor and separable, one intercept per "
                      "(family, ε)) and on log(1/ε) (all data sets, one intercept per data set); censored points "
                      "are left out; value/low/high = fit and bootstrap interval, regression_low/high = t-interval",
            "gamma": f"γ_K = certified margin of one draw of K = {config.margin_gates} gates; mean ± std of the "
                     f"certified midpoints over {config.margin_gate_seeds} draws",
            "corollary4_reading": config.corollary4_reading,
            "theorem_cap": f"T = min(theorem's T, {config.theorem_max_steps}); η, B as the theorem says",
        },
        "datasets": info,
        "widths": sorted(config.widths),
        "epsilons": list(config.epsilons),
        "m_star": table,
        "slopes": {label: headline[label] for label in headline},
        "headline_regime": config.headline_regime,
        "slopes_by_regime": by_regime,
        "phase": phase(table, info, config),
        "phase_boundary": phase_boundary(info, config),
        "theorem_settings": [dict(dataset=k[0], kind=k[1], eps=k[2], **v) for k, v in theory.items()],
    }


def accuracy_minimum_widths(rows, chosen, teacher_rows, config) -> dict:
    """Part B: per (task, label), the report seeds' test accuracy at the regime chosen for each width
    on validation data, and m* for each target share of the teacher's test accuracy."""
    teacher = {t["dataset"]: t["test_acc"] for t in teacher_rows}
    acc = defaultdict(dict)        # (dataset, label) -> {(seed, width): test_acc}
    regimes = {}
    for (view, ds, m, label), regime in chosen.items():
        if view != "own_best":
            continue
        regimes[(ds, m, label)] = {k: regime[k] for k in REGIME_KEYS}
        for r in rows:
            if r["role"] == "report" and all(r[k] == regime[k] for k in ("dataset", "width", "label") + REGIME_KEYS):
                acc[(ds, label)][(r["seed"], r["width"])] = r["test_acc"]
    widths = sorted(config.accuracy.student_widths)
    report = sorted({r["seed"] for r in rows if r["role"] == "report"})
    out = []
    for k, ((ds, label), values) in enumerate(sorted(acc.items())):
        curve = [{"width": m, **dict(zip(("test_acc_mean", "test_acc_std"),
                                         stats.mean_std(values[(s, m)] for s in report if (s, m) in values))),
                  **regimes.get((ds, m, label), {})} for m in widths]
        for share in config.accuracy.targets:
            threshold = share * teacher[ds]
            ok = success_matrix(values, report, widths, lambda v, t=threshold: v >= t)
            out.append({"dataset": ds, "label": label, "target_share": share, "target_acc": threshold,
                        **minimum_width_with_interval(widths, ok, config, seed=config.seed + k), "curve": curve})
    return {"teacher": teacher_rows, "m_star": out, "widths": widths, "report_seeds": report,
            "protocol": "regime (lr, B, steps, T) per (task, width, label) chosen on the mean validation accuracy "
                        "of the selection seeds (experiments.table1.protocol.choose_regimes); m* from the report "
                        "seeds' test accuracy at those regimes"}
