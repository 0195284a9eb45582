"""CNN students of the biased-soft-label experiment (``--config.student=cnn``): every (soft-label set, lr, seed)
of a task trains a VGG 2+3 with ten logits through :func:`kd_theory.deep_train.train_runs` — the K-class
objective KL(t ‖ softmax f) against the set's label vectors, Adam with coupled L2, early stopping on the
validation accuracy (true labels) — all sets and seeds of one lr as one program.

Inputs: the task's own rows (centred on the training mean, put on the unit sphere: what the two-layer
students see), reshaped to images (H, W, C) and scaled by √d so that a pixel has mean square 1. One
preprocessing for every data option, and the split, subsets and label sets stay those of the task.

A row per run, in the two-layer students' format (:mod:`experiments.biased_soft.analysis` reads both):
``steps`` is the epoch budget ``cnn.max_epochs`` (the only "steps" value: early stopping chooses the epoch
within it, per run, on validation), ``settled`` says whether early stopping stopped the run or its
validation accuracy was flat over its last 10% of epochs (:func:`kd_theory.deep_train.settled`). A task's
finished lr is stored at once (:func:`experiments.common.stored_rows`), so a killed run resumes there.
"""
from __future__ import annotations

import functools
import math
import sys

import numpy as np

from experiments import common
from experiments.biased_soft.config import IMAGE_SHAPES, NUM_CLASSES
from kd_theory import rng, vgg

ARCHITECTURE = "VGG 2+3"


def as_images(X: np.ndarray, shape) -> np.ndarray:
    """Rows of X (n, d) on the unit sphere as images (n, H, W, C) with mean square 1 per pixel: x·√d."""
    h, w, c = shape
    if X.shape[1] != h * w * c:
        raise ValueError(f"inputs of dimension {X.shape[1]} are not images of shape {shape}")
    return (np.asarray(X, np.float32) * np.float32(math.sqrt(X.shape[1]))).reshape(len(X), h, w, c)


def validation_indices(config, task) -> np.ndarray:
    """The validation images the CNN students see: all, or ``cnn.val_size`` of them drawn by the "subset" stream."""
    from kd_theory import data
    n = len(task.data.y_val)
    size = config.cnn.val_size
    if size is None or size >= n:
        return np.arange(n)
    return data.subset_indices(n, int(size), rng.stream_seed(config.seed, "subset", "cnn-validation", task.name))


def model(config):
    return vgg.make_vgg(ARCHITECTURE, config.cnn.channels, config.cnn.dense, outputs=NUM_CLASSES)


def hyperparameters(config, lr: float):
    from kd_theory.deep_train import Hyper, backend_layout
    return Hyper(learning_rate=float(lr), l2=float(config.cnn.l2), batch_size=int(config.cnn.batch_size),
                 max_epochs=int(config.cnn.max_epochs), patience=int(config.cnn.patience), **backend_layout())


@functools.cache
def code_version() -> str:
    from kd_theory import deep_train, losses
    from kd_theory.results import source_hash
    return source_hash(vgg, deep_train, losses, sys.modules[__name__])


def unit(config, task, sets, lr: float) -> dict:
    """Everything that determines one (task, lr)'s rows: the data and its size, the label sets (by a hash of
    their values), the seeds, the network, the training settings and the code."""
    import hashlib
    return {"experiment": "biased_soft", "student": "cnn", "task": task.name, "data": config.data,
            "data_dir": config.data_dir, "train_size": int(len(task.data.y_train)), "seed": int(config.seed),
            "select_seeds": int(config.select_seeds), "report_seeds": int(config.report_seeds),
            "sets": {s.name: hashlib.sha256(np.asarray(s.target.values, np.float32).tobytes()).hexdigest()[:16]
                     for s in sets},
            "network": {"channels": list(config.cnn.channels), "dense": list(config.cnn.dense)},
            "val_size": config.cnn.val_size,
            "training": hyperparameters(config, lr)._asdict(), "code": code_version()}


def train_rows(config, task, sets, lr: float, progress: bool = False) -> list[dict]:
    """All (set, seed) students of one task at one lr, trained together; one row per run. A seed's key is
    the same for every set (rng.student_key), so every gap to the true-label student is paired."""
    import jax.numpy as jnp

    from kd_theory import deep_train
    select, report = common.seed_sets(config)
    seeds = [(int(s), "select") for s in select] + [(int(s), "report") for s in report]
    shape = IMAGE_SHAPES[config.data]
    ds = task.data
    val = validation_indices(config, task)
    X = {split: as_images(x, shape) for split, x in (("train", ds.X_train), ("val", ds.X_val[val]),
                                                     ("test", ds.X_test))}
    net, hyper = model(config), hyperparameters(config, lr)
    members = [(s, seed, role) for s in sets for seed, role in seeds]
    keys = jnp.stack([rng.student_key(config.seed, seed) for _, seed, _ in members])
    targets = np.stack([np.asarray(s.target.values, np.float32) for s, _, _ in members])
    from tqdm import tqdm
    bar = tqdm(total=hyper.max_epochs, desc=f"{task.name} lr={lr:g}: {len(members)} CNN students", unit="epoch",
               leave=False, file=sys.stderr, disable=not progress)
    try:
        state = deep_train.train_runs(net, keys, X["train"], targets, X["val"], ds.y_val[val], hyper,
                                      on_epoch=lambda e, active: bar.update(1))
    finally:
        bar.close()
    accuracy = {split: np.asarray(deep_train.run_accuracy(net, state.best_params, X[split], y, hyper.eval_chunk))
                for split, y in (("train", ds.y_train), ("test", ds.y_test))}
    settled = np.asarray(deep_train.settled(state, hyper))
    n = int(len(ds.y_train))
    rows = []
    for i, (s, seed, role) in enumerate(members):
        val, test, train = float(state.best_val_acc[i]), float(accuracy["test"][i]), float(accuracy["train"][i])
        bad = not all(np.isfinite(a) and 0.0 <= a <= 1.0 for a in (val, test, train))
        diverged = bool(state.diverged[i]) or bad
        rows.append({"dataset": task.name, "label_set": s.name, "generator": s.generator, "label": s.target.label,
                     "train_size": n, "role": role, "seed": seed, "lr": float(lr), "steps": hyper.max_epochs,
                     "width": None, "val_acc": val, "test_acc": test, "train_acc": train,
                     "final_train_loss": float(state.train_loss[i]), "best_epoch": int(state.best_epoch[i]),
                     "epochs": int(state.epochs[i]), "settled": bool(settled[i]), "diverged": diverged,
                     "diverged_step": int(state.epochs[i]) if diverged else None})
    return rows


def rows(config, tasks: dict, sets: dict, out_dir: str) -> tuple[list[dict], dict]:
    """Every CNN student of every task and lr (finished (task, lr) units reused from ``out_dir``/units/);
    with the seconds each unit took (0 when reused)."""
    import time
    out, timings = [], {}
    for name, task in tasks.items():
        for lr in config.cnn.lr:
            label, start = f"{name} lr={lr:g}", time.perf_counter()
            unit_rows, reused = common.stored_rows(out_dir, "units", unit(config, task, sets[name], lr),
                                                   lambda: train_rows(config, task, sets[name], lr,
                                                                      config.engine.progress))
            timings[label] = 0.0 if reused else time.perf_counter() - start
            out += unit_rows
            took = "reused from units/" if reused else f"{timings[label]:.0f}s"
            print(f"{label}: {len(unit_rows)} CNN students ({took})", file=sys.stderr)
    return out, timings
