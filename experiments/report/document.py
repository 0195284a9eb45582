"""report.md (figures linked relative to the report folder) and report.html (self-contained: figures
embedded as base64 data URIs, tables as HTML, styles inline, no external assets) from the report's parts."""
from __future__ import annotations

import base64
import html
import json
import os
import time

from experiments.report import markup

TITLE = "Reproduction report: soft- vs hard-label training (kd-theory)"
INTRO = ("Each section is built from one results folder alone (its results.json and the files its render step "
         "wrote): the verdict is computed from the numbers by the rule stated beside it, and the papers' "
         "published numbers stand beside ours.")
BADGE_COLOURS = {"reproduced": "#1a7f37", "partly reproduced": "#9a6700", "not reproduced": "#cf222e",
                 "no published claim": "#57606a"}
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


def summary_rows(parts) -> list:
    return [(f"[{i}. {p.title}](#{anchor(i)})", f"**{p.section.verdict}**", p.section.criterion, f"`{p.folder}/`")
            for i, p in enumerate(parts, 1)]


def _config_items(part) -> str:
    if not part.differences:
        return "none (the defaults)"
    return ", ".join(f"`{k}={json.dumps(v, ensure_ascii=False)}`" for k, v in part.differences.items())


def provenance_items(part) -> list[str]:
    """Markdown list items: the folder and its origin, every provenance entry but the config, the config
    keys that differ from the experiment's defaults, and where the full config is."""
    items = [f"results: `{part.folder}/` ({part.origin})"]
    items += [f"{key.replace('_', ' ')}: `{value}`" for key, value in part.section.provenance.items()
              if key != "config"]
    items.append(f"config, keys that differ from experiments/{part.section.experiment}/config.py: "
                 + _config_items(part))
    items.append(f"full config: `{part.folder}/config.json`")
    return items


def section_markdown(index: int, part) -> str:
    s = part.section
    lines = [f'<a id="{anchor(index)}"></a>', f"## {index}. {part.title}", "",
             f"**Verdict: {s.verdict}.** Criterion: {s.criterion}.", "", s.summary, ""]
    if s.paper:
        lines += ["### The papers' numbers beside ours", "", paper_table(s), ""]
    if s.tables:
        lines += ["### Tables", ""] + [line for t in s.tables for line in (t, "")]
    if s.figures:
        lines += ["### Figures", ""] + [f"![{f}]({part.folder}/{f})\n" for f in s.figures]
    lines += ["### Provenance", ""] + [f"- {item}" for item in provenance_items(part)] + [""]
    return "\n".join(lines)


def unreported_note(unreported) -> str:
    return (f"Experiments without a section.py, not in this report: {', '.join(unreported)}."
            if unreported else "")


def markdown_report(parts, built: str, unreported=()) -> str:
    head = [f"# {TITLE}", "", f"Built {built} from {len(parts)} results folders. {INTRO}", "", "## Summary", "",
            markdown_table(("section", "verdict", "criterion", "folder"), summary_rows(parts)), "",
            unreported_note(unreported), ""]
    return "\n".join(head + [section_markdown(i, p) for i, p in enumerate(parts, 1)])


def badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{BADGE_COLOURS[verdict]}">{html.escape(verdict)}</span>'


def image_data_uri(path: str) -> str:
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


def summary_html(parts) -> str:
    rows = "".join(f'<tr><td><a href="#{anchor(i)}">{html.escape(f"{i}. {p.title}")}</a></td>'
                   f"<td>{badge(p.section.verdict)}</td><td>{markup.inline(p.section.criterion)}</td>"
                   f"<td><code>{html.escape(p.folder)}/</code></td></tr>\n" for i, p in enumerate(parts, 1))
    return ("<table>\n<thead><tr><th>section</th><th>verdict</th><th>criterion</th><th>folder</th></tr></thead>\n"
            f"<tbody>\n{rows}</tbody>\n</table>")


def section_html(index: int, part, root: str) -> str:
    s = part.section
    out = [f'<section id="{anchor(index)}">', f"<h2>{index}. {html.escape(part.title)}</h2>",
           f'<p>{badge(s.verdict)} <span class="criterion">Criterion: {markup.inline(s.criterion)}.</span></p>',
           markup.blocks(s.summary)]
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


def html_report(parts, built: str, root: str, unreported=()) -> str:
    body = "\n".join(section_html(i, p, root) for i, p in enumerate(parts, 1))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(TITLE)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(TITLE)}</h1>\n"
            f"<p>Built {html.escape(built)} from {len(parts)} results folders. {html.escape(INTRO)}</p>\n"
            f"<h2>Summary</h2>\n{summary_html(parts)}\n{markup.blocks(unreported_note(unreported))}\n{body}\n"
            "</body>\n</html>\n")


def write(parts, out, unreported=()) -> list[str]:
    """Write report.md and report.html into ``out`` (a kd_theory.results.OutputDir); return their names.
    ``unreported``: experiments that have no section.py (named, so that nobody thinks them forgotten)."""
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out.write_text("report.md", markdown_report(parts, built, unreported))
    out.write_text("report.html", html_report(parts, built, out.path, unreported))
    return ["report.md", "report.html"]
