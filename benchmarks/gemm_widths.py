"""The float32 GEMM rate (n × d)·(d × M) at several widths M, at a program's top level and inside a jitted loop.

    python benchmarks/gemm_widths.py                       # n = 1,000, d = 20 (the reference sweep's data)
    python benchmarks/gemm_widths.py --out docs/results/bench-cpu-2-cores/gemm_widths.json

Why: sweep_bench's roofline times the product at a workload's full width (65,280 neurons for the reference
sweep), whose (n, M) output leaves the caches; the engine computes in slices of 1,024 neurons (CPU), whose
output stays in them. Both rates side by side say which roofline the engine's run time should be held to.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp


def rates(n: int, d: int, M: int, calls: int = 20, loops: int = 5, inner: int = 10) -> dict:
    """GFLOP/s of one jitted product per call (best of ``calls``) and of ``inner`` products in a jitted
    ``fori_loop`` (best of ``loops``; the output buffer reused, as in a training loop)."""
    A = jax.random.normal(jax.random.PRNGKey(0), (n, d), jnp.float32)
    B = jax.random.normal(jax.random.PRNGKey(1), (d, M), jnp.float32)
    dot = jax.jit(jnp.dot)

    @jax.jit
    def looped(A, B):
        def body(i, acc):  # the shift keeps the product inside the loop; H[i, 0] keeps it live
            H = jnp.dot(A + i.astype(A.dtype) * 1e-7, B)
            return acc + H[i, 0]
        return jax.lax.fori_loop(0, inner, body, jnp.float32(0))

    def best(fn, k):
        fn().block_until_ready()
        t = float("inf")
        for _ in range(k):
            t0 = time.perf_counter()
            fn().block_until_ready()
            t = min(t, time.perf_counter() - t0)
        return t

    gflop = 2.0 * n * d * M / 1e9
    return {"M": M, "top_level_gflops": gflop / best(lambda: dot(A, B), calls),
            "in_loop_gflops": gflop * inner / best(lambda: looped(A, B), loops)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--widths", default="1024,4096,65280", help="comma list of M")
    parser.add_argument("--out", default=None, help="a JSON file for the figures")
    args = parser.parse_args(argv)
    rows = [rates(args.n, args.d, int(M)) for M in args.widths.split(",")]
    for r in rows:
        print(f"M = {r['M']:>6}: top level {r['top_level_gflops']:6.1f} GFLOP/s, in a loop {r['in_loop_gflops']:6.1f}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"command": " ".join(sys.argv), "n": args.n, "d": args.d, "jax_version": jax.__version__,
                       "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
                       "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "loadavg": os.getloadavg(),
                       "rates": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
