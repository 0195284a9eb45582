"""The label matrix: a sparse tasks × workers table of answers.

An answer is a triple (task index t_a, worker index w_a, label index l_a), a = 1..n. The matrix keeps the
three index arrays (sorted by task, so segment sums over tasks run on sorted ids) and the maps from the
user's ids back to indices: ``task_ids[t]``, ``worker_ids[w]``, ``label_values[l]``. Missing answers are
simply absent, so memory and every aggregator's cost per iteration are O(n), not O(tasks × workers).

Ids are kept in sorted order when they can be sorted (so label index 0 is the lowest label, and an argmax
that takes the first maximum gives ties to the lowest label) and in order of first appearance otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ("task", "worker", "label")


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values`` and the ids they stand for (sorted when the ids are sortable)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids of mixed types cannot be ordered
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int32), pd.Index(uniques)


@dataclass(frozen=True)
class LabelMatrix:
    """Answers as index arrays (length n_answers, int32, sorted by task) plus the id ↔ index maps."""

    tasks: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    task_ids: pd.Index
    worker_ids: pd.Index
    label_values: pd.Index

    @property
    def n_answers(self) -> int:
        return int(self.tasks.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        return len(self.label_values)

    @classmethod
    def from_arrays(cls, tasks, workers, labels, n_tasks: int | None = None, n_workers: int | None = None,
                    n_classes: int | None = None) -> "LabelMatrix":
        """A matrix from integer index arrays; ids are the indices themselves (0..n_tasks-1 etc.)."""
        tasks, workers, labels = (np.asarray(a) for a in (tasks, workers, labels))
        for name, a in (("tasks", tasks), ("workers", workers), ("labels", labels)):
            if a.ndim != 1 or a.shape != tasks.shape:
                raise ValueError(f"{name} must be a 1-d array of the same length as tasks, got shape {a.shape}")
            if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0):
                raise ValueError(f"{name} must hold non-negative integers, got dtype {a.dtype}")
        sizes = [int(a.max()) + 1 if a.size else 0 for a in (tasks, workers, labels)]
        n_tasks, n_workers, n_classes = (s if given is None else int(given)
                                         for s, given in zip(sizes, (n_tasks, n_workers, n_classes)))
        for name, need, got in zip(("n_tasks", "n_workers", "n_classes"), sizes, (n_tasks, n_workers, n_classes)):
            if got < need:
                raise ValueError(f"{name}={got} is smaller than the largest index + 1 = {need}")
        order = np.argsort(tasks, kind="stable")
        return cls(tasks[order].astype(np.int32), workers[order].astype(np.int32), labels[order].astype(np.int32),
                   pd.RangeIndex(n_tasks, name="task"), pd.RangeIndex(n_workers, name="worker"),
                   pd.RangeIndex(n_classes, name="label"))

    @classmethod
    def from_dataframe(cls, data: pd.DataFrame) -> "LabelMatrix":
        """A matrix from a frame with columns task, worker, label (any hashable ids; other columns ignored)."""
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data must be a pandas DataFrame with columns {COLUMNS}, got {type(data).__name__}")
        missing = [c for c in COLUMNS if c not in data.columns]
        if missing:
            raise ValueError(f"data lacks the column(s) {missing}; it needs {list(COLUMNS)}, "
                             f"has {list(data.columns)}")
        for c in COLUMNS:
            if data[c].isna().any():
                row = int(np.flatnonzero(data[c].isna().to_numpy())[0])
                raise ValueError(f"data has a missing value in column {c!r} at row {row}")
        tasks, task_ids = _factorize(data["task"])
        workers, worker_ids = _factorize(data["worker"])
        labels, label_values = _factorize(data["label"])
        order = np.argsort(tasks, kind="stable")
        return cls(tasks[order], workers[order], labels[order], task_ids.rename("task"),
                   worker_ids.rename("worker"), label_values.rename("label"))

    def to_dataframe(self) -> pd.DataFrame:
        """The answers as a frame with columns task, worker, label holding the user's ids."""
        return pd.DataFrame({"task": self.task_ids[self.tasks], "worker": self.worker_ids[self.workers],
                             "label": self.label_values[self.labels]})

    def subset_tasks(self, keep: np.ndarray) -> "LabelMatrix":
        """The answers of the tasks where ``keep`` (bool, length n_tasks) is True, re-indexed compactly.

        Workers and labels keep their indices (so per-type fits share one worker/label index space).
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_tasks,):
            raise ValueError(f"keep must be a bool array of length n_tasks={self.n_tasks}, got {keep.shape}")
        new_index = np.cumsum(keep) - 1
        rows = keep[self.tasks]
        return LabelMatrix(new_index[self.tasks[rows]].astype(np.int32), self.workers[rows], self.labels[rows],
                           self.task_ids[keep], self.worker_ids, self.label_values)

    def proba_frame(self, posteriors) -> pd.DataFrame:
        """A task × label frame (crowd-kit's ``probas_`` layout) from an (n_tasks, n_classes) array."""
        return pd.DataFrame(np.asarray(posteriors, dtype=np.float64), index=self.task_ids,
                            columns=self.label_values)

    def label_series(self, label_indices) -> pd.Series:
        """A Series indexed by task holding the label values of ``label_indices`` (crowd-kit's ``labels_``)."""
        return pd.Series(self.label_values[np.asarray(label_indices)], index=self.task_ids, name="agg_label")
