"""The reproduction report: every experiment's section, the papers' numbers beside ours, in report.md and report.html.

For each experiment with a ``section.py`` (found as the launcher finds packages): reuse
``DIR/NAME/results.json`` when it is there, else run the experiment into ``DIR/NAME`` through the
launcher's own path (:func:`experiments.run.run_experiment`: validate, run, config.json). Each
``include`` folder (finished results: results.json and config.json, whose "experiment" key names the
experiment) is copied to ``DIR/included/BASENAME`` and shown as its own section. Every section comes
from its folder's results.json and files alone (``section.py``; a missing figure is re-rendered by the
experiment's ``render.py`` from results.json), so ``--config.rebuild_only=True`` rebuilds the report
without running anything. :mod:`experiments.report.document` writes the two files.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shutil
import sys

from experiments import common
from experiments import run as launcher
from experiments.report import discovery, document
from experiments.sections import Section

INCLUDED = "included"   # DIR/included/BASENAME holds a copy of each include folder
COPIED = (".json", ".png", ".md")   # what is copied from an include folder (runs.csv and chunks are not needed)


@dataclasses.dataclass(frozen=True)
class Part:
    """One section of the report and where it came from: ``folder`` relative to the report folder,
    ``origin`` in words, ``differences`` = the config keys that differ from the experiment's defaults."""
    folder: str
    origin: str
    section: Section
    differences: dict
    included_from: str = ""

    @property
    def title(self) -> str:
        return self.section.title + (f", from {self.included_from}" if self.included_from else "")


def _names(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


def selected(config) -> list[str]:
    """The experiments to show: ``config.experiments``, or every reportable one when it is empty."""
    return list(_names(config.experiments)) or discovery.reportable()


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def include_experiment(path) -> str:
    """The experiment an include folder holds (its config.json's "experiment"); ValueError naming the
    folder and what is missing otherwise."""
    allowed = "a finished results folder (results.json and config.json of an experiment with a section.py)"
    common.check(isinstance(path, str) and os.path.isdir(path), "include", path, allowed + ": no such directory")
    for name in ("results.json", "config.json"):
        common.check(os.path.isfile(os.path.join(path, name)), "include", path, f"{allowed}: {name} is missing")
    try:
        experiment = _read_json(os.path.join(path, "config.json")).get("experiment")
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"--config.include={path!r} is not allowed: its config.json is unreadable ({exc})") from None
    common.check(experiment in discovery.reportable(), "include", path,
                 f"{allowed}: its config.json names experiment {experiment!r}, not one of "
                 f"{', '.join(discovery.reportable())}")
    return experiment


def _prefixed(message: str, name: str) -> str:
    """An experiment's own error message with its keys named as the report's: config.KEY → config.NAME.KEY."""
    return re.sub(r"(?<![\w/])config\.(?=[A-Za-z_])", f"config.{name}.", message)


def validate(config):
    available = discovery.reportable()
    names = _names(config.experiments)
    common.check(all(isinstance(n, str) and n in available for n in names) and len(set(names)) == len(names),
                 "experiments", config.experiments,
                 f"distinct names from {', '.join(available)} (the experiments with a section.py); () = all")
    for key in ("rerun", "rebuild_only"):
        common.check(isinstance(config[key], bool), key, config[key], "True or False")
    common.check(not (config.rerun and config.rebuild_only), "rerun", config.rerun,
                 "False when --config.rebuild_only=True (a rebuild runs nothing)")
    includes = _names(config.include)
    common.check(len(set(includes)) == len(includes), "include", config.include, "each folder once")
    for path in includes:
        include_experiment(path)
    for name in selected(config):
        try:
            importlib.import_module(f"experiments.{name}").validate(config[name])
        except ValueError as exc:
            raise ValueError(_prefixed(str(exc), name)) from None


def _normalised(obj):
    """A config as JSON reads it back (tuples become lists), so stored and requested configs compare."""
    from kd_theory.results import to_json
    return json.loads(to_json(obj))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(name: str, config: dict) -> dict:
    """{dotted key: value} of ``config`` where it differs from experiments/NAME/config.py's defaults."""
    defaults = _flatten(_normalised(importlib.import_module(f"experiments.{name}.config").get_config().to_dict()))
    return {k: v for k, v in _flatten(_normalised(config)).items() if defaults.get(k, object()) != v}


def launcher_command(name: str, config, folder: str) -> list[str]:
    """The launcher command that makes the same folder: recorded as config.json's argv."""
    args = [f"--config.{k}={tuple(v) if isinstance(v, list) else v!r}"
            for k, v in config_differences(name, config.to_dict()).items()]
    return ["python", "-m", "experiments.run", f"--experiment={name}", f"--out={folder}", *args]


def make_part(name: str, folder: str, root: str, origin: str, included_from: str = "") -> Part:
    """The section of the results in ``folder``; figures it names that are missing are rendered first by the
    experiment's render step from results.json."""
    from kd_theory.results import OutputDir
    results = _read_json(os.path.join(folder, "results.json"))
    section = importlib.import_module(f"experiments.{name}.section").section(results, folder)
    if any(not os.path.isfile(os.path.join(folder, f)) for f in section.figures):
        importlib.import_module(f"experiments.{name}.render").render(results, OutputDir(folder))
    missing = [f for f in section.figures if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ValueError(f"{folder}: the section of {name} shows {missing}, which its render step did not write")
    return Part(os.path.relpath(folder, root), origin, section,
                config_differences(name, section.provenance.get("config", {})), included_from)


def experiment_part(name: str, config, root: str) -> Part:
    """Reuse ``root/NAME/results.json``, or run the experiment there (unless rebuild_only)."""
    folder = os.path.join(root, name)
    done = os.path.isfile(os.path.join(folder, "results.json"))
    if done and not config.rerun:
        stamp = os.path.join(folder, "config.json")
        stored = _read_json(stamp).get("config") if os.path.isfile(stamp) else None
        if stored is not None and _normalised(stored) != _normalised(config[name].to_dict()):
            print(f"[report] {name}: reusing {folder}/results.json, made with a config other than the one asked for "
                  "(its section shows the one used); --config.rerun=True runs it again", file=sys.stderr)
        return make_part(name, folder, root, "reused (results.json was already there)")
    if config.rebuild_only:
        raise launcher.LaunchError(f"--config.rebuild_only=True, but {folder}/results.json is missing: run the "
                                   f"report without rebuild_only (or --experiment={name}) to compute it")
    print(f"[report] running {name} into {folder}", file=sys.stderr, flush=True)
    launcher.run_experiment(name, config[name], folder, launcher_command(name, config[name], folder))
    return make_part(name, folder, root, "run by this report")


def _changed(source: str, copy: str) -> bool:
    if not os.path.isfile(copy):
        return True
    with open(source, "rb") as a, open(copy, "rb") as b:
        return a.read() != b.read()


def included_part(path: str, root: str, taken: set) -> Part:
    """Copy an include folder's results.json, config.json, tables and figures to root/included/BASENAME."""
    name = include_experiment(path)
    base = os.path.basename(os.path.normpath(os.path.abspath(path))) or name
    label, k = base, 2
    while label in taken:
        label, k = f"{base}-{k}", k + 1
    taken.add(label)
    folder = os.path.join(root, INCLUDED, label)
    os.makedirs(folder, exist_ok=True)
    if not os.path.samefile(path, folder):
        if _changed(os.path.join(path, "results.json"), os.path.join(folder, "results.json")):
            for entry in os.listdir(folder):   # figures of an older copy: rendered again from the new results
                if entry.endswith(".png"):
                    os.unlink(os.path.join(folder, entry))
        for entry in sorted(os.listdir(path)):
            source = os.path.join(path, entry)
            if entry.endswith(COPIED) and os.path.isfile(source):
                shutil.copyfile(source, os.path.join(folder, entry))
    return make_part(name, folder, root, f"included: a copy of {path}", included_from=path)


def run(config, out):
    names = selected(config)
    parts = [experiment_part(name, config, out.path) for name in names]
    taken = set()
    parts += [included_part(path, out.path, taken) for path in _names(config.include)]
    # an included folder right after its experiment's own section (stable: the experiment's own comes first)
    parts.sort(key=lambda p: names.index(p.section.experiment) if p.section.experiment in names else len(names))
    unreported = sorted(set(launcher.discover_experiments()) - set(discovery.reportable()) - {discovery.REPORT})
    written = document.write(parts, out, unreported)
    out.write_json("results.json", {"experiment": "report", "sections": [
        {"folder": p.folder, "experiment": p.section.experiment, "title": p.title, "verdict": p.section.verdict,
         "criterion": p.section.criterion, "origin": p.origin} for p in parts]})
    for p in parts:
        print(f"{p.section.verdict:>20s}  {p.title}  ({p.folder})")
    print(f"wrote {out.path}: {' '.join(written)} results.json config.json", file=sys.stderr)
