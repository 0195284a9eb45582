"""Table 1 of Mandal et al.: soft vs hard students on digit > 4 (full vs reduced), regimes chosen on validation data.

A wide teacher per dataset (trained on the training split) gives soft labels σ(f/T); students of a
few neurons train with projected GD on hard labels or on those soft labels. Every run of the grid
(dataset, width, label, temperature, lr, B, seed; steps as checkpoints) goes to the sweep engine, and
each run is evaluated on the validation and the test split. :mod:`experiments.table1.protocol` then
chooses regimes on the validation accuracy of the selection seeds and reports the test accuracy of
the other seeds; :mod:`experiments.table1.render` writes the tables and figures from results.json.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from experiments import common
from experiments.table1 import protocol, render
from kd_theory import data, losses, nets, sweep, teachers


def validate(config):
    datasets = tuple(config.datasets) if isinstance(config.datasets, (tuple, list)) else (config.datasets,)
    common.check(len(datasets) > 0 and set(datasets) <= set(data.DIGIT_VARIANTS)
                 and len(set(datasets)) == len(datasets), "datasets", config.datasets,
                 f"a tuple of distinct names from {data.DIGIT_VARIANTS}, e.g. ('full',)")
    common.check(config.init in nets.INIT_SCHEMES, "init", config.init, ", ".join(nets.INIT_SCHEMES))
    common.check_positive_ints(config, "student_widths", even=config.init == "symmetric",
                               even_hint="; use --config.init=standard for odd widths")
    common.check_positive_ints(config, "select_seeds")
    common.check_positive_ints(config, "report_seeds")
    common.check_positive_ints(config, "steps")
    common.check_positive_ints(config, "teacher_width", even=True, even_hint=" (the teacher is always symmetric)")
    common.check_positive_ints(config, "kernel_teacher_gates")
    common.check_positive_ints(config, "teacher_steps")
    for key in ("seed", "split_seed"):
        common.check(isinstance(config[key], int) and config[key] >= 0, key, config[key], "an integer ≥ 0")
    common.check(isinstance(config.select_subset, int) and config.select_subset >= 0, "select_subset",
                 config.select_subset, "0 (select with the whole training set) or a positive number of images")
    common.check(isinstance(config.mnist_val_size, int) and 0 < config.mnist_val_size < 60000, "mnist_val_size",
                 config.mnist_val_size, "an integer in 1..59,999 (MNIST has 60,000 training images)")
    common.check_positive_floats(config, "lr")
    common.check_positive_floats(config, "B", allow_zero=True)
    common.check_positive_floats(config, "temperature")
    common.check_positive_floats(config, "teacher_lr")
    common.check(config.teacher in teachers.TEACHER_KINDS, "teacher", config.teacher,
                 ", ".join(teachers.TEACHER_KINDS))
    common.check(config.teacher_optimizer in ("adam", "sgd"), "teacher_optimizer", config.teacher_optimizer,
                 "adam, sgd")
    common.check(config.teacher_batch_size >= 0, "teacher_batch_size", config.teacher_batch_size,
                 "0 (full batch) or a positive batch size")
    common.check(0 < config.test_fraction < 1, "test_fraction", config.test_fraction, "a number in (0, 1)")
    common.check(0 < config.val_fraction < 1, "val_fraction", config.val_fraction,
                 "a number in (0, 1): regimes are chosen on this held-out share of the training images")
    common.check(0 < config.alpha < 1, "alpha", config.alpha, "a level in (0, 1), e.g. 0.05")
    common.check(config.dtype in ("float32", "float64"), "dtype", config.dtype, "float32, float64")
    common.check(config.memory_budget_gb >= 0, "memory_budget_gb", config.memory_budget_gb,
                 "0 (automatic) or a positive number of GiB")
    common.check_executor(config)
    common.check(config.teacher != "kernel" or tuple(config.temperature) == (1.0,), "temperature",
                 config.temperature, "(1.0,) with --config.teacher=kernel: the kernel-limit teacher has no "
                 "temperature")


def load_datasets(config) -> dict:
    """The train / validation / test splits of each variant (MNIST: validation = the last images)."""
    if config.data_dir:
        return {v: data.mnist_task(config.data_dir, v, center=config.center, val_size=config.mnist_val_size)
                for v in config.datasets}
    return {v: data.digits_task(v, config.test_fraction, config.split_seed, center=config.center,
                                val_fraction=config.val_fraction) for v in config.datasets}


def teacher_logits(config, variant: str, ds: data.Dataset) -> dict:
    """The teacher's logits on the train, validation and test inputs; it is fit on the training split
    only. Key: fold_in(PRNGKey(seed), 2³⁰ + i) with i the variant's index in data.DIGIT_VARIANTS, so a
    data set's teacher does not depend on which other data sets run beside it."""
    import jax
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**30 + data.DIGIT_VARIANTS.index(variant))
    splits = {"train": ds.X_train, "val": ds.X_val, "test": ds.X_test}
    if config.teacher == "kernel":
        from kd_theory import margin
        both = np.concatenate(list(splits.values()))
        z = np.asarray(margin.kernel_teacher_logits(ds.X_train, ds.y_train, both,
                                                    num_gates=config.kernel_teacher_gates, key=key))
        bounds = np.cumsum([0] + [len(x) for x in splits.values()])
        return {k: z[a:b] for k, a, b in zip(splits, bounds[:-1], bounds[1:])}
    params = teachers.train_network_teacher(key, ds.X_train, ds.y_train, width=config.teacher_width,
                                            steps=config.teacher_steps, learning_rate=config.teacher_lr,
                                            optimizer=config.teacher_optimizer,
                                            batch_size=config.teacher_batch_size or None)
    return {k: np.asarray(nets.apply(params, x)) for k, x in splits.items()}


def soft_target_name(temperature: float) -> str:
    return f"soft@T={temperature:g}"


def label_runs(config, name: str, seeds, role: str, regimes=None) -> list:
    """Runs of dataset ``name`` for ``seeds``: the whole grid, or only ``regimes`` (dicts with width,
    label, temperature, lr, B) — each run carries its label, temperature and role as coordinates."""
    if regimes is None:
        labels = [("hard", None)] + [("soft", float(T)) for T in config.temperature]
        regimes = [{"width": int(m), "label": label, "temperature": T, "lr": float(lr), "B": protocol.run_B(B)}
                   for m in config.student_widths for label, T in labels for lr in config.lr for B in config.B]
    return [sweep.Run(name, r["width"], "hard" if r["label"] == "hard" else soft_target_name(r["temperature"]),
                      int(s), r["lr"], r["B"], (("label", r["label"]), ("temperature", r["temperature"]),
                                                ("role", role)))
            for r in regimes for s in seeds]


def build_tasks(config, datasets: dict):
    """Tasks (targets: hard labels and one soft target per temperature; validation set attached),
    the same tasks on the selection subset when ``select_subset`` > 0, and the teachers' summary."""
    tasks, select_tasks, teacher_rows = {}, {}, []
    for name, ds in datasets.items():
        logits = teacher_logits(config, name, ds)
        targets = {"hard": np.asarray(losses.hard_target(ds.y_train))}
        for T in config.temperature:
            targets[soft_target_name(T)] = np.asarray(teachers.soft_labels(logits["train"], T))
        tasks[name] = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets, X_val=ds.X_val,
                                 y_val=ds.y_val)
        if config.select_subset:
            idx = data.subset_indices(len(ds.y_train), config.select_subset, config.split_seed)
            select_tasks[name] = sweep.Task(ds.X_train[idx], ds.y_train[idx], ds.X_test, ds.y_test,
                                            {k: v[idx] for k, v in targets.items()}, X_val=ds.X_val,
                                            y_val=ds.y_val)
        else:
            select_tasks[name] = tasks[name]
        # how soft the soft labels are: a saturated teacher gives p ≈ 0 or 1, i.e. hard labels again
        softness = {f"{T:g}": float(np.mean(np.minimum(targets[soft_target_name(T)],
                                                        1 - targets[soft_target_name(T)]) > 0.01))
                    for T in config.temperature}
        teacher_rows.append({"dataset": name, "kind": config.teacher,
                             "test_acc": float(losses.accuracy(logits["test"], ds.y_test)),
                             "val_acc": float(losses.accuracy(logits["val"], ds.y_val)),
                             "train_acc": float(losses.accuracy(logits["train"], ds.y_train)),
                             "median_abs_logit": float(np.median(np.abs(logits["train"]))),
                             "fraction_soft_labels_in_0.01_0.99": softness,
                             "n_train": len(ds.y_train), "n_val": len(ds.y_val), "n_test": len(ds.y_test),
                             "n_select_train": len(select_tasks[name].y_train)})
    return tasks, select_tasks, teacher_rows


def run(config, out):
    t0 = time.perf_counter()
    datasets = load_datasets(config)
    tasks, select_tasks, teacher_rows = build_tasks(config, datasets)
    for t in teacher_rows:
        print(f"teacher on {t['dataset']}: test accuracy {100 * t['test_acc']:.2f}% (validation "
              f"{100 * t['val_acc']:.2f}%), median |logit| {t['median_abs_logit']:.1f}, share of soft labels in "
              f"(0.01, 0.99) by temperature: {t['fraction_soft_labels_in_0.01_0.99']}", file=sys.stderr)
    options = sweep.EngineOptions(steps=tuple(config.steps), init=config.init,
                                  train_output_layer=config.train_output_layer, dtype=config.dtype,
                                  base_seed=config.seed)
    engine = dict(out_dir=out.path, memory_budget_gb=config.memory_budget_gb or None,
                  executor=common.executor_from_config(config, out.path), progress=config.progress)
    select_seeds, report_seeds = protocol.seed_sets(config)
    timings = {}
    if config.select_subset:
        # 1. the whole grid on the subset, selection seeds; 2. the chosen regimes on all training data
        runs = [r for name in datasets for r in label_runs(config, name, select_seeds, "select")]
        result = sweep.run_sweep(runs, select_tasks, options, **engine)
        rows = [dict(r, train_set=f"subset{config.select_subset}") for r in result.rows]
        timings["select"] = result.timings
        chosen = protocol.choose_regimes(rows, config)
        runs = [r for name in datasets
                for r in label_runs(config, name, report_seeds, "report", protocol.regimes_to_report(chosen, name))]
        result = sweep.run_sweep(runs, tasks, options, **engine)
        rows += [dict(r, train_set="full") for r in result.rows]
        timings["report"] = result.timings
    else:
        runs = [r for name in datasets for seeds, role in ((select_seeds, "select"), (report_seeds, "report"))
                for r in label_runs(config, name, seeds, role)]
        result = sweep.run_sweep(runs, tasks, options, **engine)
        rows = [dict(r, train_set="full") for r in result.rows]
        timings["sweep"] = result.timings
    timings["total_s"] = time.perf_counter() - t0
    results = protocol.analyse(rows, teacher_rows, config)
    results.update({"experiment": "table1", "n_runs": len({(r["dataset"], r["width"], r["target"], r["seed"],
                                                             r["lr"], r["B"], r["train_set"]) for r in rows}),
                    "timings": timings,
                    "data": {name: dict(ds.info) for name, ds in datasets.items()}})
    for r in results["nonfinite_runs"]:
        print(f"warning: non-finite loss in run {r}; its outputs count as mistakes", file=sys.stderr)
    written = common.write_results(out, rows, results, render.render)
    print(render.headline_markdown(results))
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json "
          f"({results['n_runs']} runs, {timings['total_s']:.1f}s)", file=sys.stderr)
