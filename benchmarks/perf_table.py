"""README's engine performance table, generated from the benchmark's files (``docs/results/bench-<device>/
<workload>.json``, written by ``benchmarks/sweep_bench.py``).

    python benchmarks/perf_table.py            # rewrite the table in README.md
    python benchmarks/perf_table.py --check    # exit 1 when README.md's table is not what the files say
    python benchmarks/perf_table.py --print    # print the table only
    python benchmarks/perf_table.py --results-dir /tmp/bench --print   # files of another run

The table sits between the markers ``<!-- performance:engine:begin -->`` and ``<!-- performance:engine:end -->``
(inside README's performance section, whose other rows — solvers, not the engine — are written by hand).
Each row is one workload on one device: runs, the engine's cold compile, warm compile (a rerun: stored
programs loaded) and run time, the PyTorch per-run loop and the jitted JAX loop on the same device with
their ratios to the engine end to end (cold), and the engine's fraction of the measured GEMM roofline
(run time / end to end cold). Below the table, one line per device folder and command says when, how (the
command, ``--quick`` sizes) and under what load its figures were measured.
"""
from __future__ import annotations

import glob
import json
import os
import sys

BEGIN, END = "<!-- performance:engine:begin -->", "<!-- performance:engine:end -->"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ("reference", "table1", "big", "widths", "many_widths", "multiclass")
HEADER = ("| device | workload | runs | engine compile, cold | warm (rerun) | run | PyTorch loop (× engine) | "
          "jitted JAX loop (× engine) | GEMM roofline: run / end to end |")


def _s(x, digits=2):
    if x is None:
        return "—"
    return f"{x:,.0f} s" if x >= 100 else f"{x:.{digits}f} s"


def _x(x):
    return "—" if x is None else f"{x:.1f}×"


def _pct(x):
    return "—" if x is None else f"{x:.0%}"


def rows(results_dir: str) -> list[dict]:
    """One dict per (device folder, workload file), folders and workloads in a stable order."""
    out = []
    for folder in sorted(glob.glob(os.path.join(results_dir, "bench-*"))):
        for workload in WORKLOADS:
            path = os.path.join(folder, f"{workload}.json")
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as fh:
                try:
                    result = json.load(fh)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: not a JSON file of sweep_bench.py ({exc})") from None
            for key in ("machine", "workload"):
                if key not in result:
                    raise ValueError(f"{path}: no {key!r} entry; expected a file written by benchmarks/sweep_bench.py")
            out.append({"folder": os.path.basename(folder), "workload": workload, "result": result})
    return out


def device_name(machine: dict) -> str:
    return machine["device"] if machine["backend"] != "cpu" else f"CPU, {machine['cpu_count']} cores"


def row_text(folder: str, workload: str, r: dict, link_prefix: str) -> str:
    machine = r["machine"]
    device = f"[{device_name(machine)}]({link_prefix}/{folder}/{workload}.json)"   # the file the row comes from
    name = workload.replace("_", " ") + (" (quick sizes)" if machine.get("quick") else "")
    loops, ratios, roof = r.get("loops", {}), r.get("ratios", {}), r.get("roofline", {})
    if workload == "widths":
        worst = r["worst_classes_vs_blocks"]
        return (f"| {device} | {name}: each width alone, vs the earlier per-width layout | {len(r['by_width'])} widths "
                f"| — | — | slowest width {worst:.2f}× its earlier time (CPU s {r['worst_classes_vs_blocks_cpu']:.2f}×) "
                f"| — | — | — |")
    if workload == "big" and r.get("projected"):
        part = r["slice"]["engine"]
        return (f"| {device} | {name}, projected | {r['runs']:,} | {_s(part['cold_compile_s'])} (slice) | "
                f"{_s(part['warm_compile_s'], 3)} | ≈ {_s(r['projected_run_s'])} projected from "
                f"{r['engine_gflops_run']:.0f} GFLOP/s | — | — | — |")
    if workload == "multiclass":
        ten, two = r["ten_classes"], r["binary_twin"]
        return (f"| {device} | {name}: 10 classes (binary twin) | {r['runs']} | {_s(ten['cold_compile_s'])} "
                f"({_s(two['cold_compile_s'])}) | {_s(ten['warm_compile_s'], 3)} | {_s(ten['run_s'])} "
                f"({_s(two['run_s'])}) | — | — | — |")
    e = r["engine"]
    torch = f"{_s(loops.get('torch_loop_s'))} ({_x(ratios.get('torch_loop_vs_engine_cold'))})"
    jit = f"{_s(loops.get('jit_loop_s'))} ({_x(ratios.get('jit_loop_vs_engine_cold'))})"
    return (f"| {device} | {name} | {r['runs']:,} | {_s(e['cold_compile_s'])} | {_s(e['warm_compile_s'], 3)} | "
            f"{_s(e['run_s'])} | {torch} | {jit} | {_pct(roof.get('roofline_run'))} / "
            f"{_pct(roof.get('roofline_e2e_cold'))} |")


def provenance(found: list[dict]) -> list[str]:
    """One line per device folder and command: its workloads, date, jax, load average at start and end."""
    groups: dict[tuple, list[str]] = {}
    for r in found:
        m = r["result"]["machine"]
        key = (r["folder"], m.get("command", "?"), m.get("date", "?"))
        groups.setdefault(key, []).append(r["workload"])
    lines = []
    for (folder, command, date), workloads in groups.items():
        m = next(r["result"]["machine"] for r in found if r["folder"] == folder and r["workload"] == workloads[0])
        load = lambda key: "/".join(f"{x:.1f}" for x in m[key]) if m.get(key) else "?"
        lines.append(f"- {device_name(m)}, {', '.join(workloads)}: {date}, jax {m.get('jax_version', '?')}, load "
                     f"average {load('loadavg_start')} at the start, {load('loadavg_end')} at the end; `{command}`")
    return lines


def table(results_dir: str, link_prefix: str = "docs/results") -> str:
    found = rows(results_dir)
    if not found:
        raise ValueError(f"no benchmark files under {results_dir}/bench-*/ (run benchmarks/sweep_bench.py)")
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    lines += [row_text(r["folder"], r["workload"], r["result"], link_prefix) for r in found]
    return "\n".join(lines + [""] + provenance(found))


def main(argv=None) -> int:
    sys.path.insert(0, REPO)   # run as a script from anywhere: the experiments package is at the root
    from experiments.common.docs import generated_block_main
    return generated_block_main(argv, doc=__doc__, prog="perf_table", begin=BEGIN, end=END, make_block=table,
                                what="engine table", command="python benchmarks/perf_table.py")


if __name__ == "__main__":
    sys.exit(main())
