"""Select on validation, report on fresh seeds, compare paired: on hand-made rows with known answers."""
import math

import pytest

from kd_theory.protocol import selection


def _rows():
    """Two groups (label hard / soft) × two settings (lr 1, 2) × seeds 0-1 select, 2-4 report.

    Validation prefers lr 2 for soft and lr 1 for hard; test accuracies are built so that the gap at the
    chosen settings is +0.05 + 0.01·(seed − 2) on report seeds 2, 3, 4: mean +0.06."""
    rows = []
    for seed in range(5):
        role = "select" if seed < 2 else "report"
        for lr in (1.0, 2.0):
            hard_val = 0.80 if lr == 1.0 else 0.70
            soft_val = 0.75 if lr == 1.0 else 0.85
            rows.append({"label": "hard", "lr": lr, "seed": seed, "role": role, "val_acc": hard_val,
                         "test_acc": 0.80 + 0.001 * seed, "diverged": False})
            rows.append({"label": "soft", "lr": lr, "seed": seed, "role": role, "val_acc": soft_val,
                         "test_acc": 0.85 + 0.001 * seed + 0.01 * (seed - 2) * (lr == 2.0), "diverged": False})
    return rows


def test_choose_on_the_selection_seeds_validation_accuracy():
    chosen = selection.choose(_rows(), group_keys=("label",), setting_keys=("lr",))
    assert chosen[("hard",)]["lr"] == 1.0 and chosen[("soft",)]["lr"] == 2.0
    assert chosen[("soft",)]["n_seeds"] == 2


def test_a_setting_that_diverged_on_a_selection_seed_is_not_chosen():
    rows = _rows()
    for r in rows:
        if r["label"] == "soft" and r["lr"] == 2.0 and r["seed"] == 0:
            r["diverged"] = True
    chosen = selection.choose(rows, group_keys=("label",), setting_keys=("lr",))
    assert chosen[("soft",)]["lr"] == 1.0


def test_report_and_compare_read_only_the_report_seeds_at_the_chosen_settings():
    s = selection.select_then_report(_rows(), group_keys=("label",), setting_keys=("lr",),
                                     comparisons=[(("soft",), ("hard",))])
    assert s.reported[("soft",)]["n_seeds"] == 3
    assert s.reported[("soft",)]["test_acc_mean"] == pytest.approx(0.863)
    (gap,) = s.gaps
    assert gap["treatment"] == {"label": "soft"} and gap["baseline"] == {"label": "hard"}
    assert gap["gap_mean"] == pytest.approx(0.06) and gap["n_seeds"] == 3
    assert gap["gap_low"] < 0.06 < gap["gap_high"] and not gap["deterministic"]
    assert gap["family_size"] == 1 and gap["over"] == "student seeds"


def test_diverged_report_runs_drop_out_of_their_pair_and_are_counted():
    rows = _rows()
    for r in rows:
        if r["label"] == "soft" and r["seed"] == 4:
            r["diverged"] = True
    s = selection.select_then_report(rows, group_keys=("label",), setting_keys=("lr",),
                                     comparisons=[(("soft",), ("hard",))])
    assert s.gaps[0]["n_seeds"] == 2 and s.gaps[0]["n_diverged"] == 1
    assert s.reported[("soft",)]["n_diverged"] == 1


def test_difference_of_gaps_is_paired_by_seed():
    rows = []
    for ds, effect in (("full", 0.07), ("reduced", 0.03)):
        for seed in range(4):
            for label in ("hard", "soft"):
                rows.append({"dataset": ds, "label": label, "lr": 1.0, "seed": seed, "role": "report", "val_acc": 0.9,
                             "test_acc": 0.8 + 0.01 * seed + (effect + 0.002 * seed if label == "soft" else 0.0)})
    chosen = {(ds, label): {"lr": 1.0} for ds in ("full", "reduced") for label in ("hard", "soft")}
    d = selection.difference_of_gaps(rows, chosen, (("full", "soft"), ("full", "hard")),
                                     (("reduced", "soft"), ("reduced", "hard")), group_keys=("dataset", "label"),
                                     setting_keys=("lr",))
    assert d["mean"] == pytest.approx(0.04) and d["n_seeds"] == 4 and d["deterministic"]
    assert math.isnan(d["p_value"])
