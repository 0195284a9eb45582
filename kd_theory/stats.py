"""Statistics every experiment reads its results through: means over seeds, paired gaps with their
intervals and tests, a multiple-comparison correction, and picking a regime on validation data.

Conventions (tested in tests/kd_theory/test_stats.py):

* With one seed a standard deviation or standard error is undefined: NaN, never 0, and never a "win".
* A gap is *paired*: soft − hard for the same seed (the two runs share their initialisation), so the
  seed-to-seed variation common to both cancels.
* A win is a claim with its test: a two-sided paired t-test per cell (scipy), Holm-corrected over the
  cells shown together. Each cell's shown interval is at the level Holm tested it at, so a
  star and an interval that excludes 0 always go together; the Bonferroni-simultaneous interval over the
  same family is kept beside it.
  Paired differences that are all the same number (zero spread) are *deterministic*: reported as that
  number, never as a p-value.
* A diverged run (``diverged`` true) takes part in no mean and no test; it is counted.

The t-test comes from scipy. Hand-written here, because the libraries do less:
the percentile bootstrap over seeds (:func:`bootstrap_interval` keeps grid-valued and infinite
statistics such as a censored m*, which ``scipy.stats.bootstrap`` interpolates or rejects), the
minimum width m*, and log-log slopes with one intercept per group.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np


def mean_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation with ddof = 1); the std is NaN for fewer than two values."""
    values = np.asarray(list(values), float)
    if values.size == 0:
        return math.nan, math.nan
    std = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return float(values.mean()), std


def summarise(rows: Iterable[dict], keys: Sequence[str], metrics: Sequence[str],
              include: Callable[[dict], bool] = lambda row: True) -> list[dict]:
    """Group ``rows`` by ``keys``; per group ``{metric}_mean``, ``{metric}_std`` (ddof = 1, NaN for one
    seed) and ``n_seeds`` over the rows for which ``include(row)`` holds.

    A row marked ``diverged`` (its parameters or outputs became non-finite, or an accuracy left [0, 1])
    is a diverged run: it takes no part in any mean and is counted in ``n_diverged``; ``n_seeds``
    counts the runs that did not diverge. A group whose every run diverged has NaN means. Non-finite
    values of a metric in a run that did not diverge are left out of that metric's mean and counted in
    ``{metric}_nonfinite``.
    """
    groups = defaultdict(list)
    for row in rows:
        if include(row):
            groups[tuple(row[k] for k in keys)].append(row)
    out = []
    for key, members in groups.items():
        entry = dict(zip(keys, key))
        sane = [r for r in members if not r.get("diverged")]
        for m in metrics:
            values = np.asarray([r[m] if r[m] is not None else math.nan for r in sane], float)
            finite = values[np.isfinite(values)]
            entry[f"{m}_mean"], entry[f"{m}_std"] = mean_std(finite)
            if finite.size < values.size:
                entry[f"{m}_nonfinite"] = int(values.size - finite.size)
        entry["n_seeds"] = len(sane)
        entry["n_diverged"] = len(members) - len(sane)
        out.append(entry)
    return out


class PairedSummary(NamedTuple):
    """Mean of paired differences d_s, its standard error sd/√n, a t-interval at ``level``, the two-sided
    paired t-test p-value (H0: E d = 0), n, and ``deterministic``: every difference is the same number
    (sd ≤ 1e-6·max(1, |mean|), e.g. runs identical up to rounding), which is reported as that number
    with no p-value (NaN: never "significant") and a point interval. All statistics but the mean are
    NaN for n < 2."""
    mean: float
    se: float
    low: float
    high: float
    p_value: float
    n: int
    deterministic: bool = False


ZERO_SPREAD = 1e-6  # relative sd below which paired differences count as one deterministic number


def paired_summary(differences, level: float = 0.95) -> PairedSummary:
    """Summary of paired differences d_1..d_n through :func:`scipy.stats.ttest_1samp`: mean ±
    t_{(1+level)/2, n−1} · sd/√n and the p-value 2·(1 − F_{t, n−1}(|mean| / (sd/√n)))."""
    from scipy import stats as scipy_stats
    d = np.asarray(list(differences), float)
    n = int(d.size)
    if n == 0:
        return PairedSummary(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if n < 2:
        return PairedSummary(mean, math.nan, math.nan, math.nan, math.nan, n)
    sd = float(d.std(ddof=1))
    if sd <= ZERO_SPREAD * max(1.0, abs(mean)):
        return PairedSummary(mean, 0.0, mean, mean, math.nan, n, True)
    test = scipy_stats.ttest_1samp(d, 0.0)
    interval = test.confidence_interval(level)
    return PairedSummary(mean, sd / math.sqrt(n), float(interval.low), float(interval.high), float(test.pvalue), n)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: with p_(1) ≤ … ≤ p_(k) sorted,

        p̃_(i) = max_{j ≤ i} min(1, (k − j + 1) p_(j)).

    A cell is significant at level α iff p̃ < α; this controls the family-wise error over the k cells. NaN
    p-values (one seed, a deterministic difference) stay NaN and do not count in k. (Written out rather
    than statsmodels' ``multipletests``, which it equals — tested — because that function runs
    ``gc.collect()`` on every call: 0.06 s each in a small process, seconds in one holding JAX's arrays.)"""
    p = np.asarray(p_values, float)
    adjusted = np.full(p.shape, math.nan)
    valid = np.flatnonzero(np.isfinite(p))
    if valid.size:
        order = valid[np.argsort(p[valid], kind="stable")]
        k = order.size
        stepped = np.minimum(1.0, (k - np.arange(k)) * p[order])
        adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted.tolist()


def simultaneous_interval(mean: float, se: float, n: int, family_size: int, alpha: float) -> tuple[float, float]:
    """The t-interval mean ± t_{1 − α/(2k), n−1}·se at level α/k: over a family of k cells, the
    Bonferroni-simultaneous interval (all k cover their means together with probability ≥ 1 − α); with k the
    Holm divisor of one cell (:func:`holm_divisors`), the interval of that cell's Holm test."""
    from scipy import stats as scipy_stats
    if n < 2 or not math.isfinite(se) or family_size < 1:
        return math.nan, math.nan
    half = float(scipy_stats.t.ppf(1 - alpha / (2 * family_size), n - 1)) * se
    return mean - half, mean + half


def paired_gaps(rows: Iterable[dict], *, treatment: Callable[[dict], bool], baseline: Callable[[dict], bool],
                match_keys: Sequence[str], cell_keys: Sequence[str], metric: str = "test_acc",
                pair_key: str = "seed", over: str = "student seeds") -> list[dict]:
    """Treatment − baseline of ``metric``, paired by ``pair_key``, per cell.

    A treatment row is paired with the baseline row that has the same values of ``match_keys`` and
    ``pair_key`` (e.g. soft at (dataset, width, lr, B, steps, seed) with hard at the same); its cell is
    given by ``cell_keys`` of the treatment row (which may add keys such as the temperature). Returns
    one dict per cell: the cell's coordinates plus ``gap_mean, gap_se, gap_low, gap_high, p_value,
    n_seeds, deterministic`` (:func:`paired_summary`) and ``over`` (what the n pairs are, e.g. "student
    seeds" or "teachers × student seeds"). Rows marked ``diverged`` take no part. A baseline matched
    twice is an error (the keys are ambiguous).
    """
    rows = [r for r in rows if not r.get("diverged")]
    base = {}
    for r in rows:
        if baseline(r):
            key = tuple(r[k] for k in match_keys) + (r[pair_key],)
            if key in base:
                raise ValueError(f"paired_gaps: two baseline rows share {dict(zip(match_keys, key))}; "
                                 "add the key that tells them apart to match_keys")
            base[key] = r[metric]
    cells = defaultdict(list)
    for r in rows:
        if treatment(r):
            key = tuple(r[k] for k in match_keys) + (r[pair_key],)
            if key in base:
                cells[tuple(r[k] for k in cell_keys)].append(r[metric] - base[key])
    out = []
    for cell, diffs in cells.items():
        s = paired_summary(diffs)
        out.append({**dict(zip(cell_keys, cell)), "gap_mean": s.mean, "gap_se": s.se, "gap_low": s.low,
                    "gap_high": s.high, "p_value": s.p_value, "n_seeds": s.n, "deterministic": s.deterministic,
                    "over": over})
    return out


def holm_divisors(p_values: Sequence[float], rejected: int) -> list[float]:
    """The divisor m_i of α at which Holm's step-down tests each cell, given the number of cells it
    ``rejected`` (those with :func:`holm` < α): with the finite p sorted, p_(1) ≤ … ≤ p_(k), and r cells
    rejected, m_(i) = k − i + 1 for i ≤ r + 1 and k − r after that (NaN for a NaN p). The two-sided
    interval at level α/m_i then excludes 0 exactly when Holm rejects the cell: for i ≤ r, p_(i) < α/(k − i + 1); the first kept cell has p_(r+1) ≥ α/(k − r), and every later p is
    larger still."""
    p = np.asarray(p_values, float)
    finite = np.flatnonzero(np.isfinite(p))
    k, r = len(finite), rejected
    divisors = np.full(p.shape, math.nan)
    order = finite[np.argsort(p[finite], kind="stable")]
    for rank, idx in enumerate(order, start=1):
        divisors[idx] = k - rank + 1 if rank <= r + 1 else k - r
    return divisors.tolist()


def add_holm(cells: list[dict], alpha: float = 0.05, p_key: str = "p_value") -> list[dict]:
    """Adds to each cell ``p_holm`` (Holm over exactly these cells), ``significant`` (p_holm < alpha),
    ``family_size`` and ``alpha``, and two corrected intervals (needs ``gap_mean, gap_se, n_seeds``):

    * ``gap_low_adj, gap_high_adj``: the interval at the level Holm tested the cell at, α/m_i
      (:func:`holm_divisors`), so that it excludes 0 exactly when the cell is significant — the interval
      every table and verdict shows beside the star;
    * ``gap_low_simul, gap_high_simul``: the Bonferroni-simultaneous interval (level α/k for every cell):
      all k cover their means together with probability ≥ 1 − α.

    These corrected figures are the only basis for calling a gap significant; a deterministic difference
    (``deterministic``: every pair the same number) is its own point and gets no p-value."""
    p_values = [c[p_key] for c in cells]
    adjusted = holm(p_values)
    divisors = holm_divisors(p_values, sum(1 for a in adjusted if np.isfinite(a) and a < alpha))
    k = sum(1 for a in adjusted if np.isfinite(a))
    out = []
    for c, a, m in zip(cells, adjusted, divisors):
        entry = {**c, "p_holm": a, "significant": bool(np.isfinite(a) and a < alpha), "family_size": k,
                 "alpha": alpha}
        if "gap_se" in c:
            if c.get("deterministic"):
                for bound in ("gap_low_adj", "gap_high_adj", "gap_low_simul", "gap_high_simul"):
                    entry[bound] = c["gap_mean"]
            else:
                step = max(int(m), 1) if np.isfinite(m) else max(k, 1)
                entry["gap_low_adj"], entry["gap_high_adj"] = simultaneous_interval(
                    c["gap_mean"], c["gap_se"], c["n_seeds"], step, alpha)
                entry["gap_low_simul"], entry["gap_high_simul"] = simultaneous_interval(
                    c["gap_mean"], c["gap_se"], c["n_seeds"], max(k, 1), alpha)
        out.append(entry)
    return out


def select_best(summary: Iterable[dict], *, group_keys: Sequence[str], score: str,
                tie_break: Callable[[dict], tuple] = lambda s: ()) -> dict[tuple, dict]:
    """Per group (e.g. dataset, width, label) the summary row with the largest ``score`` (e.g. mean
    validation accuracy over the selection seeds); ties go to the smallest ``tie_break(row)``. NaN
    scores never win, nor does a row with diverged runs (``n_diverged`` > 0): a setting that diverged
    on a selection seed is never chosen."""
    best: dict[tuple, dict] = {}
    for s in summary:
        if not np.isfinite(s[score]) or s.get("n_diverged", 0) > 0:
            continue
        g = tuple(s[k] for k in group_keys)
        current = best.get(g)
        if current is None or (s[score], _neg(tie_break(s))) > (current[score], _neg(tie_break(current))):
            best[g] = s
    return best


def _neg(key: tuple) -> tuple:
    """Order-reversing image of a tuple of numbers, so that max() prefers the smaller tie-break."""
    return tuple(-k for k in key)


def regime_summary(gaps: Iterable[dict], *, regime_keys: Sequence[str], cell_keys: Sequence[str]) -> list[dict]:
    """Per regime: its cells' gaps (``gap[<cell>]``), their mean, and how many cells are significant
    wins (``significant`` from :func:`add_holm` and a positive mean) or losses. Sorted by mean gap."""
    by_regime = defaultdict(list)
    for g in gaps:
        by_regime[tuple(g[k] for k in regime_keys)].append(g)
    out = []
    for regime, cells in by_regime.items():
        entry = dict(zip(regime_keys, regime))
        entry["cells"] = {"/".join(str(c[k]) for k in cell_keys): c["gap_mean"] for c in cells}
        entry["gap_mean"] = float(np.mean([c["gap_mean"] for c in cells]))
        entry["significant_wins"] = sum(bool(c.get("significant")) and c["gap_mean"] > 0 for c in cells)
        entry["significant_losses"] = sum(bool(c.get("significant")) and c["gap_mean"] < 0 for c in cells)
        entry["n_cells"] = len(cells)
        out.append(entry)
    return sorted(out, key=lambda e: -e["gap_mean"])


# ---------------------------------------------------------------------------------------------
# Scaling laws: the smallest width that succeeds, bootstrap intervals over seeds, log-log slopes
# ---------------------------------------------------------------------------------------------

def minimum_width(widths, successes, fraction: float) -> float:
    """m* = min{ m_j : (1/S) Σ_s successes[s, j] ≥ fraction }, the smallest width of the grid at which
    at least ``fraction`` of the S seeds succeed; ``inf`` when no width does (censored: m* lies beyond
    the grid, or does not exist). ``widths`` (J,) increasing; ``successes`` (S, J) booleans.

    No monotonicity is imposed: a width that succeeds by chance below a failing one counts.
    """
    widths = np.asarray(widths, float)
    successes = np.asarray(successes, bool)
    if widths.ndim != 1 or np.any(np.diff(widths) <= 0):
        raise ValueError(f"minimum_width: widths must be a strictly increasing 1-D grid; got {widths.tolist()}")
    if successes.ndim != 2 or successes.shape[1] != widths.size or successes.shape[0] == 0:
        raise ValueError(f"minimum_width: successes must have shape (seeds ≥ 1, {widths.size}); "
                         f"got {successes.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"minimum_width: fraction={fraction!r} must be in (0, 1]")
    passing = np.flatnonzero(successes.mean(axis=0) >= fraction)
    return float(widths[passing[0]]) if passing.size else math.inf


class BootstrapInterval(NamedTuple):
    """Percentile interval [low, high] of a statistic over bootstrap resamples; ``n_valid`` resamples
    gave a non-NaN value (inf counts as a value: a censored m*)."""
    low: float
    high: float
    n_valid: int


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, *, n_boot: int = 1000,
                       level: float = 0.95, seed: int = 0) -> BootstrapInterval:
    """Percentile bootstrap: draw index vectors I_b of n units (seeds) with replacement, evaluate
    θ_b = statistic(I_b), and return the empirical (1 − level)/2 and (1 + level)/2 quantiles of the
    θ_b, taken as order statistics (NumPy's "lower" and "higher" methods: no interpolation, so a
    statistic that lives on a grid (m*) or is infinite (censored) keeps its values). NaN θ_b (an
    undefined statistic on that resample) are left out and counted."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"bootstrap_interval: need n ≥ 1 units and n_boot ≥ 1; got n={n}, n_boot={n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_interval: level={level!r} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return BootstrapInterval(math.nan, math.nan, 0)
    alpha = (1 - level) / 2
    return BootstrapInterval(float(np.quantile(values, alpha, method="lower")),
                             float(np.quantile(values, 1 - alpha, method="higher")), int(values.size))


class SlopeFit(NamedTuple):
    """slope b of log y = a_g + b·log x (a_g one intercept per group), its level-t interval
    [low, high] from the regression's standard error, and the number of points used; with known
    errors (``sigma``) also the reduced χ² of the weighted fit (NaN without)."""
    slope: float
    low: float
    high: float
    n: int
    reduced_chi2: float = math.nan


def loglog_slope(x, y, groups=None, level: float = 0.95, corrections: int = 0, sigma=None) -> SlopeFit:
    """Least squares fit of log y = a_g + b·log x + Σ_{k=1..corrections} c_k x^{−k} over the points with
    finite positive x and y.

    ``groups`` (optional, one label per point) gives each group its own intercept a_g (a fixed
    effect: e.g. one per data set when fitting m* against 1/ε across data sets), so b is the common
    within-group slope. ``corrections`` > 0 adds the leading finite-size corrections of an asymptotic
    law y ≈ C x^b (1 + c₁/x + c₂/x² + …): b is then the asymptotic exponent, where a plain fit over a
    finite range reads the local slope b − c₁/x + … (γ·d → 1/4 of noisy 2-XOR approaches its limit
    like 1/d, so a plain fit over d = 50 … 1,000 gives −1.008 with an interval that excludes −1).
    Interval: b ± t_{(1+level)/2, n−p}·SE(b), SE from the residual variance with n − p degrees of
    freedom (p = 1 + corrections + number of groups); NaN when n − p < 1 or log x does not vary within
    any group (then b itself is NaN).

    ``sigma`` (one per point): the known standard errors of log y (a relative error of y, e.g. a Monte-Carlo
    SE over y with a model's error bound added in quadrature). The fit is then weighted by 1/σ², and SE(b)
    comes from the known errors with a normal quantile, or, when the points scatter more than they say
    (χ²_red = Σ (residual/σ)² / (n − p) > 1), from the known errors scaled up by √χ²_red with the t quantile
    (never scaled down). Unweighted
    residual variances are the wrong interval for points whose errors differ by orders of magnitude (a
    Monte-Carlo γ at d = 50 and d = 1,000): the precise points set the fit, the loose ones the scatter.
    """
    from scipy import stats as scipy_stats
    x, y = np.asarray(x, float), np.asarray(y, float)
    g = np.zeros(x.shape, int) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    if x.shape != y.shape or g.shape != x.shape or x.ndim != 1:
        raise ValueError(f"loglog_slope: x, y (and groups) must be 1-D of one length; got {x.shape}, {y.shape}, "
                         f"{g.shape}")
    if isinstance(corrections, bool) or int(corrections) != corrections or corrections < 0:
        raise ValueError(f"loglog_slope: corrections must be an integer ≥ 0; got {corrections!r}")
    weights = np.ones(x.shape) if sigma is None else np.asarray(sigma, float)
    if weights.shape != x.shape or (sigma is not None and not np.all(weights[np.isfinite(weights)] > 0)):
        raise ValueError(f"loglog_slope: sigma must be positive, one per point; got {weights.shape} for {x.shape}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0) & np.isfinite(weights)
    x, lx, ly, g, weights = x[keep], np.log(x[keep]), np.log(y[keep]), g[keep], 1.0 / weights[keep]
    n = int(lx.size)
    levels = np.unique(g)
    # the slope is identified only by the within-group variation of log x
    centred = lx - np.array([lx[g == k].mean() for k in g]) if n else lx
    if n == 0 or np.allclose(centred, 0.0):
        return SlopeFit(math.nan, math.nan, math.nan, n)
    design = np.column_stack([lx] + [x ** -float(k) for k in range(1, int(corrections) + 1)]
                             + [(g == k).astype(float) for k in levels]) * weights[:, None]
    target = ly * weights
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    dof = n - design.shape[1]
    if dof < 1:
        return SlopeFit(float(coef[0]), math.nan, math.nan, n)
    residual = target - design @ coef
    scale = float(residual @ residual) / dof   # the residual variance; with known errors, χ²_red
    chi2 = math.nan if sigma is None else scale
    quantile = scipy_stats.t.ppf(0.5 + level / 2, dof)
    if sigma is not None and scale <= 1.0:   # the known errors account for the scatter: a normal quantile
        scale, quantile = 1.0, scipy_stats.norm.ppf(0.5 + level / 2)
    se = math.sqrt(scale * np.linalg.pinv(design.T @ design)[0, 0])
    half = float(quantile) * se
    return SlopeFit(float(coef[0]), float(coef[0] - half), float(coef[0] + half), n, chi2)
