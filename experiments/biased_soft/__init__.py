"""Biased soft labels (Yuan et al. 2023): does a teacher with top-1 < 30% teach almost as well as the true labels?

Per training-set size (``train_sizes``; one :class:`~kd_theory.protocol.Task` each) the soft-label sets of
the training images come from the generators of :mod:`kd_theory.biased` through
:func:`kd_theory.protocol.targets.biased` (label smoothing, Gaussian noise, partial labels; their labels
from the "labels" stream) and from teachers through :func:`kd_theory.protocol.targets.soft` (a network
teacher at each temperature, the same teacher stopped early, and the skillful-but-bad teachers; keys from
the "teacher" stream), the true labels first (:func:`kd_theory.protocol.targets.hard`, the reference).
Their unreliability Δ̂ and ambiguity γ̂ are measured against the true training labels at ``k``, at
``k_paper`` and at the set's own k. Every student of every (task, set, lr, seed) is one run of ONE engine
sweep; :mod:`experiments.biased_soft.analysis` chooses (lr, steps) per set on validation, reports test
accuracy of fresh seeds and computes the two verdicts; :mod:`experiments.biased_soft.render` writes the
tables and figures from results.json.
"""
from __future__ import annotations

import sys
import time
from typing import NamedTuple

import numpy as np

from experiments import common
from experiments.biased_soft import analysis, cnn, render
from experiments.biased_soft.config import NUM_CLASSES, SCHEMA
from kd_theory import biased, data, nets, rng, sweep, teachers
from kd_theory.protocol import EngineConfig, Target, Task, Teacher, targets

REFERENCE = analysis.REFERENCE


class LabelSet(NamedTuple):
    """One set of soft labels for a task's training images: the ``target`` the students train on, its
    ``generator`` ("true", "smoothing", "noise", "partial", "temperature", "early", "sbt"), the k it is
    built for (``own_k``), the float64 labels the indicators are measured on (``exact``: a teacher's
    softmax in float64, which has no ties where float32 underflows to 0), the (Δ, γ) expected at own k
    where the generator has a formula, and the teacher behind it (teacher sets)."""
    target: Target
    generator: str
    own_k: int
    exact: np.ndarray
    expected: tuple | None = None
    teacher: Teacher | None = None

    @property
    def name(self) -> str:
        return self.target.name


def validate(config):
    SCHEMA.validate(config)


def source_name(config) -> str:
    return {"digits": "sklearn digits 8x8", "mnist": "MNIST", "cifar10": "CIFAR-10"}[config.data]


def load_dataset(config) -> data.Dataset:
    """The ten-class train / validation / test splits of ``config.data`` (validation labels are the true ones)."""
    split = rng.stream_seed(config.seed, "split", config.data)
    if config.data == "digits":
        return data.digits_task("full", config.test_fraction, split, center=config.center,
                                val_fraction=config.val_fraction, num_classes=NUM_CLASSES)
    if config.data == "mnist":
        limit = 60000 if config.mnist_val_from == "train" else 10000
        common.check(config.mnist_val_size < limit, "mnist_val_size", config.mnist_val_size,
                     f"fewer than the {limit:,} images of MNIST's {config.mnist_val_from} split")
        return data.mnist_classes_task(config.data_dir, center=config.center, val_size=config.mnist_val_size,
                                       val_from=config.mnist_val_from, split_seed=split)
    return data.cifar10_classes_task(config.data_dir, center=config.center, split_seed=split)


def task_name(size: int) -> str:
    return f"n={size}"


def training_subsets(config, ds: data.Dataset) -> dict:
    """{task name: the data set trained on}: one per ``train_sizes`` (a random subset of the training split
    from the "subset" stream; validation and test unchanged), or the whole training split."""
    n = len(ds.y_train)
    sizes = tuple(config.train_sizes) if config.train_sizes is not None else (n,)
    common.check(max(sizes) <= n, "train_sizes", config.train_sizes,
                 f"sizes ≤ the {n:,} images of the training split")
    return {task_name(size): data.train_subset(ds, size, rng.stream_seed(config.seed, "subset", config.data, size))
            for size in sizes}


def generated_sets(config, ds: data.Dataset, name: str) -> list[LabelSet]:
    """The true labels and the generators without a teacher, each with its expected (Δ, γ) at its own k.
    Each generated set's labels come from the "labels" stream, indexed by (task, set name)."""
    y, C = ds.y_train, NUM_CLASSES
    one_hot = biased.one_hot(y, C)
    sets = [LabelSet(targets.hard(ds, REFERENCE), "true", 1, one_hot, (0.0, 0.0))]
    for e in config.smoothing:
        values = biased.label_smoothing(y, C, e)
        sets.append(LabelSet(targets.biased(f"smooth eps={e:g}", values, "smoothing", epsilon=float(e)),
                             "smoothing", 1, values, (0.0, 0.0)))
    for sigma in config.noise_sigmas:
        set_name = f"noise sigma={sigma:g}"
        values = biased.gaussian_noise_labels(y, C, sigma, rng.stream_seed(config.seed, "labels", name, set_name))
        expected = biased.indicators_from_rates(biased.gaussian_noise_expected_rates(sigma, C, 1))
        sets.append(LabelSet(targets.biased(set_name, values, "noise", sigma=float(sigma)), "noise", 1, values,
                             expected))
    s = int(config.partial.size)
    for q in config.partial.false_negative:
        for r in config.partial.distractor:
            set_name = f"partial s={s} q={q:g} r={r:g}"
            values = biased.partial_labels(y, C, s, q, r, rng.stream_seed(config.seed, "labels", name, set_name))
            expected = biased.indicators_from_rates(biased.partial_label_expected_rates(C, s, q, r))
            sets.append(LabelSet(targets.biased(set_name, values, "partial", candidate_size=s,
                                                false_negative_rate=float(q), distractor_rate=float(r)),
                                 "partial", s, values, expected))
    return sets


def _teacher_set(teacher: Teacher, temperature: float, name: str, generator: str, own_k: int) -> LabelSet:
    exact = biased.temperature_scaled(np.asarray(teacher.logits["train"], np.float64), temperature)
    return LabelSet(targets.soft(teacher, temperature, name), generator, own_k, exact, None, teacher)


def _splits(ds: data.Dataset) -> dict:
    return {"train": ds.X_train, "val": ds.X_val, "test": ds.X_test}


def teacher_sets(config, ds: data.Dataset, name: str, progress=None, out_dir: str | None = None) -> list[LabelSet]:
    """Soft labels from trained teachers (keys from the "teacher" stream, indexed by (task, teacher)): the
    cross-entropy teacher at each temperature, the same teacher stopped after ``early_steps`` Adam steps
    (the same key: full-batch Adam is deterministic, so these are checkpoints of its trajectory; with
    minibatches they are short runs from the same initialisation), and one SBT teacher per α triple.
    With ``out_dir`` each teacher is kept in ``out_dir``/teachers (:func:`targets.cached_teacher`): at
    60,000 images an SBT teacher trains for a quarter of an hour, and a rerun that adds a learning rate or a
    set must not train it again."""
    t, sbt = config.teacher, config.sbt
    network = dict(width=t.width, learning_rate=t.lr, batch_size=t.batch_size)
    key = rng.stream_key(config.seed, "teacher", name, "cross-entropy")
    common_payload = {"seed": int(config.seed), "task": name, "width": int(t.width), "lr": float(t.lr),
                      "batch_size": t.batch_size}

    def network_teacher(teacher_name: str, steps: int) -> Teacher:
        return targets.cached_teacher(out_dir, dict(common_payload, kind="cross-entropy", steps=int(steps)), ds,
                                      lambda: targets.network_teacher(key, ds, name=teacher_name, steps=steps,
                                                                      **network))
    sets = []
    if tuple(config.teacher.temperatures):
        trained = network_teacher("cross-entropy", t.steps)
        sets += [_teacher_set(trained, T, f"teacher T={T:g}", "temperature", 1) for T in t.temperatures]
        _tick(progress)
    for s in t.early_steps:
        early = network_teacher(f"cross-entropy@{s}", int(s))
        sets.append(_teacher_set(early, 1.0, f"early steps={s}", "early", 1))
        _tick(progress)
    for alphas in sbt.alphas:
        alphas = tuple(float(a) for a in alphas)
        set_name = "sbt a=(" + ",".join(f"{a:g}" for a in alphas) + ")"

        def make_sbt(alphas=alphas, set_name=set_name) -> Teacher:
            params = teachers.train_sbt_teacher(rng.stream_key(config.seed, "teacher", name, set_name), ds.X_train,
                                                ds.y_train, num_classes=NUM_CLASSES, k=sbt.k, alphas=alphas,
                                                width=t.width, steps=sbt.steps, learning_rate=t.lr,
                                                batch_size=t.batch_size)
            logits = {split: np.asarray(nets.apply(params, X)) for split, X in _splits(ds).items()}
            return targets.teacher_from_logits(set_name, "sbt", ds, logits, alphas=list(alphas), k=int(sbt.k),
                                               width=t.width, steps=sbt.steps, learning_rate=t.lr,
                                               batch_size=t.batch_size)
        payload = dict(common_payload, kind="sbt", name=set_name, alphas=list(alphas), k=int(sbt.k),
                       steps=int(sbt.steps))
        teacher = targets.cached_teacher(out_dir, payload, ds, make_sbt)
        sets.append(_teacher_set(teacher, sbt.temperature, set_name, "sbt", int(sbt.k)))
        _tick(progress)
    return sets


def _tick(progress):
    if progress is not None:
        progress.update(1)


def n_teachers(config) -> int:
    """Teachers trained per task (for the progress bar)."""
    return int(bool(tuple(config.teacher.temperatures))) + len(config.teacher.early_steps) + len(config.sbt.alphas)


def build_task(config, ds: data.Dataset, name: str, progress=None,
               out_dir: str | None = None) -> tuple[Task, list[LabelSet]]:
    """Every soft-label set of one task (the true labels first) and the Task the engine trains on; its
    teachers kept in ``out_dir``/teachers when given."""
    sets = generated_sets(config, ds, name) + teacher_sets(config, ds, name, progress, out_dir)
    teachers_of = [s.teacher for s in sets if s.teacher is not None]
    unique = list({t.name: t for t in teachers_of}.values())
    return Task.build(ds, [s.target for s in sets], unique, name=name), sets


def set_info(config, task: Task, s: LabelSet) -> dict:
    """Δ̂, γ̂ of one set at k, at k_paper and at its own k (on the float64 labels), the per-class Δ_c, γ_c at
    its own k, the top-1 accuracy 1 − Δ̂ at k = 1 on the training labels, and its teacher's accuracies."""
    y = task.data.y_train
    ks = {"k": int(config.k), "k_paper": int(config.k_paper), "own": s.own_k}
    indicators = {which: dict(zip(("k", "delta", "gamma"), (k,) + biased.indicators(s.exact, y, k), strict=True))
                  for which, k in ks.items()}
    breakdown = biased.class_breakdown(s.exact, y, s.own_k)
    info = {k: v for k, v in s.target.info.items() if k not in ("generator", "teacher")}
    return {"dataset": task.name, "train_size": int(len(y)), "label_set": s.name, "generator": s.generator,
            "label": s.target.label, "knob": info, "own_k": s.own_k, "indicators": indicators,
            "teacher_top1": 1.0 - biased.indicators(s.exact, y, 1)[0],
            "teacher_test_top1": None if s.teacher is None else s.teacher.accuracy.get("test"),
            "class_delta": breakdown.unreliability.tolist(), "class_gamma": breakdown.ambiguity.tolist(),
            "expected": None if s.expected is None else {"k": s.own_k, "delta": float(s.expected[0]),
                                                          "gamma": float(s.expected[1])}}


def student_runs(config, task: Task, sets: list[LabelSet]) -> list:
    """One engine run per (set, lr, seed), selection and report seeds alike; a seed is one initialisation
    shared by every set (so every gap to the true labels is paired)."""
    select, report = common.seed_sets(config)
    n = int(len(task.data.y_train))
    return [sweep.Run(task.name, int(config.student_width), s.name, int(seed), float(lr), None,
                      (("label_set", s.name), ("generator", s.generator), ("label", s.target.label),
                       ("train_size", n), ("role", role)))
            for s in sets for lr in config.lr for seeds, role in ((select, "select"), (report, "report"))
            for seed in seeds]


# the keys of set_info's rows: results.json keeps them inside each label set's entry, among the analysis's own
SET_INFO_KEYS = ("dataset", "train_size", "label_set", "generator", "label", "knob", "own_k", "indicators",
                 "teacher_top1", "teacher_test_top1", "class_delta", "class_gamma", "expected")


def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder recomputed from its runs.csv rows and the stored label-set, task
    and teacher rows (the launcher's ``--rejudge``): the analysis and verdicts of this code."""
    info = [{key: s[key] for key in SET_INFO_KEYS} for s in stored["label_sets"]]
    return analysis.analyse(rows, info, stored["tasks"], stored["teachers"], config, stored["source"])


def run(config, out):
    from tqdm import tqdm
    t0 = time.perf_counter()
    ds = load_dataset(config)
    subsets = training_subsets(config, ds)
    tasks, sets, info = {}, {}, []
    with tqdm(total=len(subsets) * n_teachers(config), desc="teachers", file=sys.stderr,
              disable=not config.engine.progress) as bar:
        for name, subset in subsets.items():
            tasks[name], sets[name] = build_task(config, subset, name, bar, out.path)
            info += [set_info(config, tasks[name], s) for s in sets[name]]
    for i in info:
        own = i["indicators"]["own"]
        print(f"{i['dataset']:>8s} {i['label_set']:>26s}: top-1 {100 * i['teacher_top1']:5.1f}%  "
              f"Δ̂={own['delta']:.3f} γ̂={own['gamma']:.3f} (k={own['k']})", file=sys.stderr)
    t_labels = time.perf_counter() - t0
    if config.student == "cnn":
        rows, student_timings = cnn.rows(config, tasks, sets, out.path)
    else:
        runs = [r for name, task in tasks.items() for r in student_runs(config, task, sets[name])]
        steps = tuple(sorted(set(config.steps) | {analysis.settle_checkpoint(config.steps)}))
        result = EngineConfig.from_config(config.engine).run(runs, tasks, steps=steps, out_dir=out.path,
                                                             base_seed=config.seed)
        rows, student_timings = result.rows, result.timings
    task_rows = [dict(task.split_sizes(), dataset=name, train_size=int(len(task.data.y_train)),
                      per_class_min=int(np.bincount(task.data.y_train, minlength=NUM_CLASSES).min()))
                 for name, task in tasks.items()]
    teacher_rows = [t for task in tasks.values() for t in task.teacher_summaries()]
    results = analysis.analyse(rows, info, task_rows, teacher_rows, config, source_name(config))
    results.update({"experiment": "biased_soft", "data": dict(ds.info),
                    "timings": {"labels_and_teachers_s": t_labels, "students": student_timings,
                                "total_s": time.perf_counter() - t0},
                    "n_runs": len({(r["dataset"], r["label_set"], r["lr"], r["seed"]) for r in rows})})
    if results["n_diverged"]:
        print(f"warning: {results['n_diverged']} run checkpoints diverged (non-finite parameters or outputs); they "
              "are counted and left out of every mean and test (results.json: diverged_runs)", file=sys.stderr)
    written = common.write_results(out, rows, results, render.render)
    print(render.headline_markdown(results))
    print(f"verdict: {results['verdict']} (degradation: {results['degradation_verdict']['verdict']})",
          file=sys.stderr)
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json ({results['n_runs']} runs, "
          f"{results['timings']['total_s']:.1f}s)", file=sys.stderr)
