"""Figure 1 of Mandal et al.: VGG 8+3 teacher, VGG 2+3 students on hard vs soft labels, test accuracy vs input noise.

Per noise variance v: the images get their fixed noise √v·ξ (:mod:`kd_theory.images`); teachers
(one per seed) train on hard labels; students train on hard labels or on the soft labels
σ(f_teacher/T) of the teacher with the same seed index, for every temperature of the grid. Each of
the two architectures trains all its runs of a noise level as one program
(:func:`kd_theory.deep_train.train_runs`: Adam + L2, early stopping by masking).
:mod:`experiments.deep_noise.protocol` chooses T on the selection seeds' validation accuracy and
reports the test accuracy of the report seeds; :mod:`experiments.deep_noise.render` writes
deep_noise.md and deep_noise.png from results.json.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from experiments import common
from experiments.deep_noise import protocol, render
from experiments.deep_noise.config import PRESETS
from kd_theory import vgg

TEACHER, STUDENT = "VGG 8+3", "VGG 2+3"
ROLE_KEYS = {"teacher": 1, "student": 2}   # fold_in tags: teacher and student inits are independent


def data_settings(config) -> dict:
    """The data keys with the preset's defaults filled in (recorded in results.json)."""
    import jax
    negative, positive, (cpu_examples, accelerator_examples), data_dir = PRESETS[config.preset]
    max_examples = cpu_examples if jax.default_backend() == "cpu" else accelerator_examples
    return {"preset": config.preset, "data_dir": config.data_dir or data_dir,
            "negative_classes": tuple(config.negative_classes) or negative,
            "positive_classes": tuple(config.positive_classes) or positive,
            "max_examples": max_examples if config.max_examples == -1 else int(config.max_examples)}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def validate(config):
    common.check(config.preset in PRESETS, "preset", config.preset, ", ".join(PRESETS))
    settings = data_settings(config)
    if config.preset != "digits":
        common.check(bool(settings["data_dir"]), "data_dir", config.data_dir,
                     f"a directory with the {config.preset} files (the {config.preset} preset has no default)")
        common.check(os.path.isdir(settings["data_dir"]), "data_dir", settings["data_dir"], "an existing directory")
    for key in ("negative_classes", "positive_classes"):
        classes = settings[key]
        common.check(all(_is_int(c) and 0 <= c <= 9 for c in classes) and len(set(classes)) == len(classes),
                     key, config[key], "distinct classes 0..9, e.g. (3,); () takes the preset's")
    common.check(not set(settings["negative_classes"]) & set(settings["positive_classes"]), "positive_classes",
                 config.positive_classes, f"classes not also in negative_classes={settings['negative_classes']}")
    common.check(_is_int(config.max_examples) and (config.max_examples in (-1, 0) or config.max_examples >= 100),
                 "max_examples", config.max_examples, "−1 (the preset's), 0 (all) or at least 100 images (smaller "
                 "subsets leave a class out of a 10% validation or test split)")
    split = tuple(config.split)
    common.check(len(split) == 3 and all(isinstance(f, (int, float)) and f > 0 for f in split)
                 and math.isclose(sum(split), 1.0), "split", config.split,
                 "three positive shares (train, validation, test) summing to 1, e.g. (0.8, 0.1, 0.1)")
    for key in ("split_seed", "noise_seed", "seed"):
        common.check(_is_int(config[key]) and config[key] >= 0, key, config[key], "an integer ≥ 0")
    common.check_positive_floats(config, "noise_vars", allow_zero=True)
    common.check_positive_ints(config, "select_seeds")
    common.check_positive_ints(config, "report_seeds")
    common.check(config.report_seeds >= 2, "report_seeds", config.report_seeds, "at least 2 (a std needs two)")
    common.check_positive_floats(config, "temperatures")
    for role, name in (("teacher", TEACHER), ("student", STUDENT)):
        for part, count in (("channels", sum(vgg.PRESETS[name])), ("dense", vgg.DENSE_LAYERS - 1)):
            key = f"{role}_{part}"
            values = tuple(config[key])
            common.check(len(values) == count and all(_is_int(v) and v > 0 for v in values), key, config[key],
                         f"{count} positive integers for {name}")
    common.check_positive_floats(config, "learning_rate")
    common.check_positive_floats(config, "l2", allow_zero=True)
    for key in ("batch_size", "max_epochs", "patience"):
        common.check_positive_ints(config, key)
    common.check(_is_int(config.runs_per_vmap) and config.runs_per_vmap >= -1, "runs_per_vmap",
                 config.runs_per_vmap, "−1 (automatic), 0 (all runs in one vmap) or a positive group size")
    common.check(config.unroll_epoch in (-1, 0, 1) and _is_int(config.unroll_epoch), "unroll_epoch",
                 config.unroll_epoch, "−1 (automatic), 0 (rolled scan) or 1 (unrolled)")
    common.check(0 < config.alpha < 1, "alpha", config.alpha, "a level in (0, 1), e.g. 0.05")


def load_images(settings) -> tuple[np.ndarray, np.ndarray]:
    from kd_theory import images
    if settings["preset"] == "digits":
        return images.digits_images()
    if settings["preset"] == "mnist":
        return images.mnist_images(settings["data_dir"])
    return images.cifar10_images(settings["data_dir"])


def hyperparameters(config):
    import jax
    from kd_theory.deep_train import Hyper
    cpu = jax.default_backend() == "cpu"
    # measured on CPU: a vmap's grouped convolutions are slower than the runs one after another, and
    # a rolled minibatch scan 3-4× slower than an unrolled one
    per_vmap = (1 if cpu else 0) if config.runs_per_vmap == -1 else config.runs_per_vmap
    unroll = cpu if config.unroll_epoch == -1 else bool(config.unroll_epoch)
    return Hyper(learning_rate=float(config.learning_rate), l2=float(config.l2), batch_size=int(config.batch_size),
                 max_epochs=int(config.max_epochs), patience=int(config.patience), runs_per_vmap=int(per_vmap),
                 unroll_epoch=unroll)


def run_keys(config, role: str, seeds):
    """PRNG keys fold_in(fold_in(PRNGKey(seed), role tag), s) for seed indices s: the same at every
    noise level, and shared by the hard and soft student of a seed (paired comparisons)."""
    import jax
    base = jax.random.fold_in(jax.random.PRNGKey(config.seed), ROLE_KEYS[role])
    return jax.numpy.stack([jax.random.fold_in(base, s) for s in seeds])


def _progress(what: str, state, start: float):
    epochs = np.asarray(state.epochs)
    print(f"  {what}: {len(epochs)} runs, stopped after {epochs.min()}-{epochs.max()} epochs (mean "
          f"{epochs.mean():.1f}), {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)


def train_noise_level(config, data, teacher, student, hyper) -> list[dict]:
    """Teachers and students at one noise level: one row per (model, temperature, seed)."""
    import jax
    from kd_theory import deep_train, losses, teachers
    select_seeds, report_seeds = protocol.seed_sets(config)
    seeds = list(select_seeds) + list(report_seeds)
    role = {s: "select" if s in select_seeds else "report" for s in seeds}
    hard = np.asarray(losses.hard_target(data.y_train.astype(np.float32)))

    start = time.perf_counter()
    t_state = deep_train.train_runs(teacher, run_keys(config, "teacher", seeds), data.X_train,
                                    np.tile(hard, (len(seeds), 1)), data.X_val, data.y_val, hyper)
    _progress("teachers", t_state, start)
    teacher_logits = np.asarray(deep_train.compiled_predict(teacher, hyper.eval_chunk)(
        t_state.best_params, jax.numpy.asarray(data.X_train)))
    members = [("teacher", None, s) for s in seeds]
    labels = [("hard", None, hard)] + [("soft", float(T), None) for T in config.temperatures]
    student_members, targets = [], []
    for model, T, target in labels:
        for i, s in enumerate(seeds):
            student_members.append((model, T, s))
            targets.append(target if model == "hard" else np.asarray(teachers.soft_labels(teacher_logits[i], T)))
    student_keys = run_keys(config, "student", seeds)
    start = time.perf_counter()
    s_state = deep_train.train_runs(student, jax.numpy.tile(student_keys, (len(labels), 1)), data.X_train,
                                    np.stack(targets), data.X_val, data.y_val, hyper)
    _progress("students", s_state, start)
    rows = []
    for net, state, group in ((teacher, t_state, members), (student, s_state, student_members)):
        test_acc = np.asarray(deep_train.run_accuracy(net, state.best_params, data.X_test, data.y_test,
                                                      hyper.eval_chunk))
        for i, (model, T, s) in enumerate(group):
            rows.append({"model": model, "temperature": T, "seed": s, "role": role[s],
                         "val_acc": float(state.best_val_acc[i]), "test_acc": float(test_acc[i]),
                         "best_epoch": int(state.best_epoch[i]), "epochs": int(state.epochs[i])})
    return rows


def level_file(noise_var: float) -> str:
    return f"level_{noise_var:g}.json"


def level_config(config) -> dict:
    """What determines a noise level's runs: the whole config except the list of levels and the
    test level α (so adding a level, or re-analysing, reuses the finished ones)."""
    return {k: v for k, v in config.to_dict().items() if k not in ("noise_vars", "alpha")}


def finished_level(out, config, noise_var: float):
    """The rows of a level finished earlier in ``out`` with the same settings, else None: an interrupted
    run loses no finished level (each is written atomically as soon as it is done)."""
    path = out.file(level_file(noise_var))
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        saved = json.load(fh)
    same = json.loads(json.dumps(level_config(config))) == saved.get("config")
    return saved["rows"] if same else None


def run(config, out):
    from kd_theory import images
    t0 = time.perf_counter()
    settings = data_settings(config)
    pixels, classes = load_images(settings)
    X, y, strata = images.binary_task(pixels, classes, settings["negative_classes"], settings["positive_classes"])
    split = images.stratified_split(strata, tuple(config.split), config.split_seed, settings["max_examples"])
    noise = images.standard_noise(X.shape, config.noise_seed)
    teacher = vgg.make_vgg(TEACHER, config.teacher_channels, config.teacher_dense)
    student = vgg.make_vgg(STUDENT, config.student_channels, config.student_dense)
    hyper = hyperparameters(config)
    rows, timings = [], {}
    for v in config.noise_vars:
        start = time.perf_counter()
        level = finished_level(out, config, v)
        if level is None:
            level = train_noise_level(config, images.noisy_splits(X, y, split, v, noise), teacher, student, hyper)
            out.write_json(level_file(v), {"config": level_config(config), "rows": level})
        else:
            print(f"noise variance {v:g}: reusing the finished level in {level_file(v)}", file=sys.stderr)
        rows += [dict(r, noise_var=float(v)) for r in level]
        timings[f"{v:g}"] = time.perf_counter() - start
        means = {m: np.mean([r["test_acc"] for r in level if r["model"] == m and r["role"] == "report"])
                 for m in protocol.MODELS}
        print(f"noise variance {v:g}: test accuracy (report seeds, all T for soft) teacher {100 * means['teacher']:.1f}%, "
              f"hard {100 * means['hard']:.1f}%, soft {100 * means['soft']:.1f}% ({timings[f'{v:g}']:.0f}s)",
              file=sys.stderr, flush=True)
    timings["total_s"] = time.perf_counter() - t0
    results = protocol.analyse(rows, config)
    image_shape = list(X.shape[1:])
    results.update({
        "experiment": "deep_noise", "timings": timings,
        "data": dict(settings, negative_classes=list(settings["negative_classes"]),
                     positive_classes=list(settings["positive_classes"]), image_shape=image_shape,
                     n_train=len(split[0]), n_val=len(split[1]), n_test=len(split[2]),
                     noise="x + sqrt(v)·ξ, ξ ~ N(0, I) fixed per example (noise_seed), not clipped",
                     source=render.SOURCES[settings["preset"]]),
        "models": {
            "teacher": {"name": TEACHER, "channels": list(teacher.conv_channels), "dense": list(teacher.dense_features),
                        "feature_maps": vgg.feature_map_sizes(teacher.block_sizes, *image_shape[:2])},
            "student": {"name": STUDENT, "channels": list(student.conv_channels), "dense": list(student.dense_features),
                        "feature_maps": vgg.feature_map_sizes(student.block_sizes, *image_shape[:2])}},
        "training": dict(hyper._asdict(), optimizer="Adam", l2_form="(λ/2)·Σ‖kernel‖² added to the loss"),
        "grid": {"noise_vars": [float(v) for v in config.noise_vars], "temperatures": [float(T) for T in config.temperatures]},
    })
    written = common.write_results(out, rows, results, render.render)
    print(render.table_markdown(results))
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json ({len(rows)} runs, "
          f"{timings['total_s']:.1f}s)", file=sys.stderr)
