"""The reproduction report: every experiment, the papers' numbers beside ours, in one page.

    python -m experiments.run --experiment=report --out=runs/report \\
        --config.include="('docs/results/table1-mnist',)"

Runs every experiment that has a ``section.py`` at its default config into ``DIR/NAME/`` (reusing
``DIR/NAME/results.json`` when it is there), copies each ``include`` folder (a finished results folder:
results.json + config.json, e.g. the MNIST Table-1 run) to ``DIR/included/BASENAME/`` and re-renders
its figures there, then writes ``DIR/report.md`` (figures linked) and ``DIR/report.html``
(self-contained: figures embedded). Rebuild from what is in DIR without running anything:
``--config.rebuild_only=True``. One experiment's config is the sub-config of its name, e.g.
``--config.margin.xor_dims='(3,4)'`` (applies when that experiment runs).
"""
from ml_collections import config_dict

# the report's own keys: an experiment with one of these names could not have its sub-config
RESERVED = ("experiments", "include", "rerun", "rebuild_only")


def experiment_configs() -> dict:
    """{name: get_config()} of every experiment package that has a section.py, except the report."""
    import importlib

    from experiments.report import discovery
    return {name: importlib.import_module(f"experiments.{name}.config").get_config()
            for name in discovery.reportable() if name not in RESERVED}


def get_config():
    c = config_dict.ConfigDict()
    c.experiments = ()            # which experiments to show, e.g. ('table1', 'margin'); () = every one
    c.include = ()                # finished results folders shown as their own sections, e.g.
                                  # ('docs/results/table1-mnist',); identified by their config.json "experiment"
    c.rerun = False               # True: run the experiments again even where DIR/NAME/results.json exists
    c.rebuild_only = False        # True: never run anything; every DIR/NAME/results.json must exist
    for name, sub in experiment_configs().items():
        c[name] = sub             # --config.NAME.KEY=VALUE overrides that experiment's config
    return c
