"""Property tests of every experiment's config and command-line layer (hypothesis).

Random ``--config.KEY=VALUE`` overrides — wrong types, negatives, empty tuples, unknown keys, huge
values, NaN strings — go through the launcher's own layer (:func:`experiments.run.parse_config`, then
:func:`experiments.run.validate_config`, which calls the experiment's ``validate``: its typed schema).
Each must end in a clear refusal naming the key (LaunchError: the launcher prints it after ``error:``
and exits with 2) or an accepted config; anything else is a traceback at the command line and fails the
test. Accepted, bounded configs (the tiny preset with another seed) are run for real and must give
results with a verdict and a section.
"""
import importlib
import json


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import run as launcher
from experiments import sections

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
            # the refusal names one of the keys given (or a key a cross-field rule ties to them)
            assert "--config." in message and "is not allowed" in message, message
    check()


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_field_refuses_a_value_of_the_wrong_type_naming_it(name):
    from experiments.common.schema import Path, Str
    schema = importlib.import_module(f"experiments.{name}.config").SCHEMA
    for key, field in schema.items():
        if isinstance(field, Str) or (isinstance(field, Path) and not field.exists):
            continue  # any text is a valid string or path
        kind, message = outcome(name, [(key, "{'a': 1}")])
        assert kind in ("flag", "config"), (key, message)
        if kind == "config":
            assert f"--config.{key}=" in message, message


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_command_line_refuses_with_an_error_line_and_exit_code_2(tmp_path, name, launch):
    out = tmp_path / "out"
    for arg in ("--config.sedes=1", f"--config.{default_keys(name)[0]}={{'a': 1}}"):
        done = launch(f"--experiment={name}", f"--out={out}", arg, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert done.stderr.startswith("error: ") or "\nerror: " in done.stderr
        assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if n != "report"])
def test_accepted_bounded_overrides_give_a_valid_run(tmp_path_factory, name):
    """The tiny preset with a random seed (and, where the field exists, a random selection-seed count) runs
    to results that carry a verdict from the vocabulary, and to a section."""
    schema = importlib.import_module(f"experiments.{name}.config").SCHEMA
    fields = dict(schema.items())
    bounded = {"seed": st.integers(0, 3)} if "seed" in fields else {}
    if "select_seeds" in fields:
        bounded["select_seeds"] = st.integers(1, 2)

    @settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(extra=st.fixed_dictionaries({k: v.map(str) for k, v in bounded.items()}))
    def check(extra):
        argv = ["kd-run", "--preset=tiny"] + [f"--config.{k}={v}" for k, v in extra.items()]
        config = launcher.parse_config(name, argv)
        launcher.validate_config(name, config)
        out = tmp_path_factory.mktemp(name)
        launcher.run_experiment(name, config, str(out), argv, "tiny")
        results = json.loads((out / "results.json").read_text())
        assert json.loads((out / "config.json").read_text())["experiment"] == name
        assert results["verdict"] in sections.VERDICTS
        section = importlib.import_module(f"experiments.{name}.section").section(results, str(out))
        assert section.verdict == results["verdict"]
    check()
