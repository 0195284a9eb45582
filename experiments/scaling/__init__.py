"""Neuron scaling: the smallest width m*(γ, ε) soft and hard labels need, against the measured margin γ and ε.

Part A trains, through the sweep engine in one grid, every (data set, width, label, regime, seed) of
families whose margin is measured with the certified estimator (noisy 2-XOR over its support, separable
data with a set margin, digits), and reads m* off the iteration-averaged training error
(:mod:`experiments.scaling.analysis`). Part B asks the paper's question on the digits tasks with the
Table-1 protocol (:mod:`experiments.table1`): the smallest width reaching a share of the teacher's test
accuracy, each label at its own validation-chosen regime. :mod:`experiments.scaling.render` writes the
tables and figures from results.json alone.
"""
from __future__ import annotations

import math
import sys
import time
import zlib

import numpy as np

from experiments import common
from experiments.scaling import analysis, render
from experiments.scaling.config import PRESETS, get_config
from kd_theory import bounds, data, losses, margin, nets, sweep, teachers

REGIMES = ("theorem", "equal", "plain_gd")
COROLLARY4_READINGS = ("printed", "theorem2")
HARD = "hard"


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------

def resolve(config):
    """The config with its preset applied: a preset value replaces a key only where the key still has
    its default, so values given on the command line win. Returns a new (unlocked) ConfigDict."""
    from ml_collections import config_dict
    common.check(config.preset in PRESETS, "preset", config.preset, ", ".join(PRESETS))
    resolved = config_dict.ConfigDict(config.to_dict())
    defaults = get_config()
    for dotted, value in PRESETS[config.preset].items():
        *parents, key = dotted.split(".")
        node, default = resolved, defaults
        for p in parents:
            node, default = node[p], default[p]
        if node[key] == default[key]:
            node[key] = value
    return resolved


def accuracy_config(config):
    """Part B's config in the shape experiments.table1 expects (its keys plus the engine's)."""
    from ml_collections import config_dict
    sub = config_dict.ConfigDict(config.accuracy.to_dict())
    for key in ("init", "dtype", "memory_budget_gb", "executor", "slurm_partition", "slurm_timeout_min",
                "progress"):
        sub[key] = config[key]
    sub.train_output_layer = False
    sub.alpha = 1 - config.level
    return sub


def _values(config, key):
    v = config[key]
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def validate(config):
    config = resolve(config)
    common.check(config.init in nets.INIT_SCHEMES, "init", config.init, ", ".join(nets.INIT_SCHEMES))
    common.check_positive_ints(config, "widths", even=config.init == "symmetric",
                               even_hint="; use --config.init=standard for odd widths")
    widths = _values(config, "widths")
    common.check(list(widths) == sorted(widths) and len(widths) >= 2, "widths", config.widths,
                 "an increasing grid of at least two widths")
    for key in ("seeds", "bootstrap", "margin_gates", "margin_max_iters", "teacher_steps", "equal_steps",
                "theorem_max_steps"):
        common.check_positive_ints(config, key)
    common.check_positive_ints(config, "teacher_width", even=True, even_hint=" (the teacher is symmetric)")
    common.check(isinstance(config.margin_gate_seeds, int) and config.margin_gate_seeds >= 3,
                 "margin_gate_seeds", config.margin_gate_seeds, "an integer ≥ 3 (the spread of γ_K over gate draws)")
    common.check(isinstance(config.seed, int) and config.seed >= 0, "seed", config.seed, "an integer ≥ 0")
    common.check(0 < config.success_fraction <= 1, "success_fraction", config.success_fraction,
                 "a share of seeds in (0, 1]")
    common.check(0 < config.level < 1, "level", config.level, "a level in (0, 1), e.g. 0.95")
    common.check(0 < config.margin_tol < 1, "margin_tol", config.margin_tol, "a relative gap in (0, 1)")
    dims = _values(config, "xor_dims")
    common.check(all(isinstance(d, int) and 3 <= d <= 12 for d in dims) and len(set(dims)) == len(dims),
                 "xor_dims", config.xor_dims, "distinct integers in 3..12 (the support has 4·2^(d−2) points)")
    common.check(isinstance(config.separable_dim, int) and config.separable_dim >= 2, "separable_dim",
                 config.separable_dim, "an integer ≥ 2")
    common.check_positive_ints(config, "separable_n")
    if _values(config, "separable_margins"):
        common.check_positive_floats(config, "separable_margins")
        common.check(all(g < 1 for g in _values(config, "separable_margins")), "separable_margins",
                     config.separable_margins, "margins ḡ in (0, 1)")
    variants = _values(config, "digits_variants")
    common.check(set(variants) <= set(data.DIGIT_VARIANTS) and len(set(variants)) == len(variants),
                 "digits_variants", config.digits_variants, f"distinct names from {data.DIGIT_VARIANTS}")
    common.check(isinstance(config.digits_train_size, int) and config.digits_train_size >= 0,
                 "digits_train_size", config.digits_train_size, "0 (all training images) or a positive count")
    common.check(len(dims) + len(_values(config, "separable_margins")) + len(variants) >= 2, "xor_dims",
                 config.xor_dims, "at least two data sets over xor_dims, separable_margins, digits_variants")
    common.check_positive_floats(config, "kernel_scales")
    common.check(config.headline_scale in _values(config, "kernel_scales"), "headline_scale",
                 config.headline_scale, f"one of kernel_scales {config.kernel_scales}")
    for key in ("teacher_lr", "teacher_temperature", "equal_lr", "equal_B"):
        common.check_positive_floats(config, key)
    eps = _values(config, "epsilons")
    common.check(all(isinstance(e, (int, float)) and 0 < e < 1 for e in eps) and len(set(eps)) == len(eps),
                 "epsilons", config.epsilons, "distinct targets ε in (0, 1)")
    common.check(0 < config.theorem_hard_lr <= 1, "theorem_hard_lr", config.theorem_hard_lr,
                 "Proposition 5's step η in (0, 1]")
    common.check(config.corollary4_reading in COROLLARY4_READINGS, "corollary4_reading", config.corollary4_reading,
                 ", ".join(COROLLARY4_READINGS))
    common.check(0 < config.theory_delta < 1 / 3, "theory_delta", config.theory_delta,
                 "δ in (0, 1/3) (Corollary 4's range)")
    common.check(config.headline_regime in REGIMES, "headline_regime", config.headline_regime, ", ".join(REGIMES))
    common.check(config.dtype in ("float32", "float64"), "dtype", config.dtype, "float32, float64")
    common.check(config.memory_budget_gb >= 0, "memory_budget_gb", config.memory_budget_gb,
                 "0 (automatic) or a positive number of GiB")
    common.check_executor(config)
    if config.accuracy.enabled:
        targets = _values(config.accuracy, "targets")
        common.check(all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1 for t in targets)
                     and len(targets) > 0, "accuracy.targets",
                     config.accuracy.targets, "shares of the teacher's test accuracy in (0, 1]")
        from experiments import table1
        try:
            table1.validate(accuracy_config(config))
        except ValueError as exc:  # table1 names its keys --config.KEY; here they live under accuracy.
            raise ValueError(str(exc).replace("--config.", "--config.accuracy.")) from None


# ---------------------------------------------------------------------------------------------
# Data, margins, labels
# ---------------------------------------------------------------------------------------------

def dataset_key(config, name: str):
    """A PRNG key per data set that does not depend on which other data sets run beside it."""
    import jax
    return jax.random.fold_in(jax.random.PRNGKey(config.seed), zlib.crc32(name.encode()) % 2**31)


def load_datasets(config) -> dict:
    """{name: (family, knob, Dataset)}: noisy 2-XOR over its whole support (train = test = support: the
    support is the population), separable data with margin ḡ, digits (a training subset)."""
    out = {}
    for d in config.xor_dims:
        X, y = data.noisy_xor_support(d)
        out[f"xor-d{d}"] = ("xor", d, data.Dataset(f"xor-d{d}", X, y, X, y, {"source": "noisy_xor_support", "dim": d}))
    for g in config.separable_margins:
        ds = data.separable_with_margin(config.separable_dim, g, n_train=config.separable_n, n_test=256,
                                       seed=config.seed)
        out[f"separable-g{g:g}"] = ("separable", g, ds)
    for v in config.digits_variants:
        ds = data.digits_task(v, split_seed=config.accuracy.split_seed)
        if config.digits_train_size:
            ds = data.train_subset(ds, config.digits_train_size, config.seed)
        out[f"digits-{v}"] = ("digits", v, ds)
    return out


def measure_margin(config, name, ds) -> dict:
    """γ_K (the margin of one draw of K gates) for ``margin_gate_seeds`` independent draws: per draw the
    certified [lower, upper]; γ = the mean of the midpoints, with their standard deviation."""
    import jax
    key = dataset_key(config, name)
    draws = [margin.estimate_margin(ds.X_train, ds.y_train, num_gates=config.margin_gates,
                                    key=jax.random.fold_in(key, g), tol=config.margin_tol,
                                    max_iters=config.margin_max_iters) for g in range(config.margin_gate_seeds)]
    mids = np.array([e.value for e in draws])
    return {"gamma": float(mids.mean()), "gamma_std": float(mids.std(ddof=1)),
            "gamma_lower": [e.lower for e in draws], "gamma_upper": [e.upper for e in draws],
            "converged": all(e.converged for e in draws), "num_gates": int(config.margin_gates)}


def kernel_target(s: float) -> str:
    return f"kernel@s={s:g}"


def network_target(T: float) -> str:
    return f"network@T={T:g}"


def label_targets(config, name, ds) -> tuple[dict, dict]:
    """Training targets t ∈ [0, 1]^n: hard (1 + y)/2; kernel-limit teacher σ(s·z) per scale s (gates of
    the first margin draw); a trained wide teacher σ(f/T). Returns (targets, teacher summary)."""
    import jax
    key = dataset_key(config, name)
    z = np.asarray(margin.kernel_teacher_logits(ds.X_train, ds.y_train, num_gates=config.margin_gates,
                                                key=jax.random.fold_in(key, 0), tol=config.margin_tol,
                                                max_iters=config.margin_max_iters))
    targets = {HARD: np.asarray(losses.hard_target(ds.y_train))}
    info = {"kernel_abs_logit_max": float(np.abs(z).max()), "kernel_train_acc": float(losses.accuracy(z, ds.y_train))}
    for s in config.kernel_scales:
        p = np.asarray(teachers.soft_labels(s * z))
        targets[kernel_target(s)] = p
        info[f"kernel_p_range@s={s:g}"] = [float(p.min()), float(p.max())]
    params = teachers.train_network_teacher(jax.random.fold_in(key, 2**20), ds.X_train, ds.y_train,
                                            width=config.teacher_width, steps=config.teacher_steps,
                                            learning_rate=config.teacher_lr)
    f = np.asarray(nets.apply(params, ds.X_train))
    targets[network_target(config.teacher_temperature)] = np.asarray(teachers.soft_labels(f, config.teacher_temperature))
    info.update({"network_train_acc": float(losses.accuracy(f, ds.y_train)),
                 "network_test_acc": float(losses.accuracy(nets.apply(params, ds.X_test), ds.y_test)),
                 "network_median_abs_logit": float(np.median(np.abs(f)))})
    return targets, info


# ---------------------------------------------------------------------------------------------
# Regimes
# ---------------------------------------------------------------------------------------------

def theorem_settings(kind: str, gamma: float, eps: float, n: int, config) -> dict:
    """(η, B, T) of the label's theorem for training error ≤ ε, T capped at ``theorem_max_steps``.

    soft: Corollary 4 (B = 1), η and T as printed (η = γ²ε/3, T = 9/(γ⁴ε²)) or, with
    corollary4_reading = "theorem2", Theorem 2 at β = γ²ε/32 (η = γ²ε/96, T = 9216/(γ⁴ε²)).
    hard: Proposition 5 at β = ε·ln 2 with η = theorem_hard_lr: B = (2/γ)·ln(2/(ln2·β)),
    T = (8/(γ²η))·ln²(2/(ln2·β))/(ln2·β). Widths: the theorem's m (never trained at; reported).
    """
    if kind == "soft":
        req = bounds.soft_error_requirements(gamma, eps, n, config.theory_delta)
        if config.corollary4_reading == "theorem2":
            kl = bounds.soft_kl_requirements(bounds.kl_target_for_error(eps, gamma), n, config.theory_delta)
            req = req._replace(lr=kl.lr, steps=kl.steps)
    else:
        req = bounds.hard_error_requirements(gamma, eps, n, config.theory_delta, lr=config.theorem_hard_lr)
    required = int(math.ceil(req.steps))
    steps = min(required, int(config.theorem_max_steps))
    return {"lr": float(req.lr), "B": float(req.radius), "steps": steps, "steps_required": required,
            "capped": steps < required, "width_required": float(req.width),
            "lr_times_steps_shortfall": required / steps}


def regime_runs(name, width, target, kind, seed, config, theory) -> list:
    """The runs of one (data set, width, label, seed): equal, plain GD, and the theorem's per ε."""
    def run(lr, B, regime, eps, steps):
        extra = (("label", target), ("kind", kind), ("regime", regime), ("eps_target", eps), ("T", steps))
        return sweep.Run(name, int(width), target, int(seed), float(lr), None if B is None else float(B), extra)
    out = [run(config.equal_lr, config.equal_B, "equal", None, config.equal_steps),
           run(config.equal_lr, None, "plain_gd", None, config.equal_steps)]
    for eps in config.epsilons:
        t = theory[(name, kind, eps)]
        out.append(run(t["lr"], t["B"], "theorem", float(eps), t["steps"]))
    return out


def label_kind(target: str) -> str:
    return HARD if target == HARD else "soft"


def run(config, out):
    t0 = time.perf_counter()
    config = resolve(config)
    engine = dict(out_dir=out.path, memory_budget_gb=config.memory_budget_gb or None,
                  executor=common.executor_from_config(config, out.path), progress=config.progress)
    datasets = load_datasets(config)
    info, tasks, theory = {}, {}, {}
    for name, (family, knob, ds) in datasets.items():
        t1 = time.perf_counter()
        entry = {"family": family, "knob": knob, "n": int(len(ds.y_train)), "d": int(ds.dim),
                 **measure_margin(config, name, ds)}
        targets, teacher = label_targets(config, name, ds)
        entry.update(teacher=teacher, seconds=round(time.perf_counter() - t1, 1))
        info[name] = entry
        tasks[name] = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets)
        for kind in (HARD, "soft"):
            for eps in config.epsilons:
                theory[(name, kind, eps)] = theorem_settings(kind, entry["gamma"], eps, entry["n"], config)
        print(f"{name}: n={entry['n']} γ_K={entry['gamma']:.4f} ± {entry['gamma_std']:.4f} "
              f"({entry['seconds']}s)", file=sys.stderr)
    runs = [r for name in tasks for target in tasks[name].targets for m in config.widths
            for s in range(config.seeds)
            for r in regime_runs(name, m, target, label_kind(target), s, config, theory)]
    steps = sorted({int(dict(r.extra)["T"]) for r in runs})
    options = sweep.EngineOptions(steps=tuple(steps), init=config.init, dtype=config.dtype, base_seed=config.seed)
    result = sweep.run_sweep(runs, tasks, options, **engine)
    rows = [r for r in result.rows if r["steps"] == r["T"]]  # each run read at its own T
    timings = {"part_a": result.timings}
    results = analysis.analyse(rows, info, theory, config)
    if config.accuracy.enabled:
        t1 = time.perf_counter()
        results["accuracy"], acc_rows, acc_timings = run_accuracy(config, engine)
        timings["part_b"] = dict(acc_timings, wall_s=time.perf_counter() - t1)
        out.write_csv("accuracy_runs.csv", acc_rows)
    timings["total_s"] = time.perf_counter() - t0
    results.update({"experiment": "scaling", "timings": timings, "n_runs": len(rows),
                    "config": config.to_dict()})
    written = common.write_results(out, rows, results, render.render)
    print(render.slopes_markdown(results))
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} ({len(rows)} runs in part A, "
          f"{timings['total_s']:.1f}s)", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Part B: the paper's question on the digits tasks (Table-1 protocol)
# ---------------------------------------------------------------------------------------------

def run_accuracy(config, engine) -> tuple[dict, list, dict]:
    """Hard and soft students over the width grid; regimes (lr, B, steps, T) chosen per (task, width,
    label) on the validation accuracy of the selection seeds; m* from the report seeds' test accuracy."""
    from experiments import table1
    from experiments.table1 import protocol
    sub = accuracy_config(config)
    datasets = table1.load_datasets(sub)
    tasks, _, teacher_rows = table1.build_tasks(sub, datasets)
    select, report = protocol.seed_sets(sub)
    runs = [r for name in datasets for seeds, role in ((select, "select"), (report, "report"))
            for r in table1.label_runs(sub, name, seeds, role)]
    options = sweep.EngineOptions(steps=tuple(sub.steps), init=config.init, dtype=config.dtype, base_seed=sub.seed)
    result = sweep.run_sweep(runs, tasks, options, **engine)
    chosen = protocol.choose_regimes(result.rows, sub)
    return analysis.accuracy_minimum_widths(result.rows, chosen, teacher_rows, config), result.rows, result.timings
