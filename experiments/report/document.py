"""report.md (figures linked relative to the report folder), report.html (self-contained: figures embedded
as base64 data URIs, tables as HTML, styles inline, no external assets) and verdicts.json from the
report's parts. Nothing in them depends on when or where they were built, so a rebuild from the same
results folders gives the same bytes."""
from __future__ import annotations

import base64
import html
import json
import os

from experiments.report import markup

TITLE = "Reproduction report: soft- vs hard-label training (kd-theory)"
INTRO = ("Each section is built from one committed results folder alone (its results.json and the files its "
         "render step wrote). Each states the paper's claim and its type, the preconditions measured from the run, "
         "and the verdict computed from the numbers by the rule printed beside it: reproduced, consistent, partly "
         "reproduced, not reproduced, contradicted, or inconclusive whenever a precondition is not met.")
BADGE_COLOURS = {"reproduced": "#1a7f37", "consistent": "#1a7f37", "partly reproduced": "#9a6700",
                 "not reproduced": "#cf222e", "contradicted": "#82071e", "inconclusive": "#57606a"}
PAPER_HEADER = ("quantity", "paper", "ours", "source")
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.82em; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
img { max-width: 100%; border: 1px solid #d0d7de; margin: 0.5em 0; }
.badge { color: white; border-radius: 4px; padding: 2px 8px; font-weight: 600; font-size: 0.9em;
         white-space: nowrap; }
.criterion { color: #57606a; font-size: 0.9em; }
section { border-top: 2px solid #d0d7de; margin-top: 2em; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
figure { margin: 0.5em 0; } figcaption { font-size: 0.85em; color: #57606a; }
"""


def markdown_table(header, rows) -> str:
    """A markdown table: ``header`` (cell strings) first, then one line per row of ``rows``."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def paper_table(section) -> str:
    """The published numbers beside ours, as a markdown table."""
    return markdown_table(PAPER_HEADER, [(p.quantity, p.paper, p.ours, p.source) for p in section.paper])


def anchor(index: int) -> str:
    return f"section-{index}"


def unmet(section) -> str:
    """The names of a section's unmet preconditions, or "none"."""
    names = [p["name"] for p in section.preconditions if not p["met"]]
    return ", ".join(names) if names else "none"


def summary_rows(parts) -> list:
    return [(f"[{i}. {p.title}](#{anchor(i)})", p.section.claim.get("type", ""), f"**{p.section.verdict}**",
             unmet(p.section), f"`{p.folder}/`") for i, p in enumerate(parts, 1)]


SUMMARY_HEADER = ("section", "claim type", "verdict", "unmet preconditions", "folder")


def claim_markdown(section) -> list[str]:
    """The claim (quoted), the rule, the evidence and the preconditions table, as markdown lines."""
    c = section.claim
    lines = [f"> {c['quote']}", "", f"— {c['source']} (claim type: **{c['type']}**"
             + ("; paraphrased in papers.md" if c.get("paraphrased") else "") + ")", "",
             f"**Verdict: {section.verdict}.** Rule: {section.criterion}.", ""]
    if section.evidence:
        lines += [f"Evidence: {section.evidence}", ""]
    if section.preconditions:
        lines += [markdown_table(("precondition", "measured", "threshold", "met", "what is compared"),
                                 [(p["name"], _value(p["value"]), _value(p["threshold"]),
                                   "yes" if p["met"] else "**no**", p["rule"]) for p in section.preconditions]), ""]
    if section.settle:
        lines += [f"What would settle it: {section.settle}", ""]
    return lines


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "; ".join(map(str, v)) or "none"
    return str(v)


def _config_items(part) -> str:
    if not part.differences:
        return "none (the defaults)"
    return ", ".join(f"`{k}={json.dumps(v, ensure_ascii=False)}`" for k, v in part.differences.items())


def provenance_items(part) -> list[str]:
    """Markdown list items: the folder, every provenance entry but the config, the config keys that differ
    from the experiment's preset, and where the full config is."""
    items = [f"results: `{part.folder}/`"]
    items += [f"{key.replace('_', ' ')}: `{value}`" for key, value in part.section.provenance.items()
              if key != "config"]
    items.append(f"config, keys that differ from experiments/{part.section.experiment}/config.py: "
                 + _config_items(part))
    items.append(f"full config: `{part.folder}/config.json`")
    return items


def section_markdown(index: int, part, figure_dir: str) -> str:
    s = part.section
    lines = [f'<a id="{anchor(index)}"></a>', f"## {index}. {part.title}", ""] + claim_markdown(s) + [s.summary, ""]
    if s.paper:
        lines += ["### The papers' numbers beside ours", "", paper_table(s), ""]
    if s.tables:
        lines += ["### Tables", ""] + [line for t in s.tables for line in (t, "")]
    if s.figures:
        lines += ["### Figures", ""] + [f"![{f}]({figure_dir}/{part.folder}/{f})\n" for f in s.figures]
    lines += ["### Provenance", ""] + [f"- {item}" for item in provenance_items(part)] + [""]
    return "\n".join(lines)


def unreported_note(unreported) -> str:
    return (f"Experiments without a section.py, not in this report: {', '.join(unreported)}."
            if unreported else "")


def markdown_report(parts, figure_dir: str, unreported=()) -> str:
    head = [f"# {TITLE}", "", f"Built from {len(parts)} results folders. {INTRO}", "", "## Summary", "",
            markdown_table(SUMMARY_HEADER, summary_rows(parts)), "", unreported_note(unreported), ""]
    return "\n".join(head + [section_markdown(i, p, figure_dir) for i, p in enumerate(parts, 1)])


def badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{BADGE_COLOURS[verdict]}">{html.escape(verdict)}</span>'


def image_data_uri(path: str) -> str:
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


def summary_html(parts) -> str:
    rows = "".join(f'<tr><td><a href="#{anchor(i)}">{html.escape(f"{i}. {p.title}")}</a></td>'
                   f"<td>{html.escape(p.section.claim.get('type', ''))}</td><td>{badge(p.section.verdict)}</td>"
                   f"<td>{html.escape(unmet(p.section))}</td>"
                   f"<td><code>{html.escape(p.folder)}/</code></td></tr>\n" for i, p in enumerate(parts, 1))
    head = "".join(f"<th>{h}</th>" for h in SUMMARY_HEADER)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def section_html(index: int, part, root: str) -> str:
    s = part.section
    out = [f'<section id="{anchor(index)}">', f"<h2>{index}. {html.escape(part.title)}</h2>",
           f"<p>{badge(s.verdict)}</p>", markup.blocks("\n".join(claim_markdown(s))), markup.blocks(s.summary)]
    if s.paper:
        out += ["<h3>The papers' numbers beside ours</h3>", markup.table(paper_table(s))]
    if s.tables:
        out += ["<h3>Tables</h3>"] + [markup.table(t) for t in s.tables]
    if s.figures:
        out.append("<h3>Figures</h3>")
        out += [f'<figure><img alt="{html.escape(f)}" src="{image_data_uri(os.path.join(root, part.folder, f))}">'
                f"<figcaption>{html.escape(part.folder)}/{html.escape(f)}</figcaption></figure>" for f in s.figures]
    config = json.dumps(s.provenance.get("config", {}), indent=1, ensure_ascii=False, default=str)
    out += ["<h3>Provenance</h3>", markup.blocks("\n".join(f"- {item}" for item in provenance_items(part))),
            f"<details><summary>full config</summary><pre>{html.escape(config)}</pre></details>", "</section>"]
    return "\n".join(out)


def html_report(parts, root: str, unreported=()) -> str:
    body = "\n".join(section_html(i, p, root) for i, p in enumerate(parts, 1))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(TITLE)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(TITLE)}</h1>\n"
            f"<p>Built from {len(parts)} results folders. {html.escape(INTRO)}</p>\n"
            f"<h2>Summary</h2>\n{summary_html(parts)}\n{markup.blocks(unreported_note(unreported))}\n{body}\n"
            "</body>\n</html>\n")


def verdict_lines(parts) -> list[dict]:
    """One entry per section: folder, experiment, title, claim, verdict, rule, unmet preconditions, and the
    further claims its results.json answers (:func:`experiments.report.further_verdicts`)."""
    return [{"folder": p.folder, "experiment": p.section.experiment, "title": p.section.title,
             "claim": p.section.claim, "verdict": p.section.verdict, "rule": p.section.criterion,
             "unmet": [q["name"] for q in p.section.preconditions if not q["met"]], "further": p.further}
            for p in parts]


def write(parts, out, results_dir: str, unreported=()) -> list[str]:
    """Write report.md, report.html and verdicts.json into ``out`` (a kd_theory.results.OutputDir) from the
    parts read out of ``results_dir``; return their names. ``unreported``: experiments without a
    section.py (named, so that nobody thinks them forgotten)."""
    from kd_theory.results import to_json
    figure_dir = os.path.relpath(os.path.abspath(results_dir), out.path)
    out.write_text("report.md", markdown_report(parts, figure_dir, unreported))
    out.write_text("report.html", html_report(parts, results_dir, unreported))
    out.write_text("verdicts.json", to_json(verdict_lines(parts)))
    return ["report.md", "report.html", "verdicts.json"]
