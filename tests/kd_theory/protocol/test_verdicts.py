"""The verdict vocabulary: each rule on hand-made numbers, and an unmet precondition always wins."""
import math

import pytest

from kd_theory.protocol import verdicts

CLAIM = verdicts.Claim("soft labels beat hard labels at m = 4", "Mandal et al., Table 1", "prediction")


def test_an_unmet_precondition_makes_any_outcome_inconclusive_and_names_it():
    pre = [verdicts.teacher_lead(0.95, 0.949), verdicts.at_least("seeds", 10, 5, "report seeds ≥ 5")]
    v = verdicts.judge(CLAIM, pre, "not reproduced", "rule", "gap +0.1 [−0.2, +0.4]", settle="a stronger teacher")
    assert v.verdict == "inconclusive" and v.unmet == ["teacher lead"]
    assert "teacher lead" in v.evidence and v.settle == "a stronger teacher"
    assert v.to_json()["preconditions"][0]["met"] is False and v.to_json()["claim"]["type"] == "prediction"


def test_what_would_settle_it_is_each_unmet_preconditions_remedy_and_only_those():
    lead = verdicts.teacher_lead(0.98, 0.95396, name="teacher lead (reduced, m = 4)")
    edges = verdicts.grid_edges([{"steps": 300, "lr": 32.0, "dataset": "full", "_cell_keys": ("dataset",)}],
                                {"steps": [300, 1000], "lr": [8.0, 32.0, 128.0]})
    power = verdicts.power(-0.005, 0.006, 0.0678)
    v = verdicts.judge(CLAIM, [lead, edges, power], "not reproduced", "rule", "evidence")
    assert v.verdict == "inconclusive" and v.unmet == ["teacher lead (reduced, m = 4)", "converged"]
    assert v.settle == ("a teacher that leads its students by ≥ 3 points (teacher lead (reduced, m = 4): +2.60): a "
                        "wider or longer-trained teacher, or a harder task; the grid extended past the chosen values "
                        "at its edges (steps=300 dataset=full)")
    wide = verdicts.power(-0.05, 0.04, 0.0678)
    assert verdicts.settle_text([wide]) == "more report seeds (interval 9.00 points wide; it must be narrower than " \
                                           "the paper's 6.78)"
    plain = verdicts.at_least("seeds", 3, 5, "report seeds ≥ 5")                  # no remedy: its name and rule
    assert verdicts.settle_text([plain, power]) == "seeds: report seeds ≥ 5"
    assert verdicts.judge(CLAIM, [lead], "reproduced", "r", "e", settle="given").settle == "given"
    assert verdicts.judge(CLAIM, [power], "reproduced", "r", "e").settle == ""     # all met: nothing to settle


def test_met_preconditions_keep_the_outcome():
    v = verdicts.judge(CLAIM, [verdicts.teacher_lead(0.98, 0.90)], "reproduced", "rule", "evidence")
    assert v.verdict == "reproduced" and v.unmet == []


def test_claim_types_and_verdicts_are_checked():
    with pytest.raises(ValueError, match="claim type"):
        verdicts.judge(verdicts.Claim("q", "s", "vibe"), [], "reproduced", "r", "e")
    with pytest.raises(ValueError, match="verdict"):
        verdicts.judge(CLAIM, [], "probably", "r", "e")


@pytest.mark.parametrize("mean, low, high, significant, paper, deterministic, expected", [
    (0.07, 0.05, 0.09, True, 0.068, False, "reproduced"),
    (0.02, 0.01, 0.03, True, 0.068, False, "partly reproduced"),     # the direction, not the size
    (0.01, -0.01, 0.03, False, 0.068, False, "not reproduced"),
    (-0.03, -0.05, -0.01, True, 0.068, False, "contradicted"),
    (0.02, 0.02, 0.02, False, None, True, "reproduced"),             # deterministic: by its sign, no p-value
    (0.01, 0.005, 0.015, False, None, False, "not reproduced"),      # not Holm-significant: no claim of a win
])
def test_prediction_outcome(mean, low, high, significant, paper, deterministic, expected):
    assert verdicts.prediction_outcome(mean, low, high, significant, paper, deterministic) == expected


def test_figure_bound_and_exponent_outcomes():
    assert verdicts.figure_outcome(0.70, 0.80, 0.75) == "reproduced"
    assert verdicts.figure_outcome(0.70, 0.74, 0.7415, tolerance=0.002) == "reproduced"
    assert verdicts.figure_outcome(0.70, 0.74, 0.80) == "not reproduced"
    assert verdicts.bound_outcome(5, 5) == "consistent" and verdicts.bound_outcome(4, 5) == "contradicted"
    assert verdicts.exponent_outcome(-1.2, -0.8, -1.0) == "consistent"
    assert verdicts.exponent_outcome(-1.7, -1.3, -1.0) == "not reproduced"
    assert verdicts.exponent_outcome(1.1, 1.9, 2.0, kind="at_most") == "consistent"
    assert verdicts.exponent_outcome(2.5, 3.0, 2.0, kind="at_most") == "contradicted"
    assert verdicts.exponent_outcome(math.nan, 1.0, 2.0) == "inconclusive"


def test_grid_edges_allow_natural_limits_only():
    grid = {"lr": [8.0, 32.0, 128.0], "steps": [100, 300, 1000]}
    inside = verdicts.grid_edges([{"lr": 32.0, "steps": 300}], grid)
    assert inside.met
    assert inside.value == "no chosen value at a non-natural grid edge"
    edge = verdicts.grid_edges([{"lr": 128.0, "steps": 300}], grid)
    assert not edge.met and "lr=128" in edge.value[0]
    natural = {"steps": lambda v, row: row["settled"] and verdicts.SETTLED, "lr": lambda v, row: v == 8.0}
    settled = verdicts.grid_edges([{"lr": 32.0, "steps": 1000, "settled": True, "cell": "a", "_cell_keys": ("cell",)},
                                   {"lr": 8.0, "steps": 300}], grid, natural=natural)
    # the edges accepted as natural are named, with the reason when the test gives one
    assert settled.met and settled.value == ("no chosen value at a non-natural grid edge; at a natural limit: "
                                             "lr=8 (natural limit); steps=1000 cell=a (training loss settled)")
    unsettled = verdicts.grid_edges([{"lr": 32.0, "steps": 1000, "settled": False}], grid, natural=natural)
    assert not unsettled.met and unsettled.value == ["steps=1000"]
    assert verdicts.loss_settled(0.100, 0.0995) and not verdicts.loss_settled(0.100, 0.090)


def test_power_needs_an_interval_narrower_than_the_papers_effect():
    assert verdicts.power(-0.01, 0.02, 0.068).met
    assert not verdicts.power(-0.05, 0.05, 0.068).met
    assert not verdicts.power(math.nan, math.nan, 0.068).met
