"""Crowdsourced labels: real crowds, simulated two-type crowds with the spectral type partition, students on posteriors.

Three parts (``--config.parts``), each a module:

* :mod:`experiments.crowd.real`: every aggregator on every crowd with gold labels found in ``crowd_dir``
  (default: the bundled ``sp``), pooled and per type of the spectral partition, majority vote under three
  tie rules, beside the published figures (:mod:`experiments.crowd.published`) — descriptive;
* :mod:`experiments.crowd.simulated`: two-type crowds (easy/hard, distinct skills, and the same-skills
  control) over the crowd size d and n_workers / ln d: type recovery and accuracy pooled / partition /
  oracle — the evidence for Kong et al.'s claims (:mod:`experiments.crowd.analysis`: the verdict);
* :mod:`experiments.crowd.bridge`: digits students (the engine) trained on crowd posteriors vs
  aggregated hard labels vs majority vote vs gold, paired by seed [ours].

:mod:`experiments.crowd.render` writes the tables and figures from results.json;
:mod:`experiments.crowd.section` gives the report's section.
"""
from __future__ import annotations

import sys
import time

from experiments import common
from experiments.crowd import analysis, render
from experiments.crowd.config import SCHEMA


def validate(config):
    SCHEMA.validate(config)


def rejudge(config, rows, stored) -> dict:
    """results.json of a finished folder recomputed from its runs.csv rows (the launcher's ``--rejudge``): the
    verdicts of this code on the simulated crowds' rows; the real and bridge parts are carried over as run."""
    if "simulated" not in stored.get("parts", []):
        return analysis.no_simulation_verdict()
    analysed = analysis.analyse_simulated([r for r in rows if r["part"] == "simulated"], stored["simulated"]["grid"],
                                          config.alpha)
    return {**analysed["verdict"], "simulated": analysed["simulated"]}


def run(config, out):
    from experiments.crowd.bridge import run_bridge
    from experiments.crowd.real import read_crowds, run_real
    from experiments.crowd.simulated import run_simulated
    from kd_theory.results import environment_info
    parts = tuple(config.parts)
    t0 = time.perf_counter()
    crowds = read_crowds(config) if "real" in parts else []  # a bad crowd file stops the run before any work
    rows, results, timings = [], {"experiment": "crowd", "parts": list(parts)}, {}
    verdict = analysis.no_simulation_verdict()
    for part in parts:
        start, cpu = time.perf_counter(), time.process_time()
        print(f"crowd: {part} ...", file=sys.stderr, flush=True)
        if part == "real":
            part_rows, results["real"] = run_real(config, crowds)
        elif part == "simulated":
            part_rows, info = run_simulated(config, out.path)
            analysed = analysis.analyse_simulated(part_rows, info, config.alpha)
            verdict, results["simulated"] = analysed["verdict"], analysed["simulated"]
        else:
            part_rows, results["bridge"] = run_bridge(config, out.path)
        rows += part_rows
        timings[f"{part}_s"] = time.perf_counter() - start
        timings[f"{part}_cpu_s"] = time.process_time() - cpu  # all threads of this process
        print(f"crowd: {part} done in {timings[f'{part}_s']:.1f}s", file=sys.stderr, flush=True)
    timings["total_s"] = time.perf_counter() - t0
    results = {**verdict, **results, "timings": timings, "config": config.to_dict(),
               "environment": environment_info()}
    written = common.write_results(out, rows, results, render.render)
    print(render.headline_markdown(results))
    print(f"verdict: {results['verdict']}", file=sys.stderr)
    print(f"wrote {out.path}: runs.csv results.json {' '.join(written)} config.json "
          f"({timings['total_s']:.1f}s)", file=sys.stderr)
