"""Benchmark: what a second run of an experiment spends compiling, with the compilation cache on (issue 25).

    python benchmarks/rerun_bench.py                                      # table1, preset tiny
    python benchmarks/rerun_bench.py --experiment=scaling --preset=tiny --config.KEY=VALUE ...

The experiment is launched twice (``python -m experiments.run``, each in a fresh process and into a fresh
output folder, so nothing is resumed) with one fresh compilation cache (``--compilation_cache=DIR``). In
each process the seconds spent compiling are counted from JAX's own events: the union of the time spans of
tracing (``/jax/core/compile/jaxpr_trace_duration``), lowering (``…/jaxpr_to_mlir_module_duration``) and
XLA's compile or persistent-cache read (``…/backend_compile_duration``), plus the engine's loads of stored
programs (``sweep.DEFAULT_CACHE.load_s``, which emit no JAX event). Issue 25's target: the second run under
1 s. Options other than these go to the launcher unchanged.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
          "/jax/core/compile/backend_compile_duration")
TARGET_S = 1.0


def union_seconds(spans) -> float:
    """Total length of the union of (start, end) intervals (nested traces count once)."""
    total, end = 0.0, -float("inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def child(report_path: str, launcher_argv: list[str]):
    """Run the launcher in this process, recording the compile spans; write them to ``report_path`` at exit."""
    import jax.monitoring
    spans, by_function, t0 = [], {}, time.perf_counter()

    def listen(event, start, end, fun_name="?", **_):
        if event in EVENTS:
            spans.append((start, end))
            by_function[fun_name] = by_function.get(fun_name, 0.0) + (end - start)
    jax.monitoring.register_event_time_span_listener(listen)

    def report():
        from kd_theory.sweep import program
        cache = program.DEFAULT_CACHE
        jax_s = union_seconds(spans)
        with open(report_path, "w", encoding="utf-8") as fh:
            json.dump({"wall_s": time.perf_counter() - t0, "jax_compile_s": jax_s,
                       "engine_load_s": cache.load_s, "engine_loaded": cache.loaded,
                       "engine_compile_s": cache.compile_s, "compile_s": jax_s + cache.load_s,
                       "events": len(spans), "functions": len(by_function),
                       "slowest": sorted(by_function.items(), key=lambda kv: -kv[1])[:8]}, fh)
    atexit.register(report)
    from experiments import run
    run.console_main(["experiments.run"] + launcher_argv)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="table1")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--keep", default=None, help="keep the cache and output folders here (default: a temporary one)")
    args, rest = ap.parse_known_args(argv)
    root = args.keep or tempfile.mkdtemp(prefix="kd-rerun-")
    cache = os.path.join(root, "cache")
    runs = []
    try:
        for i in (1, 2):
            report = os.path.join(root, f"report{i}.json")
            launcher = [f"--experiment={args.experiment}", f"--preset={args.preset}", f"--out={root}/out{i}",
                        f"--compilation_cache={cache}"] + rest
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", report] + launcher,
                                  cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True)
            if done.returncode != 0 or not os.path.exists(report):
                print(done.stderr[-3000:], file=sys.stderr)
                print(f"run {i} of --experiment={args.experiment} failed (exit {done.returncode})", file=sys.stderr)
                return 1
            with open(report, encoding="utf-8") as fh:
                runs.append(json.load(fh))
            r = runs[-1]
            print(f"run {i}: {r['wall_s']:.1f} s in all; compiling {r['compile_s']:.2f} s (JAX: trace, lower, XLA or "
                  f"its cache {r['jax_compile_s']:.2f} s; engine programs loaded: {r['engine_loaded']} in "
                  f"{r['engine_load_s']:.3f} s); {r['events']} JAX compile events over {r['functions']} functions, "
                  "slowest (nested spans counted in each): "
                  + ", ".join(f"{name} {sec:.2f} s" for name, sec in r["slowest"][:5]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    second = runs[1]["compile_s"]
    print(f"second run compiles {second:.2f} s < {TARGET_S:g} s: {'target met' if second < TARGET_S else 'NOT met'}")
    print(json.dumps({"experiment": args.experiment, "preset": args.preset, "extra": rest, "runs": runs,
                      "loadavg": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.path.insert(0, REPO)
        child(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
