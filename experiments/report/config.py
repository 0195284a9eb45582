"""The reproduction report: every committed results folder's section, the papers' numbers beside ours.

    python -m experiments.run --experiment=report --out=docs/report            # from docs/results, runs nothing
    python -m experiments.run --experiment=report --preset=tiny --out=/tmp/r     # one folder, a few seconds

Reads every folder of ``results_dir`` (default docs/results, the committed results) that holds a
results.json and config.json of an experiment with a section.py, and writes ``report.md``,
``report.html`` (self-contained: the committed figures embedded) and ``verdicts.json`` (one line per
section: claim, verdict, rule, unmet preconditions — what README's verdict table is generated from).
The output depends only on those folders, so a rebuild on a fresh clone reproduces docs/report/
byte for byte. ``rebuild_only=False`` first runs, at its default preset, every reportable experiment
that has no folder yet (into ``results_dir/NAME``).
"""
from experiments.common.schema import Bool, Path, Schema, Str, Tuple

SCHEMA = Schema(
    fields=dict(
        results_dir=Path("docs/results", exists="dir", help="the folder of results folders (one per section)"),
        folders=Tuple(None, Str(), help="the results folders (names inside results_dir) to show, in order; None = "
                                        "every reportable one, sorted"),
        rebuild_only=Bool(True, help="True: never run anything; False: first run (default preset) every reportable "
                                     "experiment that has no folder in results_dir"),
    ),
    presets={"tiny": {"folders": ("table1",)}, "paper": {}},
)


def get_config(preset: str = ""):
    return SCHEMA.config(preset)
