"""README's verdict table, generated from the committed results (the same files the report reads).

    python -m experiments.report.readme            # rewrite the table in README.md from docs/results
    python -m experiments.report.readme --check    # exit 1 when README.md's table is not what docs/results say

The table sits between the markers ``<!-- verdicts:begin -->`` and ``<!-- verdicts:end -->``; each row
is one claim of a results folder (its headline, then each further claim it answers, e.g. "table1: interaction"):
the claim's source and type, the verdict, the unmet preconditions.
"""
from __future__ import annotations

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


def main(argv=None) -> int:
    from experiments.common.docs import generated_block_main
    return generated_block_main(argv, doc=__doc__, prog="readme", begin=BEGIN, end=END, make_block=table,
                                what="verdict table", command="python -m experiments.report.readme")


if __name__ == "__main__":
    sys.exit(main())
