"""Pieces every experiment shares: config checks that name the bad key, and the engine's executor from
a config. (Statistics over seeds live in :mod:`kd_theory.stats`.)"""
from __future__ import annotations

import math

import numpy as np


def check(condition: bool, key: str, value, allowed: str):
    """Raise ValueError('config.KEY=VALUE: allowed ...') unless ``condition``."""
    if not condition:
        raise ValueError(f"--config.{key}={value!r} is not allowed: {allowed}")


def _values(config, key: str) -> tuple:
    values = tuple(config[key]) if isinstance(config[key], (tuple, list)) else (config[key],)
    check(len(values) > 0, key, config[key], "give at least one value")
    check(all(isinstance(v, (int, float, str, np.generic)) for v in values), key, config[key],
          "a value or a flat tuple of values")  # (and set() below needs hashable entries)
    check(len(set(values)) == len(values), key, config[key], "each value once (no duplicates)")
    return values


def check_positive_ints(config, key: str, even: bool = False, even_hint: str = ""):
    values = _values(config, key)
    for v in values:
        check(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0, key, config[key],
              "positive integers")
        if even:
            check(v % 2 == 0, key, config[key], "even widths (symmetric init pairs neurons)" + even_hint)


def check_positive_floats(config, key: str, allow_zero: bool = False):
    values = _values(config, key)
    for v in values:
        ok = isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
        check(ok, key, config[key], "finite numbers " + (">= 0" if allow_zero else "> 0"))


def check_executor(config):
    """The executor is known and, for submitit ones, installed (checked before any work is done)."""
    from kd_theory import sweep
    check(isinstance(config.executor, str) and config.executor in sweep.EXECUTORS, "executor", config.executor, ", ".join(sweep.EXECUTORS))
    if config.executor != "local":
        import importlib.util
        check(importlib.util.find_spec("submitit") is not None, "executor", config.executor,
              "local (submitit is not installed: pip install submitit)")


def executor_from_config(config, out_path: str):
    from kd_theory import sweep
    check_executor(config)
    params = {}
    if config.executor == "slurm":
        params = {"timeout_min": int(config.slurm_timeout_min)}
        if config.slurm_partition:
            params["slurm_partition"] = config.slurm_partition
    return sweep.make_executor(config.executor, out_path, **params)


def write_results(out, rows: list, results: dict, render) -> list[str]:
    """The common results format of every experiment: ``runs.csv`` (one row per run and checkpoint),
    ``results.json``, then ``render(results, out)`` (tables and figures from results.json alone).
    Returns the names of the rendered files."""
    out.write_csv("runs.csv", rows)
    out.write_json("results.json", results)
    return render(results, out)


def seed_sets(config) -> tuple[range, range]:
    """Selection seeds 0..S−1 and report seeds S..S+R−1 (``config.select_seeds``, ``config.report_seeds``):
    disjoint, so the reported inits are fresh."""
    S, R = int(config.select_seeds), int(config.report_seeds)
    return range(S), range(S, S + R)


def engine_keys(c, progress: bool = True):
    """Set the keys every engine-driven experiment shares on config ``c``: dtype, memory budget (0: half
    the device memory, or a quarter of RAM (≤ 8 GiB) on CPU), executor ("local", "submitit-local" or
    "slurm") with its Slurm settings, and progress reporting."""
    c.dtype = "float32"
    c.memory_budget_gb = 0.0
    c.executor = "local"
    c.slurm_partition = ""
    c.slurm_timeout_min = 60
    c.progress = progress
    return c


def percent(mean, std=None, digits: int = 1) -> str:
    """100·mean (± 100·std) with ``digits`` decimals; "n/a" for a missing or non-finite mean or std."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if std is None:
        return f"{100 * mean:.{digits}f}"
    return f"{100 * mean:.{digits}f} ± " + (f"{100 * std:.{digits}f}" if math.isfinite(std) else "n/a")


def gap_points(g, digits: int = 1, missing_interval: str = "") -> str:
    """"+x.x [low, high]*": a paired gap (``gap_mean``, ``gap_low``, ``gap_high`` as shares) in points with
    its 95% interval (``missing_interval`` when it is not finite), * when ``significant`` (Holm)."""
    interval = (f" [{100 * g['gap_low']:+.{digits}f}, {100 * g['gap_high']:+.{digits}f}]"
                if math.isfinite(g["gap_low"]) else missing_interval)
    return f"{100 * g['gap_mean']:+.{digits}f}{interval}{'*' if g.get('significant') else ''}"
