"""What an experiment contributes to the reproduction report (``--experiment=report``).

Each experiment package ``experiments/NAME/`` has a module ``section.py`` with

    def section(results: dict, results_dir: str) -> Section

built from its ``results.json`` (already loaded into ``results``) and the files its render step wrote
into ``results_dir`` — never by re-running anything. The report puts the sections side by side; it
knows nothing about any one experiment.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex

from kd_theory.protocol.verdicts import VERDICTS


@dataclasses.dataclass(frozen=True)
class PaperComparison:
    """One published number beside ours: ``quantity`` names it (e.g. "MNIST full, m = 4, soft − hard (points)"),
    ``paper`` and ``ours`` are display strings (ours with its interval or ± std), ``source`` says where the
    paper's number comes from (e.g. "Mandal et al., Table 1")."""
    quantity: str
    paper: str
    ours: str
    source: str


@dataclasses.dataclass(frozen=True)
class Section:
    """One experiment's part of the report.

    verdict: one of :data:`kd_theory.protocol.VERDICTS`, computed from the numbers (results.json's
    ``verdict``); criterion: the rule that computed it (results.json's ``rule``); claim: the paper's
    statement ({quote, source, type}); preconditions: the measured ones ([{name, value, threshold, met,
    rule}]); summary: a short markdown paragraph of what the numbers say;
    tables: markdown tables (each a string, header row first); figures: file names inside results_dir
    (PNG), the headline figure first; paper: the published numbers beside ours; provenance: the config
    and environment that produced the results (from results.json / config.json)."""
    experiment: str
    title: str
    verdict: str
    criterion: str
    summary: str
    tables: tuple = ()
    figures: tuple = ()
    paper: tuple = ()
    provenance: dict = dataclasses.field(default_factory=dict)
    claim: dict = dataclasses.field(default_factory=dict)
    preconditions: tuple = ()
    evidence: str = ""
    settle: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"Section.verdict={self.verdict!r}: allowed {', '.join(VERDICTS)}")


def verdict_fields(results: dict) -> dict:
    """The Section fields that come straight from results.json's verdict (claim, preconditions, verdict, rule,
    evidence, settle): every section takes them from there, so the report and the results cannot disagree."""
    return {"verdict": results["verdict"], "criterion": results["rule"], "claim": results["claim"],
            "preconditions": tuple(results["preconditions"]), "evidence": results.get("evidence", ""),
            "settle": results.get("settle", "")}


def provenance(results: dict, results_dir: str) -> dict:
    """What produced the results, for the report: the resolved config, jax version, backend, device,
    date (UTC), code (git commit) and command line, read from ``results_dir/config.json`` (the launcher
    writes it) or, where that is absent, from the ``config`` / ``environment`` that results.json records;
    for a folder judged again (``--rejudge``) also the judging code and date."""
    path = os.path.join(results_dir, "config.json")
    stamp = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            stamp = json.load(fh)
    env = stamp.get("environment") or results.get("environment") or {}
    out = {"config": stamp.get("config") or results.get("config") or {},
           "jax_version": env.get("jax_version", "unknown"), "backend": env.get("backend", "unknown"),
           "device": env.get("device", "unknown"), "date": env.get("time_utc", "unknown"),
           "code": env.get("git_commit") or "unknown", "command": shlex.join(stamp.get("argv", [])) or "unknown"}
    judged = (results.get("rejudged") or {}).get("environment")
    if judged:
        out["judged again"] = f"{judged.get('git_commit') or 'unknown'} on {judged.get('time_utc', 'unknown')}"
    return out


def tables_in(markdown: str) -> tuple:
    """The markdown tables in ``markdown`` (runs of lines that start with '|'), in order: how a section
    reuses the tables its experiment's render step already writes."""
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.lstrip().startswith("|"):
            current.append(line.strip())
        elif current:
            tables.append("\n".join(current))
            current = []
    return tuple(tables)

