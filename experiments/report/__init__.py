"""The reproduction report: every committed results folder's section, with its claim, preconditions and verdict, the papers' numbers beside ours.

Each folder of ``results_dir`` holding results.json and config.json of an experiment with a
``section.py`` is one section, built from that folder alone (``experiments/NAME/section.py``; a figure it
names that is missing is rendered by the experiment's ``render.py`` from results.json). The verdict,
its rule, the claim and the preconditions are the folder's results.json's own, so the report, README's
verdict table (:mod:`experiments.report.readme`) and the results cannot disagree.
:mod:`experiments.report.document` writes report.md, report.html and verdicts.json.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys

from experiments import run as launcher
from experiments.common.schema import check
from experiments.report import discovery, document
from experiments.report.config import SCHEMA
from experiments.sections import Section

REQUIRED = ("results.json", "config.json")
VERDICT_KEYS = ("claim", "preconditions", "verdict", "rule")


@dataclasses.dataclass(frozen=True)
class Part:
    """One section of the report and where it came from: ``folder`` (its name inside results_dir), the
    config keys that differ from the experiment's defaults and the further claims its results.json answers
    (:func:`further_verdicts`)."""
    folder: str
    section: Section
    differences: dict
    further: list = dataclasses.field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.section.title} — {self.folder}"


def further_verdicts(results: dict) -> list[dict]:
    """The further claims a results.json answers beside its headline: every top-level ``<part>_verdict`` with
    a claim, preconditions and a verdict (table1's interaction, margin's bound, biased_soft's degradation,
    deep_noise's widening), as {part, source, type, verdict, unmet}, in key order."""
    out = []
    for key in sorted(results):
        v = results[key]
        if key.endswith("_verdict") and isinstance(v, dict) and {"claim", "preconditions", "verdict"} <= set(v):
            out.append({"part": key[:-len("_verdict")], "source": v["claim"]["source"], "type": v["claim"]["type"],
                        "verdict": v["verdict"], "unmet": [p["name"] for p in v["preconditions"] if not p["met"]]})
    return out


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def folder_experiment(path: str) -> str | None:
    """The experiment a results folder holds (config.json's "experiment"), or None when it is not a
    reportable results folder (files missing, not an experiment with a section.py)."""
    if not all(os.path.isfile(os.path.join(path, f)) for f in REQUIRED):
        return None
    try:
        name = _read_json(os.path.join(path, "config.json")).get("experiment")
    except (OSError, ValueError, AttributeError):
        return None
    return name if name in discovery.reportable() else None


def folders(config) -> list[str]:
    """The folders to show: ``config.folders`` in order, else every reportable folder of results_dir, sorted."""
    if config.folders is not None:
        return list(config.folders)
    root = config.results_dir
    return sorted(f for f in os.listdir(root) if os.path.isdir(os.path.join(root, f))
                  and folder_experiment(os.path.join(root, f)) is not None)


def validate(config):
    SCHEMA.validate(config)
    for name in config.folders or ():
        path = os.path.join(config.results_dir, name)
        check(folder_experiment(path) is not None, "folders", config.folders,
              f"results folders inside {config.results_dir} with {' and '.join(REQUIRED)} of an experiment with a "
              f"section.py; {path} is not one")


def _normalised(obj):
    """A config as JSON reads it back (tuples become lists), so stored and default configs compare."""
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


def config_differences(name: str, config: dict, preset: str = "default") -> dict:
    """{dotted key: value} of ``config`` where it differs from experiments/NAME/config.py at ``preset``."""
    module = importlib.import_module(f"experiments.{name}.config")
    try:
        defaults = _flatten(_normalised(module.get_config(preset).to_dict()))
    except ValueError:  # a preset that no longer exists: compare with the defaults
        defaults = _flatten(_normalised(module.get_config().to_dict()))
    return {k: v for k, v in _flatten(_normalised(config)).items() if defaults.get(k, object()) != v}


def make_part(folder: str, root: str) -> Part:
    """The section of results folder ``root/folder``; figures it names that are missing are rendered first."""
    from kd_theory.results import OutputDir
    path = os.path.join(root, folder)
    name = folder_experiment(path)
    results = _read_json(os.path.join(path, "results.json"))
    missing_keys = [k for k in VERDICT_KEYS if k not in results]
    if missing_keys:
        raise ValueError(f"{path}/results.json lacks {missing_keys}: it was made before the verdict rules; run the "
                         f"experiment again (python -m experiments.run --experiment={name} …) to make it reportable")
    section = importlib.import_module(f"experiments.{name}.section").section(results, path)
    if any(not os.path.isfile(os.path.join(path, f)) for f in section.figures):
        importlib.import_module(f"experiments.{name}.render").render(results, OutputDir(path))
    stamp = _read_json(os.path.join(path, "config.json"))
    return Part(folder, section, config_differences(name, stamp.get("config", {}), stamp.get("preset", "default")),
                further_verdicts(results))


def run_missing(config):
    """Run, at its default preset, every reportable experiment that has no folder in results_dir."""
    present = {folder_experiment(os.path.join(config.results_dir, f)) for f in os.listdir(config.results_dir)}
    for name in discovery.reportable():
        if name not in present:
            out = os.path.join(config.results_dir, name)
            print(f"[report] running {name} into {out}", file=sys.stderr, flush=True)
            module = importlib.import_module(f"experiments.{name}.config")
            launcher.run_experiment(name, module.get_config(), out,
                                    ["python", "-m", "experiments.run", f"--experiment={name}", f"--out={out}"])


def run(config, out):
    if not config.rebuild_only:
        run_missing(config)
    parts = [make_part(folder, config.results_dir) for folder in folders(config)]
    if not parts:
        raise ValueError(f"--config.results_dir={config.results_dir!r} holds no reportable results folder")
    written = document.write(parts, out, config.results_dir)
    for p in parts:
        print(f"{p.section.verdict:>20s}  {p.title}")
    print(f"wrote {out.path}: {' '.join(written)}", file=sys.stderr)
