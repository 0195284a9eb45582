"""The scaling-law statistics of kd_theory.stats: m* on a width grid, percentile bootstrap, log-log slopes."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kd_theory import stats

WIDTHS = [2, 4, 8, 16]


def test_minimum_width_is_the_first_width_where_the_share_of_seeds_succeeds():
    ok = np.array([[0, 0, 1, 1],
                   [0, 1, 1, 1],
                   [0, 0, 0, 1],
                   [0, 0, 1, 1]], bool)   # shares 0, 0.25, 0.75, 1
    assert stats.minimum_width(WIDTHS, ok, 0.75) == 8
    assert stats.minimum_width(WIDTHS, ok, 1.0) == 16
    assert stats.minimum_width(WIDTHS, ok, 0.25) == 4


def test_minimum_width_is_censored_when_no_width_succeeds():
    ok = np.array([[0, 0, 0, 1], [0, 0, 0, 0]], bool)   # share at most 0.5
    assert stats.minimum_width(WIDTHS, ok, 0.75) == math.inf


def test_minimum_width_takes_a_lucky_small_width_without_monotonicity():
    ok = np.array([[1, 0, 1, 1], [1, 0, 1, 1]], bool)
    assert stats.minimum_width(WIDTHS, ok, 1.0) == 2


@pytest.mark.parametrize("widths, ok, fraction, match", [
    ([4, 2, 8, 16], np.ones((2, 4), bool), 0.5, "increasing"),
    (WIDTHS, np.ones((2, 3), bool), 0.5, "shape"),
    (WIDTHS, np.ones((0, 4), bool), 0.5, "shape"),
    (WIDTHS, np.ones((2, 4), bool), 0.0, "fraction"),
    (WIDTHS, np.ones((2, 4), bool), 1.5, "fraction"),
])
def test_minimum_width_refuses_bad_input(widths, ok, fraction, match):
    with pytest.raises(ValueError, match=match):
        stats.minimum_width(widths, ok, fraction)


def test_bootstrap_quantiles_are_order_statistics():
    # statistic = the first drawn unit: uniform on 0..9, so the 2.5% and 97.5% order statistics of
    # 4000 draws are 0 and 9 exactly (P(no 0 in 4000 draws) = 0.9^4000).
    ci = stats.bootstrap_interval(lambda idx: float(idx[0]), 10, n_boot=4000, level=0.95, seed=1)
    assert (ci.low, ci.high, ci.n_valid) == (0.0, 9.0, 4000)


def test_bootstrap_of_identical_seeds_is_a_point_and_keeps_infinity():
    ok = np.tile(np.array([0, 0, 1, 1], bool), (6, 1))
    ci = stats.bootstrap_interval(lambda idx: stats.minimum_width(WIDTHS, ok[idx], 0.75), 6, n_boot=200)
    assert (ci.low, ci.high) == (8.0, 8.0)
    never = np.zeros((6, 4), bool)
    ci = stats.bootstrap_interval(lambda idx: stats.minimum_width(WIDTHS, never[idx], 0.75), 6, n_boot=50)
    assert (ci.low, ci.high) == (math.inf, math.inf)


def test_bootstrap_of_a_borderline_m_star_spans_the_neighbouring_widths():
    # 6 of 8 seeds succeed from width 8 on, the other two only at 16: resamples with more than two of
    # the late seeds push m* to 16, so the interval is [8, 16]; nothing below 8 ever passes.
    ok = np.array([[0, 0, 1, 1]] * 6 + [[0, 0, 0, 1]] * 2, bool)
    ci = stats.bootstrap_interval(lambda idx: stats.minimum_width(WIDTHS, ok[idx], 0.75), 8, n_boot=2000, seed=3)
    assert (ci.low, ci.high) == (8.0, 16.0)


def test_bootstrap_leaves_out_undefined_statistics_and_counts_them():
    ci = stats.bootstrap_interval(lambda idx: math.nan if idx[0] == 0 else 1.0, 4, n_boot=400, seed=0)
    assert 250 < ci.n_valid < 350 and (ci.low, ci.high) == (1.0, 1.0)
    ci = stats.bootstrap_interval(lambda idx: math.nan, 4, n_boot=10)
    assert math.isnan(ci.low) and ci.n_valid == 0


def test_bootstrap_refuses_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_interval(lambda idx: 0.0, 3, level=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        stats.bootstrap_interval(lambda idx: 0.0, 0)


def test_loglog_slope_recovers_an_exact_power_law():
    x = np.geomspace(2, 50, 7)
    fit = stats.loglog_slope(x, 3.0 * x ** 2.5)
    assert fit.slope == pytest.approx(2.5, abs=1e-10)
    assert fit.low == pytest.approx(2.5, abs=1e-6) and fit.high == pytest.approx(2.5, abs=1e-6)
    assert fit.n == 7


def test_loglog_slope_matches_scipy_linregress_and_its_interval_covers_the_truth():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 100, 40)
    y = 2.0 * x ** 1.7 * np.exp(0.1 * rng.standard_normal(40))
    fit = stats.loglog_slope(x, y)
    ref = scipy_stats.linregress(np.log(x), np.log(y))
    half = scipy_stats.t.ppf(0.975, 38) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope, rel=1e-10)
    assert fit.low == pytest.approx(ref.slope - half, rel=1e-8)
    assert fit.high == pytest.approx(ref.slope + half, rel=1e-8)
    assert fit.low < 1.7 < fit.high


def test_loglog_slope_with_groups_fits_one_intercept_per_group():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    y = np.array([1.0, 4.0, 16.0, 0.64, 2.56, 10.24])   # slope 2, intercepts 1 (x ≤ 4) and 0.01 (x ≥ 8)
    fit = stats.loglog_slope(x, y, groups=["a", "a", "a", "b", "b", "b"])
    assert fit.slope == pytest.approx(2.0, abs=1e-10)
    assert stats.loglog_slope(x, y).slope != pytest.approx(2.0, abs=0.1)  # pooled: biased by the offset


def test_loglog_slope_leaves_out_censored_points_and_reports_undefined_cases():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    fit = stats.loglog_slope(x, np.array([1.0, 2.0, 4.0, math.inf]))
    assert fit.n == 3 and fit.slope == pytest.approx(1.0)
    two = stats.loglog_slope([1.0, 2.0], [1.0, 3.0])
    assert two.slope == pytest.approx(math.log(3) / math.log(2)) and math.isnan(two.low)
    flat = stats.loglog_slope([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(flat.slope)
    singletons = stats.loglog_slope([1.0, 2.0], [1.0, 2.0], groups=["a", "b"])
    assert math.isnan(singletons.slope)
    with pytest.raises(ValueError, match="one length"):
        stats.loglog_slope([1.0, 2.0], [1.0])


def test_loglog_slope_with_finite_size_corrections_recovers_the_asymptotic_exponent():
    """y = C x^b exp(c₁/x + c₂/x²): the plain fit reads a local slope (and its interval excludes b), the
    corrected fit gives b exactly."""
    x = np.array([50.0, 70, 100, 150, 200, 300, 500, 700, 1000])
    y = 0.25 * x ** -1.0 * np.exp(1.4 / x - 3.0 / x ** 2)
    plain = stats.loglog_slope(x, y)
    assert plain.high < -1.0                       # the approach to the limit, resolved
    fit = stats.loglog_slope(x, y, corrections=2)
    assert fit.slope == pytest.approx(-1.0, abs=1e-9) and fit.low == pytest.approx(-1.0, abs=1e-6)
    one = stats.loglog_slope(x, 0.25 * x ** -1.5 * np.exp(1.4 / x), corrections=1)
    assert one.slope == pytest.approx(-1.5, abs=1e-9)
    # with groups: one intercept per group, the corrections shared
    grouped = stats.loglog_slope(np.r_[x, x], np.r_[y, 10 * y], groups=[0] * 9 + [1] * 9, corrections=2)
    assert grouped.slope == pytest.approx(-1.0, abs=1e-9)
    # p = 2 + corrections parameters: with p points there is a slope but no interval
    few = stats.loglog_slope(x[:4], y[:4], corrections=2)
    assert math.isfinite(few.slope) and math.isnan(few.low)
    with pytest.raises(ValueError, match="corrections"):
        stats.loglog_slope(x, y, corrections=-1)


def test_loglog_slope_with_corrections_has_its_nominal_coverage():
    """Over 400 noisy replicates the 95% interval of the corrected exponent covers the truth 95% of the
    time (binomial: 380 ± 3 SD, SD = 4.4)."""
    rng = np.random.default_rng(1)
    x = np.geomspace(20, 2000, 10)
    truth = 0.25 * x ** -1.0 * np.exp(2.0 / x)
    covered = 0
    for _ in range(400):
        fit = stats.loglog_slope(x, truth * np.exp(0.01 * rng.standard_normal(10)), corrections=1)
        covered += fit.low <= -1.0 <= fit.high
    assert 0.95 * 400 - 3 * math.sqrt(400 * 0.95 * 0.05) <= covered <= 0.95 * 400 + 3 * math.sqrt(400 * 0.95 * 0.05)


def test_loglog_slope_with_known_errors_is_weighted_least_squares():
    rng = np.random.default_rng(2)
    x = np.geomspace(20, 2000, 9)
    sigma = np.geomspace(1e-3, 1e-5, 9)            # relative errors shrinking by 100×, as a Monte-Carlo γ's
    y = 0.25 / x * np.exp(2.0 / x + sigma * rng.standard_normal(9))
    fit = stats.loglog_slope(x, y, corrections=1, sigma=sigma)
    X = np.column_stack([np.ones(9), np.log(x), 1 / x]) / sigma[:, None]
    b = np.log(y) / sigma
    coef = np.linalg.solve(X.T @ X, X.T @ b)
    chi2 = float(np.sum((b - X @ coef) ** 2)) / 6
    quantile = scipy_stats.t.ppf(0.975, 6) if chi2 > 1 else scipy_stats.norm.ppf(0.975)
    half = quantile * math.sqrt(max(1.0, chi2) * np.linalg.inv(X.T @ X)[1, 1])
    assert fit.slope == pytest.approx(coef[1], abs=1e-10) and fit.reduced_chi2 == pytest.approx(chi2)
    assert (fit.low, fit.high) == pytest.approx((coef[1] - half, coef[1] + half), abs=1e-10)
    # equal errors too small for the scatter: χ²_red > 1 rescales to the unweighted fit exactly
    same = stats.loglog_slope(x, y, corrections=1, sigma=np.full(9, 1e-9))
    plain = stats.loglog_slope(x, y, corrections=1)
    assert same.reduced_chi2 > 1 and math.isnan(plain.reduced_chi2)
    assert (same.slope, same.low, same.high) == pytest.approx((plain.slope, plain.low, plain.high), rel=1e-9)
    with pytest.raises(ValueError, match="sigma"):
        stats.loglog_slope(x, y, sigma=np.zeros(9))


def test_loglog_slope_with_known_errors_has_its_nominal_coverage():
    """Heteroscedastic points (errors from 1e-2 to 1e-4): the weighted interval covers the truth 95% of the
    time over 400 replicates (380 ± 3 SD, SD = 4.4; a little more, since it is never scaled below the known
    errors)."""
    rng = np.random.default_rng(3)
    x = np.geomspace(20, 2000, 10)
    sigma = np.geomspace(1e-2, 1e-4, 10)
    covered = 0
    for _ in range(400):
        y = 0.25 / x * np.exp(2.0 / x + sigma * rng.standard_normal(10))
        fit = stats.loglog_slope(x, y, corrections=1, sigma=sigma)
        covered += fit.low <= -1.0 <= fit.high
    assert 0.95 * 400 - 3 * math.sqrt(400 * 0.95 * 0.05) <= covered <= 0.97 * 400 + 3 * math.sqrt(400 * 0.97 * 0.03)
