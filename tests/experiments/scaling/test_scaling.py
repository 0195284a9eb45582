"""The scaling experiment: m* from rows, the theorems' settings (no cap), the bound tests and their verdict on
hand-made numbers, bad config values refused, and the launcher end to end with every number recomputed from
runs.csv."""
import json
import math
from collections import defaultdict

import numpy as np
import pytest

from experiments import scaling
from experiments.scaling import analysis
from experiments.scaling.config import SCHEMA, get_config
from kd_theory import bounds


def config_for(preset="tiny", **overrides):
    """A config of ``preset`` with dotted overrides (``theorem__max_steps`` for theorem.max_steps)."""
    c = get_config(preset)
    for key, value in overrides.items():
        *parents, last = key.split("__")
        target = c
        for part in parents:
            target = target[part]
        target[last] = value
    return c


def row(dataset, label, eps, seed, width, error, regime="theorem", diverged=False, T=100):
    """An engine row at the settings of :func:`plan_for` (η = 1, B = 1, T = 100), read at step T."""
    return {"regime": regime, "dataset": dataset, "label": label, "eps_target": eps, "seed": seed, "width": width,
            "avg_train_error": error, "diverged": diverged, "lr": 1.0, "B": 1.0, "T": T, "steps": T}


def rows_for(errors, dataset, label="hard", eps=0.1, widths=(2, 4, 8, 16), regime="theorem"):
    """Rows from errors[seed][width index]; NaN marks a diverged run."""
    return [row(dataset, label, eps if regime == "theorem" else None, s, m, e, regime, diverged=math.isnan(e))
            for s, per_width in enumerate(errors) for m, e in zip(widths, per_width)]


def info_for(names, gamma=0.3, n=64, family="separable"):
    gammas = gamma if isinstance(gamma, dict) else {name: gamma for name in names}
    return {name: {"family": family, "gamma": gammas[name], "gamma_std": 0.0, "n": n} for name in names}


def plan_for(info, config, run=True):
    return [{"dataset": name, "label": label, "eps": float(eps), "lr": 1.0, "B": 1.0, "steps_required": 100,
             "run": run(name, label, eps) if callable(run) else run,
             "not_run": "" if (run(name, label, eps) if callable(run) else run) else "T required = 10, beyond …"}
            for name in info for label in ("hard", "soft") for eps in config.epsilons]


# ---------------------------------------------------------------------------------------------
# m* from rows
# ---------------------------------------------------------------------------------------------

def test_m_star_from_rows_with_known_answers_and_diverged_runs_failing():
    config = config_for(widths=(2, 4, 8, 16), seeds=4, epsilons=(0.1,), bootstrap=300, success_fraction=0.75,
                        equal__enabled=False)
    rows = (rows_for([[0.5, 0.2, 0.05, 0.01], [0.5, 0.3, 0.08, 0.02], [0.5, 0.5, 0.5, 0.05], [0.4, 0.2, 0.09, 0.0]],
                     "reached")                                           # 3 of 4 seeds at m = 8
            + rows_for([[0.5, 0.4, 0.3, 0.2]] * 4, "never")              # no width reaches ε
            + rows_for([[0.5, 0.05, math.nan, 0.01]] * 4, "diverged"))   # a diverged run fails, even at m = 8
    # 0.05 ≤ ε at m = 4 for every seed, so "diverged" has m* = 4 unless diverged runs counted as successes there;
    # make m = 4 fail so that the diverged m = 8 decides: 0.2 at m = 4
    rows = [dict(r, avg_train_error=0.2) if r["dataset"] == "diverged" and r["width"] == 4 else r for r in rows]
    info = info_for(["reached", "never", "diverged"])
    table, _ = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    by = {p["dataset"]: p for p in table if p["label"] == "hard"}
    assert by["reached"]["m_star"] == 8 and not by["reached"]["censored"]
    assert by["reached"]["success_share"] == [0.0, 0.0, 0.75, 1.0]
    # 3 of 4 seeds at m = 8 with fraction 0.75: a resample with two copies of the failing seed fails there, one
    # without it passes, and that seed reaches ε at 16, so the interval is exactly [8, 16]
    assert (by["reached"]["low"], by["reached"]["high"]) == (8, 16)
    assert by["never"]["m_star"] == math.inf and by["never"]["censored"]
    assert by["never"]["censored_where"] == "above the grid"
    assert by["diverged"]["m_star"] == 16 and by["diverged"]["n_diverged"] == 4


def test_an_m_star_at_the_grids_smallest_width_is_censored_only_when_a_smaller_network_exists():
    info = info_for(["a"])
    for widths, censored in (((2, 4, 8, 16), False), ((4, 8, 16, 32), True)):
        config = config_for(widths=widths, seeds=2, epsilons=(0.1,), equal__enabled=False)
        rows = rows_for([[0.0] * 4] * 2, "a", widths=widths)
        table, _ = analysis.minimum_widths(rows, info, plan_for(info, config), config)
        hard = [p for p in table if p["label"] == "hard"][0]
        assert hard["m_star"] == widths[0] and hard["censored"] == censored


def test_equal_rows_serve_every_epsilon_and_theorem_rows_only_their_own():
    config = config_for(widths=(2, 4, 8, 16), seeds=4, epsilons=(0.1, 0.01), equal__enabled=True)
    rows = rows_for([[0.5, 0.05, 0.005, 0.0]] * 4, "a", regime="equal")
    rows += rows_for([[0.5, 0.05, 0.05, 0.0]] * 4, "a", eps=0.1)
    rows += rows_for([[0.5, 0.5, 0.5, 0.5]] * 4, "a", eps=0.01)
    info = info_for(["a"])
    table, _ = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    m = {(p["regime"], p["eps"]): p["m_star"] for p in table if p["label"] == "hard"}
    assert m == {("equal", 0.1): 4, ("equal", 0.01): 8, ("theorem", 0.1): 4, ("theorem", 0.01): math.inf}


# ---------------------------------------------------------------------------------------------
# The theorems' settings: no cap, points beyond max_steps not run
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gamma, eps, n", [(0.05, 0.1, 256), (0.2, 0.02, 1000), (0.4, 0.4, 32)])
def test_theorem_settings_are_the_bounds_requirements_uncapped(gamma, eps, n):
    config = config_for(theorem__max_steps=10 ** 6, theorem__hard_lr=0.5, theorem__delta=0.01)
    soft = scaling.theorem_settings("soft", gamma, eps, n, config)
    assert soft["lr"] == pytest.approx(gamma ** 2 * eps / 3) and soft["B"] == 1.0
    assert soft["steps_required"] == math.ceil(9 / (gamma ** 4 * eps ** 2) * (1 - 1e-12))
    assert soft["width_required"] == bounds.soft_error_requirements(gamma, eps, n, 0.01).width
    assert soft["run"] == (soft["steps_required"] <= 10 ** 6)
    hard = scaling.theorem_settings("hard", gamma, eps, n, config)
    beta = eps * math.log(2)
    L = math.log(2 / (math.log(2) * beta))
    assert hard["lr"] == 0.5 and hard["B"] == pytest.approx(2 / gamma * L)
    assert hard["steps_required"] == math.ceil(8 / (gamma ** 2 * 0.5) * L ** 2 / (math.log(2) * beta) * (1 - 1e-12))
    assert hard["run"] == (hard["steps_required"] <= 10 ** 6)
    if not soft["run"]:
        assert soft["not_run"] == f"T required = {soft['steps_required']:,}, beyond theorem.max_steps = 1,000,000"


def test_theorem2_reading_of_corollary4_uses_theorem2_at_the_lemma3_level():
    config = config_for(theorem__corollary4_reading="theorem2", theorem__max_steps=10 ** 10)
    s = scaling.theorem_settings("soft", 0.1, 0.1, 100, config)
    assert s["lr"] == pytest.approx(0.01 * 0.1 / 96)
    assert s["steps_required"] == math.ceil(9216 / (1e-4 * 1e-2) * (1 - 1e-12)) and s["run"]


def test_buckets_keep_every_point_once_with_their_largest_T_at_most_twice_the_smallest():
    Ts = [500, 1393, 2540, 3082, 5679, 6954, 12326, 14462, 27813, 700, 999, 1000]
    groups = scaling.buckets([{"T": T} for T in Ts])
    assert sorted(p["T"] for g in groups for p in g) == sorted(Ts)
    for g in groups:
        assert max(p["T"] for p in g) <= 2 * min(p["T"] for p in g)
    assert [g[0]["T"] for g in groups] == sorted(g[0]["T"] for g in groups)


# ---------------------------------------------------------------------------------------------
# The verdict on hand-made numbers
# ---------------------------------------------------------------------------------------------

GRID = tuple(float(w) for w in 2.0 ** (np.arange(0, 81) / 4))          # 1 … 2^20, ratio 2^(1/4)
GAMMAS = tuple(0.45 * 2.0 ** (-np.arange(0, 4) / 6))                   # (1/γ)^1.5 moves on the grid
EPSILONS = (0.4, 0.4 * 2 ** -0.5, 0.2)                                  # (1/ε)^0.5 moves on the grid


def power_law(exp_gamma, exp_eps, label, scale=2.0):
    """Rows whose every seed reaches ε exactly from m = scale·(γ₀/γ)^a·(ε₀/ε)^b on (a grid width)."""
    rows = []
    for k, g in enumerate(GAMMAS):
        for e in EPSILONS:
            need = scale * (GAMMAS[0] / g) ** exp_gamma * (EPSILONS[0] / e) ** exp_eps
            for s in range(3):
                rows += [row(f"d{k}", label, e, s, m, 0.999 * e * need / m) for m in GRID]
    return rows


def synthetic(soft_exponents, hard_exponents=(0.0, 0.0)):
    config = config_for(widths=GRID, seeds=3, epsilons=EPSILONS, bootstrap=50, init="standard",
                        equal__enabled=False)
    info = {f"d{k}": {"family": "separable", "gamma": g, "gamma_std": 0.0, "n": 64} for k, g in enumerate(GAMMAS)}
    rows = power_law(*soft_exponents, "soft") + power_law(*hard_exponents, "hard")
    table, successes = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    return table, successes, config


def test_a_width_growing_slower_than_the_bound_is_consistent_and_its_exponents_are_recovered():
    table, successes, config = synthetic((1.5, 0.5))
    assert not any(p["censored"] for p in table)
    verdict, per_label, details = analysis.judge(table, successes, config)
    soft, hard = details["soft"], details["hard"]
    assert soft["exponents"]["inv_gamma"]["value"] == pytest.approx(1.5, abs=1e-6)
    assert soft["exponents"]["inv_eps"]["value"] == pytest.approx(0.5, abs=1e-6)
    assert hard["exponents"]["inv_gamma"]["value"] == pytest.approx(0.0, abs=1e-6)
    # the bound's own exponents at these points: Corollary 4 exactly 2 and 1 at fixed n; Proposition 5 exactly 4
    assert soft["exponents"]["inv_gamma"]["bound_exponent"] == pytest.approx(2.0, abs=1e-9)
    assert soft["exponents"]["inv_eps"]["bound_exponent"] == pytest.approx(1.0, abs=1e-9)
    assert hard["exponents"]["inv_gamma"]["bound_exponent"] == pytest.approx(4.0, abs=1e-9)
    assert 0 < hard["exponents"]["inv_eps"]["bound_exponent"] < 1          # logarithmic in 1/ε
    # identical seeds on an exact power law: both intervals are the point, so the width precondition is met
    assert soft["exponents"]["inv_gamma"]["width"] == pytest.approx(0.0, abs=1e-6)
    # the anchor is the easiest point (largest γ and ε); C covers its interval, every other point is below C·f
    anchor = soft["bound"]["anchor"]
    assert (anchor["dataset"], anchor["eps"]) == ("d0", 0.4) and anchor["m_star"] == 2.0
    assert soft["bound"]["C"] == pytest.approx(2.0 / anchor["bound_width"])
    assert soft["bound"]["n_respecting"] == soft["bound"]["n_compared"] == len(GAMMAS) * len(EPSILONS) - 1
    assert per_label["soft"].verdict == per_label["hard"].verdict == verdict.verdict == "consistent"


def test_a_width_growing_faster_than_the_bound_is_contradicted():
    table, successes, config = synthetic((3.0, 0.5))          # (1/γ)³ grows faster than Corollary 4's (1/γ)²
    verdict, per_label, details = analysis.judge(table, successes, config)
    soft = details["soft"]
    assert soft["exponents"]["inv_gamma"]["value"] == pytest.approx(3.0, abs=1e-6)
    assert soft["exponents"]["inv_gamma"]["outcome"] == "contradicted"
    assert soft["bound"]["outcome"] == "contradicted"
    # m*/f ∝ γ⁻¹·ε^½, so relative to the anchor (d0, ε = 0.4) a point exceeds C·f exactly when
    # (γ₀/γ)·(ε/ε₀)^½ = 2^(k/6 − j/4) > 1 (at k = 3, j = 2 it is 1: on the bound, which respects it)
    bad = {(c["dataset"], c["eps"]) for c in soft["bound"]["checks"] if not c["respects"]}
    assert bad == {(f"d{k}", e) for k in range(len(GAMMAS)) for j, e in enumerate(EPSILONS) if k / 6 - j / 4 > 1e-9}
    assert ("d3", EPSILONS[2]) not in bad and len(bad) == 5
    assert per_label["soft"].verdict == "contradicted" and per_label["hard"].verdict == "consistent"
    assert verdict.verdict == "contradicted"


def test_a_point_not_run_makes_the_verdict_inconclusive_and_says_what_it_would_have_read():
    table, successes, config = synthetic((1.5, 0.5))
    # mark the hardest soft point as not run (its T beyond max_steps): it must not be silently left out
    hardest = max((i for i, p in enumerate(table) if p["label"] == "soft"), key=lambda i: table[i]["bound_width"])
    table[hardest] = dict(table[hardest], run=False, not_run="T required = 99, beyond theorem.max_steps = 10",
                          m_star=None, low=None, high=None, censored=False)
    successes[hardest] = None
    verdict, per_label, details = analysis.judge(table, successes, config)
    assert details["soft"]["n_not_run"] == 1 and details["soft"]["outcome"] == "consistent"
    v = per_label["soft"]
    assert v.verdict == "inconclusive" and v.unmet == ["soft: theorem's settings"]
    assert "would have read “consistent”" in v.evidence
    assert verdict.verdict == "inconclusive" and per_label["hard"].verdict == "consistent"
    # what would settle it names the one unmet precondition's remedy, not the ones already met
    assert f"theorem.max_steps ≥ {table[hardest]['T']:,}" in v.settle and "exponent intervals" not in v.settle
    assert verdict.settle == v.settle


def test_a_point_run_short_of_its_theorems_T_is_an_unmet_precondition():
    table, successes, config = synthetic((1.5, 0.5))
    info = {f"d{k}": {"family": "separable", "gamma": g, "gamma_std": 0.0, "n": 64} for k, g in enumerate(GAMMAS)}
    rows = power_law(1.5, 0.5, "soft") + power_law(0.0, 0.0, "hard")
    rows = [dict(r, T=50, steps=50) if (r["dataset"], r["label"], r["eps_target"]) == ("d3", "soft", 0.2) else r
            for r in rows]                                   # a capped T: 50 of the theorem's 100 steps
    table, successes = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    verdict, per_label, _ = analysis.judge(table, successes, config)
    (pre,) = [p for p in per_label["soft"].preconditions if p.name == "soft: theorem's settings"]
    assert not pre.met and "1 run at other settings" in pre.value
    assert per_label["soft"].verdict == "inconclusive" and per_label["hard"].verdict == "consistent"


def test_censored_points_and_wide_exponent_intervals_are_unmet_preconditions():
    config = config_for(widths=(2, 4, 8, 16), seeds=4, epsilons=(0.4, 0.2), bootstrap=100, equal__enabled=False)
    info = info_for(["a", "b"], gamma={"a": 0.4, "b": 0.3})
    noisy = [[0.5, 0.3, 0.1, 0.0], [0.5, 0.5, 0.3, 0.0], [0.5, 0.1, 0.1, 0.0], [0.5, 0.5, 0.5, 0.1]]
    rows = [r for name in info for label in ("hard", "soft") for eps in config.epsilons
            for r in rows_for(noisy if name == "a" else [[0.5, 0.5, 0.5, 0.5]] * 4, name, label, eps)]
    table, successes = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    verdict, per_label, details = analysis.judge(table, successes, config)
    assert details["soft"]["n_censored"] == 2 and details["soft"]["n_measured"] == 2
    unmet = per_label["soft"].unmet
    assert "soft: m* inside the grid" in unmet
    assert "soft: exponent of 1/γ interval width" in unmet      # one γ left: no exponent in 1/γ at all
    assert verdict.verdict == "inconclusive"
    settle = per_label["soft"].settle
    assert "a width grid that contains every m*" in settle and "(now: 1/γ none" in settle
    assert "theorem.max_steps" not in settle                     # every point ran


def test_phase_ratio_is_hard_over_soft_with_a_paired_bootstrap():
    config = config_for(widths=(2, 4, 8, 16), seeds=4, epsilons=(0.2,), bootstrap=200, equal__enabled=False)
    info = info_for(["a"], gamma=0.25)
    rows = rows_for([[0.5, 0.5, 0.1, 0.0]] * 4, "a", "hard", 0.2) + rows_for([[0.5, 0.1, 0.0, 0.0]] * 4, "a", "soft", 0.2)
    table, successes = analysis.minimum_widths(rows, info, plan_for(info, config), config)
    (cell,) = analysis.phase(table, successes, config)
    assert (cell["m_star_hard"], cell["m_star_soft"], cell["ratio"]) == (8, 4, 2.0)
    assert (cell["low"], cell["high"]) == (2.0, 2.0)           # identical seeds
    assert cell["bound_ratio"] == pytest.approx(bounds.hard_over_soft_width_ratio(0.25, 0.2, 64, 0.01))
    assert cell["rule_of_thumb_soft_fewer"] == (0.25 ** 2 < 0.2)
    assert analysis.ratio(math.inf, 4) == math.inf and math.isnan(analysis.ratio(math.inf, math.inf))


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("widths", (2, 3, 8), "even widths"), ("widths", (8, 4), "increasing"), ("success_fraction", 1.5, "(0, 1]"),
    ("epsilons", (0.1, 1.2), "(0, 1)"), ("seeds", 1, "≥ 2"), ("theorem.hard_lr", 2.0, "(0, 1]"),
    ("theorem.delta", 0.5, "0.333"), ("theorem.corollary4_reading", "loose", "printed, theorem2"),
    ("theorem.max_steps", 0, "≥ 1"), ("margin.draws", 2, "≥ 3"), ("data.xor_dims", (2,), "≥ 3"),
    ("data.separable_margins", (1.0,), "(0, 1)"), ("accuracy.targets", (1.5,), "(0, 1]"),
    ("accuracy.lr", (-1.0,), "> 0"), ("accuracy.widths", (3, 4), "even widths"), ("equal.B", -1.0, "> 0"),
])
def test_bad_values_are_refused_naming_the_field(key, value, message):
    config = get_config()
    node = config
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    with pytest.raises(ValueError, match=f"--config.{key}=") as err:
        scaling.validate(config)
    assert message in str(err.value)


def test_no_data_set_is_refused():
    config = get_config()
    config.data.separable_margins = ()
    with pytest.raises(ValueError, match="at least one data set"):
        scaling.validate(config)


@pytest.mark.parametrize("preset", sorted(SCHEMA.presets))
def test_every_preset_validates_and_the_theorem_points_of_the_default_fit_its_budget(preset):
    scaling.validate(get_config(preset))


@pytest.mark.parametrize("arg, message", [
    ("--config.success_fraction=1.5", "success_fraction=1.5"), ("--config.theorem.max_steps=-5", "max_steps=-5"),
    ("--config.preset=full", "preset"),                       # the old key: presets come from --preset now
])
def test_the_launcher_refuses_bad_values_and_writes_nothing(tmp_path, launch, arg, message):
    out = tmp_path / "out"
    done = launch("--experiment=scaling", f"--out={out}", "--preset=tiny", arg)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not out.exists()


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------

# tiny, with two ε so that some soft points need more than max_steps (not run), three seeds, and part B on
SMALL = ["--preset=tiny", "--config.epsilons=(0.4,0.3)", "--config.theorem.max_steps=3000", "--config.seeds=3",
         "--config.accuracy.enabled=True"]


@pytest.fixture(scope="module")
def scaling_run(run_experiment, read_csv_rows):
    out, done, results, rows = run_experiment("scaling", *SMALL)
    return out, results, rows, read_csv_rows(out / "accuracy_runs.csv"), done.stderr


@pytest.mark.slow
def test_writes_every_file_with_the_claim_and_a_verdict(scaling_run):
    out, results, rows, _, _ = scaling_run
    for name in ("config.json", "runs.csv", "accuracy_runs.csv", "results.json", "scaling.md", "bound.png",
                 "exponents.png", "mstar.png", "phase.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "config.json").read_text())["preset"] == "tiny"
    assert results["claim"]["type"] == "bound" and set(results["label_verdicts"]) == {"soft", "hard"}
    for v in [results] + list(results["label_verdicts"].values()):
        if not all(p["met"] for p in v["preconditions"]):
            assert v["verdict"] == "inconclusive"
    md = (out / "scaling.md").read_text()
    assert "Verdict (both label types)" in md and "not run (T required" in md


@pytest.mark.slow
def test_rejudge_gives_the_stored_results_and_applies_a_changed_rule(scaling_run, rejudge_copy, monkeypatch):
    out, results, _, _, _ = scaling_run
    copy, _ = rejudge_copy(out, "scaling.md", "accuracy_runs.csv")
    from experiments import run
    monkeypatch.setattr(analysis, "MAX_INTERVAL_WIDTH", 0.0)   # no exponent interval can be this narrow
    changes = run.rejudge_experiment(str(copy))
    after = json.loads((copy / "results.json").read_text())
    widths = [p for p in after["preconditions"] if p["name"].endswith("interval width")]
    assert widths and all(p["threshold"] == 0.0 and not p["met"] for p in widths)
    assert after["verdict"] == "inconclusive" and changes["verdict"] == (results["verdict"], "inconclusive")
    assert after["m_star"] == results["m_star"] and after["accuracy"] == results["accuracy"]


@pytest.mark.slow
def test_each_point_runs_at_its_theorems_settings_or_is_counted_as_not_run(scaling_run):
    out, results, rows, _, stderr = scaling_run
    delta = json.loads((out / "config.json").read_text())["config"]["theorem"]["delta"]
    by_point = defaultdict(list)
    for r in rows:
        if r["regime"] == "theorem":
            by_point[(r["dataset"], r["label"], r["eps_target"])].append(r)
    not_run = 0
    for p in results["m_star"]:
        if p["regime"] != "theorem":
            continue
        g, e, n = results["datasets"][p["dataset"]]["gamma"], p["eps"], p["n"]
        req = (bounds.soft_error_requirements(g, e, n, delta) if p["label"] == "soft" else
               bounds.hard_error_requirements(g, e, n, delta))
        T = math.ceil(req.steps)
        assert p["T"] == T and p["lr"] == pytest.approx(req.lr) and p["B"] == pytest.approx(req.radius)
        runs = by_point[(p["dataset"], p["label"], p["eps"])]
        if T > 3000:                                      # beyond max_steps: not run, never capped
            not_run += 1
            assert not p["run"] and not runs and p["m_star"] is None
            assert p["not_run"] == f"T required = {T:,}, beyond theorem.max_steps = 3,000"
            assert f"not run: {p['dataset']} {p['label']} ε={e:g}" in stderr
            continue
        assert p["run"] and len(runs) == 4 * 3             # 4 widths × 3 seeds, each read at its own T
        assert all(r["steps"] == r["T"] == T and r["lr"] == pytest.approx(req.lr) for r in runs)
        assert all(r["B"] == pytest.approx(req.radius) for r in runs)
    assert not_run == results["n_not_run"] > 0
    soft = results["label_verdicts"]["soft"]
    assert soft["verdict"] == "inconclusive"
    assert not [p for p in soft["preconditions"] if p["name"] == "soft: theorem's settings"][0]["met"]


@pytest.mark.slow
def test_m_star_bound_and_ratio_recompute_from_runs_csv(scaling_run):
    _, results, rows, _, _ = scaling_run
    widths = results["widths"]
    errors = defaultdict(dict)
    for r in rows:
        errors[(r["regime"], r["dataset"], r["label"], r["eps_target"])][(r["seed"], r["width"])] = (
            None if r["diverged"] else r["avg_train_error"])
    m_star = {}
    for p in results["m_star"]:
        if not p["run"]:
            continue
        values = errors[(p["regime"], p["dataset"], p["label"], p["eps"] if p["regime"] == "theorem" else None)]
        share = [np.mean([values[(s, m)] is not None and values[(s, m)] <= p["eps"] for s in range(3)]) for m in widths]
        assert p["success_share"] == pytest.approx(share, abs=1e-4)   # stored to 4 decimals
        expected = next((m for m, s in zip(widths, share) if s >= 0.75), math.inf)
        assert p["m_star"] == expected and p["low"] <= expected <= p["high"]
        m_star[(p["regime"], p["dataset"], p["label"], p["eps"])] = expected
    for label, d in results["bound_tests"].items():
        checks = d["bound"]["checks"]
        if not checks:
            continue
        anchor = min(checks, key=lambda c: (c["bound_width"], c["m_star"]))
        assert anchor["anchor"] and d["bound"]["C"] == pytest.approx(anchor["high"] / anchor["bound_width"])
        for c in checks:
            assert c["respects"] == (c["low"] <= d["bound"]["C"] * c["bound_width"] * (1 + 1e-12))
    for c in results["phase"]:
        assert c["ratio"] == m_star[(c["regime"], c["dataset"], "hard", c["eps"])] / m_star[
            (c["regime"], c["dataset"], "soft", c["eps"])]


@pytest.mark.slow
def test_part_b_chooses_on_validation_and_reads_m_star_from_the_report_seeds(scaling_run):
    _, results, _, acc_rows, _ = scaling_run
    acc = results["accuracy"]
    val = defaultdict(list)
    for r in acc_rows:
        if r["role"] == "select":
            val[(r["dataset"], r["width"], r["label"], r["lr"], r["B"], r["temperature"], r["steps"])].append(r["val_acc"])
    for c in acc["chosen"]:
        group = [np.mean(v) for k, v in val.items() if k[:3] == (c["dataset"], c["width"], c["label"])]
        assert c["val_acc_mean"] == pytest.approx(max(group))
    chosen = {(c["dataset"], c["width"], c["label"]): c for c in acc["chosen"]}
    teacher = {t["dataset"]: t["test_acc"] for t in acc["teacher"]}
    for p in acc["m_star"]:
        threshold = p["target_share"] * teacher[p["dataset"]]
        share = []
        for m in acc["widths"]:
            c = chosen[(p["dataset"], m, p["label"])]
            report = [r for r in acc_rows if r["role"] == "report" and r["dataset"] == p["dataset"] and r["width"] == m
                      and r["label"] == p["label"] and all(r[k] == c[k] for k in ("lr", "B", "temperature", "steps"))]
            assert sorted(int(r["seed"]) for r in report) == [1, 2]        # tiny: 1 select seed, then 2 report
            share.append(np.mean([not r["diverged"] and r["test_acc"] >= threshold for r in report]))
        assert p["m_star"] == next((m for m, s in zip(acc["widths"], share) if s >= 0.75), math.inf)


@pytest.mark.slow
def test_diverged_runs_are_counted_and_never_succeed(tmp_path, launch):
    """lr = 1e35 with plain GD sends the equal-budget runs to inf: counted, failures for m*, the theorem points
    beside them unaffected."""
    out = tmp_path / "div"
    done = launch("--experiment=scaling", f"--out={out}", "--preset=tiny", "--config.equal.lr=1e35")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["n_diverged"] > 0 and "diverged" in done.stderr
    assert all(r["regime"] == "equal" for r in results["diverged_runs"])
    for p in results["m_star"]:
        if p["regime"] == "equal":
            assert p["m_star"] == math.inf and p["n_diverged"] == 4 * 2
        else:
            assert math.isfinite(p["m_star"]) and p["n_diverged"] == 0
    assert "runs diverged" in (out / "scaling.md").read_text()


def test_log_ticks_label_a_range_inside_one_decade():
    from experiments.scaling import render
    assert render.log_ticks(0.001, 0.9) == [0.001, 0.01, 0.1]
    assert render.log_ticks(5e5, 3e6) == [5e5, 1e6, 2e6]
    assert render.log_ticks(2.4, 4.5) == [3.0, 4.0]          # the finest: every digit
    assert render.log_ticks(math.nan, 1.0) == []
