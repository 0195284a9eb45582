"""README's verdict table, generated from the committed results (the same files the report reads).

    python -m experiments.report.readme            # rewrite the table in README.md from docs/results
    python -m experiments.report.readme --check    # exit 1 when README.md's table is not what docs/results say

The table sits between the markers ``<!-- verdicts:begin -->`` and ``<!-- verdicts:end -->``; each row
is one claim of a results folder (its headline, then each further claim it answers, e.g. "table1: interaction"):
the claim's source and type, the verdict, the unmet preconditions.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows(results_dir: str) -> list[dict]:
    """{folder, experiment, source, type, verdict, unmet, further} of every reportable folder of
    ``results_dir``, read from its results.json (``further``: :func:`experiments.report.further_verdicts`)."""
    from experiments import report
    out = []
    for folder in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, folder)
        name = report.folder_experiment(path) if os.path.isdir(path) else None
        if name is None:
            continue
        with open(os.path.join(path, "results.json"), encoding="utf-8") as fh:
            results = json.load(fh)
        if "verdict" not in results:
            continue
        out.append({"folder": folder, "experiment": name, "source": results["claim"]["source"],
                    "type": results["claim"]["type"], "verdict": results["verdict"],
                    "unmet": [p["name"] for p in results["preconditions"] if not p["met"]],
                    "further": report.further_verdicts(results)})
    return out


def table(results_dir: str, link_prefix: str = "docs/results") -> str:
    """The markdown table of :func:`rows`."""
    lines = ["| results | claim (source) | type | verdict | unmet preconditions |", "|---|---|---|---|---|"]
    for r in rows(results_dir):
        # the folder's own rendered page where it has one (a folder link is not a page on the docs site)
        page = f"{r['experiment']}.md"
        target = page if os.path.isfile(os.path.join(results_dir, r["folder"], page)) else "results.json"
        link = f"[{r['folder']}]({link_prefix}/{r['folder']}/{target})"
        for part in [dict(r, part=None)] + r["further"]:
            name = link if part["part"] is None else f"{link}: {part['part']}"
            lines.append(f"| {name} | {part['source']} | {part['type']} | **{part['verdict']}** | "
                         f"{', '.join(part['unmet']) or 'none'} |")
    return "\n".join(lines)


def block(results_dir: str) -> str:
    return f"{BEGIN}\n{table(results_dir)}\n{END}"


def current_block(readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md lacks the markers {BEGIN} … {END}")
    return readme[readme.index(BEGIN):readme.index(END) + len(END)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default=os.path.join(REPO, "docs", "results"))
    parser.add_argument("--readme", default=os.path.join(REPO, "README.md"))
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's table is stale")
    args = parser.parse_args(argv)
    with open(args.readme, encoding="utf-8") as fh:
        readme = fh.read()
    new = block(args.results_dir)
    if args.check:
        stale = current_block(readme) != new
        if stale:
            print("README.md's verdict table differs from docs/results: run python -m experiments.report.readme",
                  file=sys.stderr)
        return int(stale)
    with open(args.readme, "w", encoding="utf-8") as fh:
        fh.write(readme.replace(current_block(readme), new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
