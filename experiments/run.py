"""Launcher: ``python -m experiments.run --experiment=NAME [--preset=PRESET] --out=DIR [--config.key=value ...]``,
or ``python -m experiments.run --rejudge --out=DIR`` to judge a finished folder again (current analysis and
rules, no training; experiments whose package has ``rejudge``).

Each experiment is a package ``experiments/NAME/``: ``__init__.py`` has ``validate(config)`` (raise
``ValueError`` naming the bad key) and ``run(config, out: kd_theory.results.OutputDir)``; its typed
defaults and named presets live in ``experiments/NAME/config.py: get_config(preset)`` (loaded as
``config.py:PRESET`` through ml_collections' config_flags; every experiment has ``default``, ``tiny``
and ``paper``); ``render.py`` turns its ``results.json`` into tables and figures. The list of
experiments is the set of such packages. Nothing is written to ``--out`` before the config validates.
"""
from __future__ import annotations

import ast
import importlib
import os
import re
import sys

EXPERIMENTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _summary(package_dir: str) -> str:
    """The first line of a package's docstring, read without importing it (imports pull in jax)."""
    with open(os.path.join(package_dir, "__init__.py"), encoding="utf-8") as fh:
        doc = ast.get_docstring(ast.parse(fh.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def discover_experiments() -> dict:
    """{name: one-line summary} for every package ``experiments/NAME/`` that has a ``config.py``."""
    found = {}
    for name in sorted(os.listdir(EXPERIMENTS_DIR)):
        path = os.path.join(EXPERIMENTS_DIR, name)
        if os.path.isfile(os.path.join(path, "__init__.py")) and os.path.isfile(os.path.join(path, "config.py")):
            found[name] = _summary(path)
    return found


EXPERIMENTS = discover_experiments()


def _peek(argv, flag: str):
    """The value of --FLAG in argv (needed before flags parse: --experiment and --preset pick the config)."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{flag}="):
            return arg.split("=", 1)[1]
        if arg == f"--{flag}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _peek_experiment(argv):
    return _peek(argv, "experiment")


class LaunchError(Exception):
    """A bad flag, config or output directory, or a run that failed for a reason the user can fix; its
    message is what the launcher prints after ``error:`` (exit code 2)."""


def _fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def config_path(name: str) -> str:
    return os.path.join(EXPERIMENTS_DIR, name, "config.py")


def _flag_error(name: str, exc: Exception) -> LaunchError:
    detail = re.sub(r"\\?'", "", str(exc).replace("\\n", " ").replace("\n", " "))
    return LaunchError(f"bad command-line flag for --experiment={name}: {detail}\n"
                       f"(the keys and defaults are in experiments/{name}/config.py)")


def presets(name: str) -> tuple:
    """The preset names of experiment ``name`` (its config.py's SCHEMA)."""
    module = importlib.import_module(f"experiments.{name}.config")
    return tuple(module.SCHEMA.presets)


def parse_config(name: str, argv: list, flag_values=None, preset: str | None = None):
    """The config of experiment ``name`` at ``preset`` (default: the ``--preset`` of argv, else "default")
    with the ``--config.KEY=VALUE`` overrides of ``argv`` (argv[0] is the program) applied, parsed by absl
    on ``flag_values`` (default: a fresh FlagValues, so it can be called any number of times). Raises
    LaunchError for an unknown preset or key or a badly typed value."""
    from absl import flags
    from ml_collections import config_flags
    flag_values = flags.FlagValues() if flag_values is None else flag_values
    preset = preset if preset is not None else (_peek(argv[1:], "preset") or "default")
    if preset not in presets(name):
        raise LaunchError(f"unknown --preset={preset!r} for --experiment={name}; presets: {', '.join(presets(name))}")
    if "preset" not in flag_values:
        flags.DEFINE_string("preset", "default", "Named preset of the experiment's config.py.", flag_values=flag_values)
    # An unknown --config.key (ml_collections suggests the closest one) or a badly typed value surfaces
    # either when the config flag is defined (it reads argv) or when flags parse.
    try:
        config_flags.DEFINE_config_file("config", f"{config_path(name)}:{preset}",
                                        f"Experiment config; defaults in experiments/{name}/config.py",
                                        flag_values=flag_values, lock_config=True, sys_argv=list(argv))
        flag_values(list(argv))
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError, SyntaxError) as exc:
        raise _flag_error(name, exc) from None
    return flag_values.config


def validate_config(name: str, config):
    """``experiments.NAME.validate(config)`` with its refusal as a LaunchError; returns the module.

    A validate that trips over a value of a type it did not expect (a TypeError, OverflowError, … instead
    of its ValueError) is a hole in that validate; the command line still says what is wrong instead of
    printing a traceback."""
    module = importlib.import_module(f"experiments.{name}")
    try:
        module.validate(config)
    except ValueError as exc:
        raise LaunchError(f"invalid config for --experiment={name}: {exc}") from None
    except (TypeError, OverflowError, KeyError, AttributeError, IndexError) as exc:
        raise LaunchError(f"invalid config for --experiment={name}: a --config value has a type or size its "
                          f"checks do not expect ({type(exc).__name__}: {exc}); the keys and their defaults are "
                          f"in experiments/{name}/config.py") from None
    return module


def run_experiment(name: str, config, out_path: str, argv=None, preset: str = "default"):
    """The one path from a config to a results folder, for the launcher and the report: validate (nothing
    is written before the config validates), run into ``out_path``, then write ``config.json`` (the
    resolved config, the preset, the environment, ``argv``), holding ``out_path/run.lock`` meanwhile (a
    second run into the same folder is refused, naming the first). Raises LaunchError with the message to print."""
    from kd_theory.results import OutputDir, OutputLocked, acquire_output_lock, environment_info, release_output_lock
    if name not in EXPERIMENTS:
        raise LaunchError(f"unknown --experiment={name!r}; valid experiments:\n{_listing()}")
    module = validate_config(name, config)
    try:
        out = OutputDir(out_path)
        lock = acquire_output_lock(out.path)  # one run per folder: a second would compute every run again
    except (PermissionError, OutputLocked) as exc:
        raise LaunchError(str(exc)) from None
    try:
        try:
            module.run(config, out)
        except (ValueError, FileNotFoundError, MemoryError, ImportError) as exc:
            raise LaunchError(f"--experiment={name}: {exc}") from None
        out.write_json("config.json", {"experiment": name, "preset": preset, "config": config.to_dict(),
                                       "environment": environment_info(), "argv": list(argv or [])})
    finally:
        release_output_lock(lock)
    return out


def rejudge_experiment(out_path: str) -> dict:
    """Judge a finished results folder again with the current analysis and rules, without training: read
    its ``config.json`` (experiment, config), ``runs.csv`` (every run) and ``results.json``, call the
    experiment's ``rejudge(config, rows, stored_results)`` (its analysis; what the training run wrote beside
    it is carried over) and write ``results.json`` and the rendered
    files anew (``runs.csv`` and ``config.json`` stay: they say what was trained, by which code). The new
    results.json records the rejudging code and time under ``rejudged``. Returns {verdict key: (before,
    after)}. Raises LaunchError for a folder that is not a finished run, or an experiment without ``rejudge``."""
    import json

    from ml_collections import ConfigDict

    from kd_theory.results import (
        OutputDir,
        OutputLocked,
        acquire_output_lock,
        environment_info,
        release_output_lock,
        rows_from_csv,
    )
    paths = {name: os.path.join(out_path, name) for name in ("config.json", "runs.csv", "results.json")}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing:
        raise LaunchError(f"--rejudge: {out_path} is not a finished results folder (no {', '.join(missing)})")
    with open(paths["config.json"], encoding="utf-8") as fh:
        saved = json.load(fh)
    name = saved.get("experiment")
    if name not in EXPERIMENTS:
        raise LaunchError(f"--rejudge: {paths['config.json']} names experiment {name!r}; valid experiments:\n"
                          f"{_listing()}")
    module = importlib.import_module(f"experiments.{name}")
    if not hasattr(module, "rejudge"):
        raise LaunchError(f"--rejudge: --experiment={name} cannot judge a stored folder again yet (its package has "
                          f"no rejudge(config, rows, results)); run it again instead")
    with open(paths["results.json"], encoding="utf-8") as fh:
        stored = json.load(fh)
    with open(paths["runs.csv"], encoding="utf-8") as fh:
        rows = rows_from_csv(fh.read())
    render = importlib.import_module(f"experiments.{name}.render").render
    try:
        out = OutputDir(out_path)
        lock = acquire_output_lock(out.path)
    except (PermissionError, OutputLocked) as exc:
        raise LaunchError(str(exc)) from None
    try:
        try:
            results = module.rejudge(ConfigDict(_stored_config(name, saved)), rows, stored)
        except (ValueError, KeyError, AttributeError) as exc:
            raise LaunchError(f"--rejudge: {out_path}: {exc}") from None
        results = _merged(stored, results)
        results["rejudged"] = {"trained_by": saved.get("environment", {}).get("git_commit"),
                               "environment": environment_info()}
        out.write_json("results.json", results)
        render(results, out)
    finally:
        release_output_lock(lock)
    keys = [k for k in results if k == "verdict" or k.endswith("_verdict")]
    return {k: (_verdict_of(stored.get(k)), _verdict_of(results.get(k))) for k in keys}


def _merged(stored: dict, judged: dict) -> dict:
    """The new results.json: ``judged`` (the analysis of this code) with what the training run wrote beside it
    carried over (experiment, data, timings, models, …: every stored key the analysis did not recompute), in
    the stored file's key order, new keys last, so that judging again with the same code rewrites the same
    bytes. Never carried: a verdict the rules no longer give, or an earlier ``rejudged`` record."""
    def carried(k):
        return k != "rejudged" and not (k == "verdict" or k.endswith("_verdict"))
    merged = {k: judged[k] if k in judged else v for k, v in stored.items() if k in judged or carried(k)}
    return {**merged, **{k: v for k, v in judged.items() if k not in merged}}


def _stored_config(name: str, saved: dict) -> dict:
    """A folder's config as a dict: its preset's defaults of today, overlaid with every value config.json
    holds. A key the folder lacks is an option added after it ran; its default is what that code did."""
    def overlay(base: dict, stored: dict) -> dict:
        return {key: overlay(value, stored[key]) if isinstance(value, dict) and isinstance(stored.get(key), dict)
                else stored.get(key, value) for key, value in base.items()}
    module = importlib.import_module(f"experiments.{name}.config")
    preset = saved.get("preset") or "default"
    base = module.get_config(preset if preset in module.SCHEMA.presets else "default").to_dict()
    return overlay(base, saved.get("config", {}))


def _verdict_of(value):
    return value.get("verdict") if isinstance(value, dict) else value


def _rejudge_main(argv) -> int:
    """``--rejudge --out=DIR``: nothing else (the config is the folder's own)."""
    out, rest, skip = None, [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        elif arg == "--out" and i + 1 < len(argv):
            out, skip = argv[i + 1], True
        elif arg != "--rejudge":
            rest.append(arg)
    if not out:
        _fail("--rejudge needs --out=DIR, a finished results folder")
    if rest:
        _fail(f"--rejudge takes only --out=DIR (the experiment and config are the folder's config.json); got "
              f"{' '.join(rest)}")
    try:
        changes = rejudge_experiment(out)
    except LaunchError as exc:
        _fail(str(exc))
    for key, (before, after) in changes.items():
        print(f"{key}: {before} → {after}" if before != after else f"{key}: {after} (unchanged)", file=sys.stderr)
    print(f"rewrote {out}: results.json and its tables and figures (runs.csv and config.json kept)", file=sys.stderr)
    return 0


def _listing() -> str:
    return "\n".join(f"  {k:12s} {v}" for k, v in EXPERIMENTS.items())


def console_main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if "--rejudge" in argv[1:]:
        return _rejudge_main(argv[1:])
    name = _peek_experiment(argv[1:])
    if name is None:
        if any(a in ("--help", "-h", "--helpfull") for a in argv[1:]):
            print("usage: kd-run --experiment=NAME [--preset=default|tiny|paper|...] --out=DIR [--config.KEY=VALUE ...]"
                  "\n       kd-run --rejudge --out=DIR   (judge a finished folder again with the current rules)"
                  f"\nexperiments:\n{_listing()}")
            return 0
        _fail(f"--experiment is required; valid experiments:\n{_listing()}")
    if name not in EXPERIMENTS:
        _fail(f"unknown --experiment={name!r}; valid experiments:\n{_listing()}")

    from absl import app, flags

    flags.DEFINE_string("experiment", None, "Experiment to run: " + ", ".join(EXPERIMENTS))
    flags.DEFINE_string("out", None, "Output directory (created if needed).")
    flags.DEFINE_string("preset", "default", "Named preset of the experiment's config.py (default, tiny, paper, …).")
    flags.DEFINE_string("compilation_cache", "", "JAX's persistent compilation cache: '' = the user cache folder "
                        "($KD_CACHE_DIR/jax or ~/.cache/kd-theory/jax), 'off', or a folder.")

    def main(_):
        if not flags.FLAGS.out:
            _fail("--out=DIR is required (the directory results are written to)")
        from kd_theory import compile_cache
        if flags.FLAGS.compilation_cache != "off":
            compile_cache.enable(flags.FLAGS.compilation_cache or None)
        try:
            run_experiment(name, flags.FLAGS.config, flags.FLAGS.out, argv, flags.FLAGS.preset)
        except LaunchError as exc:
            _fail(str(exc))

    def parse(args):
        try:
            parse_config(name, args, flags.FLAGS)
        except LaunchError as exc:
            _fail(str(exc))
        return args[:1]

    app.run(main, argv=argv, flags_parser=parse)


if __name__ == "__main__":
    # Run the imported module, not __main__: its LaunchError is the class the experiments (the report) raise.
    from experiments import run
    run.console_main()
