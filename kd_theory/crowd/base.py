"""The crowd-kit calling convention shared by every aggregator.

``fit(data)`` takes a frame with columns task, worker, label and sets ``probas_`` (task × label frame)
and ``labels_`` (Series indexed by task); ``fit_predict`` and ``fit_predict_proba`` return them. Each
aggregator only implements ``_fit_matrix`` (a :class:`LabelMatrix` → (n_tasks, n_classes) posteriors).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kd_theory.crowd.matrix import LabelMatrix


def argmax_lowest_label(scores: np.ndarray) -> np.ndarray:
    """argmax_k scores[t, k], ties to the lowest label index (label_values are sorted, so the lowest label).

    Not crowd-kit's rule for majority vote: crowd-kit 1.4.2 takes ``idxmax`` over the columns of a frame
    built by ``value_counts().unstack()``, whose columns come in the order the labels first appear in the
    data (pandas 3.1), so its ties go to the label seen first. See ``MajorityVote(tie_rule="first_seen")``.
    """
    return np.argmax(np.asarray(scores), axis=1)


class Aggregator:
    """Base class: ``fit(df)``, ``fit_predict(df)``, ``fit_predict_proba(df)`` as in crowd-kit."""

    probas_: pd.DataFrame | None = None
    labels_: pd.Series | None = None

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        raise NotImplementedError

    def _label_indices(self, posteriors: np.ndarray, matrix: LabelMatrix, data: pd.DataFrame) -> np.ndarray:
        """The label index of every task from its posteriors (``data``: the answers, for rules that read them)."""
        return argmax_lowest_label(posteriors)

    def fit(self, data: pd.DataFrame) -> "Aggregator":
        """Fit on the answers in ``data`` (columns task, worker, label); returns self."""
        matrix = LabelMatrix.from_dataframe(data)
        if matrix.n_answers == 0:
            raise ValueError("data holds no answers: nothing to aggregate")
        posteriors = np.asarray(self._fit_matrix(matrix))
        self.probas_ = matrix.proba_frame(posteriors)
        self.labels_ = matrix.label_series(self._label_indices(posteriors, matrix, data))
        return self

    masks_tasks = False  # True: _fit_matrix(matrix, task_mask) fits the kept tasks alone inside the whole matrix

    def fit_tasks(self, matrix: LabelMatrix, keep) -> "Aggregator":
        """Fit on the answers of the tasks of ``matrix`` where ``keep`` (bool per task) holds, as if the other
        tasks did not exist; ``probas_`` and ``labels_`` cover the kept tasks. An aggregator with
        ``masks_tasks`` (Dawid-Skene) fits them inside the whole matrix, so its compiled program depends on
        the crowd's size only, not on how many tasks are kept; the others fit the sub-matrix."""
        keep = np.asarray(keep, bool)
        part = matrix.subset_tasks(keep)
        if part.n_answers == 0:
            raise ValueError("the kept tasks hold no answers: nothing to aggregate")
        if self.masks_tasks:
            posteriors = np.asarray(self._fit_matrix(matrix, task_mask=keep))[keep]
        else:
            posteriors = np.asarray(self._fit_matrix(part))
        self.probas_ = part.proba_frame(posteriors)
        self.labels_ = part.label_series(self._label_indices(posteriors, part, part.to_dataframe()))
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        """The aggregated label of every task (a Series indexed by task)."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """The label distribution of every task (a task × label frame, rows sum to 1)."""
        return self.fit(data).probas_

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def require_binary(matrix: LabelMatrix, method: str) -> None:
    """Raise unless the answers use exactly two labels (the method's model is binary)."""
    if matrix.n_classes != 2:
        raise ValueError(f"{method} is a binary method: the answers must use exactly 2 labels, found "
                         f"{matrix.n_classes} ({list(matrix.label_values)[:10]})")
