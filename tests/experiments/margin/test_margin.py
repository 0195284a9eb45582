"""The margin experiment end to end, as a user runs it; its numbers recomputed from runs.csv and gamma.csv; the
verdict rules on hand-made numbers; bad configs refused."""
import json
import math
import os

import numpy as np
import pytest
from scipy import special
from scipy import stats as scipy_stats

from experiments.margin import analysis
from experiments.margin.config import SCHEMA, get_config
from kd_theory import data, rng

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def margin_run(run_experiment, read_csv_rows):
    out, _, results, rows = run_experiment("margin", "--preset=tiny")
    return out, results, rows, read_csv_rows(out / "gamma.csv")


def test_writes_every_file_with_its_verdicts(margin_run):
    out, results, runs, dims = margin_run
    assert {"config.json", "results.json", "runs.csv", "gamma.csv", "margin.md", "margin.png"} <= set(os.listdir(out))
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "tiny" and config["config"]["gate_draws"] == 2
    assert results["claim"]["type"] == "rate" and results["bound_verdict"]["claim"]["type"] == "bound"
    assert results["verdict"] in ("consistent", "not reproduced", "inconclusive")
    assert [p["name"] for p in results["preconditions"]] == [
        "d span of the fit", "interval width", "estimator checked against the certified solver"]
    if not all(p["met"] for p in results["preconditions"]):
        assert results["verdict"] == "inconclusive"
    md = (out / "margin.md").read_text()
    assert "Verdict: γ = Θ(1/d)" in md and "Verdict: γ ≥ 1/(50d)" in md and "-0.00" not in md
    assert (out / "margin.png").stat().st_size > 20_000


def test_certified_numbers_recompute_from_runs_csv(margin_run):
    _, results, runs, _ = margin_run
    # tiny: digits-reduced and noisy 2-XOR d = 3, 4; two gate draws each
    assert [r["dataset"] for r in results["certified"]] == ["digits-reduced", "xor-support-d3", "xor-support-d4"]
    assert len(runs) == 3 * 2
    for r in results["certified"]:
        draws = [row for row in runs if row["dataset"] == r["dataset"]]
        assert [int(d["draw"]) for d in draws] == [0, 1]
        assert (r["gamma_K_lower"], r["gamma_K_upper"]) == (draws[0]["gamma_K_lower"], draws[0]["gamma_K_upper"])
        mids = [(d["gamma_K_lower"] + d["gamma_K_upper"]) / 2 for d in draws]
        assert r["gamma_K_draws_mean"] == pytest.approx(np.mean(mids))
        assert r["gamma_K_draws_std"] == pytest.approx(np.std(mids, ddof=1))
        assert (r["gamma_K_draws_min"], r["gamma_K_draws_max"]) == pytest.approx((min(mids), max(mids)))
        for d in draws:   # certified, converged, below min‖x‖/2 ≥ γ_K
            assert 0 < d["gamma_K_lower"] <= d["gamma_K_upper"] <= r["norm_bound"] and d["converged"]
            assert d["gamma_K_upper"] - d["gamma_K_lower"] <= 1e-3 * d["gamma_K_upper"]
    # the two draws are different gates of the named stream: different γ_K
    assert len({(d["dataset"], d["gamma_K_lower"]) for d in runs}) == 6


def test_gamma_at_small_d_is_the_brute_force_sum_over_the_support_on_the_stream_gates(margin_run):
    """The Monte-Carlo γ at d = 3, 4, 5 uses the gates of numpy_rng(seed, "gates", "xor-support-d<d>",
    "structured"): the plain mean of ‖g(z_k)‖ summed over all 4·2^(d−2) points equals gamma.csv's plain
    mean, and the control-variate estimate is the intercept of the regression on (b, b³) − their exact means."""
    _, _, _, dims = margin_run
    for row in (r for r in dims if r["gamma"] is not None and r["d"] <= 5):
        d, K = int(row["d"]), int(row["num_gates"])
        Z = rng.numpy_rng(0, "gates", f"xor-support-d{d}", "structured").standard_normal((K, d))
        X, y = data.noisy_xor_support(d)
        X = np.rint(X * np.sqrt(d - 1)) / np.sqrt(d - 1)      # float64 support
        norms = np.linalg.norm(((Z @ X.T > 0) * y) @ X / len(X), axis=1)
        assert row["plain_mean"] == pytest.approx(norms.mean(), rel=1e-12)
        b = np.linalg.norm(Z[:, :2], axis=1) / np.linalg.norm(Z, axis=1)
        m = d - 2    # b² ~ Beta(1, m/2), so E b^r = B(1 + r/2, m/2) / B(1, m/2)
        mean1, mean3 = (special.beta(1 + r / 2, m / 2) / special.beta(1, m / 2) for r in (1, 3))
        design = np.column_stack([np.ones(K), b - mean1, b ** 3 - mean3])
        coef, *_ = np.linalg.lstsq(design, norms, rcond=None)
        assert row["gamma"] == pytest.approx(coef[0], rel=1e-6)
        assert row["gamma_d"] == pytest.approx(d * row["gamma"])


def test_fits_recompute_from_gamma_csv(margin_run):
    """The exponent: least squares of log γ on (1, log d, 1/d, …) over d ≥ fit_from, written out here. γ is
    weighted by 1/σ², σ = its SE over γ ⊕ 5e-5 for the lattice model, its interval from σ (normal quantile;
    scaled by √χ²_red with a t quantile when that exceeds 1); γ₂ is exact: unweighted, t-interval on the
    residuals. γ₂ is the SVM bound 1/(2√π(d−1))·(1 + O(1/d))."""
    _, results, _, dims = margin_run
    config = results["config"]["gamma"]
    for key, value, corrections in (("gamma", "gamma", config["corrections"]), ("gamma_plain", "gamma", 0),
                                    ("gamma2", "gamma2", config["corrections"]), ("gamma2_plain", "gamma2", 0)):
        rows = [r for r in dims if r[value] is not None and r["d"] >= config["fit_from"]]
        d, v = np.array([r["d"] for r in rows]), np.array([r[value] for r in rows])
        if value == "gamma":
            sigma = np.array([math.sqrt((r["gamma_se"] / r["gamma"]) ** 2 + (5e-5 if r["method"] == "lattice" else 0)
                                        ** 2) for r in rows])
        else:
            sigma = np.ones(len(d))
        design = np.column_stack([np.ones(len(d)), np.log(d)] + [d ** -float(k) for k in range(1, corrections + 1)])
        design, target = design / sigma[:, None], np.log(v) / sigma
        coef, residual, *_ = np.linalg.lstsq(design, target, rcond=None)
        dof = len(d) - design.shape[1]
        chi2 = residual[0] / dof
        if value == "gamma" and chi2 <= 1:
            quantile, scale = scipy_stats.norm.ppf(0.975), 1.0
        else:
            quantile, scale = scipy_stats.t.ppf(0.975, dof), chi2
        half = quantile * math.sqrt(scale * np.linalg.inv(design.T @ design)[1, 1])
        fit = results["fits"][key]
        assert fit["slope"] == pytest.approx(coef[1], abs=1e-9), key
        assert (fit["low"], fit["high"]) == pytest.approx((coef[1] - half, coef[1] + half), abs=1e-7), key
        assert fit["n"] == len(d) and fit["span"] == pytest.approx(d.max() / d.min())
        assert fit["weighted"] == (value == "gamma")
    for r in dims:
        if r["gamma2"] is not None and r["d"] >= 50:
            assert 0 < r["gamma2"] * 2 * math.sqrt(math.pi) * (r["d"] - 1) - 1 < 1 / r["d"]
        if r["gamma2"] is not None and r["gamma"] is not None:
            assert r["gamma"] < r["gamma2"]                     # γ ≤ γ₂


def test_estimator_check_recomputes_and_the_verdict_reads_it(margin_run):
    _, results, _, _ = margin_run
    check = results["estimator_check"]
    gamma = {r["d"]: r for r in results["gamma"]}
    assert [r["d"] for r in check["rows"]] == [3, 4]
    for row, c in zip(check["rows"], results["certified"][1:], strict=True):
        g = gamma[row["d"]]
        lowers = [draw["gamma_K_lower"] for draw in c["draws"]]
        se_draws = np.std(lowers, ddof=1) / math.sqrt(len(lowers))
        t = (np.mean(lowers) - g["gamma"]) / math.hypot(g["gamma_se"], se_draws)
        var = g["gamma_se"] ** 2 + se_draws ** 2
        dof = var ** 2 / (g["gamma_se"] ** 4 / (g["num_gates"] - 3) + se_draws ** 4 / 1)
        assert row["z_saa"] == pytest.approx(scipy_stats.norm.ppf(scipy_stats.t.cdf(t, dof)), abs=1e-9)
        assert row["z_dual"] == pytest.approx((g["gamma"] - c["gamma_upper_fresh"])
                                              / math.hypot(g["gamma_se"], c["gamma_upper_fresh_se"]))
        assert row["z_unif"] == pytest.approx(abs(g["gamma"] - c["gamma_symmetric"])
                                              / math.hypot(g["gamma_se"], c["gamma_symmetric_se"]))
    assert check["z_crit"] == pytest.approx(scipy_stats.norm.ppf(1 - 0.01 / 12))
    pre = {p["name"]: p for p in results["preconditions"]}
    assert pre["estimator checked against the certified solver"]["met"] == (check["max_z"] <= check["z_crit"])


def test_renders_from_results_json_alone(margin_run, tmp_path):
    from experiments.margin import render, section
    from kd_theory.results import OutputDir
    out, results, _, _ = margin_run
    render.render(json.loads((out / "results.json").read_text()), OutputDir(str(tmp_path)))
    assert (tmp_path / "margin.md").read_text() == (out / "margin.md").read_text()
    s = section.section(results, str(out))
    assert s.verdict == results["verdict"] and s.claim["type"] == "rate" and len(s.tables) == 4


# ---------------------------------------------------------------------------------------------
# The verdicts on hand-made numbers
# ---------------------------------------------------------------------------------------------

DIMS = (50, 70, 100, 150, 200, 300, 500, 700, 1000)


def _gamma_rows(law, dims=DIMS, noise=1e-5, seed=0):
    noise_draws = np.random.default_rng(seed).standard_normal(len(dims))
    rows = []
    for d, e in zip(dims, noise_draws, strict=True):
        g = law(d) * (1 + noise * e)
        rows.append({"d": d, "gamma": g, "gamma_se": noise * g, "gamma_d": g * d, "gamma_d_se": noise * g * d})
    return rows


def _config(**gamma):
    c = get_config()
    c.gamma.update(gamma)
    return c


PASSED = {"rows": [{"d": 3}], "alpha": 0.01, "z_crit": 2.9, "max_z": 1.0, "passed": True}


def _rate(rows, check=PASSED, **gamma):
    config = _config(**gamma)
    return analysis.judge_rate(rows, analysis.fits(rows, [{"d": r["d"], "gamma2": r["gamma"]} for r in rows], config),
                               check)


def test_rate_verdict_on_hand_made_numbers():
    one_over_d = lambda d: 0.25 / d * math.exp(1.4 / d - 3.0 / d ** 2)   # the approach to 1/4 of noisy 2-XOR
    assert _rate(_gamma_rows(one_over_d)).verdict == "consistent"
    # the plain line reads the local slope, resolved at this noise: it excludes −1
    assert _rate(_gamma_rows(one_over_d), corrections=0).verdict == "not reproduced"
    assert _rate(_gamma_rows(lambda d: 0.25 * d ** -1.5)).verdict == "not reproduced"
    assert _rate(_gamma_rows(lambda d: 0.25 * d ** -1.1 * math.exp(1 / d))).verdict == "not reproduced"
    # preconditions: less than a decade; too noisy to tell 1/d from 1/d^1.1; an unchecked estimator
    short = _rate(_gamma_rows(one_over_d, dims=(50, 70, 100, 150, 200, 300)))
    assert short.verdict == "inconclusive" and short.unmet == ["d span of the fit"]
    noisy = _rate(_gamma_rows(one_over_d, noise=0.1))
    assert noisy.verdict == "inconclusive" and noisy.unmet == ["interval width"]
    unchecked = _rate(_gamma_rows(one_over_d), check={**PASSED, "max_z": 5.0, "passed": False})
    assert unchecked.verdict == "inconclusive" and unchecked.unmet == ["estimator checked against the certified solver"]


def test_bound_verdict_on_hand_made_numbers():
    rows = _gamma_rows(lambda d: 0.25 / d, dims=(3, 10, 100))
    assert analysis.judge_bound(rows).verdict == "consistent"
    below = _gamma_rows(lambda d: 0.01 / d, dims=(3, 10, 100))
    assert analysis.judge_bound(below).verdict == "contradicted"
    straddling = _gamma_rows(lambda d: 0.0201 / d, dims=(3, 10, 100), noise=0.01)
    verdict = analysis.judge_bound(straddling)
    assert verdict.verdict == "inconclusive" and verdict.unmet == ["resolved"]


def test_estimator_check_flags_an_estimate_outside_the_certified_bracket():
    certified = [{"family": "noisy_xor", "d": 5, "draws": [{"gamma_K_lower": 0.0820}, {"gamma_K_lower": 0.0822},
                                                            {"gamma_K_lower": 0.0818}],
                  "gamma_upper_fresh": 0.0833, "gamma_upper_fresh_se": 0.0003,
                  "gamma_symmetric": 0.0828, "gamma_symmetric_se": 0.0003}]
    at = lambda d, gamma, se: [{"d": d, "gamma": gamma, "gamma_se": se, "num_gates": 4000}]
    good = analysis.estimator_check(certified, at(5, 0.0825, 0.0002))
    assert good["passed"] and good["z_crit"] == pytest.approx(scipy_stats.norm.ppf(1 - 0.01 / 6))
    low = analysis.estimator_check(certified, at(5, 0.0790, 0.0002))  # below E γ_K
    assert not low["passed"] and low["rows"][0]["z_saa"] > low["z_crit"]
    high = analysis.estimator_check(certified, at(5, 0.0870, 0.0002))  # above F(q̂)
    assert not high["passed"] and high["rows"][0]["z_dual"] > high["z_crit"]
    assert not analysis.estimator_check(certified, at(6, 0.07, 0.001))["passed"]


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------

def test_default_preset_answers_the_claim():
    """issue 23: γ₂ to d = 1,000, γ to d ≥ 200, a fitted range of a decade, certified solves at d ≤ 10 to check."""
    c = get_config()
    SCHEMA.validate(c)
    fitted = [d for d in c.gamma.dims if d >= c.gamma.fit_from]
    assert max(c.gamma.svm_dims) >= 1000 and max(c.gamma.dims) >= 200 and max(fitted) / min(fitted) >= 10
    assert {d for d in c.xor_dims if d <= 10} & set(c.gamma.dims)


@pytest.mark.parametrize("key, value, message", [
    ("xor_dims", (3, 3), "distinct"),
    ("xor_dims", (2, 3), "xor_dims"),
    ("xor_dims", (3, 13), "≤ 12"),
    ("seed", -1, "--config.seed=-1"),
    ("gate_draws", 1, "gate_draws=1"),
    ("gamma.dims", (3, 50, 100, 200, 500), "gamma.dims"),          # 4 d ≥ 50: the corrected fit needs 5
    ("gamma.dims", (50, 50, 100, 200, 500, 1000), "distinct"),
    ("gamma.svm_dims", (3, 4, 5), "gamma.svm_dims"),
    ("gamma.corrections", 4, "gamma.corrections=4"),
    ("gamma.fit_from", 2000, "gamma.dims"),
])
def test_bad_values_name_the_field(key, value, message):
    c = get_config()
    node, *rest = key.split(".")
    (c[node] if rest else c).__setitem__(rest[0] if rest else key, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SCHEMA.validate(c)


def test_enough_dims_follow_the_corrections():
    c = get_config()
    c.gamma.dims, c.gamma.corrections = (3, 50, 100, 1000), 1     # 3 d ≥ 50 for 3 parameters: no interval
    with pytest.raises(ValueError, match="at least 4 distinct dimensions ≥ gamma.fit_from = 50"):
        SCHEMA.validate(c)
    c.gamma.corrections = 0
    SCHEMA.validate(c)                                             # a line: 2 parameters, 3 d


@pytest.mark.parametrize("args, message", [
    (["--config.xor_dims=(3,3)"], "--config.xor_dims=(3, 3) is not allowed"),
    (["--config.seed=-1"], "--config.seed=-1 is not allowed"),
    (["--config.gamma.dims=(3,4,50,100)"], "--config.gamma.dims=(3, 4, 50, 100) is not allowed"),
])
def test_bad_config_is_refused_before_anything_is_written(tmp_path, launch, args, message):
    out = tmp_path / "out"
    done = launch("--experiment=margin", f"--out={out}", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not out.exists()


def test_welch_z_is_the_normal_equivalent_of_the_welch_t():
    # a huge number of degrees of freedom: the plain z
    assert analysis.welch_z(3.0, 1.0, 1e9, 0.0, 1.0) == pytest.approx(3.0, abs=1e-6)
    # the SE from three draws alone (2 dof): t = 4.303 is the 97.5% point of t₂, so z = 1.96
    assert analysis.welch_z(4.302653, 0.0, 1e9, 1.0, 2.0) == pytest.approx(1.959964, abs=1e-5)
    # Welch-Satterthwaite: two equal SEs with 2 dof each pool to 4 dof
    t4 = scipy_stats.t.ppf(0.99, 4)
    assert analysis.welch_z(t4 * math.sqrt(2), 1.0, 2.0, 1.0, 2.0) == pytest.approx(scipy_stats.norm.ppf(0.99))


def test_rejudge_gives_the_stored_results_and_applies_a_changed_rule(margin_run, rejudge_copy, monkeypatch):
    out, results, _, _ = margin_run
    copy, _ = rejudge_copy(out, "margin.md", "gamma.csv")
    from experiments import run
    monkeypatch.setattr(analysis, "MIN_SPAN", 1e6)   # a stricter span: judged again by it, the rate cannot stand
    changes = run.rejudge_experiment(str(copy))
    after = json.loads((copy / "results.json").read_text())
    span = next(p for p in after["preconditions"] if p["name"] == "d span of the fit")
    assert span["threshold"] == 1e6 and not span["met"] and after["verdict"] == "inconclusive"
    assert changes["verdict"] == (results["verdict"], "inconclusive")
    assert after["certified"] == results["certified"] and after["gamma"] == results["gamma"]
