"""A sweep's plan: tasks, runs, options, and how runs are grouped into chunks.

A *run* is one training of one network. A *chunk* is a set of runs that fits the memory budget; each
chunk is one compiled program (how its runs are laid out inside it is :mod:`kd_theory.sweep.layout`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from typing import Mapping, Sequence

import numpy as np

from kd_theory import losses, nets


@dataclasses.dataclass(frozen=True)
class Task:
    """A data set plus the training targets runs may use.

    Binary (``num_classes=2``): labels ±1, ``targets[name]`` is t ∈ [0, 1]^n (hard labels (1 + y)/2,
    soft labels a teacher's p). C classes (``num_classes=C > 2``): integer labels 0..C−1,
    ``targets[name]`` is an (n, C) array of probability rows (hard: one-hot, soft: softmax(f/T)).
    With ``X_val, y_val`` every run is also evaluated on the validation set (``val_*`` metrics beside
    the ``test_*`` ones), so settings can be chosen on validation data and reported on test data from
    the same runs.
    """
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    targets: Mapping[str, np.ndarray]
    num_classes: int = 2
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @classmethod
    def from_dataset(cls, dataset, targets: Mapping[str, np.ndarray]) -> "Task":
        """The task of a :class:`kd_theory.data.Dataset` with the given training targets."""
        return cls(dataset.X_train, dataset.y_train, dataset.X_test, dataset.y_test, dict(targets),
                   getattr(dataset, "num_classes", 2), getattr(dataset, "X_val", None),
                   getattr(dataset, "y_val", None))

    @property
    def objective(self) -> losses.Objective:
        return losses.objective_for(self.num_classes)

    @property
    def objective_outputs(self) -> int:
        """Outputs of a student: 1 (binary) or C."""
        return 1 if self.num_classes == 2 else self.num_classes

    @property
    def n_val(self) -> int:
        return 0 if self.X_val is None else len(self.X_val)

    def eval_sets(self) -> dict:
        """{"test": (X, y)} plus {"val": (X, y)} when the task has a validation set."""
        sets = {"test": (self.X_test, self.y_test)}
        if self.X_val is not None:
            sets["val"] = (self.X_val, self.y_val)
        return sets

    @property
    def shape(self) -> tuple:
        """(n_train, n_test, n_val, d, C): runs on tasks of one shape share a compiled piece."""
        return (len(self.X_train), len(self.X_test), self.n_val, self.X_train.shape[1], self.num_classes)

    def validate(self, name: str):
        objective = self.objective
        n = len(self.X_train)
        want = (n,) + objective.output_shape(self.num_classes)
        for key, t in self.targets.items():
            if np.shape(t) != want:
                raise ValueError(f"dataset {name!r}: target {key!r} has shape {np.shape(t)}; a task with "
                                 f"num_classes={self.num_classes} needs shape {want}")

    def fingerprint(self, target: str | None = None) -> str:
        """A hash of the data (train, test, validation, classes) and of the targets: every one, or only
        ``target``. A run's result depends on its own target alone, so its stored key
        (:func:`kd_theory.sweep.store.run_hash`) takes ``fingerprint(run.target)``: adding a target to a task
        (a temperature, a label set) leaves the stored runs of the others valid."""
        if target is not None:
            return self.fingerprints([target])[target]
        h = self._data_hash()
        for name in sorted(self.targets):
            self._hash_target(h, name)
        return h.hexdigest()[:16]

    def fingerprints(self, targets) -> dict:
        """{target: ``fingerprint(target)``} for several targets, hashing the data once (on MNIST the data
        is most of the work)."""
        missing = [t for t in targets if t not in self.targets]
        if missing:
            raise KeyError(f"target {missing[0]!r} is not in this task; it has {', '.join(sorted(self.targets))}")
        data = self._data_hash()
        out = {}
        for name in targets:
            h = data.copy()
            self._hash_target(h, name)
            out[name] = h.hexdigest()[:16]
        return out

    def _data_hash(self):
        h = hashlib.sha256(f"classes={self.num_classes}".encode())
        extra = () if self.X_val is None else (self.X_val, self.y_val)
        for arr in (self.X_train, self.y_train, self.X_test, self.y_test) + extra:
            h.update(np.ascontiguousarray(arr, np.float32).tobytes())
        return h

    def _hash_target(self, h, name: str) -> None:
        h.update(name.encode())
        h.update(np.ascontiguousarray(self.targets[name], np.float32).tobytes())


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run. ``B`` is the paper's projection radius (neurons stay within B/√m of their
    init); None means plain GD. ``extra`` holds bookkeeping coordinates (e.g. label, temperature)
    that the engine carries into the results untouched."""
    dataset: str
    width: int
    target: str
    seed: int
    lr: float
    B: float | None = None
    extra: tuple = ()

    def coords(self) -> dict:
        return {"dataset": self.dataset, "width": self.width, "target": self.target, "seed": self.seed,
                "lr": self.lr, "B": self.B, **dict(self.extra)}

    def key(self) -> str:
        return json.dumps(self.coords(), sort_keys=True, default=str)


LAYOUTS = ("classes", "packed", "blocks")
SLICE_LAYOUTS = ("auto", "map", "vmap")
DEFAULT_SLICE_NEURONS = {"cpu": 1024, "accelerator": 4096}  # measured: BUILD_NOTES.md §8


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """Choices shared by every run of a sweep.

    ``steps`` are checkpoints of one trajectory: a run is trained to max(steps) and its metrics are
    recorded at each checkpoint (GD is deterministic, so the run with steps = 300 is the first 300
    steps of the run with steps = 3000).

    How runs sit in the compiled program (:mod:`kd_theory.sweep.layout`; none of it changes a run's
    numbers beyond rounding):

    * ``layout``: ``"classes"`` (narrow runs packed together in slices of ``slice_neurons``, wider
      runs in width classes of their own), ``"packed"`` (every run of a data-set shape packed in one
      class, sums per neuron: the 2026-11-23 layout) or ``"blocks"`` (one class per width: the
      2026-11-22 layout);
    * ``slice_neurons``: neurons in a slice of narrow runs (None: 1,024 on CPU, where a slice's
      (S, n) temporaries should stay in cache; 4,096 on accelerators; 4,096 for "packed" and "blocks");
    * ``slice_layout``: ``"map"`` steps a class's slices one after another (``lax.map``, CPU),
      ``"vmap"`` side by side (one large kernel per operation: accelerators; memory is bounded by
      the chunk's budget), ``"auto"`` picks by the devices' backend.
    """
    steps: tuple = (1000,)
    init: str = "symmetric"
    train_output_layer: bool = False
    dtype: str = "float32"
    base_seed: int = 0
    slice_neurons: int | None = None
    layout: str = "classes"
    slice_layout: str = "auto"

    def validate(self):
        steps = tuple(int(s) for s in self.steps)
        if not steps or min(steps) <= 0:
            raise ValueError(f"steps must be positive integers; got {self.steps}")
        if self.init not in nets.INITS:
            raise ValueError(f"unknown init {self.init!r}; allowed: {', '.join(nets.INITS)}")
        if self.slice_neurons is not None and self.slice_neurons <= 0:
            raise ValueError(f"slice_neurons must be positive (or None for the backend's default); "
                             f"got {self.slice_neurons}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; allowed: {', '.join(LAYOUTS)}")
        if self.slice_layout not in SLICE_LAYOUTS:
            raise ValueError(f"unknown slice_layout {self.slice_layout!r}; allowed: {', '.join(SLICE_LAYOUTS)}")
        return dataclasses.replace(self, steps=tuple(sorted(set(steps))))

    def for_platform(self, platform: str) -> "EngineOptions":
        """These options with ``slice_neurons`` and ``slice_layout`` decided for devices of ``platform``
        (``jax.Device.platform``: "cpu", "gpu", "tpu", …)."""
        cpu = platform == "cpu"
        neurons = self.slice_neurons
        if neurons is None:
            neurons = DEFAULT_SLICE_NEURONS["cpu" if cpu and self.layout == "classes" else "accelerator"]
        slice_layout = self.slice_layout if self.slice_layout != "auto" else ("map" if cpu else "vmap")
        return dataclasses.replace(self, slice_neurons=neurons, slice_layout=slice_layout)


def grid(*, dataset: Sequence[str], width: Sequence[int], target: Sequence[str], seed: Sequence[int],
         lr: Sequence[float] = (1.0,), B: Sequence[float | None] = (None,)) -> list[Run]:
    """Every combination of the given axes, as a list of :class:`Run`."""
    return [Run(ds, int(m), t, int(s), float(e), None if b is None else float(b))
            for ds, m, t, s, e, b in itertools.product(dataset, width, target, seed, lr, B)]


def validate_runs(runs: Sequence[Run], tasks: Mapping[str, Task], options: EngineOptions):
    if not runs:
        raise ValueError("the grid has zero runs: every axis needs at least one value")
    for name in sorted({run.dataset for run in runs} & set(tasks)):
        tasks[name].validate(name)
    for run in runs:
        if run.dataset not in tasks:
            raise ValueError(f"run {run.coords()}: unknown dataset {run.dataset!r}; have {sorted(tasks)}")
        if run.target not in tasks[run.dataset].targets:
            raise ValueError(f"run {run.coords()}: dataset {run.dataset!r} has no target {run.target!r}; "
                             f"have {sorted(tasks[run.dataset].targets)}")
        if run.width <= 0:
            raise ValueError(f"width must be a positive integer; got width={run.width}")
        try:
            nets.INITS[options.init].check(run.width)
        except ValueError as exc:
            raise ValueError(f"run {run.coords()}: {exc}") from None
        if not run.lr > 0 or not math.isfinite(run.lr):
            raise ValueError(f"learning rate must be a positive number; got lr={run.lr}")
        if run.B is not None and not run.B > 0:
            raise ValueError(f"projection radius B must be > 0 (or None for plain GD); got B={run.B}")
        if run.seed < 0:
            raise ValueError(f"seeds must be non-negative integers; got seed={run.seed}")
    keys = [r.key() for r in runs]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid lists the same run twice")


def bytes_per_run(width: int, n_train: int, n_test: int, dim: int, dtype_bytes: int = 4) -> int:
    """Peak memory one run adds to a chunk: weights W, W(0), the gradient and optimiser temporaries
    (≈ 4·m·d), and the per-step activations H, gates, residual products (≈ 5·n·m), the test forward
    (n_test·m) and its targets (2n)."""
    return dtype_bytes * (4 * width * dim + 5 * n_train * width + n_test * width + 2 * n_train + 2 * width)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """The runs of one compiled program (indices into the sweep's run list)."""
    index: int
    run_indices: tuple


def plan_chunks(runs: Sequence[Run], tasks: Mapping[str, Task], budget_bytes: float,
                dtype_bytes: int = 4) -> list[Chunk]:
    """Pack runs (sorted by dataset and width) into chunks whose :func:`bytes_per_run` sum stays under
    ``budget_bytes``. Raises ``MemoryError`` naming what one run needs when the budget cannot hold one."""
    order = sorted(range(len(runs)), key=lambda i: (runs[i].dataset, runs[i].width, i))
    chunks, current, used = [], [], 0.0
    for i in order:
        run, task = runs[i], tasks[runs[i].dataset]
        per_run = bytes_per_run(run.width * task.objective_outputs, len(task.X_train),
                                len(task.X_test) + task.n_val, task.X_train.shape[1], dtype_bytes)
        if per_run > budget_bytes:
            raise MemoryError(f"the memory budget ({budget_bytes / 2**30:.3g} GiB) is too small for one run of "
                              f"width {run.width} on dataset {run.dataset!r}, which needs about "
                              f"{per_run / 2**30:.3g} GiB; raise memory_budget_gb (--config.memory_budget_gb on "
                              "the command line)")
        if used + per_run > budget_bytes:
            chunks.append(Chunk(len(chunks), tuple(current)))
            current, used = [], 0.0
        current.append(i)
        used += per_run
    if current:
        chunks.append(Chunk(len(chunks), tuple(current)))
    return chunks
