"""The biased-soft-label experiment end to end on a tiny config: every reported number recomputed from
runs.csv or from the library, bad configs refused by key, the render from results.json alone, and the
verdict logic of section()."""
import copy
import json
import math
import os
from collections import defaultdict

import numpy as np
import pytest
from scipy import stats as scipy_stats

import experiments.biased_soft as biased_soft
from experiments.biased_soft import config as biased_config
from experiments.biased_soft import render, section
from experiments.sections import VERDICTS, Section
from kd_theory import biased
from kd_theory.results import OutputDir
from tests.conftest import read_csv_rows

TINY = dict(select_seeds=2, report_seeds=2, student_width=8, lr=(4.0, 16.0), steps=(20, 60), smoothing=(0.5,),
            noise_sigmas=(1.0,), partial_false_negative=(0.0, 0.6), partial_distractor=(0.2, 0.9),
            teacher_width=32, teacher_steps=60, temperatures=(4.0,), early_steps=(1,),
            sbt_alphas=((1.0, 1.0, 1.0),), sbt_steps=60, progress=False)


def tiny_config(**overrides):
    config = biased_config.get_config()
    config.update(dict(TINY, **overrides))
    return config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("biased_soft")
    config = tiny_config()
    biased_soft.validate(config)
    biased_soft.run(config, OutputDir(str(out_dir)))
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    return out_dir, config, results, read_csv_rows(out_dir / "runs.csv")


def test_one_sweep_over_every_set_lr_and_seed(tiny_run):
    out_dir, config, results, rows = tiny_run
    assert {"runs.csv", "results.json", "biased_soft.md", "biased_soft.png", "delta_gamma.png"} <= set(os.listdir(out_dir))
    # true + 1 smoothing + 1 noise + 2×2 partial + 1 temperature + 1 early + 1 SBT = 10 sets
    names = [s["label_set"] for s in results["label_sets"]]
    assert len(names) == 10 and names[0] == "true"
    assert len(rows) == 10 * 2 * (2 + 2) * 2   # sets × lr × seeds × checkpoints
    assert results["n_runs"] == 10 * 2 * 4
    assert {r["role"] for r in rows if r["seed"] < 2} == {"select"} and {r["role"] for r in rows if r["seed"] >= 2} == {"report"}
    assert results["environment"]["jax_version"] and results["protocol"]["report_seeds"] == [2, 3]


def test_regimes_are_chosen_on_validation_accuracy_of_the_selection_seeds(tiny_run):
    _, _, results, rows = tiny_run
    val = defaultdict(list)
    for r in rows:
        if r["role"] == "select":
            val[(r["label_set"], r["lr"], r["steps"])].append(r["val_acc"])
    for s in results["label_sets"]:
        scores = {k[1:]: np.mean(v) for k, v in val.items() if k[0] == s["label_set"]}
        best = max(scores.values())
        assert s["select_val_acc"] == pytest.approx(best)
        # ties → fewer steps, then smaller lr
        assert (s["lr"], s["steps"]) == min((k for k, v in scores.items() if v == best), key=lambda k: (k[1], k[0]))


def test_reported_accuracy_and_paired_gap_recompute_from_the_report_seeds(tiny_run):
    _, _, results, rows = tiny_run
    def report_acc(s):
        return {r["seed"]: r["test_acc"] for r in rows if r["role"] == "report" and r["label_set"] == s["label_set"]
                and r["lr"] == s["lr"] and r["steps"] == s["steps"]}
    sets = {s["label_set"]: s for s in results["label_sets"]}
    reference = report_acc(sets["true"])
    assert sorted(reference) == [2, 3]
    for s in results["label_sets"]:
        acc = report_acc(s)
        assert s["test_acc_mean"] == pytest.approx(np.mean(list(acc.values())))
        assert s["test_acc_std"] == pytest.approx(np.std(list(acc.values()), ddof=1))
        if s["label_set"] == "true":
            assert "gap_mean" not in s
            continue
        d = np.array([acc[k] - reference[k] for k in sorted(acc)])
        assert s["gap_mean"] == pytest.approx(d.mean())
        se = d.std(ddof=1) / math.sqrt(len(d))
        if se > 0:
            half = scipy_stats.t.ppf(0.975, len(d) - 1) * se
            assert (s["gap_low"], s["gap_high"]) == pytest.approx((d.mean() - half, d.mean() + half))


def test_indicators_match_the_library_on_the_same_labels(tiny_run):
    _, config, results, _ = tiny_run
    ds = biased_soft.load_dataset(config)
    sets = {s["label_set"]: s for s in results["label_sets"]}
    generated = biased_soft.generated_sets(config, ds.y_train)
    assert len(generated) == 1 + 1 + 1 + 4
    for g in generated:
        s = sets[g.name]
        for which, k in (("k", config.k), ("k_paper", config.k_paper), ("own", g.own_k)):
            assert (s["indicators"][which]["delta"], s["indicators"][which]["gamma"]) == biased.indicators(g.soft, ds.y_train, k)
    for s in results["label_sets"]:
        assert s["teacher_top1"] == pytest.approx(1 - s["indicators"]["k"]["delta"])  # config.k = 1
        assert len(s["class_delta"]) == 10
    assert (sets["true"]["indicators"]["own"]["delta"], sets["true"]["teacher_top1"]) == (0.0, 1.0)
    # partial labels are judged at k = s, the SBT at its k
    assert sets["partial s=3 q=0.6 r=0.9"]["indicators"]["own"]["k"] == 3
    assert sets["sbt a=(1,1,1)"]["indicators"]["own"]["k"] == config.sbt_k


def test_headline_is_the_best_validated_set_with_a_bad_teacher(tiny_run):
    _, config, results, _ = tiny_run
    candidates = [s for s in results["label_sets"] if s["teacher_top1"] < config.headline_top1 and s["label_set"] != "true"]
    h = results["headline"]
    if not candidates:
        assert h is None
        return
    assert h["label_set"] == max(candidates, key=lambda s: s["select_val_acc"])["label_set"]
    assert sorted(h["candidates"]) == sorted(s["label_set"] for s in candidates)


def test_render_from_results_json_alone(tiny_run, tmp_path):
    out_dir, _, _, _ = tiny_run
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    written = render.render(results, OutputDir(str(tmp_path)))
    assert set(written) == {"biased_soft.md", "biased_soft.png", "delta_gamma.png"}
    table = (tmp_path / "biased_soft.md").read_text(encoding="utf-8")
    for s in results["label_sets"]:
        assert f"| {s['label_set']} |" in table
    assert (tmp_path / "biased_soft.png").stat().st_size > 10_000


def test_section_from_results(tiny_run):
    out_dir, _, results, _ = tiny_run
    s = section.section(results, str(out_dir))
    assert isinstance(s, Section) and s.verdict in VERDICTS
    assert s.verdict == section.verdict(section.claims(results))
    assert s.figures[0] == "biased_soft.png" and all((out_dir / f).exists() for f in s.figures)
    assert any("95.29" in p.paper for p in s.paper)


def _fake_results(gaps):
    """A results dict with a reference and one set per (name, condition, teacher_top1, gap_low, gap_high)."""
    sets = [{"label_set": "true", "generator": "true", "condition_own": "holds", "condition_k": "holds",
             "teacher_top1": 1.0}]
    for name, condition, top1, low, high in gaps:
        sets.append({"label_set": name, "generator": "partial", "condition_own": condition, "condition_k": condition,
                     "teacher_top1": top1, "gap_low": low, "gap_high": high})
    return {"protocol": {"close_points": 5.0}, "label_sets": sets,
            "headline": {"label_set": "bad"} if any(g[0] == "bad" for g in gaps) else None}


@pytest.mark.parametrize("gaps, expected", [
    # A holds (both sets' intervals above −5 points) and B holds → reproduced
    ([("a", "holds", 0.9, -0.02, 0.01), ("bad", "holds", 0.1, -0.04, 0.0)], "reproduced"),
    # A fails: one set with Δ + γ < 1 is more than 5 points below at the interval's low end
    ([("a", "holds", 0.9, -0.06, 0.01), ("bad", "holds", 0.1, -0.04, 0.0)], "partly reproduced"),
    # B fails: the headline student is not close; A still holds on the other set
    ([("a", "holds", 0.9, -0.02, 0.01), ("bad", "fails", 0.1, -0.30, -0.2)], "partly reproduced"),
    # no headline set and A fails
    ([("a", "holds", 0.9, -0.10, -0.07)], "not reproduced"),
])
def test_verdict_follows_the_stated_criterion(gaps, expected):
    c = section.claims(_fake_results(gaps))
    assert section.verdict(c) == expected


def test_sets_beyond_the_condition_are_reported_not_judged():
    c = section.claims(_fake_results([("a", "holds", 0.9, -0.02, 0.01), ("b", "fails", 0.5, -0.5, -0.2),
                                      ("c", "near", 0.5, -0.5, -0.2), ("bad", "holds", 0.1, -0.01, 0.01)]))
    assert c["claim_a"] and c["claim_b"] and c["fails_clearly_worse"] == ["b"] and c["holds"] == ["a", "bad"]


@pytest.mark.parametrize("key, value, message", [
    ("select_seeds", 0, "--config.select_seeds=0"),
    ("report_seeds", 1, "--config.report_seeds=1"),
    ("student_width", 7, "--config.student_width=7"),
    ("lr", (0.0,), "--config.lr="),
    ("steps", (10, 10), "no duplicates"),
    ("k", 10, "--config.k=10"),
    ("k_paper", 0, "--config.k_paper=0"),
    ("sbt_k", 12, "--config.sbt_k=12"),
    ("smoothing", (1.0,), "--config.smoothing="),
    ("noise_sigmas", (-1.0,), "--config.noise_sigmas="),
    ("partial_size", 9, "--config.partial_size=9"),
    ("partial_false_negative", (1.5,), "--config.partial_false_negative="),
    ("partial_distractor", (), "--config.partial_distractor="),
    ("teacher_width", 33, "--config.teacher_width=33"),
    ("early_steps", (0,), "--config.early_steps="),
    ("sbt_alphas", ((1.0, 1.0),), "--config.sbt_alphas="),
    ("sbt_alphas", ((1.0, -1.0, 1.0),), "--config.sbt_alphas="),
    ("sbt_alphas", ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)), "no duplicates"),
    ("close_points", 0.0, "--config.close_points=0.0"),
    ("condition_band", 1.5, "--config.condition_band=1.5"),
    ("headline_top1", 0.0, "--config.headline_top1=0.0"),
    ("val_fraction", 0.0, "--config.val_fraction=0.0"),
    ("alpha", 1.0, "--config.alpha=1.0"),
    ("executor", "cloud", "--config.executor='cloud'"),
])
def test_bad_config_is_refused_naming_the_key(key, value, message):
    config = biased_config.get_config()
    with config.unlocked():
        config[key] = value
    with pytest.raises(ValueError, match=None) as err:
        biased_soft.validate(config)
    assert message in str(err.value)


def test_default_config_validates():
    biased_soft.validate(biased_config.get_config())
    biased_soft.validate(copy.deepcopy(tiny_config()))


ODD_VALUES = (None, "x", -1, 0, 1.5, float("nan"), True, (), (0,), ((1,),), ("a", 2), [[]])


@pytest.mark.parametrize("key", sorted(biased_config.get_config().keys()))
def test_any_value_is_accepted_or_refused_with_a_value_error(key):
    """Whatever a key is set to, validate either accepts it or raises a ValueError naming the key (values of
    the wrong type that ml_collections itself refuses, as the command line would, are skipped)."""
    for value in ODD_VALUES:
        config = biased_config.get_config()
        try:
            config[key] = value
        except TypeError:
            continue
        try:
            biased_soft.validate(config)
        except ValueError as err:
            assert f"--config.{key}=" in str(err), (key, value, str(err))
