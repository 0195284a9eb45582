"""The protocol every experiment shares, between the math and the command line.

    data → teachers → targets per label type → Task → the engine (EngineConfig) → rows
         → choose on validation (selection seeds) → report on test (fresh seeds) → paired gaps (Holm)
         → claim, measured preconditions, verdict

Modules: :mod:`~kd_theory.protocol.task` (Task, Target, Teacher), :mod:`~kd_theory.protocol.targets`
(one function per kind of target, and the teachers), :mod:`~kd_theory.protocol.selection`
(select-then-report, paired comparisons, interactions), :mod:`~kd_theory.protocol.engine`
(EngineConfig), :mod:`~kd_theory.protocol.verdicts` (claims, preconditions, the verdict vocabulary).
Random keys come from the named streams of :mod:`kd_theory.rng`.
"""
from kd_theory.protocol import targets
from kd_theory.protocol.engine import EngineConfig
from kd_theory.protocol.selection import (REPORT, SELECT, Selection, at_chosen, choose, compare,
                                          difference_of_gaps, report, select_then_report)
from kd_theory.protocol.task import LABEL_TYPES, Target, Task, Teacher
from kd_theory.protocol.verdicts import (CLAIM_TYPES, VERDICTS, Claim, Precondition, Verdict, judge)

__all__ = ["targets", "EngineConfig", "REPORT", "SELECT", "Selection", "at_chosen", "choose", "compare",
           "difference_of_gaps", "report", "select_then_report", "LABEL_TYPES", "Target", "Task", "Teacher",
           "CLAIM_TYPES", "VERDICTS", "Claim", "Precondition", "Verdict", "judge"]
