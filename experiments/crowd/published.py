"""Published accuracies (%) on the gold tasks of the real crowds, with their sources.

Copied from ../shared/data/README.md and each crowd's PROVENANCE.md (which name the paper, the table and
the commit of the PDF they were read from). ``verified``: read from a stored copy of the paper; the RTE
Dawid-Skene figure was recalled, not read, so it is shown but marked unverified.

**Majority vote depends on its tie rule**, and the sources do not all say which they used, so every
published MV figure is shown beside ours under three rules (:mod:`kd_theory.crowd.majority_vote`):

* *lowest*: a tie goes to the lowest label — ``MajorityVote()``, our default;
* *first seen*: a tie goes to the label that first appears in the answers file — what crowd-kit 1.4.2's
  ``MajorityVote`` does (measured: its vote frame's columns come in first-appearance order and ``idxmax``
  takes the first; ``MajorityVote(tie_rule="first_seen")`` reproduces its labels on all six crowds);
* *random (expected)*: the expected accuracy when ties are broken uniformly at random
  (:func:`kd_theory.crowd.expected_accuracy_random_ties`) — the rule of Zhang et al.'s MATLAB code.

``tie_rule`` records what a source says or implies about its rule; "not stated" where it says nothing.
The crowd-kit paper's figures were computed with an earlier crowd-kit (its version is not stated).
"""
from __future__ import annotations

from typing import NamedTuple

TIE_RULES = {"lowest": "ties to the lowest label (ours by default)",
             "first_seen": "ties to the label seen first in the answers file (crowd-kit 1.4.2)",
             "random": "random ties, expected accuracy (Zhang et al.'s MATLAB code)"}


class Published(NamedTuple):
    crowd: str
    method: str          # "MV" or "DS"
    accuracy: float      # percent
    source: str
    verified: bool
    tie_rule: str = ""   # MV only: the source's rule as far as it says ("random", "not stated")


ZHANG = "Zhang, Chen, Zhou & Jordan, Spectral Methods meet EM (NIPS 2014 / JMLR 2016)"
ZHENG = "Zheng, Li, Li, Shan & Cheng, Truth Inference in Crowdsourcing (PVLDB 10(5) 2017), Table 6"
CROWDKIT = "Ustalov et al., Learning from Crowds with Crowd-Kit (JOSS), accuracy table"

PUBLISHED = (
    Published("rte", "MV", 89.69, f"{ZHANG}: 10.31 % error", True, "random"),
    Published("rte", "DS", 92.88, f"{ZHANG}: Opt-D&S 7.12 % error (recalled, unverified)", False),
    Published("product", "MV", 89.66, ZHENG, True, "not stated"),
    Published("product", "DS", 93.66, ZHENG, True),
    Published("product", "MV", 89.7, CROWDKIT, True, "not stated"),
    Published("product", "DS", 94.0, CROWDKIT, True),
    Published("possent", "MV", 93.31, ZHENG, True, "not stated"),
    Published("possent", "DS", 96.00, ZHENG, True),
    Published("relevance", "MV", 54.19, ZHENG, True, "not stated"),
    Published("relevance", "DS", 61.30, ZHENG, True),
    Published("relevance", "MV", 53.6, CROWDKIT, True, "not stated"),
    Published("relevance", "DS", 61.5, CROWDKIT, True),
)


def published_for(crowd: str) -> list[Published]:
    return [p for p in PUBLISHED if p.crowd == crowd]
