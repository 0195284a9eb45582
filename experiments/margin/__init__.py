"""The NTK margin γ: certified γ_K of the digits tasks and of noisy 2-XOR, and γ of noisy 2-XOR against d to 1,000.

Certified solves (:mod:`kd_theory.margin`), per data set (the digits' training images; noisy 2-XOR over
its whole support, d ∈ ``xor_dims``):

- the certified interval lower ≤ γ_K ≤ upper for each of ``gate_draws`` draws of K gates (draw 0 is the
  headline; the spread over draws is γ_K's Monte-Carlo spread, far larger than one draw's certified width);
- F(q̂) on ``fresh_gates`` fresh gates: an unbiased estimate of F(q̂) ≥ γ at the solver's q̂;
- the SVM bound γ₂ ≥ γ of the closed-form first-layer NTK (``svm``) and min‖x‖/2 ≥ γ;
- the fresh-gate margins of the primal v* = g_q̂/‖g_q̂‖ (``vstar``): how weak v* is as a
  population primal;
- noisy 2-XOR: F(q_unif) on fresh gates, an unbiased estimate of γ itself (the uniform q is optimal).

Noisy 2-XOR to large d (:mod:`kd_theory.xor_margin`): γ₂ exactly (``gamma.svm_dims``) and γ by Monte Carlo
over gates with control variates (``gamma.dims``). Every gate comes from the ``gates`` stream of
:mod:`kd_theory.rng`: draw k of data set D is ``stream_key(seed, "gates", D, k)``, its fresh gates
``stream_key(seed, "gates", D, "fresh" | "vstar" | "uniform")``, the Monte-Carlo gates of γ at d
``numpy_rng(seed, "gates", "xor-support-d<d>", "structured")``. The exponent, the estimator's check and
the verdicts are :mod:`experiments.margin.analysis`; tables and the figure come from results.json alone
(:mod:`experiments.margin.render`).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from experiments import common
from experiments.margin import analysis, render
from experiments.margin.config import SCHEMA
from kd_theory import data, margin, progress, rng, xor_margin
from kd_theory.results import environment_info


def validate(config):
    SCHEMA.validate(config)


def xor_name(d: int) -> str:
    return f"xor-support-d{d}"


def _solve_draws(name, X, y, config, num_gates):
    """Certified γ_K for each gate draw; draws after the first start from the first draw's q (the
    certificates do not depend on the start)."""
    draws = []
    for k in range(config.gate_draws):
        t0 = time.perf_counter()
        est = margin.estimate_margin(X, y, num_gates=num_gates, key=rng.stream_key(config.seed, "gates", name, k),
                                     tol=config.tol, max_iters=config.max_iters, q0=draws[0][0].q if draws else None)
        draws.append((est, time.perf_counter() - t0))
    return draws


def certified_row(name: str, family: str, X, y, config, num_gates: int) -> dict:
    """Every certified number of one data set (module docstring)."""
    key = lambda purpose: rng.stream_key(config.seed, "gates", name, purpose)
    draws = _solve_draws(name, X, y, config, num_gates)
    head = draws[0][0]
    row = {"dataset": name, "family": family, "n": int(len(X)), "d": int(X.shape[1]), "num_gates": int(num_gates),
           "gamma_K_lower": head.lower, "gamma_K_upper": head.upper, "gamma_K": head.value,
           "relative_gap": head.relative_gap, "converged": head.converged, "iterations": head.iterations,
           "gate_draws": len(draws),
           **{f"gamma_K_draws_{k}": v for k, v in analysis.spread([est.value for est, _ in draws]).items()},
           "draws": [{"draw": k, "gamma_K_lower": est.lower, "gamma_K_upper": est.upper, "iterations": est.iterations,
                      "converged": est.converged, "solve_seconds": round(seconds, 3)}
                     for k, (est, seconds) in enumerate(draws)],
           "near_parallel_pairs": len(head.near_parallel_pairs), "zero_margin_pairs": len(head.zero_margin_pairs),
           "norm_bound": margin.norm_upper_bound(X), "fresh_gates": config.fresh_gates}
    row["gamma_upper_fresh"], row["gamma_upper_fresh_se"] = margin.fresh_gate_dual(
        head.q, X, y, num_gates=config.fresh_gates, key=key("fresh"))
    if config.vstar:
        fresh = margin.fresh_gate_margins(head, X, y, num_gates=config.vstar_fresh_gates, key=key("vstar"))
        row["vstar_fresh_gates"] = config.vstar_fresh_gates
        row["vstar_fresh_min_margin"] = float(np.min(fresh))
    if config.svm:
        row["gamma2_lower"], row["gamma2_upper"] = margin.svm_margin(X, y, tol=config.tol)
    if family == "noisy_xor":
        # the uniform q is optimal by symmetry: F(q_unif) on fresh gates is an unbiased estimate of γ itself
        row["gamma_symmetric"], row["gamma_symmetric_se"] = margin.fresh_gate_dual(
            np.full(len(X), 1.0 / len(X)), X, y, num_gates=config.fresh_gates, key=key("uniform"))
    return row


def certified_data_sets(config):
    """(name, family, X, y, K) of every certified solve: the digits' training images, then noisy 2-XOR."""
    split = rng.stream_seed(config.seed, "split", "digits")
    for variant in config.digits_variants:
        ds = data.digits_task(variant, config.test_fraction, split, val_fraction=config.val_fraction)
        yield ds.name, "digits", ds.X_train, ds.y_train, config.num_gates
    for d in config.xor_dims:
        X, y = data.noisy_xor_support(d)
        yield xor_name(d), "noisy_xor", X, y, config.xor_num_gates


def certified_rows(config) -> list[dict]:
    rows = []
    total = len(config.digits_variants) + len(config.xor_dims)
    for name, family, X, y, K in progress.bar(certified_data_sets(config), "certified γ_K", total=total,
                                              enabled=config.progress, unit="data set"):
        rows.append(certified_row(name, family, X, y, config, K))
        r = rows[-1]
        print(f"[margin] {name}: γ_K ∈ [{r['gamma_K_lower']:.5f}, {r['gamma_K_upper']:.5f}]; over {r['gate_draws']} "
              f"gate draws {r['gamma_K_draws_mean']:.5f} ± {r['gamma_K_draws_std']:.5f}; F(q̂) on fresh gates "
              f"{r['gamma_upper_fresh']:.5f} ± {r['gamma_upper_fresh_se']:.5f} "
              f"({sum(g['solve_seconds'] for g in r['draws']):.1f}s solving)", file=sys.stderr, flush=True)
    return rows


def gamma_gates(d: int, config) -> int:
    """Gates of the Monte-Carlo γ at d: ``gates_exact`` where ‖g‖ is exact, ``gates_lattice`` beyond."""
    exact = d - 2 <= xor_margin.EXACT_MAX_NOISE_DIM
    return config.gamma.gates_exact if exact else config.gamma.gates_lattice


def gamma_row(d: int, config) -> dict:
    """γ of noisy 2-XOR at d (kd_theory.xor_margin.margin_estimate) on gates of the named stream."""
    K = gamma_gates(d, config)
    gates = rng.numpy_rng(config.seed, "gates", xor_name(d), "structured").standard_normal((K, d))
    est = xor_margin.margin_estimate(d, K, gates=gates, resolution_check=config.gamma.resolution_check or 0)
    return {"d": d, "gamma": est.value, "gamma_se": est.standard_error, "gamma_d": est.value * d,
            "gamma_d_se": est.standard_error * d, "num_gates": est.num_gates, "method": est.method,
            "plain_mean": est.plain_mean, "plain_se": est.plain_standard_error, "points_per_sd": est.points_per_sd,
            "resolution_change": est.resolution_change, "resolution_change_se": est.resolution_change_se,
            "seconds": round(est.seconds, 3)}


def gamma_rows(config) -> list[dict]:
    rows = []
    for d in progress.bar(config.gamma.dims, "γ of noisy 2-XOR", enabled=config.progress, unit="d"):
        rows.append(gamma_row(d, config))
    return rows


def svm_rows(config) -> list[dict]:
    rows = []
    for d in config.gamma.svm_dims:
        g2 = xor_margin.svm_margin_exact(d)
        rows.append({"d": d, "gamma2": g2, "gamma2_d": g2 * d})
    return rows


def compute(config) -> dict:
    """Every number of the experiment, as the results.json dict."""
    timings, t0 = {}, time.perf_counter()
    certified = certified_rows(config)
    timings["certified_s"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    gamma = gamma_rows(config)
    svm = svm_rows(config)
    timings["gamma_s"] = round(time.perf_counter() - t1, 1)
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    results = {"experiment": "margin", "certified": certified, "gamma": gamma, "svm": svm,
               **analysis.analyse(certified, gamma, svm, config), "timings": timings}
    results.update({"config": config.to_dict(), "environment": environment_info()})
    return results


def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder judged again (the launcher's ``--rejudge``): the fits, the estimator's
    check and both verdicts of this code on the measurements the run stored — its certified solves, γ and γ₂
    per d (results.json ``certified``, ``gamma``, ``svm``; runs.csv and gamma.csv are views of them)."""
    del rows   # runs.csv lists the certified solves, which results.json holds whole (with each draw's row)
    return analysis.analyse(stored["certified"], stored["gamma"], stored["svm"], config)


def solve_rows(results: dict) -> list[dict]:
    """runs.csv: one line per certified solve (data set × gate draw)."""
    keep = ("dataset", "family", "n", "d", "num_gates")
    return [{**{k: r[k] for k in keep}, **draw} for r in results["certified"] for draw in r["draws"]]


def dimension_rows(results: dict) -> list[dict]:
    """gamma.csv: one line per d of gamma.dims ∪ gamma.svm_dims: γ ± SE and γ₂ (blank where not computed)."""
    gamma = {r["d"]: r for r in results["gamma"]}
    svm = {r["d"]: r for r in results["svm"]}
    rows = []
    for d in sorted(set(gamma) | set(svm)):
        g, s = gamma.get(d, {}), svm.get(d, {})
        rows.append({"d": d, **{k: g.get(k) for k in ("gamma", "gamma_se", "gamma_d", "gamma_d_se", "num_gates",
                                                       "method", "plain_mean", "plain_se", "seconds")},
                     "gamma2": s.get("gamma2"), "gamma2_d": s.get("gamma2_d")})
    return rows


def run(config, out):
    results = compute(config)
    out.write_csv("gamma.csv", dimension_rows(results))
    written = common.write_results(out, solve_rows(results), results, render.render)
    fit = results["fits"]["gamma"]
    print(f"exponent of γ over d = {fit['d_min']:g} … {fit['d_max']:g}: {fit['slope']:.4f} "
          f"[{fit['low']:.4f}, {fit['high']:.4f}]", file=sys.stderr)
    print(f"verdict: {results['verdict']} (bound γ ≥ 1/(50d): {results['bound_verdict']['verdict']})", file=sys.stderr)
    print(f"wrote {out.path}: runs.csv gamma.csv results.json {' '.join(written)} config.json "
          f"({results['timings']['total_s']:.1f}s)", file=sys.stderr)
