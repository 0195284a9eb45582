"""What the experiments share above the library: the results format, seed sets, number formats, and the
verdict block every render writes. Typed configs live in :mod:`experiments.common.schema`; the protocol
(tasks, selection, verdicts) in :mod:`kd_theory.protocol`; statistics in :mod:`kd_theory.stats`."""
from __future__ import annotations

import math

from experiments.common.schema import check  # noqa: F401  (the refusal every validate raises)


def write_results(out, rows: list, results: dict, render) -> list[str]:
    """The common results format of every experiment: ``runs.csv`` (one row per run and checkpoint),
    ``results.json``, then ``render(results, out)`` (tables and figures from results.json alone).
    Returns the names of the rendered files."""
    out.write_csv("runs.csv", rows)
    out.write_json("results.json", results)
    return render(results, out)


def stored_rows(out_dir: str, namespace: str, unit: dict, compute) -> tuple[list[dict], bool]:
    """(rows, reused): the rows of ``unit`` (everything that determines them) from ``out_dir``/``namespace``/
    when they finished before, else ``compute()``'s, stored at once — one atomic file per finished unit, so a
    kill at any point loses at most the unit in progress: the project's one resume mechanism,
    :class:`kd_theory.results.ResultStore`, for work that does not go through the sweep engine."""
    from kd_theory.results import ResultStore
    store = ResultStore(out_dir, namespace, prefix=namespace.rstrip("s"))
    key = store.key(unit)
    rows = store.get(key)
    if rows is not None:
        return rows, True
    rows = compute()
    store.put(key, rows, {"unit": unit})
    return rows, False


def seed_sets(config, teacher: int = 0) -> tuple[range, range]:
    """Student seeds of teacher ``teacher``: selection seeds then report seeds, ``config.select_seeds`` and
    ``config.report_seeds`` of them, disjoint (so the reported inits are fresh) and disjoint across teachers
    (teacher k's students are seeds k·(S+R) … k·(S+R)+S+R−1: each teacher has its own students)."""
    S, R = int(config.select_seeds), int(config.report_seeds)
    base = teacher * (S + R)
    return range(base, base + S), range(base + S, base + S + R)


def percent(mean, std=None, digits: int = 1) -> str:
    """100·mean (± 100·std) with ``digits`` decimals; "n/a" for a missing or non-finite mean or std; never
    "-0.00" (a rounding of a tiny negative number)."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    value = f"{100 * mean:.{digits}f}"
    if std is None:
        return _no_negative_zero(value)
    return _no_negative_zero(value) + " ± " + (f"{100 * std:.{digits}f}" if math.isfinite(std) else "n/a")


def _no_negative_zero(text: str) -> str:
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def gap_points(g, digits: int = 1, missing_interval: str = "") -> str:
    """"+x.x [low, high]*": a paired gap in points (``gap_mean`` as a share) with its Holm-level
    interval (at the level Holm tested the cell at: it excludes 0 exactly when the cell is starred) ``gap_low_adj, gap_high_adj`` when it has one, else its 95%
    interval; "* " when Holm-significant; "(deterministic, n = …)" when every pair differed by the same
    number (no test); "n/a" when the cell has no pairs (every run diverged)."""
    if g is None or not math.isfinite(g.get("gap_mean", math.nan)):
        return "n/a"

    def signed(x):  # a rounded zero is "+0.0", never "-0.0"
        text = f"{100 * x:+.{digits}f}"
        return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text
    mean = signed(g["gap_mean"])
    if g.get("deterministic"):
        return f"{mean} (deterministic, n = {g.get('n_seeds')})"
    low, high = g.get("gap_low_adj", g.get("gap_low")), g.get("gap_high_adj", g.get("gap_high"))
    interval = (f" [{signed(low)}, {signed(high)}]" if low is not None and math.isfinite(low) else missing_interval)
    return f"{mean}{interval}{'*' if g.get('significant') else ''}"


def verdict_markdown(verdict: dict, title: str = "Verdict") -> str:
    """The claim, the measured preconditions and the verdict with its rule, as markdown (from a
    :meth:`kd_theory.protocol.Verdict.to_json` dict)."""
    claim = verdict["claim"]
    lines = [f"## {title}: **{verdict['verdict']}**", "",
             f"> {claim['quote']}", "",
             f"— {claim['source']} (claim type: {claim['type']}"
             + ("; paraphrased from papers.md" if claim.get("paraphrased") else "") + ")", "",
             f"**Rule.** {verdict['rule']}", "", f"**Evidence.** {verdict['evidence']}", ""]
    if verdict["preconditions"]:
        lines += ["| precondition | measured | threshold | met | what is compared |", "|---|---|---|---|---|"]
        for p in verdict["preconditions"]:
            lines.append(f"| {p['name']} | {_cell(p['value'])} | {_cell(p['threshold'])} | "
                         f"{'yes' if p['met'] else '**no**'} | {p['rule']} |")
        lines.append("")
    if verdict.get("settle"):
        lines += [f"**What would settle it.** {verdict['settle']}", ""]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)
