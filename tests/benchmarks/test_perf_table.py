"""benchmarks/perf_table.py: README's engine table from sweep_bench's JSON files."""
import importlib.util
import json
import os

import pytest


@pytest.fixture(scope="module")
def perf_table(repo):
    spec = importlib.util.spec_from_file_location("perf_table", os.path.join(repo, "benchmarks", "perf_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MACHINE = {"backend": "cpu", "device": "cpu", "cpu_count": 2, "jax_version": "0.10.2", "quick": False,
           "date": "2026-12-07 10:00 UTC", "loadavg_start": [1.9, 1.8, 1.7], "loadavg_end": [2.0, 1.9, 1.8],
           "command": "benchmarks/sweep_bench.py --workloads reference,widths"}


def _write(folder, name, payload):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as fh:
        json.dump(payload, fh)


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "bench-cpu-2-cores"
    _write(folder, "reference", {
        "machine": MACHINE, "workload": "reference", "runs": 128,
        "engine": {"cold_s": 12.5, "cold_compile_s": 1.25, "warm_compile_s": 0.0421, "run_s": 11.0},
        "loops": {"torch_loop_s": 25.0, "jit_loop_s": 27.5},
        "ratios": {"torch_loop_vs_engine_cold": 2.0, "jit_loop_vs_engine_cold": 2.2},
        "roofline": {"roofline_run": 0.614, "roofline_e2e_cold": 0.5404}})
    _write(folder, "widths", {"machine": MACHINE, "workload": "widths", "by_width": {"16": {}, "32": {}},
                              "worst_classes_vs_blocks": 0.97, "worst_classes_vs_blocks_cpu": 1.04})
    return tmp_path


def test_rows_say_what_the_files_say(perf_table, results):
    lines = perf_table.table(str(results)).splitlines()
    assert lines[0] == perf_table.HEADER and lines[1].count("---") == 9
    assert lines[2] == ("| [CPU, 2 cores](docs/results/bench-cpu-2-cores/reference.json) | reference | 128 | 1.25 s | 0.042 s | "
                        "11.00 s | 25.00 s (2.0×) | 27.50 s (2.2×) | 61% / 54% |")
    assert "slowest width 0.97× its earlier time (CPU s 1.04×)" in lines[3] and "| 2 widths |" in lines[3]
    assert lines[5] == ("- CPU, 2 cores, reference, widths: 2026-12-07 10:00 UTC, jax 0.10.2, load average 1.9/1.8/1.7 "
                        "at the start, 2.0/1.9/1.8 at the end; `benchmarks/sweep_bench.py --workloads reference,widths`")
    assert len(lines) == 6


def test_a_quick_run_says_so(perf_table, tmp_path):
    _write(tmp_path / "bench-x", "reference", {
        "machine": dict(MACHINE, quick=True), "workload": "reference", "runs": 20,
        "engine": {"cold_s": 1.0, "cold_compile_s": 0.5, "warm_compile_s": 0.01, "run_s": 0.4}})
    assert "| reference (quick sizes) | 20 | 0.50 s | 0.010 s | 0.40 s | — (—) | — (—) | — / — |" in perf_table.table(str(tmp_path))


def test_the_readme_block_is_rewritten_and_checked(perf_table, results, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nhand-written rows\n{perf_table.BEGIN}\nstale table\n{perf_table.END}\n\nafter\n")
    argv = ["--results-dir", str(results), "--readme", str(readme)]
    assert perf_table.main(argv + ["--check"]) == 1
    assert perf_table.main(argv) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nhand-written rows\n") and text.endswith(f"{perf_table.END}\n\nafter\n")
    assert "| 1.25 s |" in text and "stale table" not in text
    assert perf_table.main(argv + ["--check"]) == 0


def test_missing_markers_and_files_are_clear_errors(perf_table, results, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert perf_table.main(["--results-dir", str(results), "--readme", str(readme)]) == 2
    assert "lacks the markers <!-- performance:engine:begin -->" in capsys.readouterr().err
    assert perf_table.main(["--results-dir", str(tmp_path / "empty"), "--print"]) == 2
    assert "no benchmark files under" in capsys.readouterr().err
    _write(tmp_path / "bench-bad", "table1", {"runs": 3})
    assert perf_table.main(["--results-dir", str(tmp_path), "--print"]) == 2
    assert "bench-bad/table1.json: no 'machine' entry" in capsys.readouterr().err
