"""Figure 1 of Mandal et al.: VGG 8+3 teacher, VGG 2+3 students on hard vs soft labels, test accuracy vs input noise.

Per noise variance v: the images get their fixed noise √v·ξ (:mod:`kd_theory.images`); teachers
(one per seed) train on hard labels; students train on hard labels or on the soft labels
σ(f_teacher/T) of the teacher with the same seed index, for every temperature of the grid. Each of
the two architectures trains all its runs of a noise level as one program
(:func:`kd_theory.deep_train.train_runs`: Adam + coupled L2, early stopping by masking). A finished
level is stored at once (:func:`stored_level`), so a killed run loses at most the level it was training.
:mod:`experiments.deep_noise.analysis` chooses T on the selection seeds' validation accuracy, reports
the test accuracy of the report seeds and computes the two verdicts; :mod:`experiments.deep_noise.render`
writes deep_noise.md, deep_noise.png and deep_noise_gap.png from results.json.
"""
from __future__ import annotations

import functools
import sys
import time

import numpy as np

from experiments import common
from experiments.deep_noise import analysis, render
from experiments.deep_noise.config import CLASSES, SCHEMA
from kd_theory import rng, vgg

TEACHER, STUDENT = "VGG 8+3", "VGG 2+3"
SOURCES = {"digits": "sklearn digits 8x8", "mnist": "MNIST 28x28", "cifar": "CIFAR-10 32x32"}


def validate(config):
    SCHEMA.validate(config)


# --- data ---------------------------------------------------------------------------------------------------------

def data_settings(config) -> dict:
    """The data keys with the data set's defaults filled in (recorded in results.json, part of a level's key)."""
    negative, positive = CLASSES[config.dataset]
    return {"dataset": config.dataset, "data_dir": config.data_dir,
            "negative_classes": [int(c) for c in (config.negative_classes or negative)],
            "positive_classes": [int(c) for c in (config.positive_classes or positive)],
            "max_examples": config.max_examples, "split": [float(f) for f in config.split]}


def load_images(settings) -> tuple[np.ndarray, np.ndarray]:
    from kd_theory import images
    if settings["dataset"] == "digits":
        return images.digits_images()
    if settings["dataset"] == "mnist":
        return images.mnist_images(settings["data_dir"])
    return images.cifar10_images(settings["data_dir"])


def load_task(config, settings):
    """(X, y, split, noise): the two class sets' images and labels, the stratified train / validation /
    test indices (stream "split") and the fixed standard noise ξ of every image (stream "noise")."""
    from kd_theory import images
    pixels, classes = load_images(settings)
    X, y, strata = images.binary_task(pixels, classes, settings["negative_classes"], settings["positive_classes"])
    n = settings["max_examples"]
    common.check(n is None or n <= len(y), "max_examples", n,
                 f"at most the {len(y):,} images of the two class sets; None takes them all")
    split = images.stratified_split(strata, tuple(settings["split"]), rng.stream_seed(config.seed, "split",
                                                                                      settings["dataset"]), n or 0)
    noise = images.standard_noise(X.shape, rng.stream_seed(config.seed, "noise", settings["dataset"]))
    return X, y, split, noise


# --- training -----------------------------------------------------------------------------------------------------

def hyperparameters(config):
    from kd_theory.deep_train import Hyper, backend_layout
    return Hyper(learning_rate=float(config.learning_rate), l2=float(config.l2), batch_size=int(config.batch_size),
                 max_epochs=int(config.max_epochs), patience=int(config.patience),
                 **backend_layout(config.runs_per_vmap, config.unroll_epoch))


def models(config):
    return (vgg.make_vgg(TEACHER, config.teacher.channels, config.teacher.dense),
            vgg.make_vgg(STUDENT, config.student.channels, config.student.dense))


def teacher_keys(config, seeds):
    """Teacher s: key (s) of the "teacher" stream for this data set; the same at every noise level."""
    import jax.numpy as jnp
    return jnp.stack([rng.stream_key(config.seed, "teacher", f"vgg-{config.dataset}", s) for s in seeds])


def student_keys(config, seeds):
    """Student seed s: the "student" stream's key, shared by the hard and every soft student of s (paired gaps)."""
    import jax.numpy as jnp
    return jnp.stack([rng.student_key(config.seed, s) for s in seeds])


class _EpochBar:
    """A tqdm bar over epochs (elapsed, time left at the current pace, runs still training) on stderr."""

    def __init__(self, desc: str, total: int, enabled: bool):
        from tqdm import tqdm
        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False, file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True)

    def __call__(self, epoch: int, n_active: int):
        self.bar.update(1)
        self.bar.set_postfix_str(f"{n_active} runs training", refresh=False)

    def close(self):
        self.bar.close()


def _train(net, keys, data, targets, hyper, desc, progress):
    from kd_theory import deep_train
    bar = _EpochBar(desc, hyper.max_epochs, progress)
    try:
        return deep_train.train_runs(net, keys, data.X_train, targets, data.X_val, data.y_val, hyper, on_epoch=bar)
    finally:
        bar.close()


def run_rows(net, state, data, members, hyper) -> list[dict]:
    """One row per run: its coordinates ``members[i]`` = (model, T, seed, role) and its measurements at the
    kept (best-validation) parameters. A run is ``diverged`` when its parameters or loss went non-finite, or
    an accuracy is not a number in [0, 1]: such a run is counted and never averaged (kd_theory.stats)."""
    from kd_theory import deep_train
    test_acc = np.asarray(deep_train.run_accuracy(net, state.best_params, data.X_test, data.y_test, hyper.eval_chunk))
    settled = np.asarray(deep_train.settled(state, hyper))
    rows = []
    for i, (model, T, s, role) in enumerate(members):
        val, test = float(state.best_val_acc[i]), float(test_acc[i])
        bad_accuracy = not all(np.isfinite(a) and 0.0 <= a <= 1.0 for a in (val, test))
        rows.append({"model": model, "temperature": T, "seed": int(s), "role": role, "val_acc": val,
                     "test_acc": test, "best_epoch": int(state.best_epoch[i]), "epochs": int(state.epochs[i]),
                     "train_loss": float(state.train_loss[i]), "settled": bool(settled[i]),
                     "diverged": bool(state.diverged[i]) or bad_accuracy})
    return rows


def train_level(config, data, teacher, student, hyper, label: str = "") -> list[dict]:
    """Teachers and students at one noise level: one row per (model, temperature, seed)."""
    import jax.numpy as jnp

    from kd_theory import deep_train, losses, teachers
    select, report = common.seed_sets(config)
    seeds = list(select) + list(report)
    role = {s: "select" if s in select else "report" for s in seeds}
    hard = np.asarray(losses.hard_target(data.y_train.astype(np.float32)))

    t_state = _train(teacher, teacher_keys(config, seeds), data, np.tile(hard, (len(seeds), 1)), hyper,
                     f"{label} {len(seeds)} teachers", config.progress)
    logits = np.asarray(deep_train.compiled_predict(teacher, hyper.eval_chunk)(t_state.best_params,
                                                                                jnp.asarray(data.X_train)))
    labels = [("hard", None)] + [("soft", float(T)) for T in config.temperatures]
    members, targets = [], []
    for model, T in labels:
        for i, s in enumerate(seeds):
            members.append((model, T, s, role[s]))
            targets.append(hard if model == "hard" else np.asarray(teachers.soft_labels(logits[i], T)))
    s_state = _train(student, jnp.tile(student_keys(config, seeds), (len(labels), 1)), data, np.stack(targets), hyper,
                     f"{label} {len(members)} students", config.progress)
    # how far each soft student's labels sit from its teacher's own hard labels 1[f > 0] (None for the others):
    # what tells whether a lower T could still change them (analysis.temperature_precondition)
    softness = [None if model == "hard" else teachers.label_softness(target) for (model, *_), target in
                zip(members, targets)]
    return ([dict(r, label_softness=None)
             for r in run_rows(teacher, t_state, data, [("teacher", None, s, role[s]) for s in seeds], hyper)]
            + [dict(r, label_softness=x) for r, x in zip(run_rows(student, s_state, data, members, hyper), softness)])


# --- finished work ------------------------------------------------------------------------------------------------

@functools.cache
def code_version() -> str:
    """A hash of the sources that determine a level's numbers (networks, trainer, losses, images, teachers),
    read once a process: stored levels are reused only by the same math."""
    from kd_theory import deep_train, images, losses, teachers
    from kd_theory.results import source_hash
    return source_hash(vgg, deep_train, losses, images, teachers)


def level_unit(config, settings: dict, hyper, noise_var: float) -> dict:
    """Everything that determines one noise level's rows: the data, the seeds, the networks, the training
    settings (as resolved for this backend), the temperatures, the level and the code. Not the other
    levels, α or the progress bars: adding a level or re-analysing reuses the finished ones."""
    return {"experiment": "deep_noise", "noise_var": float(noise_var), "data": settings, "seed": int(config.seed),
            "select_seeds": int(config.select_seeds), "report_seeds": int(config.report_seeds),
            "temperatures": [float(T) for T in config.temperatures],
            "teacher": {"channels": list(config.teacher.channels), "dense": list(config.teacher.dense)},
            "student": {"channels": list(config.student.channels), "dense": list(config.student.dense)},
            "training": hyper._asdict(), "code": code_version(),
            # what a level's rows measure: a level stored before label_softness was recorded is trained again
            "measures": ["label_softness"]}


def stored_level(out_dir: str, unit: dict, compute) -> tuple[list[dict], bool]:
    """(rows, reused): the rows of ``unit`` from ``out_dir``/levels/ when it finished before, else
    ``compute()``'s, stored at once (:func:`experiments.common.stored_rows`)."""
    return common.stored_rows(out_dir, "levels", unit, compute)


def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder recomputed from its runs.csv rows (the launcher's ``--rejudge``): the
    analysis and verdicts of this code, the runs of the code that trained."""
    del stored   # everything the analysis reads is in the rows
    return analysis.analyse(rows, config)


# --- the experiment -----------------------------------------------------------------------------------------------

def _level_line(v, level, seconds, reused) -> str:
    def mean(model):
        acc = [r["test_acc"] for r in level if r["model"] == model and r["role"] == "report" and not r["diverged"]]
        return f"{100 * np.mean(acc):.1f}%" if acc else "n/a"
    return (f"noise variance {v:g}: test accuracy (report seeds; soft over every T) teacher {mean('teacher')}, hard "
            f"{mean('hard')}, soft {mean('soft')} ({'reused from levels/' if reused else f'{seconds:.0f}s'})")


def run(config, out):
    from tqdm import tqdm

    from kd_theory import images
    t0 = time.perf_counter()
    settings = data_settings(config)
    X, y, split, noise = load_task(config, settings)
    teacher, student = models(config)
    hyper = hyperparameters(config)
    rows, timings = [], {}
    levels = tqdm(config.noise_vars, desc="noise levels", unit="level", file=sys.stderr, disable=not config.progress)
    for v in levels:
        start = time.perf_counter()
        unit = level_unit(config, settings, hyper, v)
        level, reused = stored_level(out.path, unit, lambda v=v: train_level(
            config, images.noisy_splits(X, y, split, v, noise), teacher, student, hyper, f"v={v:g}:"))
        rows += [dict(r, noise_var=float(v)) for r in level]
        timings[f"{v:g}"] = time.perf_counter() - start
        tqdm.write(_level_line(v, level, timings[f"{v:g}"], reused), file=sys.stderr)
    timings["total_s"] = time.perf_counter() - t0
    results = analysis.analyse(rows, config)
    shape = list(X.shape[1:])
    results.update({
        "experiment": "deep_noise", "timings": timings,
        "data": dict(settings, image_shape=shape, n_train=len(split[0]), n_val=len(split[1]), n_test=len(split[2]),
                     noise="x + sqrt(v)·ξ, ξ ~ N(0, I) fixed per example (stream 'noise'), not clipped",
                     source=SOURCES[settings["dataset"]]),
        "models": {role: {"name": net_name, "channels": list(net.conv_channels), "dense": list(net.dense_features),
                          "feature_maps": vgg.feature_map_sizes(net.block_sizes, *shape[:2])}
                   for role, net_name, net in (("teacher", TEACHER, teacher), ("student", STUDENT, student))},
        "training": dict(hyper._asdict(), optimizer="Adam",
                         l2_form="coupled: λ·kernel added to the gradient before Adam (optax.add_decayed_weights), "
                                 "the gradient of (λ/2)·Σ‖kernel‖²"),
    })
    if results["n_diverged"]:
        print(f"warning: {results['n_diverged']} runs diverged (non-finite parameters or loss, or an accuracy "
              "outside [0, 1]); they are counted and left out of every mean and test (results.json: diverged_runs)",
              file=sys.stderr)
    written = common.write_results(out, rows, results, render.render)
    print(render.table_markdown(results))
    print(f"verdict: {results['verdict']}; the widening: {results['widening_verdict']['verdict']}", file=sys.stderr)
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json ({len(rows)} runs, "
          f"{timings['total_s']:.1f}s)", file=sys.stderr)
