"""Claims, measured preconditions and verdicts: what a section of the report may say about a paper.

Every experiment's results.json carries ``claim``, ``preconditions``, ``verdict`` and ``rule``
(:meth:`Verdict.to_json`). A verdict is computed from the numbers, never written by hand:

* the **claim** quotes the paper (from ../shared/reference/papers.md; ``paraphrased`` says when the
  words are a summary's) and has a **type** — :data:`CLAIM_TYPES`;
* **preconditions** are measured from the run (the teacher leads its students, no chosen setting sits at
  a grid edge that is not a natural limit, the test has the power to see the paper's effect, …); when
  any is not met the verdict is ``inconclusive`` and names it, whatever the numbers say;
* the **outcome** comes from one of the rules below, each tested as the claim is stated: a prediction
  by the direction and size of a Holm-significant difference, a figure by whether the paper's number lies
  in our interval, a bound by whether every measurement respects it, a rate by whether the fitted
  exponent's interval contains the theory's.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

CLAIM_TYPES = {
    "bound": "an upper or lower bound (e.g. on the width m* a label type needs)",
    "rate": "an asymptotic order (e.g. γ = Θ(1/d))",
    "figure": "a published table or plot value",
    "prediction": "a qualitative direction (e.g. soft labels beat hard labels, more so on harder data)",
}

VERDICTS = {
    "reproduced": "a figure within our interval of the paper's, or a prediction's direction and size",
    "consistent": "a bound that every measurement respects; a rate whose fitted exponent interval contains "
                  "the theory's",
    "partly reproduced": "the direction of a prediction without its size, or some of a claim's parts",
    "not reproduced": "preconditions met, and the effect is absent although the test had the power to see it",
    "contradicted": "preconditions met, and the opposite effect is significant (or a bound is violated)",
    "inconclusive": "a precondition is not met (named), so the numbers cannot answer the claim",
}


class Claim(NamedTuple):
    """The paper's statement a section tests: ``quote`` (its words, or a summary's when ``paraphrased``),
    ``source`` (paper, table or theorem, and where papers.md has it) and ``type`` (:data:`CLAIM_TYPES`)."""
    quote: str
    source: str
    type: str
    paraphrased: bool = False

    def to_json(self) -> dict:
        if self.type not in CLAIM_TYPES:
            raise ValueError(f"claim type {self.type!r}; allowed: {', '.join(CLAIM_TYPES)}")
        return {"quote": self.quote, "source": self.source, "type": self.type, "paraphrased": self.paraphrased}


class Precondition(NamedTuple):
    """A condition the claim needs, measured: ``value`` against ``threshold`` gives ``met``; ``rule`` says
    in words what is compared; ``remedy``, what would meet it (with what was measured), for the verdict's
    "what would settle it"."""
    name: str
    value: object
    threshold: object
    met: bool
    rule: str
    remedy: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "met": bool(self.met),
                "rule": self.rule}


class Verdict(NamedTuple):
    """``verdict`` (a key of :data:`VERDICTS`), the ``rule`` that computed it, the claim, the measured
    preconditions, ``evidence`` (the numbers the rule read, in a sentence) and, when inconclusive,
    ``settle``: what experiment would answer the claim."""
    verdict: str
    rule: str
    claim: Claim
    preconditions: tuple
    evidence: str
    settle: str = ""

    def to_json(self) -> dict:
        return {"claim": self.claim.to_json(), "preconditions": [p.to_json() for p in self.preconditions],
                "verdict": self.verdict, "rule": self.rule, "evidence": self.evidence, "settle": self.settle}

    @property
    def unmet(self) -> list[str]:
        return [p.name for p in self.preconditions if not p.met]


def judge(claim: Claim, preconditions: Sequence[Precondition], outcome: str, rule: str, evidence: str,
          settle: str | None = None) -> Verdict:
    """The verdict: ``outcome`` (from one of the rules below) when every precondition is met, else
    ``inconclusive`` naming the unmet ones, with what would answer the claim: ``settle`` when given, else
    :func:`settle_text` (each unmet precondition's remedy)."""
    if outcome not in VERDICTS:
        raise ValueError(f"verdict {outcome!r}; allowed: {', '.join(VERDICTS)}")
    claim.to_json()  # checks the type
    unmet = [p for p in preconditions if not p.met]
    if unmet:
        names = ", ".join(f"{p.name} ({p.rule}: {_show(p.value)} vs {_show(p.threshold)})" for p in unmet)
        return Verdict("inconclusive", rule + " — and every precondition must be met", claim, tuple(preconditions),
                       f"{evidence} Not met: {names}; the numbers would have read “{outcome}”.",
                       settle_text(preconditions) if settle is None else settle)
    return Verdict(outcome, rule, claim, tuple(preconditions), evidence, "")


def settle_text(preconditions: Sequence[Precondition]) -> str:
    """What would answer the claim: the remedy of each unmet precondition (its name and rule when it has
    none), so the sentence names only what failed, with what was measured."""
    return "; ".join(p.remedy or f"{p.name}: {p.rule}" for p in preconditions if not p.met)


def _show(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------------------------

def teacher_lead(teacher_acc: float, student_acc: float, points: float = 3.0, name: str = "teacher lead",
                 remedy: str = "a wider or longer-trained teacher, or a harder task") -> Precondition:
    """The teacher's test accuracy exceeds the best student's by ≥ ``points``: a teacher that knows no
    more than its student has nothing to teach, so no soft-label advantage can be expected. ``remedy``:
    how this experiment could get such a teacher."""
    lead = 100 * (teacher_acc - student_acc)
    return Precondition(name, round(lead, 3), points, bool(math.isfinite(lead) and lead >= points),
                        f"teacher test accuracy − best student's, in points, ≥ {points:g}",
                        f"a teacher that leads its students by ≥ {points:g} points ({name}: "
                        + (f"{lead:+.2f}" if math.isfinite(lead) else "not measured") + f"): {remedy}")


def at_least(name: str, value: float, threshold: float, rule: str, remedy: str = "") -> Precondition:
    """value ≥ threshold."""
    return Precondition(name, value, threshold, bool(value is not None and math.isfinite(value) and value >= threshold),
                        rule, remedy)


SATURATED_LABELS = 0.01   # soft labels within this mean distance of the teacher's hard labels are those labels


def lowest_temperature_reached(T: float, grid: Sequence[float], softness: float | None,
                               tol: float = SATURATED_LABELS) -> str | bool:
    """Whether a chosen T at the bottom of its grid is the natural limit T → 0: the labels at T are already
    the teacher's hard labels (``softness``, :func:`kd_theory.teachers.label_softness` at the worst teacher,
    ≤ ``tol``). Since |σ(f/T') − 1[f > 0]| ≤ |σ(f/T) − 1[f > 0]| for every T' < T, no lower T moves a label by
    more than its present distance, so the labels change by ≤ ``tol`` on average. Unknown softness: no.
    Reached: the reason, as :func:`grid_edges` shows it; else False."""
    if T == min(grid) and softness is not None and math.isfinite(softness) and softness <= tol:
        return f"labels {softness:.4f} from the teacher's hard labels: T → 0 reached"
    return False


SETTLED = "training loss settled"   # the reason grid_edges shows for the largest step count when it had


def grid_edges(chosen: Sequence[dict], grid: dict, natural=None) -> Precondition:
    """*converged*: no chosen value of any axis of ``grid`` ({axis: grid values}) sits at the smallest or
    largest value of that axis, unless ``natural[axis](value, row)`` says the edge is a natural limit
    (B = ∞; the largest step count when the training loss had settled; the lowest T when its labels are
    the teacher's hard labels): it returns a reason (a string, shown) or True, else False. One grid value is
    no choice. When met, the value names every edge accepted as natural, with its reason, so a reader sees
    which choices lean on a natural limit."""
    natural = natural or {}
    offenders, accepted = [], []
    for row in chosen:
        for axis, values in grid.items():
            values = [v for v in values if v is not None]
            v = row.get(axis)
            if v is None or len(values) < 2 or not (v == min(values) or v == max(values)):
                continue
            where = f"{axis}={v:g}" + "".join(f" {k}={row[k]}" for k in row.get("_cell_keys", ()))
            reason = natural.get(axis, lambda value, r: False)(v, row)
            if not reason:
                offenders.append(where)
            else:
                accepted.append(where + (f" ({reason})" if isinstance(reason, str) else " (natural limit)"))
    value = "no chosen value at a non-natural grid edge"
    if accepted:
        value += "; at a natural limit: " + "; ".join(sorted(set(accepted)))
    return Precondition("converged", sorted(set(offenders)) or value, "none", not offenders,
                        "no chosen hyperparameter at the edge of its grid unless that edge is a natural limit "
                        "(B = ∞; the largest step count when the training loss changed < 1% over its last 10%; the "
                        f"lowest T when its labels are within {SATURATED_LABELS:g} of the teacher's hard labels)",
                        "the grid extended past the chosen values at its edges (" + ", ".join(sorted(set(offenders)))
                        + ")")


def loss_settled(loss_at_90: float, loss_at_end: float, tolerance: float = 0.01) -> bool:
    """Whether a training loss changed by less than ``tolerance`` (relative) over the last 10% of steps."""
    if not (math.isfinite(loss_at_90) and math.isfinite(loss_at_end)):
        return False
    return abs(loss_at_90 - loss_at_end) <= tolerance * max(abs(loss_at_90), 1e-12)


def power(low: float, high: float, effect: float, name: str = "power", scale: float = 100.0,
          unit: str = "points") -> Precondition:
    """The interval [low, high] of the tested difference is narrower than the paper's ``effect``, so a
    null result could have seen the effect. Value and threshold are shown ×``scale`` in ``unit``."""
    width = high - low if math.isfinite(low) and math.isfinite(high) else math.inf
    shown = f"{scale * width:.2f} {unit} wide" if math.isfinite(width) else "none"
    return Precondition(name, round(scale * width, 4) if math.isfinite(width) else "no interval",
                        round(scale * abs(effect), 4), bool(width < abs(effect)),
                        f"width of the corrected 95% interval of the tested difference < the paper's effect ({unit})",
                        f"more report seeds (interval {shown}; it must be narrower than the paper's "
                        f"{scale * abs(effect):.2f})")


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------

def prediction_outcome(mean: float, low: float, high: float, significant: bool, paper_effect: float | None = None,
                       deterministic: bool = False) -> str:
    """A predicted positive difference (flip the sign for a negative one) read from its corrected
    interval [low, high] and Holm's ``significant``: "reproduced" when significant and positive and (with
    ``paper_effect``) the interval reaches the paper's size; "partly reproduced" when significant and
    positive but smaller than the paper's; "contradicted" when significant and negative; "not reproduced"
    otherwise (the power precondition decides whether that absence means anything). A deterministic
    difference (zero spread) counts by its sign and size alone, with no test."""
    if deterministic and math.isfinite(mean):
        positive, negative = mean > 0, mean < 0
        low = high = mean
    else:
        positive = significant and math.isfinite(low) and low > 0
        negative = significant and math.isfinite(high) and high < 0
    if negative:
        return "contradicted"
    if not positive:
        return "not reproduced"
    if paper_effect is not None and high < paper_effect:
        return "partly reproduced"
    return "reproduced"


def figure_outcome(low: float, high: float, paper_value: float, tolerance: float = 0.0) -> str:
    """A published number is reproduced when it lies in our interval widened by the paper's own reading
    tolerance (e.g. ±0.2 points read off a plot), else not reproduced."""
    inside = math.isfinite(low) and math.isfinite(high) and low - tolerance <= paper_value <= high + tolerance
    return "reproduced" if inside else "not reproduced"


def bound_outcome(n_respecting: int, n_measured: int) -> str:
    """An upper bound is consistent when every one of the ``n_measured`` measurements respects it,
    contradicted when one does not; with nothing measured, inconclusive."""
    if n_measured == 0:
        return "inconclusive"
    return "consistent" if n_respecting == n_measured else "contradicted"


def exponent_outcome(low: float, high: float, theory: float, kind: str = "equal") -> str:
    """A fitted exponent's interval against the theory's: ``kind`` "equal" (a rate: consistent when the
    interval contains it), "at_most" (a bound's exponent: consistent when the interval's lower end is
    ≤ the theory's, i.e. the data do not show a steeper growth), contradicted otherwise."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if kind == "equal":
        return "consistent" if low <= theory <= high else "not reproduced"
    if kind == "at_most":
        return "consistent" if low <= theory else "contradicted"
    raise ValueError(f"exponent_outcome: kind={kind!r}; allowed: equal, at_most")
