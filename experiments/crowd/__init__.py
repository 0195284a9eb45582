"""Crowdsourced labels: aggregators on real crowds, simulated two-type crowds with task-type partitioning, students on crowd posteriors.

Three parts (``--config.parts``), each a module:

* :mod:`experiments.crowd.real`: every aggregator on every crowd with gold labels found in the crowd
  folder (default: the bundled ``sp``), plain and after the spectral task-type partition, beside the
  published majority-vote / Dawid-Skene figures (:mod:`experiments.crowd.published`);
* :mod:`experiments.crowd.simulated`: two-type crowds (easy/hard, distinct skills) over
  n_workers / ln(n_tasks): type recovery and accuracy plain / partition / oracle;
* :mod:`experiments.crowd.bridge`: digits students (the engine) trained on crowd posteriors vs
  aggregated hard labels vs majority vote vs gold, paired by seed.

:mod:`experiments.crowd.render` writes the tables and figures from results.json;
:mod:`experiments.crowd.section` gives the report's section.
"""
from __future__ import annotations

import sys
import time

from experiments import common
from experiments.crowd import render
from experiments.crowd.config import PRESETS
from kd_theory.crowd.evaluation import AGGREGATORS
from kd_theory.crowd.simulate import VARIANTS

PARTS = ("real", "simulated", "bridge")


def crowd_dir(config) -> str:
    """The crowd folder to read: ``crowd_dir`` if given, else the preset's ("" = the bundled sp)."""
    return config.crowd_dir or PRESETS[config.preset]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _names(config, key: str, allowed, what: str) -> tuple:
    values = tuple(config[key]) if isinstance(config[key], (tuple, list)) else (config[key],)
    common.check(len(values) > 0 and len(set(values)) == len(values) and set(values) <= set(allowed), key,
                 config[key], f"a tuple of distinct {what} from {', '.join(allowed)}")
    return values


def validate(config):
    from experiments.crowd.real import crowd_folders
    common.check(config.preset in PRESETS, "preset", config.preset, ", ".join(PRESETS))
    common.check(isinstance(config.crowd_dir, str), "crowd_dir", config.crowd_dir, "a folder path or ''")
    parts = _names(config, "parts", PARTS, "parts")
    if "real" in parts:
        folder = crowd_dir(config)
        common.check(bool(crowd_folders(folder)), "crowd_dir" if config.crowd_dir else "preset",
                     config.crowd_dir or config.preset,
                     f"a folder holding answers.csv (task, worker, label) or sub-folders that do; {folder!r} has none")
        _names(config, "real_aggregators", tuple(AGGREGATORS), "aggregators")
    for key in ("partition_seed", "sim_seed", "crowd_seed", "seed", "split_seed", "sim_answers_per_task",
                "bridge_answers_per_task"):
        common.check(_is_int(config[key]) and 0 <= config[key] < 2**31, key, config[key], "an integer in 0..2³¹−1")
    if "simulated" in parts:
        _names(config, "sim_variants", VARIANTS, "variants")
        _names(config, "sim_aggregators", tuple(AGGREGATORS), "aggregators")
        common.check(_is_int(config.sim_tasks) and config.sim_tasks >= 20, "sim_tasks", config.sim_tasks,
                     "an integer ≥ 20")
        common.check_positive_floats(config, "sim_worker_ratios")
        common.check(_is_int(config.sim_seeds) and config.sim_seeds >= 2, "sim_seeds", config.sim_seeds,
                     "an integer ≥ 2 (paired intervals need two seeds)")
        common.check(isinstance(config.sim_beta, (int, float)) and 0 < config.sim_beta < 1, "sim_beta",
                     config.sim_beta, "a share in (0, 1): both types must occur")
    if "bridge" in parts:
        common.check(config.bridge_variant in VARIANTS, "bridge_variant", config.bridge_variant, ", ".join(VARIANTS))
        common.check(config.bridge_aggregator in AGGREGATORS and config.bridge_aggregator != "MV",
                     "bridge_aggregator", config.bridge_aggregator,
                     "an aggregator other than MV (MV is always a target): " + ", ".join(AGGREGATORS))
        common.check(_is_int(config.bridge_workers) and config.bridge_workers >= 3, "bridge_workers",
                     config.bridge_workers, "an integer ≥ 3")
        common.check(config.bridge_answers_per_task <= config.bridge_workers, "bridge_answers_per_task",
                     config.bridge_answers_per_task, f"0 (all) or at most bridge_workers={config.bridge_workers}")
        common.check_positive_ints(config, "select_seeds")
        common.check(_is_int(config.report_seeds) and config.report_seeds >= 2, "report_seeds",
                     config.report_seeds, "an integer ≥ 2 (paired intervals need two seeds)")
        common.check_positive_ints(config, "student_widths", even=True)
        common.check_positive_floats(config, "lr")
        common.check_positive_ints(config, "steps")
        for key in ("test_fraction", "val_fraction"):
            common.check(isinstance(config[key], (int, float)) and 0 < config[key] < 1, key, config[key],
                         "a number in (0, 1)")
        common.check(config.dtype in ("float32", "float64"), "dtype", config.dtype, "float32, float64")
        common.check(isinstance(config.memory_budget_gb, (int, float)) and config.memory_budget_gb >= 0,
                     "memory_budget_gb", config.memory_budget_gb, "0 (automatic) or a positive number of GiB")
        common.check_executor(config)
    common.check(isinstance(config.alpha, (int, float)) and 0 < config.alpha < 1, "alpha", config.alpha,
                 "a level in (0, 1), e.g. 0.05")


def run(config, out):
    from experiments.crowd.bridge import run_bridge
    from experiments.crowd.real import crowd_folders, run_real
    from experiments.crowd.simulated import run_simulated
    from kd_theory.results import environment_info
    parts = tuple(config.parts)
    rows, results, timings = [], {"experiment": "crowd", "parts": list(parts)}, {}
    t0 = time.perf_counter()
    for part in parts:
        start = time.perf_counter()
        print(f"crowd: {part} ...", file=sys.stderr, flush=True)
        if part == "real":
            part_rows, summary = run_real(config, crowd_folders(crowd_dir(config)))
            summary["crowd_dir"] = crowd_dir(config) or "bundled sp (kd_theory/crowd/datasets/sp)"
        elif part == "simulated":
            part_rows, summary = run_simulated(config)
        else:
            part_rows, summary = run_bridge(config, out.path)
        rows += part_rows
        results[part] = summary
        timings[f"{part}_s"] = time.perf_counter() - start
        print(f"crowd: {part} done in {timings[f'{part}_s']:.1f}s", file=sys.stderr, flush=True)
    timings["total_s"] = time.perf_counter() - t0
    results.update({"timings": timings, "config": config.to_dict(), "environment": environment_info()})
    written = common.write_results(out, rows, results, render.render)
    print(render.headline_markdown(results))
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json "
          f"({timings['total_s']:.1f}s)", file=sys.stderr)

