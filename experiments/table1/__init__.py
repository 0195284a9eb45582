"""Table 1 of Mandal et al.: soft vs hard students on digit > 4 (full vs reduced), settings chosen on validation data.

Per data set: ``teachers`` wide teachers (independent initialisations, trained on the training split) give
soft labels σ(f/T); students of a few neurons train with projected GD on hard labels or on those soft
labels. Every run of the grid (dataset, width, label, temperature, lr, B, teacher, seed; steps as
checkpoints) goes to the sweep engine as one program, and each run is evaluated on the validation and
the test split. :mod:`experiments.table1.analysis` chooses settings on validation accuracy of the
selection seeds, reports the test accuracy of the other seeds and computes the verdict;
:mod:`experiments.table1.render` writes the tables and figures from results.json.
"""
from __future__ import annotations

import sys
import time

from experiments import common
from experiments.table1 import analysis, render
from experiments.table1.config import SCHEMA
from kd_theory import data, rng, sweep, teachers
from kd_theory.protocol import EngineConfig, Task, targets


def validate(config):
    SCHEMA.validate(config)


def source_name(config) -> str:
    return "MNIST" if config.data_dir else "sklearn digits 8x8"


def load_datasets(config) -> dict:
    """The train / validation / test splits of each variant (MNIST: validation = the last images)."""
    if config.data_dir:
        return {v: data.mnist_task(config.data_dir, v, center=config.center, val_size=config.mnist_val_size)
                for v in config.datasets}
    split = rng.stream_seed(config.seed, "split", "digits")
    return {v: data.digits_task(v, config.test_fraction, split, center=config.center,
                                val_fraction=config.val_fraction) for v in config.datasets}


def soft_target(temperature: float, teacher: int, config) -> str:
    """The engine's name of teacher ``teacher``'s soft labels at T (no suffix with one teacher)."""
    name = targets.soft_name(temperature)
    return name if config.teachers == 1 else f"{name}/teacher{teacher}"


def make_teacher(config, variant: str, ds, k: int, out_dir: str | None = None):
    """Teacher ``k`` of a data set: its own key in the "teacher" stream, fit on the training split only;
    kept in ``out_dir``/teachers so that a rerun does not train it again."""
    key = rng.stream_key(config.seed, "teacher", f"{source_name(config)}-{variant}", k)
    t = config.teacher

    def make():
        if t.kind == "kernel":
            return targets.kernel_teacher(key, ds, name=f"kernel{k}", num_gates=t.kernel_gates)
        return targets.network_teacher(key, ds, name=f"network{k}", width=t.width, steps=t.steps, learning_rate=t.lr,
                                       optimizer=t.optimizer, batch_size=t.batch_size,
                                       progress=config.engine.progress)
    payload = {"teacher": t.to_dict(), "seed": config.seed, "variant": variant, "index": k}
    return targets.cached_teacher(out_dir, payload, ds, make)


def build_task(config, variant: str, ds, out_dir: str | None = None) -> Task:
    """Hard labels and every teacher's soft labels at every temperature, with the teachers."""
    teachers = [make_teacher(config, variant, ds, k, out_dir) for k in range(config.teachers)]
    soft = [targets.soft(teacher, T, soft_target(T, k, config))
            for k, teacher in enumerate(teachers) for T in config.temperature]
    return Task.build(ds, [targets.hard(ds)] + soft, teachers, name=variant)


def teacher_rows(config, task: Task, n_select: int) -> list[dict]:
    """Per teacher: accuracies, how soft its labels are, split sizes (for results.json)."""
    import numpy as np
    rows = []
    for k, teacher in enumerate(task.teachers.values()):
        share, softness = {}, {}
        for T in config.temperature:
            p = task.targets[soft_target(T, k, config)].values
            share[f"{T:g}"] = float(np.mean(np.minimum(p, 1 - p) > 0.01))
            softness[f"{T:g}"] = teachers.label_softness(p)
        rows.append({"dataset": task.name, "teacher": k, "kind": teacher.kind, "test_acc": teacher.accuracy["test"],
                     "val_acc": teacher.accuracy["val"], "train_acc": teacher.accuracy["train"],
                     "median_abs_logit": float(np.median(np.abs(teacher.logits["train"]))),
                     "fraction_soft_labels_in_0.01_0.99": share, "label_softness": softness, **task.split_sizes(),
                     "n_select_train": n_select})
    return rows


def label_runs(config, task: Task, role: str, regimes=None) -> list:
    """Runs of ``task`` for the ``role`` seeds of every teacher: the whole grid, or only ``regimes`` (dicts
    with width, label, temperature, lr, B). Teacher k's hard and soft students share seed s (paired)."""
    if regimes is None:
        labels = [("hard", None)] + [("soft", float(T)) for T in config.temperature]
        regimes = [{"width": int(m), "label": label, "temperature": T, "lr": float(lr),
                    "B": None if B is None else float(B)}
                   for m in config.student_widths for label, T in labels for lr in config.lr for B in config.B]
    runs = []
    for k in range(config.teachers):
        select, report = common.seed_sets(config, teacher=k)
        for r in regimes:
            target = "hard" if r["label"] == "hard" else soft_target(r["temperature"], k, config)
            runs += [sweep.Run(task.name, r["width"], target, int(s), r["lr"], r["B"],
                               (("label", r["label"]), ("temperature", r["temperature"]), ("teacher", k),
                                ("role", role)))
                     for s in (select if role == "select" else report)]
    return runs


def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder recomputed from its runs.csv rows and stored teacher rows (the
    launcher's ``--rejudge``): the analysis and verdicts of this code, the runs of the code that trained."""
    return analysis.analyse(rows, stored["teacher"], config, stored["source"])


def run(config, out):
    t0 = time.perf_counter()
    datasets = load_datasets(config)
    if config.select_subset is not None:
        n = min(len(ds.y_train) for ds in datasets.values())
        common.check(config.select_subset < n, "select_subset", config.select_subset,
                     f"fewer images than the training split ({n:,}); None selects on all of them")
    tasks, select_tasks, teachers = {}, {}, []
    for variant, ds in datasets.items():
        tasks[variant] = build_task(config, variant, ds, out.path)
        if config.select_subset is not None:
            idx = data.subset_indices(len(ds.y_train), config.select_subset,
                                      rng.stream_seed(config.seed, "subset", variant, config.select_subset))
            select_tasks[variant] = tasks[variant].subset(idx)
        else:
            select_tasks[variant] = tasks[variant]
        teachers += teacher_rows(config, tasks[variant], len(select_tasks[variant].data.y_train))
    for t in teachers:
        print(f"teacher {t['teacher']} on {t['dataset']}: test accuracy {100 * t['test_acc']:.2f}% (validation "
              f"{100 * t['val_acc']:.2f}%), median |logit| {t['median_abs_logit']:.1f}", file=sys.stderr)
    engine = EngineConfig.from_config(config.engine)
    steps = tuple(sorted(set(config.steps) | {analysis.settle_checkpoint(config.steps)}))
    sweep_args = dict(steps=steps, out_dir=out.path, init=config.init, train_output_layer=config.train_output_layer,
                      base_seed=config.seed)
    timings = {}
    if config.select_subset is not None:
        # 1. the whole grid on the subset, selection seeds; 2. the chosen settings on all training data
        runs = [r for task in select_tasks.values() for r in label_runs(config, task, "select")]
        result = engine.run(runs, select_tasks, **sweep_args)
        rows = [dict(r, train_set=f"subset{config.select_subset}") for r in result.rows]
        timings["select"] = result.timings
        chosen = analysis.choose(rows, tuple(config.steps))
        runs = [r for name, task in tasks.items()
                for r in label_runs(config, task, "report", analysis.regimes_to_report(chosen, name))]
        result = engine.run(runs, tasks, **sweep_args)
        rows += [dict(r, train_set="full") for r in result.rows]
        timings["report"] = result.timings
    else:
        runs = [r for task in tasks.values() for role in ("select", "report") for r in label_runs(config, task, role)]
        result = engine.run(runs, tasks, **sweep_args)
        rows = [dict(r, train_set="full") for r in result.rows]
        timings["sweep"] = result.timings
    timings["total_s"] = time.perf_counter() - t0
    results = analysis.analyse(rows, teachers, config, source_name(config))
    results.update({"experiment": "table1",
                    "n_runs": len({(r["dataset"], r["width"], r["target"], r["seed"], r["lr"], r["B"], r["train_set"])
                                   for r in rows}),
                    "timings": timings, "data": {name: dict(ds.info) for name, ds in datasets.items()}})
    if results["n_diverged"]:
        print(f"warning: {results['n_diverged']} run checkpoints diverged (non-finite parameters or outputs); they "
              "are counted and left out of every mean and test (results.json: diverged_runs)", file=sys.stderr)
    written = common.write_results(out, rows, results, render.render)
    print(render.headline_markdown(results))
    print(f"verdict: {results['verdict']}", file=sys.stderr)
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json "
          f"({results['n_runs']} runs, {timings['total_s']:.1f}s)", file=sys.stderr)
