"""The scaling experiment: m* from rows, its bootstrap, slope recovery, the theorems' regimes, config
checks, and the launcher end to end."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import scaling
from experiments.scaling import analysis
from experiments.scaling.config import get_config
from kd_theory import bounds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_config(**overrides):
    c = get_config()
    c.widths, c.seeds, c.epsilons, c.bootstrap, c.success_fraction = (2, 4, 8, 16), 4, (0.1,), 300, 0.75
    for k, v in overrides.items():
        c[k] = v
    return c


def rows_for(errors, dataset="a", regime="equal", label="hard", kind="hard", eps_target=None):
    """Engine-like rows from errors[seed][width index]."""
    widths = (2, 4, 8, 16)
    return [{"dataset": dataset, "regime": regime, "label": label, "kind": kind, "eps_target": eps_target,
             "seed": s, "width": m, "avg_train_error": e, "finite": math.isfinite(e)}
            for s, per_width in enumerate(errors) for m, e in zip(widths, per_width)]


def info_for(*names, gamma=0.1, n=100, family="xor"):
    return {name: {"family": family, "gamma": gamma, "gamma_std": 0.0, "n": n} for name in names}


# ---------------------------------------------------------------------------------------------
# m* and its bootstrap on hand-made rows
# ---------------------------------------------------------------------------------------------

def test_m_star_from_rows_with_known_answers():
    config = small_config()
    reached = rows_for([[0.5, 0.2, 0.05, 0.01], [0.5, 0.3, 0.08, 0.02], [0.5, 0.5, 0.5, 0.05],
                        [0.4, 0.2, 0.09, 0.0]], dataset="reached")           # 3 of 4 seeds at m = 8
    never = rows_for([[0.5, 0.4, 0.3, 0.2]] * 4, dataset="never")            # censored
    diverged = rows_for([[0.5, 0.2, math.nan, 0.01]] * 4, dataset="diverged")  # NaN fails, m = 16 passes
    table, successes = analysis.minimum_widths(reached + never + diverged, info_for("reached", "never", "diverged"),
                                               {}, config)
    by = {p["dataset"]: p for p in table}
    assert by["reached"]["m_star"] == 8 and not by["reached"]["censored"]
    assert by["reached"]["success_share"] == [0.0, 0.0, 0.75, 1.0]
    assert by["never"]["m_star"] == math.inf and by["never"]["censored"]
    assert (by["never"]["low"], by["never"]["high"]) == (math.inf, math.inf)
    assert by["diverged"]["m_star"] == 16
    # 3 of 4 seeds at m = 8 with fraction 0.75: a resample with two copies of seed 2 fails there, one
    # with none passes at 8, and seed 2 reaches ε at 16, so the interval is exactly [8, 16].
    assert (by["reached"]["low"], by["reached"]["high"]) == (8, 16)


def test_equal_regime_rows_serve_every_epsilon_and_theorem_rows_only_their_own():
    config = small_config(epsilons=(0.1, 0.01))
    rows = rows_for([[0.5, 0.05, 0.005, 0.0]] * 4)
    rows += rows_for([[0.5, 0.05, 0.05, 0.0]] * 4, regime="theorem", eps_target=0.1)
    rows += rows_for([[0.5, 0.5, 0.5, 0.5]] * 4, regime="theorem", eps_target=0.01)
    theory = {("a", "hard", e): {"lr": 1.0, "B": 2.0, "steps": 10, "steps_required": 100, "capped": True}
              for e in (0.1, 0.01)}
    table, _ = analysis.minimum_widths(rows, info_for("a"), theory, config)
    m = {(p["regime"], p["eps"]): p["m_star"] for p in table}
    assert m == {("equal", 0.1): 4, ("equal", 0.01): 8, ("theorem", 0.1): 4, ("theorem", 0.01): math.inf}


# ---------------------------------------------------------------------------------------------
# Slopes recover known exponents
# ---------------------------------------------------------------------------------------------

def power_law_rows(exponent_gamma, exponent_eps, gammas, epsilons, widths, label, kind):
    """Theorem-regime rows (one run per ε) whose error at width m is err = 0.999·ε·(1/γ)^a·(1/ε)^b/m:
    every seed reaches ε exactly from m = (1/γ)^a·(1/ε)^b on, a grid point by construction."""
    rows = []
    for k, g in enumerate(gammas):
        for e in epsilons:
            need = (1 / g) ** exponent_gamma * (1 / e) ** exponent_eps
            for s in range(3):
                for m in widths:
                    rows.append({"dataset": f"d{k}", "regime": "theorem", "label": label, "kind": kind,
                                 "eps_target": e, "seed": s, "width": m, "finite": True,
                                 "avg_train_error": 0.999 * e * need / m})
    return rows


def test_slopes_recover_known_exponents_on_synthetic_power_laws():
    widths = tuple(float(w) for w in 2.0 ** (np.arange(0, 81) / 4))      # ratio 2^(1/4), 1 … 2^20
    gammas = 0.5 * 2.0 ** (-np.arange(0, 5) / 8)                         # (1/γ)^2 and ^4 land on the grid
    epsilons = tuple(0.25 * 2.0 ** (-np.arange(0, 4) / 4))
    config = small_config(widths=widths, epsilons=epsilons, seeds=3, bootstrap=50)
    rows = (power_law_rows(2, 1, gammas, epsilons, widths, "kernel@s=8", "soft")
            + power_law_rows(4, 0, gammas, epsilons, widths, "hard", "hard"))
    info = {f"d{k}": {"family": "xor", "gamma": g, "gamma_std": 0.0, "n": 100} for k, g in enumerate(gammas)}
    settings = {"lr": 1.0, "B": 1.0, "steps": 1, "steps_required": 1, "capped": False}
    theory = {(d, kind, e): settings for d in info for kind in ("soft", "hard") for e in epsilons}
    table, successes = analysis.minimum_widths(rows, info, theory, config)
    assert len(table) == 2 * len(gammas) * len(epsilons) and not any(p["censored"] for p in table)
    s = analysis.slopes(table, successes, config)["theorem"]
    assert s["soft"]["inv_gamma"]["value"] == pytest.approx(2.0, abs=1e-6)
    assert s["soft"]["inv_eps"]["value"] == pytest.approx(1.0, abs=1e-6)
    assert s["hard"]["inv_gamma"]["value"] == pytest.approx(4.0, abs=1e-6)
    assert s["hard"]["inv_eps"]["value"] == pytest.approx(0.0, abs=1e-6)
    # every seed is identical, so the bootstrap interval is the point itself
    assert s["soft"]["inv_gamma"]["low"] == pytest.approx(2.0, abs=1e-6) == s["soft"]["inv_gamma"]["high"]
    assert s["soft"]["inv_gamma"]["theory_exponent"] == 2.0 and s["hard"]["inv_eps"]["theory_exponent"] == "logarithmic"
    # the theorems' own widths at these points, fitted the same way: exactly 1 in 1/ε for Corollary 4
    assert s["soft"]["inv_eps"]["theory_fit"] == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# The theorems' regimes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gamma, eps, n", [(0.05, 0.1, 256), (0.2, 0.02, 1000)])
def test_theorem_settings_are_the_bounds_requirements_with_the_cap_applied(gamma, eps, n):
    config = small_config(theorem_max_steps=500, theory_delta=0.01, theorem_hard_lr=0.5)
    soft = scaling.theorem_settings("soft", gamma, eps, n, config)
    req = bounds.soft_error_requirements(gamma, eps, n, 0.01)
    assert (soft["lr"], soft["B"], soft["width_required"]) == (req.lr, 1.0, req.width)
    assert soft["lr"] == pytest.approx(gamma ** 2 * eps / 3) and soft["steps_required"] == math.ceil(req.steps)
    assert soft["steps"] == min(500, math.ceil(req.steps)) and soft["capped"] == (math.ceil(req.steps) > 500)
    hard = scaling.theorem_settings("hard", gamma, eps, n, config)
    req = bounds.hard_error_requirements(gamma, eps, n, 0.01, lr=0.5)
    assert (hard["lr"], hard["B"], hard["width_required"]) == (0.5, req.radius, req.width)
    assert hard["steps_required"] == math.ceil(req.steps) and hard["steps"] == min(500, math.ceil(req.steps))


def test_theorem2_reading_of_corollary4_uses_theorem2_at_the_lemma3_level():
    config = small_config(corollary4_reading="theorem2", theorem_max_steps=10 ** 12)
    s = scaling.theorem_settings("soft", 0.1, 0.1, 100, config)
    assert s["lr"] == pytest.approx(0.01 * 0.1 / 96)
    assert s["steps"] == math.ceil(9216 / (1e-4 * 1e-2) * (1 - 1e-12)) and not s["capped"]


def test_an_uncapped_theorem_run_trains_to_the_theorems_step_count():
    config = small_config(theorem_max_steps=10 ** 9)
    s = scaling.theorem_settings("hard", 0.4, 0.5, 10, config)
    assert not s["capped"] and s["steps"] == s["steps_required"] == math.ceil(
        bounds.hard_error_requirements(0.4, 0.5, 10, config.theory_delta).steps)


def test_regime_runs_carry_each_regimes_settings():
    config = small_config(epsilons=(0.1, 0.05), equal_lr=3.0, equal_B=2.0, equal_steps=77)
    theory = {("a", "hard", e): scaling.theorem_settings("hard", 0.1, e, 50, config) for e in (0.1, 0.05)}
    runs = scaling.regime_runs("a", 8, "hard", "hard", 3, config, theory)
    by = {(dict(r.extra)["regime"], dict(r.extra)["eps_target"]): r for r in runs}
    assert (by[("equal", None)].lr, by[("equal", None)].B, dict(by[("equal", None)].extra)["T"]) == (3.0, 2.0, 77)
    assert by[("plain_gd", None)].B is None and by[("plain_gd", None)].lr == 3.0
    for e in (0.1, 0.05):
        r, t = by[("theorem", e)], theory[("a", "hard", e)]
        assert (r.lr, r.B, dict(r.extra)["T"]) == (t["lr"], t["B"], t["steps"])


# ---------------------------------------------------------------------------------------------
# Config checks
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("widths", (2, 3, 8)), ("widths", (8, 4)), ("success_fraction", 1.5), ("epsilons", (0.1, 1.2)),
    ("headline_scale", 3.0), ("corollary4_reading", "loose"), ("margin_gate_seeds", 2),
    ("theorem_hard_lr", 2.0), ("theory_delta", 0.5), ("headline_regime", "best"), ("xor_dims", (2,)),
    ("preset", "huge"), ("seeds", 0),
])
def test_bad_config_values_are_refused_naming_the_key(key, value):
    config = get_config()
    config[key] = value
    with pytest.raises(ValueError, match=f"--config.{key}="):
        scaling.validate(config)


def test_bad_part_b_values_are_refused_under_their_own_key():
    config = get_config()
    config.accuracy.lr = (-1.0,)
    with pytest.raises(ValueError, match="--config.accuracy.lr="):
        scaling.validate(config)
    config = get_config()
    config.accuracy.targets = (1.5,)
    with pytest.raises(ValueError, match="--config.accuracy.targets="):
        scaling.validate(config)


def test_the_full_preset_applies_where_the_command_line_did_not_set_a_key():
    config = get_config()
    config.preset, config.seeds = "full", 8          # seeds given explicitly... but equal to the default
    resolved = scaling.resolve(config)
    assert resolved.seeds == 16 and resolved.accuracy.report_seeds == 16 and max(resolved.widths) == 1024
    config.seeds = 12
    assert scaling.resolve(config).seeds == 12
    scaling.validate(config)


def test_a_bad_value_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "experiments.run", "--experiment=scaling", f"--out={out}",
                           "--config.success_fraction=1.5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "success_fraction" in proc.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------

TINY = ["--config.xor_dims=(4,)", "--config.separable_margins=(0.3,)", "--config.digits_variants=()",
        "--config.widths=(2,4,8)", "--config.seeds=3", "--config.bootstrap=20", "--config.margin_gates=128",
        "--config.margin_max_iters=300", "--config.teacher_width=16", "--config.teacher_steps=20",
        "--config.equal_steps=30", "--config.theorem_max_steps=20", "--config.kernel_scales=(1.0,)",
        "--config.headline_scale=1.0", "--config.epsilons=(0.2,0.1)", "--config.separable_n=64",
        "--config.accuracy.datasets=('full',)", "--config.accuracy.student_widths=(2,4)",
        "--config.accuracy.select_seeds=1", "--config.accuracy.report_seeds=2", "--config.accuracy.teacher_width=16",
        "--config.accuracy.teacher_steps=20", "--config.accuracy.steps=(10,)", "--config.accuracy.B=(0.0,)",
        "--config.progress=False"]


@pytest.mark.slow
def test_launcher_end_to_end_writes_slopes_and_figures(tmp_path):
    out = tmp_path / "scaling"
    proc = subprocess.run([sys.executable, "-m", "experiments.run", "--experiment=scaling", f"--out={out}", *TINY],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for label in ("soft", "hard"):
        for axis in ("inv_gamma", "inv_eps"):
            assert set(results["slopes"][label][axis]) >= {"value", "low", "high"}
    table = results["m_star"]
    assert {(p["regime"], p["label"]) for p in table} >= {("theorem", "soft"), ("equal", "hard"), ("plain_gd", "soft")}
    assert all(p["m_star"] in (2, 4, 8) or p["censored"] for p in table)
    # the cap is applied and reported: 20 steps, the theorem's own count beside it
    for t in results["theorem_settings"]:
        assert t["steps"] == min(20, t["steps_required"]) and t["capped"] == (t["steps_required"] > 20)
    assert "20" in results["definition"]["theorem_cap"]
    for d in results["datasets"].values():
        assert len(d["gamma_lower"]) == 3 and all(lo <= up for lo, up in zip(d["gamma_lower"], d["gamma_upper"]))
    assert {p["target_share"] for p in results["accuracy"]["m_star"]} == {0.9, 0.95}
    for name in ("scaling.md", "mstar_gamma.png", "mstar_eps.png", "slopes.png", "phase.png", "accuracy.png",
                 "runs.csv", "config.json"):
        assert (out / name).stat().st_size > 0, name
