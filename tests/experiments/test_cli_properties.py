"""Property tests of every experiment's config and command-line layer (hypothesis).

Random ``--config.KEY=VALUE`` overrides — wrong types, negatives, empty tuples, unknown keys, huge
values, NaN strings — go through the launcher's own layer (:func:`experiments.run.parse_config`, then
:func:`experiments.run.validate_config`, which calls the experiment's ``validate``). Each must end in a
clear refusal (LaunchError: the launcher prints it after ``error:`` and exits with 2) or an accepted config;
anything else is a traceback at the command line and fails the test. The validate functions themselves
should refuse with a ValueError naming the key: the holes found so far, where they raise something else
(the launcher still refuses clearly, but without naming the key), are listed in KNOWN_HOLES.
A few accepted, bounded configs per experiment (small values on top of the tiny configs of
tests/test_report.py) are run for real and must give results and a section.
"""
import importlib
import json
import subprocess

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import run as launcher
from experiments import sections
from tests.conftest import PYTHON, REPO
from tests.test_report import TINY

EXPERIMENTS = sorted(launcher.discover_experiments())

NASTY = ("-1", "0", "-0.0", "1", "1e308", "-1e308", "1e999", "nan", "'nan'", "inf", "-inf", "'inf'", "()", "(-1,)",
         "(0,)", "(0.0,)", "('a',)", "(1, 1)", "(3.5,)", "(True,)", "(None,)", "((1, 2),)", "('full', 'full')",
         "abc", "''", "' '", "None", "True", "False", "[1, 2]", "1.5", "-2.5", "99999999999999999999", "{'a': 1}",
         "(1e309,)", "1e-320", "(", "'", "(1,", "0x10", "2**31", "(-3, 4)", "('',)", "(4, 6, 8)")
VALUES = st.one_of(st.sampled_from(NASTY),
                   st.integers(-10**12, 10**12).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.text(max_size=10),
                   st.lists(st.integers(-5, 20), max_size=4).map(lambda v: repr(tuple(v))),
                   st.lists(st.one_of(st.floats(-2, 2), st.just(float("nan"))), max_size=3).map(lambda v: repr(tuple(v))))
UNKNOWN_KEYS = ("sedes", "nonexistent.key", "seed.x", "x")


def flat_keys(config, prefix: str = "") -> list[str]:
    """Every dotted key of a ConfigDict (nested ones too)."""
    keys = []
    for key, value in config.items():
        if hasattr(value, "items"):
            keys += flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def default_keys(name: str) -> list[str]:
    return flat_keys(importlib.import_module(f"experiments.{name}.config").get_config())


def outcome(name: str, overrides) -> tuple[str, str]:
    """("flag" | "config" | "accepted", message) of the overrides through the launcher's layer; any other
    exception propagates (a traceback: the property fails)."""
    argv = ["kd-run"] + [f"--config.{key}={value}" for key, value in overrides]
    try:
        config = launcher.parse_config(name, argv)
    except launcher.LaunchError as exc:
        return "flag", str(exc)
    try:
        launcher.validate_config(name, config)
    except launcher.LaunchError as exc:
        return "config", str(exc)
    return "accepted", ""


# Inputs on which an experiment's validate raises something other than ValueError (found by the
# properties below); each is for the owner of that file to fix, then its entry goes.
KNOWN_HOLES = []   # (experiment, key, value, where and why) of holes not yet fixed: strict xfails below

# Holes the properties found and that were fixed: each must stay a clear ValueError naming its key.
FIXED_HOLES = [
    ("margin", "xor_dims", "(1e999,)"),           # int(inf) raised OverflowError
    ("scaling", "accuracy.targets", "nan"),       # 'nan' < 0 raised TypeError
    ("table1", "lr", "((1.0,),)"),                # set() of unhashable entries raised TypeError
    ("table1", "executor", "('local',)"),         # a tuple looked up in the executor table raised TypeError
]


def overrides_of(name: str):
    keys = st.sampled_from(default_keys(name) + list(UNKNOWN_KEYS))
    return st.lists(st.tuples(keys, VALUES), min_size=1, max_size=3)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_random_overrides_are_accepted_or_refused_with_a_clear_message(name):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(overrides=overrides_of(name))
    def check(overrides):
        kind, message = outcome(name, overrides)
        if kind != "accepted":
            assert f"--experiment={name}" in message and "Traceback" not in message, message
        if kind == "flag":
            assert f"experiments/{name}/config.py" in message, message
        elif kind == "config":
            assert "config." in message, message
    for example in [[(key, value)] for experiment, key, value, _ in KNOWN_HOLES if experiment == name]:
        check = hypothesis.example(overrides=example)(check)
    check()


@pytest.mark.parametrize("name, key, value", FIXED_HOLES)
def test_the_holes_found_so_far_are_refused_with_a_value_error_naming_the_key(name, key, value):
    config = launcher.parse_config(name, ["kd-run", f"--config.{key}={value}"])
    with pytest.raises(ValueError, match=key.split(".")[-1]):
        importlib.import_module(f"experiments.{name}").validate(config)


@pytest.mark.parametrize("name, key, value, where", KNOWN_HOLES or [pytest.param("", "", "", "", marks=pytest.mark.skip(
    reason="no known holes"))])
@pytest.mark.xfail(strict=True, reason="a hole in that experiment's validate (see KNOWN_HOLES): it raises a "
                                       "non-ValueError; fixed → this xpasses → delete the entry")
def test_validate_refuses_the_known_holes_with_a_value_error(name, key, value, where):
    config = launcher.parse_config(name, ["kd-run", f"--config.{key}={value}"])
    with pytest.raises(ValueError, match=key.split(".")[-1]):
        importlib.import_module(f"experiments.{name}").validate(config)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_command_line_refuses_with_an_error_line_and_exit_code_2(tmp_path, name):
    out = tmp_path / "out"
    for arg in ("--config.sedes=1", f"--config.{default_keys(name)[0]}={{'a': 1}}"):
        done = subprocess.run([PYTHON, "-m", "experiments.run", f"--experiment={name}", f"--out={out}", arg],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert done.stderr.startswith("error: ") or "\nerror: " in done.stderr
        assert not out.exists()


# Small values on top of the tiny configs: accepted ones must run to results and a section.
BOUNDED = {
    "table1": {"seed": st.integers(0, 3), "split_seed": st.integers(0, 3), "val_fraction": st.sampled_from([0.1, 0.5]),
               "init": st.sampled_from(["symmetric", "standard"]), "B": st.sampled_from(["(0.0,)", "(1.0, 64.0)"])},
    "margin": {"seed": st.integers(0, 3), "gate_seeds": st.integers(1, 2), "xor_dims": st.sampled_from(["(3,)", "(5,)"]),
               "tol": st.sampled_from([0.5, 0.01])},
    "scaling": {"seed": st.integers(0, 3), "seeds": st.integers(2, 3), "success_fraction": st.sampled_from([0.5, 1.0]),
                "epsilons": st.sampled_from(["(0.3,)", "(0.5, 0.05)"])},
    # shape-preserving (a VGG compile is most of a tiny run): seeds and noise levels only
    "deep_noise": {"seed": st.integers(0, 3), "noise_seed": st.integers(0, 3), "split_seed": st.integers(0, 3),
                   "noise_vars": st.sampled_from(["(0.0,)", "(0.5,)", "(0.0, 1.0)"])},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(BOUNDED) & set(EXPERIMENTS)))
def test_accepted_bounded_overrides_give_a_valid_run(tmp_path_factory, name):
    @settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(extra=st.fixed_dictionaries({k: v.map(str) for k, v in BOUNDED[name].items()}))
    def check(extra):
        # a repeated tuple flag is appended to, not replaced (ml-collections): merge by key instead
        merged = dict(arg.split("=", 1) for arg in TINY[name]) | extra
        argv = ["kd-run"] + [f"--config.{k}={v}" for k, v in merged.items()]
        config = launcher.parse_config(name, argv)
        try:
            launcher.validate_config(name, config)
        except launcher.LaunchError:
            return  # refused clearly: nothing to run
        out = tmp_path_factory.mktemp(name)
        try:
            launcher.run_experiment(name, config, str(out), argv)
        except launcher.LaunchError as exc:
            assert str(exc), "an empty error message"
            return
        results = json.loads((out / "results.json").read_text())
        assert json.loads((out / "config.json").read_text())["experiment"] == name
        section = importlib.import_module(f"experiments.{name}.section").section(results, str(out))
        assert section.verdict in sections.VERDICTS
    check()
