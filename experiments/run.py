"""Launcher: ``python -m experiments.run --experiment=NAME --out=DIR [--config.key=value ...]``.

Each experiment is a package ``experiments/NAME/``: ``__init__.py`` has ``validate(config)`` (raise
``ValueError`` naming the bad key) and ``run(config, out: kd_theory.results.OutputDir)``; its defaults
live in ``experiments/NAME/config.py: get_config()``; ``render.py`` turns its ``results.json`` into
tables and figures. The list of experiments is the set of such packages. Nothing is written to
``--out`` before the config validates.
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


def _peek_experiment(argv):
    """The value of --experiment in argv (needed before flags parse: it picks the config file)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--experiment="):
            return arg.split("=", 1)[1]
        if arg == "--experiment" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def console_main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    name = _peek_experiment(argv[1:])
    valid = "\n".join(f"  {k:12s} {v}" for k, v in EXPERIMENTS.items())
    if name is None:
        if any(a in ("--help", "-h", "--helpfull") for a in argv[1:]):
            print(f"usage: kd-run --experiment=NAME --out=DIR [--config.KEY=VALUE ...]\nexperiments:\n{valid}")
            return 0
        _fail(f"--experiment is required; valid experiments:\n{valid}")
    if name not in EXPERIMENTS:
        _fail(f"unknown --experiment={name!r}; valid experiments:\n{valid}")

    from absl import app, flags
    from ml_collections import config_flags

    flags.DEFINE_string("experiment", None, "Experiment to run: " + ", ".join(EXPERIMENTS))
    flags.DEFINE_string("out", None, "Output directory (created if needed).")

    def main(_):
        from kd_theory.results import OutputDir, environment_info
        FLAGS = flags.FLAGS
        if not FLAGS.out:
            _fail("--out=DIR is required (the directory results are written to)")
        module = importlib.import_module(f"experiments.{name}")
        config = FLAGS.config
        try:
            module.validate(config)
        except ValueError as exc:
            _fail(f"invalid config for --experiment={name}: {exc}")
        try:
            out = OutputDir(FLAGS.out)
        except PermissionError as exc:
            _fail(str(exc))
        try:
            module.run(config, out)
        except (ValueError, FileNotFoundError, MemoryError, ImportError) as exc:
            _fail(f"--experiment={name}: {exc}")
        out.write_json("config.json", {"experiment": name, "config": config.to_dict(),
                                       "environment": environment_info(), "argv": argv})

    def parse(args):
        # An unknown --config.key (ml_collections suggests the closest one) or a badly typed value
        # surfaces either when the config flag is defined (it reads sys.argv) or when flags parse.
        try:
            config_flags.DEFINE_config_file("config", os.path.join(EXPERIMENTS_DIR, name, "config.py"),
                                            f"Experiment config; defaults in experiments/{name}/config.py",
                                            lock_config=True)
            return flags.FLAGS(args)
        except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as exc:
            detail = re.sub(r"\\?'", "", str(exc).replace("\\n", " ").replace("\n", " "))
            _fail(f"bad command-line flag for --experiment={name}: {detail}\n"
                  f"(the keys and defaults are in experiments/{name}/config.py)")

    app.run(main, argv=argv, flags_parser=parse)


if __name__ == "__main__":
    console_main()
