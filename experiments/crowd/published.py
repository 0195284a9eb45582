"""Published accuracies (%) on the gold tasks of the real crowds, with their sources.

Copied from ../shared/data/README.md and each crowd's PROVENANCE.md (which name the paper, table and the
commit of the PDF they were read from). ``verified``: read from a stored copy of the paper; the RTE
Dawid-Skene figure was recalled, not read, so it is shown but does not count in the verdict.

Tie rule: the published majority-vote figures break ties uniformly at random (Zhang et al.'s MATLAB
code; Zheng et al.'s figures equal ours with random ties), so ours beside them is the *expected*
accuracy with random ties (:func:`kd_theory.crowd.expected_accuracy_random_ties`), not the lowest-label
rule of ``MajorityVote()``. crowd-kit's own MV breaks ties deterministically (by the order of its vote
frame), so its figures sit beside our deterministic MV (ties to the lowest label).
"""
from __future__ import annotations

from typing import NamedTuple


class Published(NamedTuple):
    crowd: str
    method: str          # "MV" or "DS"
    accuracy: float      # percent
    source: str
    verified: bool
    ours: str            # the column of our accuracy table it is compared with


ZHANG = "Zhang, Chen, Zhou & Jordan, Spectral Methods meet EM (NIPS 2014 / JMLR 2016)"
ZHENG = "Zheng, Li, Li, Shan & Cheng, Truth Inference in Crowdsourcing (PVLDB 10(5) 2017), Table 6"
CROWDKIT = "Ustalov et al., Learning from Crowds with Crowd-Kit (JOSS), accuracy table"

PUBLISHED = (
    Published("rte", "MV", 89.69, f"{ZHANG}: 10.31 % error", True, "MV (random ties)"),
    Published("rte", "DS", 92.88, f"{ZHANG}: Opt-D&S 7.12 % error (recalled, unverified)", False, "DS"),
    Published("product", "MV", 89.66, ZHENG, True, "MV (random ties)"),
    Published("product", "DS", 93.66, ZHENG, True, "DS"),
    Published("product", "MV", 89.7, CROWDKIT, True, "MV"),
    Published("product", "DS", 94.0, CROWDKIT, True, "DS"),
    Published("possent", "MV", 93.31, ZHENG, True, "MV (random ties)"),
    Published("possent", "DS", 96.00, ZHENG, True, "DS"),
    Published("relevance", "MV", 54.19, ZHENG, True, "MV (random ties)"),
    Published("relevance", "DS", 61.30, ZHENG, True, "DS"),
    Published("relevance", "MV", 53.6, CROWDKIT, True, "MV"),
    Published("relevance", "DS", 61.5, CROWDKIT, True, "DS"),
)


def published_for(crowd: str) -> list[Published]:
    return [p for p in PUBLISHED if p.crowd == crowd]
