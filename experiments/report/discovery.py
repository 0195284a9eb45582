"""Which experiments the report can show: the launcher's packages that have a ``section.py``."""
from __future__ import annotations

import os

from experiments import run

REPORT = "report"


def has_section(name: str) -> bool:
    return os.path.isfile(os.path.join(run.EXPERIMENTS_DIR, name, "section.py"))


def reportable() -> list[str]:
    """Names of the experiment packages (found as the launcher finds them) with a section.py, the report
    itself left out, sorted."""
    return [name for name in run.discover_experiments() if name != REPORT and has_section(name)]
