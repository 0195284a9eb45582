"""The little markdown the sections use, as HTML: paragraphs, "- " lists, pipe tables, **bold**,
*italic* and `code`. Everything else is escaped text (no raw HTML passes through)."""
from __future__ import annotations

import html
import re

INLINE = ((re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
          (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
          (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"))


def inline(text: str) -> str:
    """Escaped text with `code`, **bold** and *italic* marked up."""
    out = html.escape(text, quote=False)
    for pattern, replacement in INLINE:
        out = pattern.sub(replacement, out)
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def is_separator(line: str) -> bool:
    return bool(re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", line.strip()))


def table(markdown: str) -> str:
    """A pipe table (header row, separator row, body rows) as an HTML table."""
    lines = [l for l in markdown.strip().splitlines() if l.strip()]
    if not lines:
        raise ValueError("table: empty markdown")
    head, body = lines[0], [l for l in lines[1:] if not is_separator(l)]
    cells = lambda line, tag: "".join(f"<{tag}>{inline(c)}</{tag}>" for c in _cells(line))
    return ("<table>\n<thead><tr>" + cells(head, "th") + "</tr></thead>\n<tbody>\n"
            + "".join(f"<tr>{cells(l, 'td')}</tr>\n" for l in body) + "</tbody>\n</table>")


def blocks(markdown: str) -> str:
    """Blocks separated by blank lines: a table, a list, a heading (#…) or a paragraph."""
    out = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if all(l.lstrip().startswith("|") for l in lines):
            out.append(table(block))
        elif all(l.lstrip().startswith("- ") for l in lines):
            out.append("<ul>" + "".join(f"<li>{inline(l.lstrip()[2:])}</li>" for l in lines) + "</ul>")
        elif lines[0].startswith("#"):
            level = min(6, len(lines[0]) - len(lines[0].lstrip("#")) + 2)   # under the section's own heading
            out.append(f"<h{level}>{inline(lines[0].lstrip('#').strip())}</h{level}>")
            if lines[1:]:
                out.append(blocks("\n".join(lines[1:])))
        else:
            out.append(f"<p>{inline(' '.join(l.strip() for l in lines))}</p>")
    return "\n".join(out)
