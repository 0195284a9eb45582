"""kd_theory.crowd.io: the CSV readers refuse almost-right crowds with file and place, and describe what they read."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kd_theory.crowd import (DuplicateAnswersWarning, MajorityVote, describe_answers, handle_duplicate_answers,
                             load_answers_csv, load_bundled, load_crowd, load_truth_csv, read_crowd)
from kd_theory.crowd.evaluation import mv_random_ties_accuracy
from kd_theory.crowd.io import RARE_LABEL_SHARE, bundled_path

# crowd-kit 1.4.2 warns about pandas 3 deprecations on every call.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:crowdkit")

REAL_CROWDS = ("dog", "possent", "product", "relevance", "rte", "sp")
HEADER = "task,worker,label\n"


def write(path: Path, text) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def binary_crowd(folder: Path, n_answers: int, odd_label: int | None = None, gold: str = "") -> Path:
    """answers.csv with ``n_answers`` answers (10 workers per task, labels 0/1; the answer on line 500 says
    ``odd_label`` instead) and truth.csv with the first two tasks (+ the rows in ``gold``)."""
    rows = [f"t{a // 10},w{a % 10},{(a // 10 + (a % 10 < 3)) % 2}" for a in range(n_answers)]
    if odd_label is not None:
        rows[498] = f"t49,w8,{odd_label}"  # line 500 = header + 499 rows before it
    write(folder / "answers.csv", HEADER + "\n".join(rows) + "\n")
    write(folder / "truth.csv", "task,label\nt0,0\nt1,1\n" + gold)
    return folder


# --------------------------------------------------------------------------------------------- reading

def test_csv_loader_reads_answers_and_truth(tmp_path):
    answers = load_answers_csv(write(tmp_path / "answers.csv", "task,worker,label\nt1,w1,0\nt1,w2,1\nt2,w1,1.0\n"))
    truth = load_truth_csv(write(tmp_path / "truth.csv", "task,label\nt1,1\nt2,1\nt1,1\n"), answers)
    assert list(answers["label"]) == [0, 1, 1] and answers["label"].dtype == np.int64
    assert truth.to_dict() == {"t1": 1, "t2": 1}
    again, gold = load_crowd(tmp_path)
    pd.testing.assert_frame_equal(again, answers)
    pd.testing.assert_series_equal(gold, truth)


def test_csv_loader_equals_pandas_read_csv_on_a_file_with_quotes_spaces_and_blank_lines(tmp_path):
    text = 'task, worker,label\n"t,1",w1, 0\n\nt2,"w 2",1\n  t3,w1,+1\n'
    ours = load_answers_csv(write(tmp_path / "answers.csv", text))
    theirs = pd.read_csv(tmp_path / "answers.csv", dtype={"task": str, "worker": str}, skipinitialspace=True)
    assert list(ours["task"]) == list(theirs["task"]) == ["t,1", "t2", "t3"]
    assert list(ours["worker"]) == list(theirs["worker"]) == ["w1", "w 2", "w1"]
    assert list(ours["label"]) == list(theirs["label"]) == [0, 1, 1]


@pytest.mark.parametrize("text, message", [
    ("", r"answers\.csv: the file is empty"),
    (HEADER, r"answers\.csv: no data rows"),
    ("task,label\nt1,0\n", r"answers\.csv: missing column\(s\) \['worker'\]"),
    (HEADER + "t1,w1,0\nt2,w1,yes\n", r"answers\.csv: row 3, column 'label': 'yes' is not an integer label"),
    (HEADER + "t1,w1,0.5\n", r"answers\.csv: row 2, column 'label': '0\.5' is not an integer label"),
    (HEADER + "t1,w1,0\nt1,w2,inf\n", r"answers\.csv: row 3, column 'label': 'inf' is not an integer label"),
    (HEADER + "t1,w1,nan\n", r"answers\.csv: row 2, column 'label': 'nan' is not an integer label"),
    (HEADER + "t1,w1,1e3\n", r"answers\.csv: row 2, column 'label': '1e3' is not an integer label"),
    (HEADER + "t1,w1,99999999999999999999\n", r"answers\.csv: row 2, column 'label': '9+' has more than 18 digits"),
    (HEADER + "t1,,0\n", r"answers\.csv: row 2, column 'worker': empty value"),
    (HEADER + "t1,w1,0\n\nt2,w1,1,1\n", r"answers\.csv: row 4 has 4 field\(s\), the header has 3 \(task,"),
    (HEADER + "t1,w1,0\nt2,1\n", r"answers\.csv: row 3 has 2 field\(s\), the header has 3"),
    # 18 + 8 + 4 bytes before the é of "wé1": offset 30, on line 3
    (HEADER.encode() + b"t1,w1,0\nt2,w\xe91,1\n", r"answers\.csv: byte 30 of the file \(line 3\) is 0xe9, not UTF-8"),
    # a byte-order mark is 3 bytes of the file too
    (b"\xef\xbb\xbf" + HEADER.encode() + b"t1,w1,0\nt2,w\xe91,1\n", r"byte 33 of the file \(line 3\) is 0xe9"),
])
def test_csv_loader_errors_name_file_and_place(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_answers_csv(write(tmp_path / "answers.csv", text))


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    answers = load_answers_csv(write(tmp_path / "answers.csv", b"\xef\xbb\xbf" + HEADER.encode() + b"t1,w1,0\n"))
    assert list(answers.columns) == ["task", "worker", "label"] and answers["task"].iloc[0] == "t1"


def test_truth_errors_name_file_row_and_value(tmp_path):
    answers = load_answers_csv(write(tmp_path / "answers.csv", "task,worker,label\nt1,w1,0\nt2,w1,1\n"))
    with pytest.raises(ValueError, match=r"truth\.csv: row 3, column 'task': task 't9' has no answers"):
        load_truth_csv(write(tmp_path / "truth.csv", "task,label\nt1,0\nt9,1\n"), answers)
    with pytest.raises(ValueError, match=r"truth\.csv: row 2, column 'label': task 't1' has conflicting"):
        load_truth_csv(write(tmp_path / "truth.csv", "task,label\nt1,0\nt1,1\n"), answers)
    with pytest.raises(ValueError, match=r"truth\.csv: missing column\(s\) \['label'\]"):
        load_truth_csv(write(tmp_path / "truth.csv", "task,gold\nt1,0\n"))
    # a gold label that no answer gives (was "7 is not in list" from the evaluation)
    message = r"truth\.csv: row 3, column 'label': gold label 7 \(task 't2'\) is given by no answer.*use \[0, 1\]"
    write(tmp_path / "truth.csv", "task,label\nt1,0\nt2,7\n")
    with pytest.raises(ValueError, match=message):
        load_truth_csv(tmp_path / "truth.csv", answers)
    with pytest.raises(ValueError, match=message):
        load_crowd(tmp_path)
    with pytest.raises(ValueError, match=message):  # declaring 7 does not make the answers give it
        load_crowd(tmp_path, labels=[0, 1, 7])
    with pytest.raises(ValueError, match=r"gold label 7 \(task 't2'\) is given by no answer; the answers use \[0, 1\]"):
        mv_random_ties_accuracy(answers, pd.Series([0, 7], index=["t1", "t2"]))


# --------------------------------------------------------------------------------------------- labels

def test_a_rare_label_outside_the_gold_is_refused_with_file_row_and_value(tmp_path):
    # 2,000 answers with labels 0/1 and one −1 (0.05 % < 0.1 %): read as is, the crowd would be three-class
    folder = binary_crowd(tmp_path / "minus", 2000, odd_label=-1)
    with pytest.raises(ValueError, match=r"answers\.csv: row 500, column 'label': label -1 is given by 1 of "
                                         r"2,000 answers \(< 0\.1 %\) and by no gold row; the other answers use "
                                         r"\[0, 1\].*labels=\[-1, 0, 1\]"):
        load_crowd(folder)
    with pytest.raises(ValueError, match=r"row 500, column 'label': label 100000000 is given by 1 of"):
        load_answers_csv(binary_crowd(tmp_path / "big", 2000, odd_label=100000000) / "answers.csv")
    # declared, the label is a class; a declared set that leaves it out refuses it
    answers, _ = load_crowd(folder, labels=[-1, 0, 1])
    assert sorted(answers["label"].unique()) == [-1, 0, 1]
    with pytest.raises(ValueError, match=r"answers\.csv: row 500, column 'label': -1 is not in the declared "
                                         r"label set \[0, 1\]"):
        load_crowd(folder, labels=[0, 1])
    # a gold row with the label makes it a class too
    answers, truth = load_crowd(binary_crowd(tmp_path / "gold", 2000, odd_label=-1, gold="t49,-1\n"))
    assert truth["t49"] == -1 and (answers["label"] == -1).sum() == 1


def test_the_rare_label_threshold_is_a_share_of_the_answers(tmp_path):
    # one odd answer in 1,000 is exactly 0.1 %: kept; in 1,001 it is below: refused
    assert RARE_LABEL_SHARE == 0.001
    answers, _ = load_crowd(binary_crowd(tmp_path / "at", 1000, odd_label=2))
    assert (answers["label"] == 2).sum() == 1
    with pytest.raises(ValueError, match="label 2 is given by 1 of 1,001 answers"):
        load_crowd(binary_crowd(tmp_path / "below", 1001, odd_label=2))


def test_declared_labels_refuse_gold_labels_outside_them_and_bad_declarations(tmp_path):
    folder = binary_crowd(tmp_path, 100, gold="t2,3\n")
    with pytest.raises(ValueError, match=r"truth\.csv: row 4, column 'label': 3 is not in the declared label set"):
        load_crowd(folder, labels=[0, 1])
    with pytest.raises(ValueError, match=r"truth\.csv: row 4, column 'label': 3 is not in the declared label set"):
        load_truth_csv(folder / "truth.csv", labels=[0, 1])
    for bad in ([], ["0", "1"], [0, 0, 1], [0.5, 1]):
        with pytest.raises(ValueError, match="labels must"):
            load_crowd(folder, labels=bad)


# --------------------------------------------------------------------------------------------- duplicates

DUPLICATED = HEADER + "t1,w1,0\nt1,w2,1\nt1,w1,1\nt2,w1,1\nt1,w1,1\nt2,w1,1\nt2,w2,0\n"
#                      line 2   3       4 = (t1,w1) again  5   6 = (t1,w1) 3rd  7 = (t2,w1) again


def test_duplicates_rules_and_their_warning(tmp_path):
    path = write(tmp_path / "answers.csv", DUPLICATED)
    note = (r"answers\.csv: 3 row\(s\) repeat an earlier \(task, worker\) pair \(2 pair\(s\), 1 with different "
            r"labels\); the first is row 4, which repeats row 2 \(task 't1', worker 'w1'\)")
    expected = {"keep": [("t1", "w1", 0), ("t1", "w2", 1), ("t1", "w1", 1), ("t2", "w1", 1), ("t1", "w1", 1),
                         ("t2", "w1", 1), ("t2", "w2", 0)],
                "first": [("t1", "w1", 0), ("t1", "w2", 1), ("t2", "w1", 1), ("t2", "w2", 0)],
                "last": [("t1", "w2", 1), ("t1", "w1", 1), ("t2", "w1", 1), ("t2", "w2", 0)]}
    for rule, rows in expected.items():
        with pytest.warns(DuplicateAnswersWarning, match=note + f".*{rule}"):
            answers = load_answers_csv(path, duplicates=rule)
        assert list(answers.itertuples(index=False, name=None)) == rows
    with pytest.raises(ValueError, match=note + r"\. Choose duplicates="):
        load_answers_csv(path, duplicates="refuse")
    with pytest.raises(ValueError, match=r"duplicates must be one of \('keep', 'first', 'last', 'refuse'\)"):
        load_answers_csv(path, duplicates="drop")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no repeats: no warning
        load_answers_csv(write(tmp_path / "clean.csv", HEADER + "t1,w1,0\nt1,w2,1\n"), duplicates="refuse")


def test_keeping_duplicates_counts_each_row_as_a_vote_as_crowdkit_does(tmp_path):
    ck = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit is a test-only dependency")
    with pytest.warns(DuplicateAnswersWarning) as caught:
        answers = load_answers_csv(write(tmp_path / "answers.csv", DUPLICATED))
    assert caught[0].filename == __file__  # the warning points at the caller's line, not into the library
    ours = MajorityVote().fit_predict_proba(answers)
    theirs = ck.MajorityVote().fit_predict_proba(answers).loc[ours.index, ours.columns]
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.loc["t1"].to_numpy(), [1 / 4, 3 / 4])  # (t1, w1) votes three times


def test_describe_answers_and_the_record(tmp_path):
    write(tmp_path / "answers.csv", DUPLICATED)
    write(tmp_path / "truth.csv", "task,label\nt1,1\n")
    with pytest.warns(DuplicateAnswersWarning):
        crowd = read_crowd(tmp_path, duplicates="first")
    d = crowd.description  # of the file as read, before the rule
    assert (d.n_answers, d.n_tasks, d.n_workers) == (7, 2, 2)
    assert d.label_counts == {0: 2, 1: 5} and (d.n_gold, d.gold_label_counts) == (1, {1: 1})
    assert (d.duplicate_rows, d.duplicated_pairs, d.conflicting_pairs) == (3, 2, 1)
    assert describe_answers(crowd.answers).duplicate_rows == 0 and len(crowd.answers) == 4
    record = json.loads(json.dumps(crowd.record()))
    assert record["label_counts"] == {"0": 2, "1": 5} and record["duplicates"] == "first"
    assert record["n_answers_used"] == 4 and record["declared_labels"] is None
    assert "row 4, which repeats row 2" in record["duplicate_note"]
    # a frame without a file: rows are named by position
    frame = pd.read_csv(tmp_path / "answers.csv", dtype={"task": str, "worker": str})
    with pytest.warns(DuplicateAnswersWarning, match=r"data: 3 row\(s\).* the first is row 2 \(0-based position\), "
                                                     r"which repeats row 0 \(0-based position\)"):
        kept, note = handle_duplicate_answers(frame, "last")
    assert len(kept) == 4 and note.endswith("dropped 3 (duplicates='last')")


# --------------------------------------------------------------------------------------------- real crowds

def test_bundled_sp_passes_every_check():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateAnswersWarning)
        crowd = read_crowd(bundled_path("sp"), duplicates="refuse")
    d = crowd.description
    assert d.label_counts.keys() == d.gold_label_counts.keys() == {0, 1}
    assert d.duplicate_rows == 0 and sum(d.label_counts.values()) == d.n_answers == len(crowd.answers)
    answers, _ = load_bundled("sp", labels=[0, 1])
    pd.testing.assert_frame_equal(answers, crowd.answers)


@pytest.mark.parametrize("name", REAL_CROWDS)
def test_real_crowds_pass_the_label_rule_and_their_duplicates_are_counted(shared_data, name):
    folder = Path(shared_data) / "crowd" / name
    if not (folder / "answers.csv").exists():
        pytest.skip(f"{folder} is absent")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DuplicateAnswersWarning)
        crowd = read_crowd(folder)  # no rare label: the rule does not trip
    d = crowd.description
    reference = pd.read_csv(folder / "answers.csv", dtype=str)  # pandas, independently
    assert d.label_counts == {int(k): int(v) for k, v in reference["label"].value_counts().sort_index().items()}
    assert min(d.label_counts.values()) >= RARE_LABEL_SHARE * d.n_answers
    assert set(d.gold_label_counts) <= set(d.label_counts)
    assert d.duplicate_rows == int(reference.duplicated(["task", "worker"]).sum())
    assert len(caught) == (d.duplicate_rows > 0)
    if name == "relevance":  # the figure in the module docstring
        assert d.duplicate_rows == 1570 and "1,570 row(s) repeat" in str(caught[0].message)
        with pytest.warns(DuplicateAnswersWarning, match="dropped 1,570"):
            assert len(read_crowd(folder, duplicates="first").answers) == d.n_answers - 1570
    else:
        assert d.duplicate_rows == 0
    # declaring the labels the crowd uses changes nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateAnswersWarning)
        pd.testing.assert_frame_equal(load_crowd(folder, labels=list(d.label_counts))[0], crowd.answers)
