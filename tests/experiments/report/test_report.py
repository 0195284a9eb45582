"""The reproduction report end to end: every reportable experiment's tiny preset run into one results folder,
the report built from it; every section's verdict is its results.json's; a rebuild gives the same bytes;
report.html is self-contained and renders in a real headless browser (Debian's chromium); README's
verdict table, the committed report and the committed results agree."""
import base64
import html
import json
import os
import re
import shutil
import subprocess

import pytest

from experiments import sections
from experiments.report import discovery, document, markup, readme


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory, launch):
    """Every reportable experiment's tiny preset, each in its own folder (made once)."""
    root = tmp_path_factory.mktemp("results")
    for name in discovery.reportable():
        done = launch(f"--experiment={name}", "--preset=tiny", f"--out={root / name}", timeout=600)
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    return root


@pytest.fixture(scope="session")
def report(results_dir, tmp_path_factory, launch):
    out = tmp_path_factory.mktemp("report") / "report"
    done = launch("--experiment=report", f"--out={out}", f"--config.results_dir={results_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "verdicts.json").read_text())


pytestmark = pytest.mark.slow


def test_every_section_carries_its_results_verdict_claim_and_preconditions(results_dir, report):
    out, verdicts = report
    assert [v["folder"] for v in verdicts] == sorted(discovery.reportable())
    md = (out / "report.md").read_text()
    for v in verdicts:
        results = json.loads((results_dir / v["folder"] / "results.json").read_text())
        assert v["verdict"] == results["verdict"] and v["rule"] == results["rule"] and v["claim"] == results["claim"]
        assert v["unmet"] == [p["name"] for p in results["preconditions"] if not p["met"]]
        if v["unmet"]:
            assert v["verdict"] == "inconclusive"
        assert results["claim"]["quote"] in md and f"**Verdict: {results['verdict']}.**" in md


def test_a_rebuild_gives_the_same_bytes(results_dir, report, tmp_path, launch):
    out, _ = report
    again = tmp_path / "again"
    done = launch("--experiment=report", f"--out={again}", f"--config.results_dir={results_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("report.html", "verdicts.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    figures = os.path.relpath(results_dir, again)
    assert (again / "report.md").read_text() == (out / "report.md").read_text().replace(
        os.path.relpath(results_dir, out), figures)


def test_report_html_is_self_contained(report, results_dir):
    out, verdicts = report
    page = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](?!#|data:)""", page), "an external reference in report.html"
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert images
    for name, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("<section") == len(verdicts)


@pytest.mark.parametrize("args, message", [
    (["--config.folders=('nonesuch',)"], "--config.folders=('nonesuch',) is not allowed"),
    (["--config.results_dir=/nonexistent/folder"], "--config.results_dir='/nonexistent/folder' is not allowed"),
])
def test_bad_report_config_is_refused_naming_the_key(tmp_path, launch, args, message):
    out = tmp_path / "out"
    done = launch("--experiment=report", f"--out={out}", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not out.exists()


def test_a_folder_made_before_the_verdict_rules_is_named(tmp_path, launch, results_dir):
    legacy = tmp_path / "results"
    shutil.copytree(results_dir / "table1", legacy / "old")
    results = json.loads((legacy / "old" / "results.json").read_text())
    del results["verdict"]
    (legacy / "old" / "results.json").write_text(json.dumps(results))
    done = launch("--experiment=report", f"--out={tmp_path / 'out'}", f"--config.results_dir={legacy}")
    assert done.returncode == 2 and "made before the verdict rules" in done.stderr and "old" in done.stderr


def test_readme_table_is_generated_from_the_results(results_dir, tmp_path):
    text = f"# x\n\n{readme.BEGIN}\nstale\n{readme.END}\n\nrest\n"
    path = tmp_path / "README.md"
    path.write_text(text)
    assert readme.main(["--results-dir", str(results_dir), "--readme", str(path), "--check"]) == 1
    assert readme.main(["--results-dir", str(results_dir), "--readme", str(path)]) == 0
    assert readme.main(["--results-dir", str(results_dir), "--readme", str(path), "--check"]) == 0
    new = path.read_text()
    for row in readme.rows(str(results_dir)):
        assert f"**{row['verdict']}**" in new and row["folder"] in new
    assert new.endswith("rest\n")


def test_committed_readme_report_and_results_agree(repo):
    """README's verdict table, docs/report/verdicts.json and docs/results/*/results.json say the same thing."""
    results = os.path.join(repo, "docs", "results")
    assert readme.main(["--results-dir", results, "--readme", os.path.join(repo, "README.md"), "--check"]) == 0
    with open(os.path.join(repo, "docs", "report", "verdicts.json"), encoding="utf-8") as fh:
        committed = json.load(fh)
    rows = {r["folder"]: r for r in readme.rows(results)}
    assert [v["folder"] for v in committed] == sorted(rows)
    for v in committed:
        row = rows[v["folder"]]
        assert (v["verdict"], v["unmet"], v["further"]) == (row["verdict"], row["unmet"], row["further"])
    assert any(r["further"] for r in rows.values())    # the further claims (interaction, bound, …) are compared too


def test_tables_in_finds_each_table_of_a_render_step():
    text = "# T\n\nintro\n| a | b |\n|---|---|\n| 1 | 2 |\nbetween\n\n| c |\n|---|\n| 3 |"
    assert sections.tables_in(text) == ("| a | b |\n|---|---|\n| 1 | 2 |", "| c |\n|---|\n| 3 |")
    assert sections.tables_in("no table") == ()


def test_provenance_reads_config_json_else_results(tmp_path):
    env = {"jax_version": "0.10.2", "backend": "cpu", "device": "cpu", "time_utc": "2026-01-01T00:00:00Z"}
    results = {"config": {"a": 1}, "environment": env}
    assert sections.provenance(results, str(tmp_path)) == {"config": {"a": 1}, "jax_version": "0.10.2",
                                                           "backend": "cpu", "device": "cpu",
                                                           "date": "2026-01-01T00:00:00Z", "code": "unknown",
                                                           "command": "unknown"}
    (tmp_path / "config.json").write_text(json.dumps({"config": {"a": 2}, "environment": dict(env, backend="gpu"),
                                                      "argv": ["kd-run", "--config.x=(1, 2)"]}))
    p = sections.provenance(results, str(tmp_path))
    assert p["config"] == {"a": 2} and p["backend"] == "gpu" and p["command"] == "kd-run '--config.x=(1, 2)'"
    assert "judged again" not in p
    (tmp_path / "config.json").write_text(json.dumps({"environment": dict(env, git_commit="abc")}))
    results["rejudged"] = {"trained_by": "abc", "environment": dict(env, git_commit="def", time_utc="2026-02-02")}
    p = sections.provenance(results, str(tmp_path))
    assert p["code"] == "abc" and p["judged again"] == "def on 2026-02-02"


def test_markup_escapes_text_and_renders_tables():
    assert markup.inline("a <b> & **c** `d<e` *f*") == "a &lt;b&gt; &amp; <strong>c</strong> <code>d&lt;e</code> <em>f</em>"
    assert markup.inline("2 * 3 * 4") == "2 * 3 * 4"
    t = markup.table("| a | b |\n|---|---|\n| 1 | **2** |\n| 3 | <x> |")
    assert t.count("<tr>") == 3 and "<th>a</th><th>b</th>" in t and "<td><strong>2</strong></td>" in t
    assert "<td>&lt;x&gt;</td>" in t
    assert markup.blocks("p one\nline\n\n- x\n- y") == "<p>p one line</p>\n<ul><li>x</li><li>y</li></ul>"


def test_badges_cover_the_verdict_vocabulary():
    from kd_theory.protocol import VERDICTS
    assert set(document.BADGE_COLOURS) == set(VERDICTS)


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------

CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const tables = [...document.querySelectorAll('table')];
  const status = {
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length,
    tables: tables.length,
    rendered: tables.filter(t => t.rows.length >= 2 && t.rows[1].cells.length > 0
                                 && t.getBoundingClientRect().height > 0).length,
    sections: document.querySelectorAll('section').length};
  const pre = document.createElement('pre');
  pre.id = 'report-check';
  pre.textContent = JSON.stringify(status);
  document.body.appendChild(pre);
});
</script>"""


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(*args, timeout=180):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             "--virtual-time-budget=15000"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: apt-get install -y chromium; "
                                                 ".ci/run installs it where apt-get is available)")
def test_report_renders_in_a_headless_browser(report, tmp_path):
    out, verdicts = report
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "\n</body>"))
    done = _browser("--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="report-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-3000:]
    status = json.loads(html.unescape(found.group(1)))
    assert status["images"] == page.count("<img ") > 0 and status["loaded"] == status["images"], status
    assert status["tables"] == page.count("<table>") and status["rendered"] == status["tables"], status
    assert status["sections"] == len(verdicts)
    shot = tmp_path / "report-screenshot.png"
    done = _browser(f"--screenshot={shot}", "--window-size=1280,2400", (out / "report.html").as_uri())
    assert shot.is_file(), done.stderr[-3000:]
    from matplotlib import image
    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (2400, 1280) and pixels.std() > 0.05  # not a blank page
