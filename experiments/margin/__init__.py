"""Certified NTK margin γ_K of the Table-1 data sets and of noisy 2-XOR over d, with what it says about γ.

For each data set:
- the certified interval lower ≤ γ_K ≤ upper for ONE draw of K gates (gate seed 0: the headline);
- the spread of γ_K over ``gate_seeds`` draws of K gates (mean, min, max, std of the midpoints): γ_K
  is a random variable around γ, and it moves by much more than its certified width;
- F(q̂) on ``fresh_gates`` fresh gates: the mean of ‖g_q̂(z)‖ at the solver's q̂ is an unbiased
  estimate of F(q̂) ≥ γ, i.e. of an upper bound on the population γ (with its standard error);
- the SVM bound γ₂ ≥ γ of the closed-form first-layer NTK and min‖x‖/2 ≥ γ;
- the fresh-gate check of the primal v* = g_q̂/‖g_q̂‖: min_i of its margins on fresh gates, which
  measures v*'s weakness as a population primal (not Monte-Carlo error in γ_K);
- noisy 2-XOR over its whole support: the uniform q is optimal by symmetry, so F(q_unif) on fresh gates
  is an unbiased estimate of γ itself; log γ vs log d is fitted to it and to the certified midpoints.

Compute here (results.json, runs.csv with one line per solve); tables and the figure come from
results.json alone (:mod:`experiments.margin.render`).
"""
from __future__ import annotations

import time
import zlib

import jax
import numpy as np

from experiments.margin import render as render_module
from kd_theory import data, margin
from kd_theory.results import environment_info

MAX_XOR_DIM = 12  # the support has 4·2^(d−2) points: 4096 at d = 12


def _ints(values):
    if any(isinstance(v, bool) or int(v) != v for v in values):
        raise ValueError(f"not integers: {values!r}")
    return [int(v) for v in values]


def _names(values):
    return [str(v) for v in values]


def validate(config):
    for key in ("num_gates", "max_iters", "xor_num_gates", "gate_seeds"):
        if int(config[key]) <= 0:
            raise ValueError(f"config.{key} must be a positive integer; got {config[key]}")
    if int(config.fresh_gates) < 2:
        raise ValueError(f"config.fresh_gates must be ≥ 2 (a standard error needs two gates); got {config.fresh_gates}")
    if int(config.vstar_fresh_gates) < 0:
        raise ValueError(f"config.vstar_fresh_gates must be ≥ 0 (0 = skip); got {config.vstar_fresh_gates}")
    if not 0 < float(config.tol) < 1:
        raise ValueError(f"config.tol must be in (0, 1); got {config.tol}")
    bad = [v for v in _names(config.digits_variants) if v not in data.DIGIT_VARIANTS]
    if bad:
        raise ValueError(f"config.digits_variants: unknown {bad}; allowed: {', '.join(data.DIGIT_VARIANTS)}")
    try:
        dims = _ints(config.xor_dims)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ValueError(f"config.xor_dims must be a tuple of integers; got {config.xor_dims!r}") from None
    if any(not 3 <= d <= MAX_XOR_DIM for d in dims):
        raise ValueError(f"config.xor_dims must lie in 3..{MAX_XOR_DIM} (the support has 4·2^(d−2) points); "
                         f"got {dims}")
    if not dims and not _names(config.digits_variants):
        raise ValueError("config.xor_dims and config.digits_variants are both empty: nothing to run")


def stream_key(root, dataset: str, stream: str, index: int = 0):
    """The key of draw ``index`` of the named ``stream`` ("gates", "fresh", ...) for ``dataset``.

    Folded in from stable hashes of the names (no offsets): a data set's keys do not depend on
    which other data sets run, and no two streams share a key.
    """
    name_id = lambda s: zlib.crc32(s.encode()) & 0x7FFFFFFF
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(root, name_id(dataset)), name_id(stream)),
                              int(index))


def spread(values) -> dict:
    """mean, min, max and std (ddof = 1; NaN for one value) of a list of numbers."""
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()), "std": std}


def _solve_draws(name, X, y, root, config, num_gates):
    """Certified γ_K for each gate draw; draws after the first start from the first draw's q."""
    draws = []
    for seed in range(int(config.gate_seeds)):
        t0 = time.time()
        est = margin.estimate_margin(X, y, num_gates=num_gates, key=stream_key(root, name, "gates", seed),
                                     tol=config.tol, max_iters=config.max_iters,
                                     q0=None if not draws else draws[0][0].q)
        draws.append((est, time.time() - t0))
    return draws


def _margin_row(name, family, X, y, root, config, num_gates):
    draws = _solve_draws(name, X, y, root, config, num_gates)
    head = draws[0][0]
    midpoints = [est.value for est, _ in draws]
    row = {"dataset": name, "family": family, "n": int(len(X)), "d": int(X.shape[1]), "num_gates": int(num_gates),
           "gamma_K_lower": head.lower, "gamma_K_upper": head.upper, "gamma_K": head.value,
           "relative_gap": head.relative_gap, "converged": head.converged, "iterations": head.iterations,
           "gate_seeds": len(draws), **{f"gamma_K_seed_{k}": v for k, v in spread(midpoints).items()},
           "gate_draws": [{"gate_seed": s, "gamma_K_lower": est.lower, "gamma_K_upper": est.upper,
                           "iterations": est.iterations, "converged": est.converged,
                           "solve_seconds": round(seconds, 3)} for s, (est, seconds) in enumerate(draws)],
           "near_parallel_pairs": len(head.near_parallel_pairs), "zero_margin_pairs": len(head.zero_margin_pairs),
           "norm_bound": margin.norm_upper_bound(X)}
    row["fresh_gates"] = int(config.fresh_gates)
    row["gamma_upper_fresh"], row["gamma_upper_fresh_se"] = margin.fresh_gate_dual(
        head.q, X, y, num_gates=config.fresh_gates, key=stream_key(root, name, "fresh", 0))
    if config.vstar_fresh_gates:
        fresh = margin.fresh_gate_margins(head, X, y, num_gates=config.vstar_fresh_gates,
                                          key=stream_key(root, name, "fresh", 1))
        row["vstar_fresh_gates"] = int(config.vstar_fresh_gates)
        row["vstar_fresh_min_margin"] = float(np.min(fresh))
    if config.svm:
        row["gamma2_lower"], row["gamma2_upper"] = margin.svm_margin(X, y, tol=config.tol)
    return row


def _log(row):
    print(f"[margin] {row['dataset']}: γ_K ∈ [{row['gamma_K_lower']:.5f}, {row['gamma_K_upper']:.5f}]; over "
          f"{row['gate_seeds']} gate draws {row['gamma_K_seed_mean']:.5f} ± {row['gamma_K_seed_std']:.5f}; "
          f"F(q̂) on fresh gates {row['gamma_upper_fresh']:.5f} ± {row['gamma_upper_fresh_se']:.5f} "
          f"({sum(d['solve_seconds'] for d in row['gate_draws']):.1f}s solving)", flush=True)


def _loglog_slope(dims, values):
    return float(np.polyfit(np.log(dims), np.log(values), 1)[0])


def compute(config) -> dict:
    """All numbers of the experiment, as the results.json dict."""
    start = time.time()
    root = jax.random.PRNGKey(int(config.seed))
    rows = []
    for variant in _names(config.digits_variants):
        ds = data.digits_task(variant, split_seed=int(config.digits_split_seed))
        rows.append(_margin_row(ds.name, "digits", ds.X_train, ds.y_train, root, config, int(config.num_gates)))
        _log(rows[-1])
    for d in _ints(config.xor_dims):
        X, y = data.noisy_xor_support(d)
        name = f"xor-support-d{d}"
        row = _margin_row(name, "noisy_xor", X, y, root, config, int(config.xor_num_gates))
        # Uniform q is optimal by symmetry: F(q_unif) on fresh gates estimates γ itself.
        row["gamma_symmetric"], row["gamma_symmetric_se"] = margin.fresh_gate_dual(
            np.full(len(X), 1.0 / len(X)), X, y, num_gates=config.fresh_gates, key=stream_key(root, name, "fresh", 2))
        rows.append(row)
        _log(row)
    xor_rows = [r for r in rows if r["family"] == "noisy_xor"]
    summary = {"xor_slope_certified": None, "xor_slope_symmetric": None}
    if len(xor_rows) >= 2:
        dims = [r["d"] for r in xor_rows]
        summary["xor_slope_certified"] = _loglog_slope(dims, [r["gamma_K"] for r in xor_rows])
        summary["xor_slope_symmetric"] = _loglog_slope(dims, [r["gamma_symmetric"] for r in xor_rows])
    digits = {r["dataset"]: r for r in rows if r["family"] == "digits"}
    if {"digits-full", "digits-reduced"} <= set(digits):
        full, reduced = digits["digits-full"], digits["digits-reduced"]
        summary["digits_gamma_K_ratio_reduced_over_full"] = reduced["gamma_K_seed_mean"] / full["gamma_K_seed_mean"]
    summary["seconds"] = round(time.time() - start, 1)
    return {"experiment": "margin", "rows": rows, "summary": summary, "config": config.to_dict(),
            "environment": environment_info()}


def solve_rows(results: dict) -> list[dict]:
    """runs.csv: one line per certified solve (data set × gate draw)."""
    keep = ("dataset", "family", "n", "d", "num_gates")
    return [{**{k: r[k] for k in keep}, **draw} for r in results["rows"] for draw in r["gate_draws"]]


def run(config, out):
    results = compute(config)
    out.write_json("results.json", results)
    out.write_csv("runs.csv", solve_rows(results))
    render_module.render(results, out)
    s = results["summary"]
    print(f"[margin] done in {s['seconds']}s; XOR slope {s['xor_slope_certified']} (symmetric estimate "
          f"{s['xor_slope_symmetric']}); wrote {out.path}", flush=True)
    return results["rows"]
