"""The statistics every result is read through, on hand-made rows with known answers."""
import math

import numpy as np
import pytest

from kd_theory import stats


def test_mean_std_is_nan_not_zero_for_one_seed():
    mean, std = stats.mean_std([0.9])
    assert mean == 0.9 and math.isnan(std)
    assert stats.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2.0)))


def test_paired_summary_one_seed_is_undefined_and_never_a_win():
    s = stats.paired_summary([0.05])
    assert s.mean == 0.05 and s.n == 1
    assert all(math.isnan(v) for v in (s.se, s.low, s.high, s.p_value))
    cells = stats.add_holm([{"p_value": s.p_value, "gap_mean": s.mean}])
    assert cells[0]["significant"] is False and math.isnan(cells[0]["p_holm"])


def test_paired_summary_matches_a_hand_computed_t_test():
    d = [0.01, 0.03, 0.02, 0.04]            # mean 0.025, sd = sqrt(1/600) ≈ 0.0129, se ≈ 0.00645
    s = stats.paired_summary(d)
    se = np.std(d, ddof=1) / 2
    assert s.mean == pytest.approx(0.025) and s.se == pytest.approx(se)
    t = 0.025 / se                           # 3.873 on 3 degrees of freedom
    # t_{0.975, 3} = 3.182446 and P(|T_3| > 3.873) = 0.030466 (standard tables)
    assert s.high - s.mean == pytest.approx(3.182446 * se, rel=1e-5)
    assert s.p_value == pytest.approx(0.030466, abs=2e-5)
    assert t == pytest.approx(3.872983, rel=1e-6)


def test_holm_adjusts_as_the_textbook_example():
    # p = (0.01, 0.04, 0.03, 0.005), k = 4: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.2, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8·2 capped at 1; monotone after it
    assert stats.holm([0.9, 0.01]) == pytest.approx([0.9, 0.02])


def test_holm_equals_statsmodels_multipletests(monkeypatch):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    monkeypatch.setattr("gc.collect", lambda *args: 0)             # its per-call gc.collect() (why holm is ours)
    multipletests = multitest.multipletests
    rng = np.random.default_rng(1)
    for _ in range(200):
        p = rng.uniform(0, 1, rng.integers(1, 12)) ** rng.uniform(1, 6)
        p[rng.uniform(size=p.size) < 0.2] = p[0]                        # ties
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)


def _rows():
    rows = []
    for seed in range(3):
        for B in (None, 4.0):
            rows.append({"label": "hard", "T": None, "B": B, "seed": seed, "acc": 0.80 + 0.01 * seed})
            rows.append({"label": "soft", "T": 4.0, "B": B, "seed": seed,
                         "acc": 0.80 + 0.01 * seed + (0.05 if B == 4.0 else 0.0)})
            rows.append({"label": "soft", "T": 16.0, "B": B, "seed": seed, "acc": 0.79 + 0.01 * seed + 0.001 * seed})
    return rows


def test_paired_gaps_pairs_by_seed_within_each_cell():
    gaps = stats.paired_gaps(_rows(), treatment=lambda r: r["label"] == "soft", baseline=lambda r: r["label"] == "hard",
                             match_keys=("B",), cell_keys=("B", "T"), metric="acc")
    by = {(g["B"], g["T"]): g for g in gaps}
    assert set(by) == {(None, 4.0), (4.0, 4.0), (None, 16.0), (4.0, 16.0)}
    # the seed effect (0.01·seed) cancels: soft T=4 at B=4 is +0.05 on every seed, exactly
    assert by[(4.0, 4.0)]["gap_mean"] == pytest.approx(0.05) and by[(4.0, 4.0)]["gap_se"] == pytest.approx(0, abs=1e-12)
    # identical differences are a deterministic number: no p-value, so never "significant"
    assert by[(4.0, 4.0)]["deterministic"] and math.isnan(by[(4.0, 4.0)]["p_value"])
    assert by[(None, 4.0)]["gap_mean"] == pytest.approx(0.0, abs=1e-12) and by[(None, 4.0)]["deterministic"]
    assert not by[(None, 16.0)]["deterministic"] and by[(None, 16.0)]["over"] == "student seeds"
    assert by[(None, 16.0)]["gap_mean"] == pytest.approx(-0.01 + 0.001) and by[(None, 16.0)]["n_seeds"] == 3


def test_paired_gaps_refuses_ambiguous_baselines():
    rows = _rows() + [{"label": "hard", "T": None, "B": None, "seed": 0, "acc": 0.5}]
    with pytest.raises(ValueError, match="two baseline rows"):
        stats.paired_gaps(rows, treatment=lambda r: r["label"] == "soft", baseline=lambda r: r["label"] == "hard",
                          match_keys=("B",), cell_keys=("B", "T"), metric="acc")


def test_select_best_picks_the_highest_score_and_breaks_ties_deterministically():
    summary = [{"g": "a", "B": 1.0, "val": 0.90}, {"g": "a", "B": 4.0, "val": 0.95}, {"g": "a", "B": 8.0, "val": 0.95},
               {"g": "b", "B": 1.0, "val": math.nan}, {"g": "b", "B": 2.0, "val": 0.7}]
    best = stats.select_best(summary, group_keys=("g",), score="val", tie_break=lambda s: (s["B"],))
    assert best[("a",)]["B"] == 4.0          # tie at 0.95 goes to the smaller B
    assert best[("b",)]["B"] == 2.0          # NaN never wins


def test_summarise_leaves_diverged_runs_out_of_every_mean_and_counts_them():
    rows = [{"k": 1, "acc": 0.9, "loss": 0.1, "diverged": False}, {"k": 1, "acc": 0.0, "loss": math.nan, "diverged": True},
            {"k": 2, "acc": -2.4e-8, "loss": 0.0, "diverged": True}]
    s1, s2 = stats.summarise(rows, ("k",), ("acc", "loss"))
    assert s1["acc_mean"] == pytest.approx(0.9) and s1["n_seeds"] == 1 and s1["n_diverged"] == 1
    assert math.isnan(s1["acc_std"])
    # a regime where every run diverged is shown as such: no number, never 0.00
    assert math.isnan(s2["acc_mean"]) and s2["n_seeds"] == 0 and s2["n_diverged"] == 1


def test_a_setting_with_a_diverged_run_is_never_chosen():
    summary = [{"g": "a", "lr": 1.0, "val": 0.90, "n_diverged": 0}, {"g": "a", "lr": 1e35, "val": 0.99, "n_diverged": 1}]
    best = stats.select_best(summary, group_keys=("g",), score="val")
    assert best[("a",)]["lr"] == 1.0


def test_paired_gaps_leave_diverged_runs_out():
    rows = [{"label": "hard", "seed": s, "acc": 0.8, "diverged": False} for s in range(3)]
    rows += [{"label": "soft", "seed": s, "acc": 0.9 + 0.01 * s, "diverged": s == 2} for s in range(3)]
    (g,) = stats.paired_gaps(rows, treatment=lambda r: r["label"] == "soft", baseline=lambda r: r["label"] == "hard",
                             match_keys=(), cell_keys=(), metric="acc")
    assert g["n_seeds"] == 2 and g["gap_mean"] == pytest.approx(0.105)


def test_holm_family_gives_simultaneous_intervals_wider_than_the_single_ones():
    cells = [{"gap_mean": 0.02, "gap_se": 0.005, "gap_low": 0.0086, "gap_high": 0.0314, "n_seeds": 5, "p_value": p}
             for p in (0.01, 0.02, 0.3)]
    out = stats.add_holm(cells, alpha=0.05)
    from scipy import stats as scipy_stats
    t = {k: scipy_stats.t.ppf(1 - 0.05 / (2 * k), 4) * 0.005 for k in (1, 2, 3)}   # two-sided, level α/k
    for c in out:                                       # Bonferroni over k = 3 cells
        assert c["gap_low_simul"] == pytest.approx(0.02 - t[3]) and c["gap_high_simul"] == pytest.approx(0.02 + t[3])
    # Holm: 3·0.01 = 0.03 < α rejects the first; 2·0.02 = 0.04 < α the second; 0.3 is kept (tested at α/1)
    assert [c["significant"] for c in out] == [True, True, False]
    assert [c["gap_high_adj"] - 0.02 for c in out] == pytest.approx([t[3], t[2], t[1]])
    assert out[0]["family_size"] == 3 and out[0]["gap_low_adj"] < cells[0]["gap_low"]


def test_a_star_goes_with_an_interval_that_excludes_zero():
    """Over random families of paired differences: the cell is Holm-significant exactly when its shown
    (Holm-level) interval excludes 0, and that interval contains the uncorrected 95% one."""
    rng = np.random.default_rng(0)
    agree = 0
    for _ in range(300):
        k, n = rng.integers(1, 8), rng.integers(2, 12)
        cells = []
        for _ in range(k):
            s = stats.paired_summary(rng.normal(rng.normal(0, 0.02), 0.03, n))
            cells.append({"gap_mean": s.mean, "gap_se": s.se, "gap_low": s.low, "gap_high": s.high,
                          "n_seeds": s.n, "p_value": s.p_value})
        for c in stats.add_holm(cells, alpha=0.05):
            excludes = c["gap_low_adj"] > 0 or c["gap_high_adj"] < 0
            assert excludes == c["significant"], c
            assert c["gap_low_adj"] <= c["gap_low"] + 1e-12 and c["gap_high"] <= c["gap_high_adj"] + 1e-12
            assert c["gap_low_simul"] <= c["gap_low_adj"] + 1e-12
            agree += excludes
    assert agree > 50          # the families include significant cells, so both sides are tested


def test_regime_summary_counts_holm_significant_wins_and_losses():
    gaps = stats.add_holm([
        {"B": 4.0, "m": 4, "gap_mean": 0.05, "p_value": 0.001},
        {"B": 4.0, "m": 8, "gap_mean": 0.02, "p_value": 0.04},   # 0.04·2 = 0.08 after Holm: not significant
        {"B": None, "m": 4, "gap_mean": -0.03, "p_value": 0.002},
        {"B": None, "m": 8, "gap_mean": 0.0, "p_value": 1.0}])
    regimes = stats.regime_summary(gaps, regime_keys=("B",), cell_keys=("m",))
    assert [r["B"] for r in regimes] == [4.0, None]
    assert regimes[0]["significant_wins"] == 1 and regimes[0]["significant_losses"] == 0
    assert regimes[1]["significant_wins"] == 0 and regimes[1]["significant_losses"] == 1
    assert regimes[0]["cells"] == {"4": 0.05, "8": 0.02}
