"""The reproduction report end to end: tiny runs of every experiment made once through the report itself,
then report.md / report.html checked for every section, its verdict and the papers' numbers; a rebuild
that runs nothing; and report.html opened in a real headless browser (Debian's chromium)."""
import base64
import html
import json
import os
import re
import shutil
import subprocess

import pytest

from experiments import run as launcher
from experiments import sections
from experiments.report import discovery, markup
from tests.conftest import PYTHON, REPO

# Tiny configs (seconds each) of every experiment with a section.py: --config.NAME.KEY=VALUE of the report.
TINY = {
    "table1": ["select_seeds=1", "report_seeds=2", "student_widths=(4,)", "steps=(10,)", "teacher_width=8",
               "teacher_steps=10", "lr=(8.0,)", "B=(0.0,4.0)", "temperature=(4.0,)", "progress=False"],
    "margin": ["digits_variants=()", "xor_dims=(3,4)", "xor_num_gates=128", "gate_seeds=2", "fresh_gates=512",
               "vstar_fresh_gates=0", "svm=False", "max_iters=200", "tol=0.05"],
    "scaling": ["xor_dims=(4,)", "separable_margins=(0.3,)", "digits_variants=()", "widths=(2,4)", "seeds=2",
                "bootstrap=10", "margin_gates=64", "margin_max_iters=100", "teacher_width=8", "teacher_steps=10",
                "equal_steps=10", "theorem_max_steps=10", "kernel_scales=(1.0,)", "headline_scale=1.0",
                "epsilons=(0.2,0.1)", "separable_n=32", "accuracy.enabled=False", "progress=False"],
    "deep_noise": ["noise_vars=(0.01,0.2)", "select_seeds=1", "report_seeds=2", "temperatures=(4.0,)",
                   "max_examples=120", "max_epochs=1", "patience=1", "teacher_channels=(2,2,2,2,2,2,2,2)",
                   "teacher_dense=(4,4)", "student_channels=(2,2)", "student_dense=(4,4)", "runs_per_vmap=0"],
    "biased_soft": ["select_seeds=2", "report_seeds=2", "student_width=8", "lr=(4.0,16.0)", "steps=(20,60)",
                    "smoothing=(0.5,)", "noise_sigmas=(1.0,)", "partial_false_negative=(0.0,)",
                    "partial_distractor=(0.2,)", "teacher_width=32", "teacher_steps=60", "temperatures=(4.0,)",
                    "early_steps=(1,)", "sbt_alphas=((1.0,1.0,1.0),)", "sbt_steps=60", "progress=False"],
    "crowd": ["real_aggregators=('MV','Wawa')", "sim_tasks=150", "sim_worker_ratios=(1.0,4.0)", "sim_seeds=2",
              "sim_variants=('distinct_skills',)", "sim_aggregators=('MV','Wawa')", "bridge_workers=6",
              "bridge_aggregator=Wawa", "select_seeds=2", "report_seeds=2", "student_widths=(4,)",
              "lr=(8.0,32.0)", "steps=(10,30)"],
}
MNIST = os.path.join(REPO, "docs", "results", "table1-mnist")
# The paper's Table 1 (MNIST): every number must appear beside ours in the MNIST section
PAPER_TABLE1 = ("98.75", "97.19", "97.67", "96.84", "97.26", "93.04", "95.83",
                "98.34", "95.77", "96.58", "95.33", "96.00", "88.84", "95.62")
PAPER_FIGURE1 = ("82.5", "74.6", "75.9", "73.4", "62.1", "70.3")


def tiny_argv(names, *extra) -> list:
    return (["report", f"--config.experiments={tuple(names)!r}"]
            + [f"--config.{name}.{arg}" for name in names for arg in TINY[name]] + list(extra))


def test_every_reportable_experiment_has_a_tiny_config():
    missing = sorted(set(discovery.reportable()) - set(TINY))
    assert not missing, f"add tiny --config overrides for {missing} to TINY in tests/test_report.py"


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    """A report folder built once: the tiny runs made through the report's own run path, the MNIST Table-1
    folder of docs/ included. Returns (folder, parsed results.json of the report)."""
    root = tmp_path_factory.mktemp("report") / "out"
    names = [n for n in discovery.reportable() if n in TINY]
    argv = tiny_argv(names, f"--config.include=({MNIST!r},)")
    launcher.run_experiment("report", launcher.parse_config("report", argv), str(root), argv)
    with open(root / "results.json") as fh:
        return root, json.load(fh)


def _sections_of(root, summary):
    """Each part's Section recomputed from its folder, as the report computed it."""
    import importlib
    out = []
    for entry in summary["sections"]:
        folder = root / entry["folder"]
        results = json.loads((folder / "results.json").read_text())
        module = importlib.import_module(f"experiments.{entry['experiment']}.section")
        out.append((entry, module.section(results, str(folder))))
    return out


@pytest.mark.slow
def test_every_experiment_and_the_include_have_a_section_with_its_verdict(report):
    root, summary = report
    folders = [s["folder"] for s in summary["sections"]]
    assert folders == [n for n in discovery.reportable() if n in TINY] + ["included/table1-mnist"]
    md, page = (root / "report.md").read_text(), (root / "report.html").read_text()
    for entry, section in _sections_of(root, summary):
        assert entry["verdict"] == section.verdict in sections.VERDICTS
        assert entry["title"] in md and html.escape(entry["title"]) in page
        assert f"**Verdict: {section.verdict}.** Criterion: {section.criterion}." in md
        assert markup.inline(section.criterion) in page
        for figure in section.figures:
            assert f"]({entry['folder']}/{figure})" in md and os.path.isfile(root / entry["folder"] / figure)
        for p in section.paper:
            assert f"| {p.quantity} | {p.paper} | {p.ours} | {p.source} |" in md
        for config_key in ("jax version", "backend", "device", "date"):
            assert f"{config_key}: `" in md
    # the summary table: one row per section, verdict beside it
    table = md.split("## Summary", 1)[1].split("<a id=", 1)[0]
    assert len([l for l in table.splitlines() if l.startswith("| [")]) == len(summary["sections"])


@pytest.mark.slow
def test_the_mnist_include_is_its_own_section_with_the_papers_table(report):
    root, summary = report
    entry = summary["sections"][-1]
    assert entry["experiment"] == "table1" and entry["title"].endswith(f", from {MNIST}")
    assert "(MNIST)" in entry["title"]
    md = (root / "report.md").read_text()
    mnist = md.split(entry["title"], 1)[1]
    for number in PAPER_TABLE1:
        assert f"| {number} |" in mnist, number
    # the MNIST run's own headline: m = 4 on full, +0.54 [−0.13, +1.21] beside the paper's +6.78
    assert "| full, m = 4, soft − hard (points) | +6.78 | +0.54 [-0.13, +1.21] |" in mnist
    assert entry["verdict"] == "partly reproduced"   # > 0 at m = 4 on full, but the interval includes 0
    # the include folder in docs/ has no figures: they were rendered into the report's copy
    assert not os.path.exists(os.path.join(MNIST, "table1.png"))
    assert (root / "included" / "table1-mnist" / "table1.png").is_file()


@pytest.mark.slow
def test_papers_numbers_stand_beside_ours(report):
    root, _ = report
    md = (root / "report.md").read_text()
    if "deep_noise" in TINY:
        for number in PAPER_FIGURE1:
            assert f"| {number} |" in md
    assert "| soft labels: exponent of 1/γ in m* | 2 |" in md and "| hard labels: exponent of 1/γ in m* | 4 |" in md
    assert "| noisy 2-XOR: log-log slope of γ against d | −1 (γ = Θ(1/d)) |" in md


@pytest.mark.slow
def test_provenance_names_the_config_that_differs_and_the_launcher_command(report):
    root, summary = report
    md = (root / "report.md").read_text()
    stamp = json.loads((root / "margin" / "config.json").read_text())
    assert stamp["experiment"] == "margin" and stamp["config"]["xor_dims"] == [3, 4]
    assert stamp["argv"][:5] == ["python", "-m", "experiments.run", "--experiment=margin", f"--out={root / 'margin'}"]
    assert "--config.xor_dims=(3, 4)" in stamp["argv"]
    assert "`xor_dims=[3, 4]`" in md


@pytest.mark.slow
def test_report_html_is_self_contained(report):
    root, summary = report
    page = (root / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](?!#|data:)""", page), "an external reference in report.html"
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    expected = [f for _, s in _sections_of(root, summary) for f in s.figures]
    assert [name for name, _ in images] == expected
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # every markdown table of every section became an HTML table (+ the summary + the papers' tables)
    n_tables = 1 + sum(len(s.tables) + bool(s.paper) for _, s in _sections_of(root, summary))
    assert page.count("<table>") == n_tables


@pytest.mark.slow
def test_rebuild_runs_nothing_and_gives_the_same_report(report, tmp_path):
    root, summary = report
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    names = [n for n in discovery.reportable() if n in TINY]
    argv = tiny_argv(names, f"--config.include=({MNIST!r},)", "--config.rebuild_only=True")
    done = subprocess.run([PYTHON, "-m", "experiments.run", "--experiment=report", f"--out={copy}", *argv[1:]],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[report] running" not in done.stderr
    strip = lambda text: (re.sub(r"Built [^.]+ from", "Built from", text).replace(str(copy), str(root))
                          .replace("(run by this report)", "(reused (results.json was already there))"))
    assert strip((copy / "report.md").read_text()) == strip((root / "report.md").read_text())
    shutil.rmtree(copy / "margin")
    done = subprocess.run([PYTHON, "-m", "experiments.run", "--experiment=report", f"--out={copy}", *argv[1:]],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: --config.rebuild_only=True, but {copy / 'margin'}/results.json is missing" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--config.include=('/nonexistent/folder',)"], "--config.include='/nonexistent/folder' is not allowed"),
    (["--config.experiments=('tabel1',)"], "--config.experiments=('tabel1',) is not allowed"),
    (["--config.margin.xor_dims=(99,)"], "config.margin.xor_dims must lie in 3..12"),
    (["--config.table1.report_seeds=0"], "--config.table1.report_seeds=0 is not allowed"),
    (["--config.rerun=True", "--config.rebuild_only=True"], "--config.rerun=True is not allowed"),
])
def test_bad_report_config_is_refused_naming_the_key(tmp_path, args, message):
    out = tmp_path / "out"
    done = subprocess.run([PYTHON, "-m", "experiments.run", "--experiment=report", f"--out={out}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not out.exists()


def test_an_include_folder_of_an_unknown_experiment_is_refused(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "results.json").write_text("{}")
    (folder / "config.json").write_text('{"experiment": "nonesuch"}')
    from experiments.report import include_experiment
    with pytest.raises(ValueError, match="names experiment 'nonesuch'"):
        include_experiment(str(folder))


def test_tables_in_finds_each_table_of_a_render_step(tmp_path):
    text = "# T\n\nintro\n| a | b |\n|---|---|\n| 1 | 2 |\nbetween\n\n| c |\n|---|\n| 3 |"
    assert sections.tables_in(text) == ("| a | b |\n|---|---|\n| 1 | 2 |", "| c |\n|---|\n| 3 |")
    assert sections.tables_in("no table") == ()


def test_provenance_reads_config_json_else_results(tmp_path):
    env = {"jax_version": "0.10.2", "backend": "cpu", "device": "cpu", "time_utc": "2026-01-01T00:00:00Z"}
    results = {"config": {"a": 1}, "environment": env}
    assert sections.provenance(results, str(tmp_path)) == {"config": {"a": 1}, "jax_version": "0.10.2",
                                                           "backend": "cpu", "device": "cpu",
                                                           "date": "2026-01-01T00:00:00Z", "command": "unknown"}
    (tmp_path / "config.json").write_text(json.dumps({"config": {"a": 2}, "environment": dict(env, backend="gpu"),
                                                      "argv": ["kd-run", "--config.x=(1, 2)"]}))
    p = sections.provenance(results, str(tmp_path))
    assert p["config"] == {"a": 2} and p["backend"] == "gpu" and p["command"] == "kd-run '--config.x=(1, 2)'"


def test_markup_escapes_text_and_renders_tables():
    assert markup.inline("a <b> & **c** `d<e` *f*") == "a &lt;b&gt; &amp; <strong>c</strong> <code>d&lt;e</code> <em>f</em>"
    assert markup.inline("2 * 3 * 4") == "2 * 3 * 4"
    t = markup.table("| a | b |\n|---|---|\n| 1 | **2** |\n| 3 | <x> |")
    assert t.count("<tr>") == 3 and "<th>a</th><th>b</th>" in t and "<td><strong>2</strong></td>" in t
    assert "<td>&lt;x&gt;</td>" in t
    assert markup.blocks("p one\nline\n\n- x\n- y") == "<p>p one line</p>\n<ul><li>x</li><li>y</li></ul>"


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
             "--virtual-time-budget=15000"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: apt-get install -y chromium; "
                                                 ".ci/run installs it where apt-get is available)")
def test_report_renders_in_a_headless_browser(report, tmp_path):
    root, summary = report
    page = (root / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "\n</body>"))
    done = _browser("--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="report-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-3000:]
    status = json.loads(html.unescape(found.group(1)))
    assert status["images"] == page.count("<img ") > 0 and status["loaded"] == status["images"], status
    assert status["tables"] == page.count("<table>") and status["rendered"] == status["tables"], status
    assert status["sections"] == len(summary["sections"])
    # a screenshot of the top of the page (kept beside the report for a person to look at)
    shot = root / "report-screenshot.png"
    done = _browser(f"--screenshot={shot}", "--window-size=1280,2400", (root / "report.html").as_uri())
    assert shot.is_file(), done.stderr[-3000:]
    from matplotlib import image
    pixels = image.imread(str(shot))
    assert pixels.shape[:2] == (2400, 1280) and pixels.std() > 0.05  # not a blank page


# ---------------------------------------------------------------------------------------------
# Verdicts: each section's rule on hand-made numbers
# ---------------------------------------------------------------------------------------------

def _gap(dataset, width, mean, low, high, view="own_best"):
    return {"view": view, "dataset": dataset, "width": width, "gap_mean": mean, "gap_low": low, "gap_high": high,
            "significant": low > 0 or high < 0}


@pytest.mark.parametrize("gaps, expected", [
    ([_gap("full", 4, 0.05, 0.01, 0.09), _gap("reduced", 4, -0.01, -0.02, 0.0)], "reproduced"),
    ([_gap("full", 4, 0.05, -0.01, 0.11)], "partly reproduced"),                         # > 0, interval spans 0
    ([_gap("full", 4, -0.01, -0.03, 0.01), _gap("full", 6, 0.02, 0.01, 0.03)], "partly reproduced"),
    ([_gap("full", 4, -0.01, -0.03, 0.01), _gap("full", 4, 0.2, 0.1, 0.3, view="unconstrained")], "not reproduced"),
    ([_gap("reduced", 4, 0.05, 0.01, 0.09)], "partly reproduced"),                        # above 0, elsewhere
    ([_gap("full", 4, -0.05, -0.09, -0.01)], "not reproduced"),
])
def test_table1_verdict_reads_the_smallest_width_on_full(gaps, expected):
    from experiments.table1 import section
    results = {"grid": {"datasets": ["full", "reduced"], "widths": [8, 4, 6]}, "gaps": gaps}
    assert section.headline_cell(results) == ("full", 4)
    assert section.verdict(results)[0] == expected


@pytest.mark.parametrize("lowers, expected", [
    ({3: 0.16, 4: 0.11, 8: 0.04}, "reproduced"),         # γ·d = 0.48, 0.44, 0.32: ≥ 1/50, within 2×
    ({3: 0.16, 4: 0.11, 8: 0.02}, "partly reproduced"),  # γ·d = 0.16 at d = 8: falls by 3×
    ({3: 0.005, 4: 0.004}, "partly reproduced"),         # flat but below 1/50
    ({3: 0.006, 8: 0.0001}, "not reproduced"),
    ({}, "no published claim"),
])
def test_margin_verdict_checks_the_one_over_d_law(lowers, expected):
    from experiments.margin import section
    rows = [{"family": "noisy_xor", "d": d, "gamma_K_lower": g} for d, g in lowers.items()]
    rows.append({"family": "digits", "d": 64, "gamma_K_lower": 1e-6})   # never part of the XOR claim
    assert section.verdict({"rows": rows, "summary": {}})[0] == expected


def _slope(value, low, high, theory, fit=None):
    return {"value": value, "low": low, "high": high, "theory_exponent": theory,
            "theory_fit": theory if fit is None else fit}


@pytest.mark.parametrize("soft, hard, expected", [
    ((_slope(2.1, 1.5, 2.6, 2.0), _slope(1.0, 0.8, 1.2, 1.0)),
     (_slope(3.5, 2.9, 4.4, 4.0), _slope(0.3, 0.1, 0.5, "logarithmic", fit=0.21)), "reproduced"),
    ((_slope(1.0, 0.4, 1.3, 2.0), _slope(0.5, 0.4, 0.7, 1.0)),
     (_slope(1.3, 0.8, 1.6, 4.0), _slope(0.6, 0.5, 0.8, "logarithmic", fit=0.21)), "partly reproduced"),
    ((_slope(1.0, -0.4, 1.3, 2.0), _slope(0.5, 0.4, 0.7, 1.0)),
     (_slope(1.3, 0.8, 1.6, 4.0), _slope(0.6, 0.5, 0.8, "logarithmic", fit=0.21)), "not reproduced"),
    ((_slope(float("nan"), float("nan"), float("nan"), 2.0), _slope(0.5, 0.4, 0.7, 1.0)),
     (_slope(1.3, 0.8, 1.6, 4.0), _slope(0.3, 0.1, 0.5, "logarithmic", fit=0.21)), "partly reproduced"),
])
def test_scaling_verdict_compares_intervals_with_the_theorems_exponents(soft, hard, expected):
    from experiments.scaling import section
    results = {"headline_regime": "equal", "slopes": {"soft": dict(zip(("inv_gamma", "inv_eps"), soft)),
                                                      "hard": dict(zip(("inv_gamma", "inv_eps"), hard))}}
    assert section.verdict(results)[0] == expected


def _noise_gap(v, low):
    return {"noise_var": v, "gap_mean": low + 0.01, "gap_low": low, "gap_high": low + 0.02, "significant": low > 0}


@pytest.mark.parametrize("gaps, widening_low, expected", [
    ([_noise_gap(0.01, -0.01), _noise_gap(0.1, 0.02), _noise_gap(0.2, 0.05)], 0.03, "reproduced"),
    ([_noise_gap(0.01, -0.01), _noise_gap(0.1, -0.01), _noise_gap(0.2, 0.05)], 0.03, "partly reproduced"),
    ([_noise_gap(0.01, -0.01), _noise_gap(0.1, 0.02), _noise_gap(0.2, 0.05)], -0.01, "partly reproduced"),
    ([_noise_gap(0.01, 0.02), _noise_gap(0.1, -0.01), _noise_gap(0.2, -0.01)], -0.01, "not reproduced"),
])
def test_deep_noise_verdict_needs_a_high_noise_gap_and_its_widening(gaps, widening_low, expected):
    from experiments.deep_noise import section
    results = {"grid": {"noise_vars": [0.01, 0.1, 0.2]}, "gaps": gaps,
               "gap_widening": {"n": 10, "low": widening_low, "mean": widening_low + 0.01}}
    assert section.high_noise_levels(results) == [0.1, 0.2]
    assert section.verdict(results)[0] == expected
