"""The generated parts of each experiment's page docs/experiments/NAME.md, so that they cannot drift from the
code or the committed results:

* between ``<!-- config:begin -->`` and ``<!-- config:end -->``: the config fields and presets
  (:meth:`experiments.common.schema.Schema.markdown_table`);
* between ``<!-- results:begin -->`` and ``<!-- results:end -->``: every committed results folder of
  the experiment (docs/results/*/ whose config.json names it): its verdict, unmet preconditions, the
  evidence sentence, its figures and how it was made.

    python -m experiments.common.docs            # rewrite every page's generated parts
    python -m experiments.common.docs --check    # exit 1 when a page is stale (the tests run this)
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = os.path.join(REPO, "docs", "experiments")
RESULTS = os.path.join(REPO, "docs", "results")
MARKERS = {"config": ("<!-- config:begin -->", "<!-- config:end -->"),
           "results": ("<!-- results:begin -->", "<!-- results:end -->")}


def marked_block(text: str, begin: str, end: str, path: str = "README.md") -> str:
    """The part of ``text`` from ``begin`` to ``end`` (markers included); a clear error when they are missing."""
    if begin not in text or end not in text:
        raise ValueError(f"{path} lacks the markers {begin} … {end}: put them where the generated block goes")
    return text[text.index(begin):text.index(end) + len(end)]


def generated_block_main(argv, *, doc: str, prog: str, begin: str, end: str, make_block, what: str,
                         command: str) -> int:
    """The command line of a README block generated from files under ``--results-dir``: rewrite it,
    ``--check`` (exit 1 when it differs from what the files say), ``--print`` (the block only); exit 2
    with the reason when the files or the markers are wrong. ``make_block(results_dir)`` is the table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--results-dir", default=RESULTS)
    parser.add_argument("--readme", default=os.path.join(REPO, "README.md"))
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the README's {what} is stale")
    parser.add_argument("--print", action="store_true", help=f"print the {what}, touch nothing")
    args = parser.parse_args(argv)
    try:
        new = f"{begin}\n{make_block(args.results_dir)}\n{end}"
        if args.print:
            print(new)
            return 0
        with open(args.readme, encoding="utf-8") as fh:
            readme = fh.read()
        old = marked_block(readme, begin, end, args.readme)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if old != new:
            print(f"{args.readme}'s {what} differs from {args.results_dir}: run {command}", file=sys.stderr)
        return int(old != new)
    with open(args.readme, "w", encoding="utf-8") as fh:
        fh.write(readme.replace(old, new))
    return 0


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def result_folders(name: str, results_dir: str = RESULTS) -> list[str]:
    """The folders of ``results_dir`` holding results of experiment ``name`` with a verdict, sorted."""
    out = []
    for folder in sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []:
        path = os.path.join(results_dir, folder)
        stamp = os.path.join(path, "config.json")
        if os.path.isfile(stamp) and os.path.isfile(os.path.join(path, "results.json")):
            if _read_json(stamp).get("experiment") == name and "verdict" in _read_json(os.path.join(path,
                                                                                                    "results.json")):
                out.append(folder)
    return out


def config_block(name: str) -> str:
    schema = importlib.import_module(f"experiments.{name}.config").SCHEMA
    return schema.markdown_table()


def results_block(name: str, results_dir: str = RESULTS) -> str:
    folders = result_folders(name, results_dir)
    if not folders:
        return "No committed results yet."
    lines = []
    for folder in folders:
        path = os.path.join(results_dir, folder)
        results, stamp = _read_json(os.path.join(path, "results.json")), _read_json(os.path.join(path, "config.json"))
        env = stamp.get("environment", {})
        unmet = [p["name"] for p in results["preconditions"] if not p["met"]]
        lines += [f"### {folder}", "",
                  f"**Verdict: {results['verdict']}** (claim type {results['claim']['type']}; unmet preconditions: "
                  f"{', '.join(unmet) or 'none'}). {results.get('evidence', '')}", "",
                  f"Made with `{shlex.join(stamp.get('argv', [])) or 'unknown'}` (preset `{stamp.get('preset', '?')}`) "
                  f"on {env.get('device', '?')} ({env.get('backend', '?')}), jax {env.get('jax_version', '?')}, "
                  f"{env.get('time_utc', '?')}. Files: `docs/results/{folder}/` (results.json, config.json, runs.csv "
                  "and the tables below).", ""]
        for f in sorted(os.listdir(path)):
            if f.endswith(".png"):
                lines += [f"![{folder}/{f}](../results/{folder}/{f})", ""]
    return "\n".join(lines).rstrip()


def render(page: str, name: str, results_dir: str = RESULTS) -> str:
    """``page`` with its generated blocks rewritten (blocks without markers are left out)."""
    for kind, (begin, end) in MARKERS.items():
        if begin in page and end in page:
            block = config_block(name) if kind == "config" else results_block(name, results_dir)
            page = page[:page.index(begin)] + f"{begin}\n{block}\n{end}" + page[page.index(end) + len(end):]
    return page


def pages() -> dict[str, str]:
    """{experiment name: its page's path} for every experiment with a page."""
    from experiments import run
    return {n: os.path.join(PAGES, f"{n}.md") for n in run.EXPERIMENTS if os.path.isfile(os.path.join(PAGES, f"{n}.md"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a page's generated part is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, path in pages().items():
        with open(path, encoding="utf-8") as fh:
            page = fh.read()
        new = render(page, name)
        if new != page:
            stale.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(new)
    if args.check and stale:
        print("stale generated parts (run python -m experiments.common.docs): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
