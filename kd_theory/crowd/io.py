"""Reading crowds from CSV: an answers file (task, worker, label) and an optional truth file (task, label).

Labels must be integers (class indices; the real data sets use 0..K−1). Errors name the file, the row
(the line number in the file, the header being line 1) and the column. The bundled crowd ``sp``
(Apache-2.0) ships inside the package: :func:`load_bundled`.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

ANSWER_COLUMNS = ("task", "worker", "label")
TRUTH_COLUMNS = ("task", "label")
BUNDLED = ("sp",)


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named columns of a CSV as strings, with errors for an empty file or a missing column."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty (expected a header with columns {list(columns)})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the header has {list(frame.columns)}, "
                         f"needs {list(columns)}")
    if frame.empty:
        raise ValueError(f"{path}: no data rows after the header")
    frame = frame[list(columns)]
    for column in columns:
        blank = frame[column].str.strip() == ""
        if blank.any():
            raise ValueError(f"{path}: row {_line(blank)}, column {column!r}: empty value")
    return frame


def _line(bad: pd.Series) -> int:
    """File line number of the first True in ``bad`` (header = line 1)."""
    return int(np.flatnonzero(bad.to_numpy())[0]) + 2


def _integer_labels(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame with its label column parsed as int64; error on the first non-integer value."""
    parsed = pd.to_numeric(frame["label"], errors="coerce")
    bad = parsed.isna() | (parsed != np.round(parsed))
    if bad.any():
        value = frame["label"].iloc[int(np.flatnonzero(bad.to_numpy())[0])]
        raise ValueError(f"{path}: row {_line(bad)}, column 'label': {value!r} is not an integer label")
    return frame.assign(label=parsed.astype(np.int64))


def load_answers_csv(path) -> pd.DataFrame:
    """Answers from a CSV with columns task, worker, label (ids as strings, labels as int64)."""
    path = Path(path)
    return _integer_labels(_read_csv(path, ANSWER_COLUMNS), path)


def load_truth_csv(path, answers: pd.DataFrame | None = None) -> pd.Series:
    """Gold labels from a CSV with columns task, label: a Series indexed by task.

    With ``answers``, every gold task must have answers. A task listed twice must repeat its label.
    """
    path = Path(path)
    truth = _integer_labels(_read_csv(path, TRUTH_COLUMNS), path)
    repeated = truth.duplicated("task", keep=False)
    conflicting = repeated & (truth.groupby("task")["label"].transform("nunique") > 1)
    if conflicting.any():
        task = truth["task"].iloc[int(np.flatnonzero(conflicting.to_numpy())[0])]
        raise ValueError(f"{path}: row {_line(conflicting)}, column 'label': task {task!r} has conflicting labels")
    if answers is not None:
        unknown = ~truth["task"].isin(answers["task"])
        if unknown.any():
            task = truth["task"].iloc[int(np.flatnonzero(unknown.to_numpy())[0])]
            raise ValueError(f"{path}: row {_line(unknown)}, column 'task': task {task!r} has no answers "
                             f"({int(unknown.sum())} gold task(s) have none)")
    truth = truth.drop_duplicates("task")
    return pd.Series(truth["label"].to_numpy(), index=pd.Index(truth["task"], name="task"), name="label")


def load_crowd(folder) -> tuple[pd.DataFrame, pd.Series | None]:
    """(answers, truth) from ``folder``/answers.csv and ``folder``/truth.csv (truth None if absent)."""
    folder = Path(folder)
    answers = load_answers_csv(folder / "answers.csv")
    truth_path = folder / "truth.csv"
    return answers, (load_truth_csv(truth_path, answers) if truth_path.exists() else None)


def bundled_path(name: str) -> Path:
    """Folder of a crowd shipped inside the package (answers.csv, truth.csv, LICENSE, PROVENANCE.md)."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled crowd {name!r}; bundled: {list(BUNDLED)}")
    return Path(str(resources.files("kd_theory.crowd") / "datasets" / name))


def load_bundled(name: str = "sp") -> tuple[pd.DataFrame, pd.Series]:
    """(answers, truth) of a crowd shipped inside the package; only ``sp`` (Apache-2.0) is."""
    return load_crowd(bundled_path(name))
