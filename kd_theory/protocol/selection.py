"""Select on validation, report on fresh seeds, compare paired: the protocol every experiment reads its
runs through.

Rows are the engine's (or a trainer's) one dict per run: coordinates (the *group* a choice is made
for, e.g. (dataset, width, label); the *setting* chosen, e.g. (lr, B, steps, temperature); the
``seed``; the ``role`` "select" or "report") and metrics (``val_acc``, ``test_acc``, …).

1. :func:`choose` — per group, the setting with the best mean ``score`` (validation accuracy) over the
   selection seeds; a setting that diverged on any selection seed is never chosen; ties go to the
   smallest ``tie_break`` (the cheapest of equals).
2. :func:`report` — per group, ``metric`` (test accuracy) of the report seeds at the chosen setting:
   mean ± std over the runs that did not diverge, with the diverged ones counted.
3. :func:`compare` — treatment − baseline, paired by seed (and whatever else ``pair_keys`` names, e.g.
   the teacher), at each group's chosen setting; a t-interval, and Holm's correction with
   Holm-level intervals over all the comparisons made together.
4. :func:`difference_of_gaps` — an interaction: (t₁ − b₁) − (t₂ − b₂) paired by seed, e.g. the
   soft − hard gap on the hard data set minus the same gap on the easy one.

:func:`select_then_report` runs 1-3 and returns a :class:`Selection`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, NamedTuple, Sequence

from kd_theory import stats

SELECT, REPORT = "select", "report"


class Selection(NamedTuple):
    """``chosen[group]``: the summary row of the chosen setting (selection seeds, validation);
    ``reported[group]``: the report seeds' summary at that setting; ``gaps``: the paired comparisons
    (Holm-corrected together)."""
    chosen: dict
    reported: dict
    gaps: list
    group_keys: tuple
    setting_keys: tuple

    def setting(self, group) -> dict:
        """The chosen setting of ``group`` as {key: value}."""
        return {k: self.chosen[group][k] for k in self.setting_keys}


def _key(row, keys) -> tuple:
    return tuple(row[k] for k in keys)


def choose(rows, *, group_keys: Sequence[str], setting_keys: Sequence[str], score: str = "val_acc",
           role: str = SELECT, tie_break: Callable[[dict], tuple] = lambda s: (),
           allowed: Callable[[dict], bool] = lambda s: True, metrics: Sequence[str] = ()) -> dict:
    """{group: summary row of the best setting}: the largest mean ``score`` over the rows of ``role``
    (NaN never wins; a setting with a diverged run is not eligible), among the settings ``allowed``."""
    keys = tuple(group_keys) + tuple(setting_keys)
    summary = stats.summarise(rows, keys, (score,) + tuple(m for m in metrics if m != score),
                              include=lambda r: r.get("role", role) == role)
    return stats.select_best([s for s in summary if allowed(s)], group_keys=tuple(group_keys),
                             score=f"{score}_mean", tie_break=tie_break)


def at_chosen(chosen: dict, group_keys, setting_keys, role: str = REPORT, group=None):
    """A row filter: rows of ``role`` at their group's chosen setting (only ``group``'s when given)."""
    group_keys, setting_keys = tuple(group_keys), tuple(setting_keys)

    def include(r):
        g = _key(r, group_keys)
        if r.get("role", role) != role or (group is not None and g != group) or g not in chosen:
            return False
        return all(r[k] == chosen[g][k] for k in setting_keys)
    return include


def report(rows, chosen: dict, *, group_keys: Sequence[str], setting_keys: Sequence[str],
           metrics: Sequence[str] = ("test_acc",), role: str = REPORT) -> dict:
    """{group: summary of ``metrics`` over the ``role`` rows at the group's chosen setting} (mean, std,
    ``n_seeds`` that did not diverge, ``n_diverged``)."""
    summary = stats.summarise(rows, tuple(group_keys), tuple(metrics),
                              include=at_chosen(chosen, group_keys, setting_keys, role))
    return {_key(s, group_keys): s for s in summary}


def _paired_values(rows, include, pair_keys, metric) -> tuple[dict, int]:
    values, diverged = {}, 0
    for r in rows:
        if include(r):
            if r.get("diverged"):
                diverged += 1
                continue
            key = _key(r, pair_keys)
            if key in values:
                raise ValueError(f"two rows share {dict(zip(pair_keys, key))} in one paired comparison; add the key "
                                 "that tells them apart to pair_keys")
            values[key] = r[metric]
    return values, diverged


def compare(rows, chosen: dict, comparisons, *, group_keys: Sequence[str], setting_keys: Sequence[str],
            metric: str = "test_acc", role: str = REPORT, pair_keys: Sequence[str] = ("seed",),
            alpha: float = 0.05, over: str = "student seeds") -> list[dict]:
    """treatment − baseline of ``metric`` for each (treatment group, baseline group) of ``comparisons``,
    each at its chosen setting, paired by ``pair_keys``; diverged runs drop out of their pair and are
    counted. Holm over all the comparisons together (:func:`kd_theory.stats.add_holm`). Each cell has
    ``treatment`` and ``baseline`` (the groups as dicts), the paired summary, ``over`` and
    ``n_diverged``."""
    group_keys, pair_keys = tuple(group_keys), tuple(pair_keys)
    cells = []
    for treatment, baseline in comparisons:
        if treatment not in chosen or baseline not in chosen:
            continue
        t, t_div = _paired_values(rows, at_chosen(chosen, group_keys, setting_keys, role, treatment), pair_keys,
                                  metric)
        b, b_div = _paired_values(rows, at_chosen(chosen, group_keys, setting_keys, role, baseline), pair_keys,
                                  metric)
        s = stats.paired_summary([t[k] - b[k] for k in sorted(t, key=str) if k in b])
        cells.append({"treatment": dict(zip(group_keys, treatment)), "baseline": dict(zip(group_keys, baseline)),
                      "gap_mean": s.mean, "gap_se": s.se, "gap_low": s.low, "gap_high": s.high,
                      "p_value": s.p_value, "n_seeds": s.n, "deterministic": s.deterministic, "over": over,
                      "n_diverged": t_div + b_div, "metric": metric})
    return stats.add_holm(cells, alpha)


def difference_of_gaps(rows, chosen: dict, first, second, *, group_keys: Sequence[str],
                       setting_keys: Sequence[str], metric: str = "test_acc", role: str = REPORT,
                       pair_keys: Sequence[str] = ("seed",), over: str = "student seeds") -> dict:
    """The interaction (t₁ − b₁) − (t₂ − b₂) paired by ``pair_keys``, with ``first`` = (t₁, b₁) and
    ``second`` = (t₂, b₂) groups at their chosen settings: does a gap change between two conditions?
    Returns the paired summary (mean, interval, p, n, deterministic) with the groups named."""
    group_keys, pair_keys = tuple(group_keys), tuple(pair_keys)
    values = [
        _paired_values(rows, at_chosen(chosen, group_keys, setting_keys, role, g), pair_keys, metric)[0]
        if g in chosen else {} for g in (*first, *second)]
    common = set(values[0]).intersection(*values[1:])
    diffs = [(values[0][k] - values[1][k]) - (values[2][k] - values[3][k]) for k in sorted(common, key=str)]
    s = stats.paired_summary(diffs)
    return {"first": [dict(zip(group_keys, g)) for g in first], "second": [dict(zip(group_keys, g)) for g in second],
            "mean": s.mean, "se": s.se, "low": s.low, "high": s.high, "p_value": s.p_value, "n_seeds": s.n,
            "deterministic": s.deterministic, "over": over, "metric": metric}


def select_then_report(rows, *, group_keys: Sequence[str], setting_keys: Sequence[str], comparisons=(),
                       score: str = "val_acc", metric: str = "test_acc", alpha: float = 0.05,
                       tie_break: Callable[[dict], tuple] = lambda s: (),
                       allowed: Callable[[dict], bool] = lambda s: True, pair_keys: Sequence[str] = ("seed",),
                       over: str = "student seeds", report_metrics: Sequence[str] = ()) -> Selection:
    """:func:`choose` on the selection seeds, :func:`report` and :func:`compare` on the report seeds."""
    chosen = choose(rows, group_keys=group_keys, setting_keys=setting_keys, score=score, tie_break=tie_break,
                    allowed=allowed)
    reported = report(rows, chosen, group_keys=group_keys, setting_keys=setting_keys,
                      metrics=(metric,) + tuple(m for m in report_metrics if m != metric))
    gaps = compare(rows, chosen, comparisons, group_keys=group_keys, setting_keys=setting_keys, metric=metric,
                   pair_keys=pair_keys, alpha=alpha, over=over)
    return Selection(chosen, reported, gaps, tuple(group_keys), tuple(setting_keys))


def groups(rows, keys: Sequence[str]) -> list[tuple]:
    """The distinct values of ``keys`` in ``rows``, in first-seen order."""
    seen = defaultdict(int)
    for r in rows:
        seen[_key(r, keys)] += 1
    return list(seen)
