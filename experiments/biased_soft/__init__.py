"""Biased soft labels (Yuan et al. 2023): students on 10-class digits learn from soft labels of known (Δ, γ), incl. skillful-but-bad teachers.

Each soft-label set for the training images comes from a generator of :mod:`kd_theory.biased` or a
teacher of :mod:`kd_theory.teachers` (:func:`label_sets`); its unreliability Δ̂ and ambiguity γ̂ are
measured against the true training labels at k, at k_paper and at the set's own k. Every student
of every set, learning rate and seed is one run of ONE engine sweep (multiclass two-layer students,
the cross-entropy against the soft label vector); :mod:`experiments.biased_soft.protocol` chooses
(lr, steps) per set on the selection seeds' validation accuracy and reports the report seeds' test
accuracy with the paired gap to the true-label student; :mod:`experiments.biased_soft.render`
writes the table and figures from results.json; :mod:`experiments.biased_soft.section` the verdict.
"""
from __future__ import annotations

import math
import sys
import time
from typing import NamedTuple

import numpy as np

from experiments import common
from experiments.biased_soft import protocol, render

NUM_CLASSES = 10
DATASET = "digits10"
# tags of the generators' NumPy seeds [config.seed, tag, index]: one independent stream per generator
GENERATOR_TAGS = {"noise": 1, "partial": 2}


class LabelSet(NamedTuple):
    """One set of soft labels for the training images: its name (the engine's target), generator,
    knob values, the (n, C) soft labels, the k it is built for, the (Δ, γ) expected at that k where
    the generator has a formula (else None), and the teacher's test top-1 accuracy (teachers only)."""
    name: str
    generator: str
    knob: dict
    soft: np.ndarray
    own_k: int
    expected: tuple | None = None
    teacher_test_top1: float | None = None


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _check_numbers(config, key: str):
    """Every entry of ``config[key]`` is a finite number (checked before common's checks, which hash them)."""
    common.check(all(_is_number(v) for v in _as_tuple(config[key])), key, config[key], "a tuple of finite numbers")


def _check_rates(config, key: str, high_open: bool = False):
    """A tuple of distinct rates in [0, 1] (or [0, 1) when ``high_open``)."""
    _check_numbers(config, key)
    common.check_positive_floats(config, key, allow_zero=True)
    for v in _as_tuple(config[key]):
        common.check(v < 1 if high_open else v <= 1, key, config[key],
                     "distinct numbers in [0, 1)" if high_open else "distinct numbers in [0, 1]")


def validate(config):
    for key in ("seed", "split_seed"):
        common.check(_is_int(config[key]) and config[key] >= 0, key, config[key], "an integer ≥ 0")
    for key in ("test_fraction", "val_fraction"):
        common.check(_is_number(config[key]) and 0 < config[key] < 1, key, config[key], "a number in (0, 1)")
    common.check(isinstance(config.center, bool), "center", config.center, "True or False")
    common.check_positive_ints(config, "select_seeds")
    common.check_positive_ints(config, "report_seeds")
    common.check(config.report_seeds >= 2, "report_seeds", config.report_seeds,
                 "at least 2 (a std and a paired interval need two seeds)")
    common.check_positive_ints(config, "student_width", even=True)
    for key in ("lr", "steps", "noise_sigmas", "temperatures", "early_steps"):
        _check_numbers(config, key)
    common.check_positive_floats(config, "lr")
    common.check_positive_ints(config, "steps")
    for key in ("k", "k_paper", "sbt_k"):
        common.check(_is_int(config[key]) and 1 <= config[key] <= NUM_CLASSES - 1, key, config[key],
                     f"an integer in 1..{NUM_CLASSES - 1} (1..classes − 1)")
    if _as_tuple(config.smoothing):
        _check_rates(config, "smoothing", high_open=True)
    if _as_tuple(config.noise_sigmas):
        common.check_positive_floats(config, "noise_sigmas")
    common.check(_is_int(config.partial_size) and 2 <= config.partial_size <= NUM_CLASSES - 2, "partial_size",
                 config.partial_size, f"an integer in 2..{NUM_CLASSES - 2} (so every candidate set can be filled)")
    if _as_tuple(config.partial_false_negative) or _as_tuple(config.partial_distractor):
        _check_rates(config, "partial_false_negative")
        _check_rates(config, "partial_distractor")
    common.check_positive_ints(config, "teacher_width", even=True, even_hint=" (the teacher is always symmetric)")
    common.check_positive_ints(config, "teacher_steps")
    common.check_positive_floats(config, "teacher_lr")
    if _as_tuple(config.temperatures):
        common.check_positive_floats(config, "temperatures")
    if _as_tuple(config.early_steps):
        common.check_positive_ints(config, "early_steps")
    alphas = _as_tuple(config.sbt_alphas)
    for a in alphas:
        common.check(isinstance(a, (tuple, list)) and len(a) == 3 and all(_is_number(x) and x >= 0 for x in a),
                     "sbt_alphas", config.sbt_alphas, "a tuple of (α1, α2, α3) triples of finite numbers ≥ 0, "
                     "e.g. ((1.0, 1.0, 1.0),); () for no SBT teacher")
    common.check(len({tuple(a) for a in alphas}) == len(alphas), "sbt_alphas", config.sbt_alphas,
                 "each triple once (no duplicates)")
    if alphas:
        common.check_positive_ints(config, "sbt_steps")
        common.check_positive_floats(config, "sbt_temperature")
    common.check(_is_number(config.close_points) and config.close_points > 0, "close_points", config.close_points,
                 "a positive number of accuracy points")
    common.check(_is_number(config.condition_band) and 0 <= config.condition_band < 1, "condition_band",
                 config.condition_band, "a number in [0, 1)")
    common.check(_is_number(config.headline_top1) and 0 < config.headline_top1 <= 1, "headline_top1",
                 config.headline_top1, "a top-1 accuracy in (0, 1]")
    common.check(_is_number(config.alpha) and 0 < config.alpha < 1, "alpha", config.alpha,
                 "a level in (0, 1), e.g. 0.05")
    common.check(config.dtype in ("float32", "float64"), "dtype", config.dtype, "float32, float64")
    common.check(_is_number(config.memory_budget_gb) and config.memory_budget_gb >= 0, "memory_budget_gb",
                 config.memory_budget_gb, "0 (automatic) or a positive number of GiB")
    common.check(isinstance(config.progress, bool), "progress", config.progress, "True or False")
    common.check(isinstance(config.executor, str), "executor", config.executor, "a name, e.g. 'local'")
    common.check_executor(config)


def load_dataset(config):
    """The 10-class digits: train / validation / test, stratified by digit."""
    from kd_theory import data
    return data.digits_task("full", config.test_fraction, config.split_seed, center=config.center,
                            val_fraction=config.val_fraction, num_classes=NUM_CLASSES)


def _seed(config, generator: str, index: int) -> list:
    """The NumPy seed of one generated set: [seed, generator tag, index] (a SeedSequence entropy)."""
    return [int(config.seed), GENERATOR_TAGS[generator], int(index)]


def generated_sets(config, y) -> list[LabelSet]:
    """The true labels and the generators without a teacher, each with its expected (Δ, γ) at its own k."""
    from kd_theory import biased
    C = NUM_CLASSES
    sets = [LabelSet("true", "true", {}, biased.one_hot(y, C), 1, (0.0, 0.0))]
    sets += [LabelSet(f"smooth eps={e:g}", "smoothing", {"epsilon": float(e)}, biased.label_smoothing(y, C, e), 1,
                      (0.0, 0.0)) for e in config.smoothing]
    for i, sigma in enumerate(config.noise_sigmas):
        expected = biased.indicators_from_rates(biased.gaussian_noise_expected_rates(sigma, C, 1))
        sets.append(LabelSet(f"noise sigma={sigma:g}", "noise", {"sigma": float(sigma)},
                             biased.gaussian_noise_labels(y, C, sigma, _seed(config, "noise", i)), 1, expected))
    s = int(config.partial_size)
    for i, (q, r) in enumerate((q, r) for q in config.partial_false_negative for r in config.partial_distractor):
        expected = biased.indicators_from_rates(biased.partial_label_expected_rates(C, s, q, r))
        sets.append(LabelSet(f"partial s={s} q={q:g} r={r:g}", "partial",
                             {"candidate_size": s, "false_negative_rate": float(q), "distractor_rate": float(r)},
                             biased.partial_labels(y, C, s, q, r, _seed(config, "partial", i)), s, expected))
    return sets


def teacher_sets(config, ds) -> list[LabelSet]:
    """Soft labels from trained teachers: the cross-entropy teacher at each temperature, the same
    trajectory stopped after ``early_steps`` Adam steps (full batch Adam is deterministic, so these are
    checkpoints of the one run), and one SBT teacher per α triple."""
    from kd_theory import biased, nets, rng, teachers
    key = rng.stream_key(config.seed, "teacher", 0)
    common_args = dict(width=config.teacher_width, learning_rate=config.teacher_lr, num_classes=NUM_CLASSES)
    sets = []

    def add(name, generator, knob, params, temperature, own_k):
        logits = np.asarray(nets.apply(params, ds.X_train), np.float64)
        test_top1 = float(np.mean(np.argmax(np.asarray(nets.apply(params, ds.X_test)), axis=1) == ds.y_test))
        sets.append(LabelSet(name, generator, knob, biased.temperature_scaled(logits, temperature), own_k,
                             None, test_top1))

    if _as_tuple(config.temperatures):
        full = teachers.train_network_teacher(key, ds.X_train, ds.y_train, steps=config.teacher_steps, **common_args)
        for T in config.temperatures:
            add(f"teacher T={T:g}", "temperature", {"temperature": float(T)}, full, T, 1)
    for s in config.early_steps:
        params = teachers.train_network_teacher(key, ds.X_train, ds.y_train, steps=int(s), **common_args)
        add(f"early steps={s}", "early", {"steps": int(s)}, params, 1.0, 1)
    for i, alphas in enumerate(config.sbt_alphas):
        alphas = tuple(float(a) for a in alphas)
        params = teachers.train_sbt_teacher(rng.stream_key(config.seed, "teacher", 1 + i), ds.X_train, ds.y_train,
                                            num_classes=NUM_CLASSES, k=config.sbt_k, alphas=alphas,
                                            width=config.teacher_width, steps=config.sbt_steps,
                                            learning_rate=config.teacher_lr)
        add("sbt a=(" + ",".join(f"{a:g}" for a in alphas) + ")", "sbt",
            {"alphas": list(alphas), "k": int(config.sbt_k), "temperature": float(config.sbt_temperature)},
            params, config.sbt_temperature, int(config.sbt_k))
    return sets


def label_sets(config, ds) -> list[LabelSet]:
    """Every soft-label set of the experiment, the true labels first."""
    sets = generated_sets(config, ds.y_train) + teacher_sets(config, ds)
    names = [s.name for s in sets]
    if len(set(names)) != len(names):  # e.g. two knob values that print alike
        raise ValueError(f"two soft-label sets share a name: {sorted(n for n in names if names.count(n) > 1)}")
    return sets


def set_indicators(config, label_set: LabelSet, y) -> dict:
    """Δ̂, γ̂ of one set at k, at k_paper and at its own k, the per-class Δ_c, γ_c at its own k, and the
    teacher top-1 accuracy 1 − Δ̂ at k = 1 (on the training labels the soft labels are given for)."""
    from kd_theory import biased
    ks = {"k": int(config.k), "k_paper": int(config.k_paper), "own": label_set.own_k}
    out = {name: dict(zip(("k", "delta", "gamma"), (k,) + biased.indicators(label_set.soft, y, k)))
           for name, k in ks.items()}
    breakdown = biased.class_breakdown(label_set.soft, y, label_set.own_k)
    top1_delta, _ = biased.indicators(label_set.soft, y, 1)
    return {"indicators": out, "teacher_top1": 1.0 - top1_delta,
            "class_delta": breakdown.unreliability.tolist(), "class_gamma": breakdown.ambiguity.tolist(),
            "expected": None if label_set.expected is None else
            {"k": label_set.own_k, "delta": label_set.expected[0], "gamma": label_set.expected[1]}}


def student_runs(config, sets: list[LabelSet]) -> list:
    """One engine run per (set, lr, seed); selection and report seeds, one grid."""
    from kd_theory import sweep
    select_seeds, report_seeds = protocol.seed_sets(config)
    return [sweep.Run(DATASET, int(config.student_width), s.name, int(seed), float(lr), None,
                      (("label_set", s.name), ("generator", s.generator), ("role", role)))
            for s in sets for lr in config.lr
            for seeds, role in ((select_seeds, "select"), (report_seeds, "report")) for seed in seeds]


def run(config, out):
    from kd_theory import results as results_lib
    from kd_theory import sweep
    t0 = time.perf_counter()
    ds = load_dataset(config)
    sets = label_sets(config, ds)
    t_labels = time.perf_counter() - t0
    info = [{"label_set": s.name, "generator": s.generator, "knob": s.knob, "own_k": s.own_k,
             "teacher_test_top1": s.teacher_test_top1, **set_indicators(config, s, ds.y_train)} for s in sets]
    for i in info:
        own = i["indicators"]["own"]
        print(f"{i['label_set']:>28s}: top-1 {100 * i['teacher_top1']:5.1f}%  Δ̂={own['delta']:.3f} "
              f"γ̂={own['gamma']:.3f} (k={own['k']})", file=sys.stderr)
    task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                      {s.name: s.soft.astype(np.float32) for s in sets}, num_classes=NUM_CLASSES,
                      X_val=ds.X_val, y_val=ds.y_val)
    options = sweep.EngineOptions(steps=tuple(int(s) for s in config.steps), dtype=config.dtype,
                                  base_seed=int(config.seed))
    result = sweep.run_sweep(student_runs(config, sets), {DATASET: task}, options, out_dir=out.path,
                             memory_budget_gb=config.memory_budget_gb or None,
                             executor=common.executor_from_config(config, out.path), progress=config.progress)
    rows = result.rows
    results = protocol.analyse(rows, info, config)
    timings = {"labels_s": t_labels, "sweep": result.timings, "resumed_runs": result.n_resumed_runs,
               "total_s": time.perf_counter() - t0}
    results.update({"experiment": "biased_soft", "timings": timings, "data": dict(ds.info),
                    "n_train": int(len(ds.y_train)), "n_val": int(len(ds.y_val)), "n_test": int(len(ds.y_test)),
                    "n_runs": len({(r["label_set"], r["lr"], r["seed"]) for r in rows}),
                    "config": config.to_dict(), "environment": results_lib.environment_info()})
    written = common.write_results(out, rows, results, render.render)
    print(render.table_markdown(results))
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json ({results['n_runs']} runs, "
          f"{timings['total_s']:.1f}s)", file=sys.stderr)
