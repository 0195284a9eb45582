"""Reading crowds from CSV: an answers file (task, worker, label) and an optional truth file (task, label).

Labels must be integers (class indices; the real data sets use 0..K−1; "1.0" is read as 1). A file that is
almost right must not silently become another crowd, so the readers refuse, naming the file and the place:

* a byte that is not UTF-8 (its offset in the file and its line), a row with more or fewer fields than the
  header, an empty value, a label that is not an integer (``inf``, ``0.5``, ``yes``);
* a **rare label**: one given by fewer than 0.1 % of the answers (:data:`RARE_LABEL_SHARE`) and by no gold
  row — a typo such as −1 or 100000000 in a 0/1 crowd would otherwise add a class. Declaring the label set
  (``labels=[0, 1, 2]``) accepts rare labels inside it and refuses every label outside it instead;
* a gold label that no answer uses (no aggregator can output it), and a gold task without answers.

**Duplicates.** Several answers of one worker to one task (relevance has 1,570 such rows) are handled by
``duplicates=``: "keep" (default, crowd-kit's behaviour: every row is a vote), "first" or "last" (keep one
row per (task, worker) pair) or "refuse" (ValueError). Whatever the rule, the reader says what it found
with a :class:`DuplicateAnswersWarning` (count, first repeated row with file and line).

:func:`read_crowd` returns the answers, the gold labels and a :class:`CrowdDescription` of the file as
read (label set with counts, duplicates), which ``Crowd.record()`` turns into a dict for results.json.
A row is named by its line in the file (the header is line 1, so row 2 is the first answer). The bundled
crowd ``sp`` (Apache-2.0) ships inside the package: :func:`load_bundled`.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

ANSWER_COLUMNS = ("task", "worker", "label")
TRUTH_COLUMNS = ("task", "label")
BUNDLED = ("sp",)
DUPLICATE_RULES = ("keep", "first", "last", "refuse")
RARE_LABEL_SHARE = 0.001  # a label below this share of the answers, and absent from the gold, is refused
_INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_INT64_DIGITS = 18  # any integer of at most 18 digits fits in int64


class DuplicateAnswersWarning(UserWarning):
    """Some worker answered some task more than once (the message gives the count and the first such row)."""


class CrowdDescription(NamedTuple):
    """What a crowd holds, for the record: sizes, the label sets with their counts, repeated answers."""
    n_answers: int             # answer rows
    n_tasks: int               # distinct tasks
    n_workers: int             # distinct workers
    label_counts: dict         # {label: number of answers giving it}, by label
    duplicate_rows: int        # rows repeating an earlier row's (task, worker) pair ("first" drops these)
    duplicated_pairs: int      # distinct (task, worker) pairs with more than one row
    conflicting_pairs: int     # of those, the pairs whose rows give different labels
    n_gold: int | None         # gold tasks (None: no gold labels)
    gold_label_counts: dict | None  # {label: number of gold tasks with it}, by label

    def as_record(self) -> dict:
        """The fields as a JSON-ready dict (labels as strings, counts as int)."""
        return {k: ({str(label): n for label, n in v.items()} if isinstance(v, dict) else v)
                for k, v in self._asdict().items()}


class Crowd(NamedTuple):
    """A crowd as read by :func:`read_crowd`."""
    answers: pd.DataFrame          # columns task, worker, label, after the duplicates rule
    truth: pd.Series | None        # gold label by task, or None without truth.csv
    description: CrowdDescription  # of the files as read (before the duplicates rule)
    duplicates: str                # the duplicates rule applied
    labels: tuple | None           # the declared label set, or None
    duplicate_note: str            # what the reader found and did about duplicates ("" when none)

    def record(self) -> dict:
        """Everything to keep in results.json: the description, the options and the answers used."""
        return dict(self.description.as_record(), duplicates=self.duplicates,
                    declared_labels=None if self.labels is None else list(self.labels),
                    n_answers_used=len(self.answers), duplicate_note=self.duplicate_note)


class _Rows(NamedTuple):
    """Rows of a CSV as strings plus the file line each starts on."""
    frame: pd.DataFrame
    lines: np.ndarray
    path: Path


def _decode(path: Path) -> str:
    """The file's text; a non-UTF-8 byte is reported by its offset in the file and its line."""
    data = path.read_bytes()
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = data.count(b"\n", 0, offset) + 1
        raise ValueError(f"{path}: byte {offset} of the file (line {line}) is 0x{data[offset]:02x}, not UTF-8; "
                         f"save the file as UTF-8") from None


def _read_rows(path, columns: tuple[str, ...]) -> _Rows:
    """The named columns of a CSV as strings, with the line of each row; errors name the file and the line."""
    path = Path(path)
    try:
        text = _decode(path)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the file ({error.strerror or error})") from None
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header, rows, lines, line = None, [], [], 1
    try:
        for row in reader:
            if row:  # blank lines are skipped
                if header is None:
                    header = [name.strip() for name in row]
                elif len(row) != len(header):
                    raise ValueError(f"{path}: row {line} has {len(row)} field(s), the header has {len(header)} "
                                     f"({','.join(header)})")
                else:
                    rows.append(row)
                    lines.append(line)
            line = reader.line_num + 1
    except csv.Error as error:
        raise ValueError(f"{path}: row {reader.line_num}: {error}") from None
    if header is None:
        raise ValueError(f"{path}: the file is empty (expected a header with columns {list(columns)})")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the header has {header}, needs {list(columns)}")
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    lines = np.asarray(lines)
    frame = pd.DataFrame({c: [row[i] for row in rows] for c, i in ((c, header.index(c)) for c in columns)})
    for column in columns:
        blank = (frame[column].str.strip() == "").to_numpy()
        if blank.any():
            raise ValueError(f"{path}: row {lines[blank.argmax()]}, column {column!r}: empty value")
    return _Rows(frame, lines, path)


def _integer_labels(rows: _Rows) -> _Rows:
    """The rows with their label column parsed as int64; error on the first value that is not an integer."""
    text = rows.frame["label"].str.strip()
    digits = text.str.replace(r"\.0*$", "", regex=True).str.lstrip("+-").str.lstrip("0")
    integer = text.str.fullmatch(_INTEGER).to_numpy()
    bad = ~integer | (digits.str.len() > _INT64_DIGITS).to_numpy()
    if bad.any():
        first = int(bad.argmax())
        what = "is not an integer label" if not integer[first] else "has more than 18 digits: too large for a label"
        raise ValueError(f"{rows.path}: row {rows.lines[first]}, column 'label': "
                         f"{rows.frame['label'].iloc[first]!r} {what}")
    labels = text.str.replace(r"\.0*$", "", regex=True).astype(np.int64)
    return rows._replace(frame=rows.frame.assign(label=labels))


def _read_answers(path) -> _Rows:
    return _integer_labels(_read_rows(path, ANSWER_COLUMNS))


def _read_truth(path) -> _Rows:
    """Gold rows; a task listed twice must repeat its label."""
    rows = _integer_labels(_read_rows(path, TRUTH_COLUMNS))
    truth = rows.frame
    repeated = truth.duplicated("task", keep=False)
    conflicting = (repeated & (truth.groupby("task")["label"].transform("nunique") > 1)).to_numpy()
    if conflicting.any():
        first = int(conflicting.argmax())
        raise ValueError(f"{rows.path}: row {rows.lines[first]}, column 'label': task {truth['task'].iloc[first]!r} "
                         f"has conflicting labels")
    return rows


def _sorted_labels(values) -> list:
    """The labels as Python scalars, sorted when they can be."""
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    try:
        return sorted(values)
    except TypeError:
        return values


def _counts(labels: pd.Series) -> dict:
    """{label: count}, by label, with Python ints."""
    counts = labels.value_counts()
    return {label: int(counts[label]) for label in _sorted_labels(counts.index)}


def _check_declared(rows: _Rows, declared: tuple) -> None:
    """Refuse the first label outside the declared set."""
    outside = (~rows.frame["label"].isin(declared)).to_numpy()
    if outside.any():
        first = int(outside.argmax())
        raise ValueError(f"{rows.path}: row {rows.lines[first]}, column 'label': {rows.frame['label'].iloc[first]} "
                         f"is not in the declared label set {list(declared)} ({int(outside.sum())} row(s) outside it)")


def _check_gold_labels_answered(answers: _Rows, truth: _Rows) -> None:
    """Refuse a gold label that no answer gives."""
    unused = (~truth.frame["label"].isin(answers.frame["label"])).to_numpy()
    if unused.any():
        first = int(unused.argmax())
        raise ValueError(f"{truth.path}: row {truth.lines[first]}, column 'label': gold label "
                         f"{truth.frame['label'].iloc[first]} (task {truth.frame['task'].iloc[first]!r}) is given "
                         f"by no answer ({answers.path.name}); the answers use "
                         f"{_sorted_labels(answers.frame['label'].unique())}, so no aggregator can output it")


def _check_rare_labels(answers: _Rows, truth: _Rows | None) -> None:
    """Refuse a label given by fewer than RARE_LABEL_SHARE of the answers and by no gold row."""
    counts = answers.frame["label"].value_counts()
    gold = set() if truth is None else set(truth.frame["label"])
    rare = [label for label, n in counts.items() if n < RARE_LABEL_SHARE * len(answers.frame) and label not in gold]
    if not rare:
        return
    is_rare = answers.frame["label"].isin(rare).to_numpy()
    first = int(is_rare.argmax())
    label = int(answers.frame["label"].iloc[first])
    others = _sorted_labels(set(counts.index) - set(rare))
    raise ValueError(
        f"{answers.path}: row {answers.lines[first]}, column 'label': label {label} is given by "
        f"{int(counts[label])} of {len(answers.frame):,} answers (< {100 * RARE_LABEL_SHARE:g} %) and by no gold row; "
        f"the other answers use {others}"
        + (f" ({len(rare)} such rare labels: {_sorted_labels(rare)[:10]})" if len(rare) > 1 else "")
        + f". A typo would add a class. If it is a real class, declare the label set, "
          f"e.g. labels={_sorted_labels(counts.index)}")


def describe_answers(answers: pd.DataFrame, truth: pd.Series | None = None) -> CrowdDescription:
    """Sizes, the label set with counts, and the repeated (task, worker) pairs of an answers frame
    (columns task, worker, label) and, optionally, of its gold labels (a Series by task)."""
    pair = answers[["task", "worker"]]
    repeated = pair.duplicated(keep=False)
    labels_per_pair = answers[repeated.to_numpy()].groupby(["task", "worker"], sort=False)["label"].nunique()
    return CrowdDescription(
        n_answers=len(answers), n_tasks=int(answers["task"].nunique()),
        n_workers=int(answers["worker"].nunique()), label_counts=_counts(answers["label"]),
        duplicate_rows=int(pair.duplicated().sum()), duplicated_pairs=len(labels_per_pair),
        conflicting_pairs=int((labels_per_pair > 1).sum()),
        n_gold=None if truth is None else len(truth),
        gold_label_counts=None if truth is None else _counts(truth))


def _first_caller_outside_this_module() -> int:
    """The ``stacklevel`` that makes a warning point at the user's call, whichever loader it went through."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def handle_duplicate_answers(answers: pd.DataFrame, duplicates: str = "keep", source: str = "data",
                             lines=None) -> tuple[pd.DataFrame, str]:
    """(answers after the rule, note) for the rows that repeat a (task, worker) pair.

    ``duplicates``: "keep" every row (each is a vote: crowd-kit's behaviour), keep the "first" or the
    "last" row of each pair, or "refuse" (ValueError). When there are repeats the note (also issued as a
    :class:`DuplicateAnswersWarning`) gives their number and the first repeated row: its line in
    ``source`` when ``lines`` (the file line of each row) is given, else its 0-based position in the frame.
    """
    if duplicates not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}")
    pair = answers[["task", "worker"]]
    repeats = pair.duplicated().to_numpy()
    if not repeats.any():
        return answers, ""
    first = int(repeats.argmax())
    task, worker = answers["task"].iloc[first], answers["worker"].iloc[first]
    earlier = int(((answers["task"] == task) & (answers["worker"] == worker)).to_numpy().argmax())
    place = (lambda i: f"row {lines[i]}") if lines is not None else (lambda i: f"row {i} (0-based position)")
    description = describe_answers(answers)
    found = (f"{source}: {description.duplicate_rows:,} row(s) repeat an earlier (task, worker) pair "
             f"({description.duplicated_pairs:,} pair(s), {description.conflicting_pairs:,} with different labels); "
             f"the first is {place(first)}, which repeats {place(earlier)} (task {task!r}, worker {worker!r})")
    if duplicates == "refuse":
        raise ValueError(f"{found}. Choose duplicates='keep' (every row a vote), 'first' or 'last'")
    keep = {"keep": np.ones(len(answers), dtype=bool), "first": ~repeats,
            "last": ~pair.duplicated(keep="last").to_numpy()}[duplicates]
    dropped = int((~keep).sum())
    action = ("every row is kept as a vote (duplicates='keep', crowd-kit's behaviour)" if duplicates == "keep"
              else f"kept the {duplicates} row of each pair, dropped {dropped:,} (duplicates={duplicates!r})")
    note = f"{found}; {action}"
    warnings.warn(note, DuplicateAnswersWarning, stacklevel=_first_caller_outside_this_module())
    return (answers if duplicates == "keep" else answers[keep].reset_index(drop=True)), note


def _declared(labels) -> tuple | None:
    if labels is None:
        return None
    declared = tuple(labels)
    if not declared or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in declared):
        raise ValueError(f"labels must be a non-empty list of integers, got {labels!r}")
    if len(set(declared)) != len(declared):
        raise ValueError(f"labels must not repeat a label, got {list(declared)}")
    return tuple(int(x) for x in declared)


def _truth_series(truth: _Rows) -> pd.Series:
    frame = truth.frame.drop_duplicates("task")
    return pd.Series(frame["label"].to_numpy(), index=pd.Index(frame["task"], name="task"), name="label")


def _check_gold_tasks_answered(answers: pd.DataFrame, truth: _Rows) -> None:
    # an Index lookup: Series.isin on arrow strings walks the values in Python (1.5 s on relevance)
    unknown = pd.Index(answers["task"].unique()).get_indexer(truth.frame["task"]) < 0
    if unknown.any():
        first = int(unknown.argmax())
        raise ValueError(f"{truth.path}: row {truth.lines[first]}, column 'task': task "
                         f"{truth.frame['task'].iloc[first]!r} has no answers ({int(unknown.sum())} gold task(s) "
                         f"have none)")


def _read(answers_path, truth_path, duplicates: str, labels) -> Crowd:
    """The one reader behind every public loader (truth_path None: answers only)."""
    if duplicates not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}")
    declared = _declared(labels)
    answers = _read_answers(answers_path)
    truth = None if truth_path is None else _read_truth(truth_path)
    if declared is not None:
        for rows in (answers, truth):
            if rows is not None:
                _check_declared(rows, declared)
    if truth is not None:
        _check_gold_labels_answered(answers, truth)
    if declared is None:
        _check_rare_labels(answers, truth)
    gold = None if truth is None else _truth_series(truth)
    description = describe_answers(answers.frame, gold)
    used, note = handle_duplicate_answers(answers.frame, duplicates, str(answers.path), answers.lines)
    if truth is not None:
        _check_gold_tasks_answered(used, truth)
    return Crowd(used, gold, description, duplicates, declared, note)


def read_crowd(folder, *, duplicates: str = "keep", labels=None) -> Crowd:
    """The crowd in ``folder``: answers.csv and, if present, truth.csv (module docstring for the checks).

    ``duplicates``: "keep" | "first" | "last" | "refuse" (repeated (task, worker) pairs); ``labels``: the
    label set, if declared (then rare labels are accepted and labels outside it refused).
    """
    folder = Path(folder)
    truth_path = folder / "truth.csv"
    return _read(folder / "answers.csv", truth_path if truth_path.exists() else None, duplicates, labels)


def load_crowd(folder, *, duplicates: str = "keep", labels=None) -> tuple[pd.DataFrame, pd.Series | None]:
    """(answers, truth) from ``folder``/answers.csv and ``folder``/truth.csv (truth None if absent)."""
    crowd = read_crowd(folder, duplicates=duplicates, labels=labels)
    return crowd.answers, crowd.truth


def load_answers_csv(path, *, duplicates: str = "keep", labels=None) -> pd.DataFrame:
    """Answers from a CSV with columns task, worker, label (ids as strings, labels as int64).

    Without gold labels, the rare-label rule counts every label as absent from the gold.
    """
    return _read(path, None, duplicates, labels).answers


def load_truth_csv(path, answers: pd.DataFrame | None = None, *, labels=None) -> pd.Series:
    """Gold labels from a CSV with columns task, label: a Series indexed by task.

    A task listed twice must repeat its label. With ``answers``, every gold task must have answers and
    every gold label must be given by some answer; with ``labels``, every gold label must be in that set.
    """
    truth = _read_truth(path)
    declared = _declared(labels)
    if declared is not None:
        _check_declared(truth, declared)
    if answers is not None:
        answer_rows = _Rows(answers, np.arange(len(answers)), Path("the answers frame"))
        _check_gold_labels_answered(answer_rows, truth)
        _check_gold_tasks_answered(answers, truth)
    return _truth_series(truth)


def bundled_path(name: str) -> Path:
    """Folder of a crowd shipped inside the package (answers.csv, truth.csv, LICENSE, PROVENANCE.md)."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled crowd {name!r}; bundled: {list(BUNDLED)}")
    return Path(str(resources.files("kd_theory.crowd") / "datasets" / name))


def load_bundled(name: str = "sp", **options) -> tuple[pd.DataFrame, pd.Series]:
    """(answers, truth) of a crowd shipped inside the package; only ``sp`` (Apache-2.0) is.
    ``options``: ``duplicates`` and ``labels`` as in :func:`read_crowd`."""
    return load_crowd(bundled_path(name), **options)
