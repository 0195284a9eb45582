"""Certified margin solver (JAX, FISTA on the simplex) vs a conic solver (cvxpy + Clarabel).

    python benchmarks/margin_bench.py            # n = 1000 points, K = 4096 gates, d = 5
    python benchmarks/margin_bench.py --quick    # n = 200, K = 1024

Both solve the same sampled problem γ_K = min_{q ∈ Δ} (1/K) Σ_k ‖A_k q‖ (same points, same gates).
The JAX time is the second call (compiled), to a certified relative gap ≤ tol; cvxpy's includes its
canonicalisation. The dense linear map q ↦ (A_k q)_k has K·n·d coefficients, which is what makes the
conic solver slow (d is kept small so that it finishes at all). Then a vmapped solve over several data
sets of one shape shows margins of many data sets in one program. Last line: a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from kd_theory import data, margin, references  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small version (n=200, K=1024)")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--gates", type=int, default=None)
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=4, help="data sets in the vmapped solve")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 1000)
    K = args.gates or (1024 if args.quick else 4096)

    ds = data.sphere_xor(args.dim, n_train=n, n_test=1, seed=0)
    X, y = ds.X_train, ds.y_train
    Z = np.asarray(margin.sample_gates(jax.random.PRNGKey(0), K, args.dim))
    print(f"problem: {ds.name}, n={n}, d={args.dim}, K={K}, tol={args.tol}", flush=True)

    margin.estimate_margin(X, y, gates=Z, tol=args.tol)  # compile
    t0 = time.perf_counter()
    est = margin.estimate_margin(X, y, gates=Z, tol=args.tol)
    t_jax = time.perf_counter() - t0
    print(f"jax   : {t_jax:8.3f} s  γ_K ∈ [{est.lower:.6f}, {est.upper:.6f}] (gap {est.relative_gap:.1e}, "
          f"{est.iterations} iterations)", flush=True)

    t0 = time.perf_counter()
    ref = references.margin_dual_conic(X, y, Z)
    t_cvx = time.perf_counter() - t0
    agree = est.lower <= ref * (1 + 1e-6) and ref <= est.upper * (1 + 1e-6)
    print(f"cvxpy : {t_cvx:8.3f} s  γ_K = {ref:.6f} (inside the certified interval: {agree})", flush=True)
    print(f"speed-up: {t_cvx / t_jax:.1f}x", flush=True)

    # Margins of several data sets of one shape in one compiled program.
    B = args.batch
    sets = [data.sphere_xor(args.dim, n_train=n, n_test=1, seed=s) for s in range(B)]
    Xs = jnp.stack([s.X_train for s in sets])
    ys = jnp.stack([s.y_train for s in sets])
    Zs = jax.random.normal(jax.random.PRNGKey(1), (B, K, args.dim))
    solve = jax.jit(jax.vmap(margin.solve_margin_dual, in_axes=(0, 0, 0, None, None)))
    jax.block_until_ready(solve(Xs, ys, Zs, args.tol, 5000))
    t0 = time.perf_counter()
    batched = jax.block_until_ready(solve(Xs, ys, Zs, args.tol, 5000))
    t_vmap = time.perf_counter() - t0
    print(f"vmap  : {t_vmap:8.3f} s for {B} data sets; γ_K lower {np.round(np.asarray(batched.lower), 5).tolist()}"
          f" upper {np.round(np.asarray(batched.upper), 5).tolist()}", flush=True)

    print(json.dumps({"benchmark": "margin", "n": n, "d": args.dim, "num_gates": K, "tol": args.tol,
                      "jax_seconds": round(t_jax, 4), "cvxpy_seconds": round(t_cvx, 4),
                      "speedup": round(t_cvx / t_jax, 2), "jax_lower": est.lower, "jax_upper": est.upper,
                      "cvxpy_value": ref, "certified_interval_contains_cvxpy": bool(agree),
                      "jax_iterations": est.iterations, "vmap_datasets": B, "vmap_seconds": round(t_vmap, 4),
                      "vmap_lower": np.asarray(batched.lower).tolist(),
                      "vmap_upper": np.asarray(batched.upper).tolist(),
                      "backend": jax.default_backend(), "jax_version": jax.__version__}))


if __name__ == "__main__":
    main()
