"""Neuron scaling: is the smallest width m*(γ, ε) that soft and hard labels need below the theorems' bounds?

Part A measures the kernel margin γ of each data set (separable data with a set margin, noisy 2-XOR over
its support) with the certified estimator, builds its hard labels and the kernel-limit teacher's soft
labels σ(z), and trains every (data set, ε, label type, width, seed) at that label type's theorem's own
(η, B, T) — Corollary 4 for soft labels, Proposition 5 for hard ones (:mod:`kd_theory.bounds`). A point
whose T is beyond ``theorem.max_steps`` is not run and is counted (never capped). Runs go to the sweep
engine in buckets of similar T, each run read at its own T. :mod:`experiments.scaling.analysis` reads m*
off the iteration-averaged training error and computes the verdict; part B asks the paper's question on
the digits with the select-on-validation, report-on-fresh-seeds protocol of :mod:`kd_theory.protocol`;
:mod:`experiments.scaling.render` writes the tables and figures from results.json alone.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from experiments import common
from experiments.scaling import analysis, render
from experiments.scaling.config import SCHEMA
from kd_theory import bounds, data, margin, progress, rng, sweep
from kd_theory.protocol import EngineConfig, Task, selection, targets

LABELS = ("hard", "soft")
BUCKET_RATIO = 2.0  # runs whose theorem T are within this factor share one sweep (trained to its largest T)


def validate(config):
    SCHEMA.validate(config)


# ---------------------------------------------------------------------------------------------
# Data, margins, labels
# ---------------------------------------------------------------------------------------------

def separable_name(margin_bar: float) -> str:
    return f"separable-g{margin_bar:g}"


def load_datasets(config) -> dict:
    """{name: (family, knob, Dataset)}: separable data with margin ḡ (one direction u for the family: the
    "data" stream of the family), and noisy 2-XOR over its whole support (train = test = the support,
    which is the population)."""
    d = config.data
    out = {}
    family_seed = rng.stream_seed(config.seed, "data", f"separable-d{d.separable_dim}")
    for g in d.separable_margins:
        ds = data.separable_with_margin(d.separable_dim, g, n_train=d.separable_n, n_test=d.separable_test,
                                        seed=family_seed)
        out[separable_name(g)] = ("separable", float(g), ds)
    for dim in d.xor_dims:
        X, y = data.noisy_xor_support(dim)
        out[f"xor-d{dim}"] = ("xor", int(dim), data.Dataset(f"xor-d{dim}", X, y, X, y,
                                                             {"source": "noisy_xor_support", "dim": dim}))
    return out


def gate_key(config, name: str, draw: int):
    """The key of gate draw ``draw`` of data set ``name`` ("gates" stream)."""
    return rng.stream_key(config.seed, "gates", name, draw)


def measure_margin(config, name: str, ds) -> dict:
    """γ_K for ``margin.draws`` independent draws of K gates: per draw the certified [lower, upper];
    γ = the mean of the midpoints, with their standard deviation (the Monte-Carlo spread of γ_K)."""
    m = config.margin
    draws = [margin.estimate_margin(ds.X_train, ds.y_train, num_gates=m.gates, key=gate_key(config, name, g),
                                    tol=m.tol, max_iters=m.max_iters) for g in range(m.draws)]
    mids = np.array([e.value for e in draws])
    return {"gamma": float(mids.mean()), "gamma_std": float(mids.std(ddof=1)),
            "gamma_lower": [float(e.lower) for e in draws], "gamma_upper": [float(e.upper) for e in draws],
            "converged": bool(all(e.converged for e in draws)), "num_gates": int(m.gates)}


def build_task(config, name: str, ds) -> Task:
    """Hard labels (1 + y)/2 and the kernel-limit teacher's σ(z) (the teacher of Corollary 4, no
    temperature), its v* from the gates of draw 0."""
    teacher = targets.kernel_teacher(gate_key(config, name, 0), ds, name="kernel", num_gates=config.margin.gates,
                                     tol=config.margin.tol, max_iters=config.margin.max_iters)
    return Task.build(ds, [targets.hard(ds, "hard"), targets.soft(teacher, 1.0, "soft")], [teacher], name=name)


# ---------------------------------------------------------------------------------------------
# The theorems' settings
# ---------------------------------------------------------------------------------------------

def theorem_settings(kind: str, gamma: float, eps: float, n: int, config) -> dict:
    """(η, B, T) of label type ``kind``'s theorem for iteration-averaged training error ≤ ε, and whether
    T fits ``theorem.max_steps`` (never capped: a point beyond it is not run).

    soft, Corollary 4: B = 1, η = γ²ε/3, T = ⌈9/(γ⁴ε²)⌉ as printed; with corollary4_reading = "theorem2",
    Theorem 2 at β = γ²ε/32 (Lemma 3): η = γ²ε/96, T = ⌈9216/(γ⁴ε²)⌉.
    hard, Proposition 5 at β = ε·ln 2 with η = ``theorem.hard_lr`` ≤ 1: B = (2/γ)·ln(2/(ln2·β)),
    T = ⌈(8/(γ²η))·ln²(2/(ln2·β))/(ln2·β)⌉. ``width_required`` is the theorem's m (the bound's shape).
    """
    t = config.theorem
    if kind == "soft":
        req = bounds.soft_error_requirements(gamma, eps, n, t.delta)
        if t.corollary4_reading == "theorem2":
            kl = bounds.soft_kl_requirements(bounds.kl_target_for_error(eps, gamma), n, t.delta)
            req = req._replace(lr=kl.lr, steps=kl.steps)
    else:
        req = bounds.hard_error_requirements(gamma, eps, n, t.delta, lr=t.hard_lr)
    required = int(math.ceil(req.steps))
    run = required <= t.max_steps
    return {"lr": float(req.lr), "B": float(req.radius), "steps_required": required, "run": run,
            "width_required": float(req.width),
            "not_run": "" if run else f"T required = {required:,}, beyond theorem.max_steps = {t.max_steps:,}"}


def theorem_plan(info: dict, config) -> list[dict]:
    """One entry per (data set, label type, ε): its γ, n and theorem settings."""
    return [{"dataset": name, "label": kind, "eps": float(eps), "gamma": entry["gamma"], "n": entry["n"],
             **theorem_settings(kind, entry["gamma"], float(eps), entry["n"], config)}
            for name, entry in info.items() for kind in LABELS for eps in config.epsilons]


def buckets(points: list[dict], ratio: float = BUCKET_RATIO) -> list[list[dict]]:
    """Points (dicts with "T"), grouped in increasing T so that within a group the largest T ≤ ratio × the
    smallest: one sweep per group (one compile), trained to its largest T, each run read at its own T."""
    out = []
    for p in sorted(points, key=lambda p: p["T"]):
        if out and p["T"] <= ratio * out[-1][0]["T"]:
            out[-1].append(p)
        else:
            out.append([p])
    return out


def theorem_runs(point: dict, config) -> list:
    """The runs of one theorem point: every width and seed at the theorem's (η, B, T)."""
    extra = (("label", point["label"]), ("regime", "theorem"), ("eps_target", point["eps"]),
             ("T", point["steps_required"]))
    return [sweep.Run(point["dataset"], int(m), point["label"], s, point["lr"], point["B"], extra)
            for m in config.widths for s in range(config.seeds)]


def equal_runs(name: str, config) -> list:
    """The descriptive equal-budget runs of one data set: the same (η, B, T) for both label types, read
    against every ε."""
    e = config.equal
    return [sweep.Run(name, int(m), label, s, float(e.lr), None if e.B is None else float(e.B),
                      (("label", label), ("regime", "equal"), ("eps_target", None), ("T", e.steps)))
            for label in LABELS for m in config.widths for s in range(config.seeds)]


def sweep_points(plan: list, names, config) -> list[dict]:
    """What goes to the engine: each theorem point that runs, and the equal-budget runs of each data set."""
    points = [{"T": p["steps_required"], "what": f"{p['dataset']} {p['label']} ε={p['eps']:g}",
               "runs": theorem_runs(p, config)} for p in plan if p["run"]]
    if config.equal.enabled:
        points += [{"T": config.equal.steps, "what": f"{name} equal", "runs": equal_runs(name, config)}
                   for name in names]
    return points


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------

def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder recomputed from its runs.csv rows (the launcher's ``--rejudge``): m*,
    the bound tests, the exponents, the phase map and the verdicts of this code, on the runs of the code that
    trained, with the margins and theorem points the run measured (results.json ``datasets``,
    ``theorem_points``). Part B (accuracy_runs.csv, descriptive: no verdict reads it) is carried over as run."""
    return analysis.analyse(rows, stored["datasets"], stored["theorem_points"], config)


def run(config, out):
    t0 = time.perf_counter()
    engine = EngineConfig.from_config(config.engine)
    sweep_args = dict(out_dir=out.path, init=config.init, base_seed=config.seed)
    datasets = load_datasets(config)
    info, tasks = {}, {}
    bar = progress.bar(datasets.items(), "margins and teachers", total=len(datasets), enabled=config.engine.progress,
                       unit="data set")
    for name, (family, knob, ds) in bar:
        t1 = time.perf_counter()
        entry = {"family": family, "knob": knob, "n": int(len(ds.y_train)), "d": int(ds.dim),
                 **measure_margin(config, name, ds)}
        tasks[name] = build_task(config, name, ds)
        teacher = tasks[name].teachers["kernel"]
        z = np.asarray(teacher.logits["train"])
        entry.update(teacher={"kind": teacher.kind, "train_acc": teacher.accuracy["train"],
                              "abs_logit_max": float(np.abs(z).max()), "abs_logit_median": float(np.median(np.abs(z)))},
                     seconds=round(time.perf_counter() - t1, 1))
        info[name] = entry
        bar.write(f"{name}: n={entry['n']} γ_K={entry['gamma']:.4f} ± {entry['gamma_std']:.4f} ({entry['seconds']}s)",
                  file=sys.stderr)
    plan = theorem_plan(info, config)
    for p in plan:
        if not p["run"]:
            print(f"not run: {p['dataset']} {p['label']} ε={p['eps']:g}: {p['not_run']}", file=sys.stderr)
    rows, timings = [], {}
    groups = buckets(sweep_points(plan, list(tasks), config))
    for k, group in enumerate(groups):
        steps = tuple(sorted({p["T"] for p in group}))
        print(f"sweep {k + 1}/{len(groups)}: {len(group)} points, T = {steps[0]:,} … {steps[-1]:,}", file=sys.stderr)
        result = engine.run([r for p in group for r in p["runs"]], tasks, steps=steps, **sweep_args)
        rows += [r for r in result.rows if r["steps"] == r["T"]]  # each run read at its own T
        timings[f"sweep_{k + 1}"] = dict(result.timings, T=[steps[0], steps[-1]], points=[p["what"] for p in group])
    results = analysis.analyse(rows, info, plan, config)
    if config.accuracy.enabled:
        t1 = time.perf_counter()
        results["accuracy"], acc_rows, acc_timings = run_accuracy(config, engine, out)
        timings["part_b"] = dict(acc_timings, wall_s=time.perf_counter() - t1)
        out.write_csv("accuracy_runs.csv", acc_rows)
    timings["total_s"] = time.perf_counter() - t0
    results.update({"experiment": "scaling", "timings": timings, "n_runs": len(rows)})
    n_div = results["n_diverged"] + (results.get("accuracy") or {}).get("n_diverged", 0)
    if n_div:
        print(f"warning: {n_div} runs diverged (non-finite parameters or outputs); each counts as a failure for m* "
              "(results.json: diverged_runs)", file=sys.stderr)
    written = common.write_results(out, rows, results, render.render)
    print(render.verdict_summary(results))
    print(f"verdict: {results['verdict']}", file=sys.stderr)
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json ({len(rows)} runs in part A, "
          f"{timings['total_s']:.1f}s)", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Part B: the paper's question on the digits (select on validation, report on fresh seeds)
# ---------------------------------------------------------------------------------------------

def digits_task(config, variant: str) -> Task:
    """Hard labels and a wide network teacher's σ(f/T) at every temperature, on the 8×8 digits."""
    a = config.accuracy
    ds = data.digits_task(variant, a.test_fraction, rng.stream_seed(config.seed, "split", "digits"), center=a.center,
                          val_fraction=a.val_fraction)
    name = f"digits-{variant}"
    teacher = targets.network_teacher(rng.stream_key(config.seed, "teacher", name), ds, name="network",
                                      width=a.teacher.width, steps=a.teacher.steps, learning_rate=a.teacher.lr,
                                      progress=config.engine.progress)
    soft = [targets.soft(teacher, T) for T in a.temperature]
    return Task.build(ds, [targets.hard(ds)] + soft, [teacher], name=name)


def accuracy_runs(config, task: Task) -> list:
    """Every (width, label, T, lr, B) of part B for the selection and the report seeds (hard and soft
    students of seed s share their initialisation)."""
    a = config.accuracy
    select, report = common.seed_sets(a)
    labels = [("hard", None)] + [("soft", float(T)) for T in a.temperature]
    runs = []
    for role, seeds in (("select", select), ("report", report)):
        for m in a.widths:
            for label, T in labels:
                target = "hard" if label == "hard" else targets.soft_name(T)
                for lr in a.lr:
                    for B in a.B:
                        runs += [sweep.Run(task.name, int(m), target, int(s), float(lr), None if B is None else float(B),
                                           (("label", label), ("temperature", T), ("role", role))) for s in seeds]
    return runs


def run_accuracy(config, engine: EngineConfig, out) -> tuple[dict, list, dict]:
    """Part B's sweep, the settings chosen on validation (:func:`kd_theory.protocol.selection.choose`) and
    m* from the report seeds' test accuracy (:func:`experiments.scaling.analysis.accuracy_minimum_widths`)."""
    a = config.accuracy
    tasks = {}
    for variant in a.datasets:
        task = digits_task(config, variant)
        tasks[task.name] = task
    teachers = [dict(t, **task.split_sizes()) for task in tasks.values() for t in task.teacher_summaries()]
    runs = [r for task in tasks.values() for r in accuracy_runs(config, task)]
    result = engine.run(runs, tasks, steps=tuple(a.steps), out_dir=out.path, init=config.init, base_seed=config.seed)
    chosen = selection.choose(result.rows, group_keys=analysis.ACC_GROUP_KEYS, setting_keys=analysis.ACC_SETTING_KEYS,
                              tie_break=analysis.tie_break)
    return (analysis.accuracy_minimum_widths(result.rows, chosen, teachers, config), result.rows,
            result.timings)
