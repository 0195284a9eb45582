"""A sweep's plan: tasks, runs, options, and how runs are grouped into compiled chunks.

A *run* is one training of one network. Runs of the same dataset and width form a *block*: their
weights are stacked as (R, m, d) so that a block costs a few matrix products per step, with no padding
to a larger width. A *chunk* is a set of blocks that fits the memory budget; each chunk is one
compiled program.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from typing import Mapping, Sequence

import numpy as np

from kd_theory import nets


@dataclasses.dataclass(frozen=True)
class Task:
    """A data set plus the training targets runs may use: ``targets[name]`` is t ∈ [0, 1]^n
    (hard labels: (1 + y)/2; soft labels: a teacher's p). With ``X_val, y_val`` every run is also
    evaluated on the validation set (``val_*`` metrics beside the ``test_*`` ones), so settings can
    be chosen on validation data and reported on test data from the same runs."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    targets: Mapping[str, np.ndarray]
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def eval_sets(self) -> dict:
        """{"test": (X, y)} plus {"val": (X, y)} when the task has a validation set."""
        sets = {"test": (self.X_test, self.y_test)}
        if self.X_val is not None:
            sets["val"] = (self.X_val, self.y_val)
        return sets

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        extra = () if self.X_val is None else (self.X_val, self.y_val)
        for arr in (self.X_train, self.y_train, self.X_test, self.y_test) + extra:
            h.update(np.ascontiguousarray(arr, np.float32).tobytes())
        for name in sorted(self.targets):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.targets[name], np.float32).tobytes())
        return h.hexdigest()[:16]


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


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """Choices shared by every run of a sweep.

    ``steps`` are checkpoints of one trajectory: a run is trained to max(steps) and its metrics are
    recorded at each checkpoint (GD is deterministic, so the run with T = 300 is the first 300 steps
    of the run with T = 3000).
    """
    steps: tuple = (1000,)
    init: str = "symmetric"
    train_output_layer: bool = False
    dtype: str = "float32"
    base_seed: int = 0
    slice_neurons: int = 4096  # runs of a block are stepped in slices of at most this many neurons

    def validate(self):
        steps = tuple(int(s) for s in self.steps)
        if not steps or min(steps) <= 0:
            raise ValueError(f"steps must be positive integers; got {self.steps}")
        if self.init not in nets.INIT_SCHEMES:
            raise ValueError(f"unknown init {self.init!r}; allowed: {', '.join(nets.INIT_SCHEMES)}")
        if self.slice_neurons <= 0:
            raise ValueError(f"slice_neurons must be positive; got {self.slice_neurons}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype!r}")
        return dataclasses.replace(self, steps=tuple(sorted(set(steps))))


def grid(*, dataset: Sequence[str], width: Sequence[int], target: Sequence[str], seed: Sequence[int],
         lr: Sequence[float] = (1.0,), B: Sequence[float | None] = (None,)) -> list[Run]:
    """Every combination of the given axes, as a list of :class:`Run`."""
    return [Run(ds, int(m), t, int(s), float(e), None if b is None else float(b))
            for ds, m, t, s, e, b in itertools.product(dataset, width, target, seed, lr, B)]


def validate_runs(runs: Sequence[Run], tasks: Mapping[str, Task], options: EngineOptions):
    if not runs:
        raise ValueError("the grid has zero runs: every axis needs at least one value")
    for run in runs:
        if run.dataset not in tasks:
            raise ValueError(f"run {run.coords()}: unknown dataset {run.dataset!r}; have {sorted(tasks)}")
        if run.target not in tasks[run.dataset].targets:
            raise ValueError(f"run {run.coords()}: dataset {run.dataset!r} has no target {run.target!r}; "
                             f"have {sorted(tasks[run.dataset].targets)}")
        if run.width <= 0:
            raise ValueError(f"width must be a positive integer; got width={run.width}")
        if options.init == "symmetric" and run.width % 2:
            raise ValueError(f"symmetric init needs even widths; got width={run.width} "
                             "(use even widths or init='standard')")
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
class Block:
    dataset: str
    width: int
    runs: tuple  # indices into the sweep's run list


@dataclasses.dataclass(frozen=True)
class Chunk:
    index: int
    blocks: tuple

    @property
    def run_indices(self):
        return [i for b in self.blocks for i in b.runs]


def plan_chunks(runs: Sequence[Run], tasks: Mapping[str, Task], budget_bytes: float,
                dtype_bytes: int = 4) -> list[Chunk]:
    """Group runs into (dataset, width) blocks and pack blocks into chunks under ``budget_bytes``.

    A block too large for the budget is split. Raises ``MemoryError`` naming what one run needs when
    the budget cannot hold even one run.
    """
    by_block: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        by_block.setdefault((run.dataset, run.width), []).append(i)
    chunks, current, used = [], [], 0.0

    def close():
        nonlocal current, used
        if current:
            chunks.append(Chunk(len(chunks), tuple(current)))
        current, used = [], 0.0

    for (ds, width), idx in sorted(by_block.items()):
        task = tasks[ds]
        n_eval = sum(len(y) for _, y in task.eval_sets().values())
        per_run = bytes_per_run(width, len(task.X_train), n_eval, task.X_train.shape[1], dtype_bytes)
        if per_run > budget_bytes:
            raise MemoryError(f"the memory budget ({budget_bytes / 2**30:.3g} GiB) is too small for one run of "
                              f"width {width} on dataset {ds!r}, which needs about {per_run / 2**30:.3g} GiB; "
                              "raise memory_budget_gb (--config.memory_budget_gb on the command line)")
        while idx:
            room = int((budget_bytes - used) // per_run)
            if room == 0:
                close()
                continue
            take, idx = idx[:room], idx[room:]
            current.append(Block(ds, width, tuple(take)))
            used += per_run * len(take)
    close()
    return chunks
