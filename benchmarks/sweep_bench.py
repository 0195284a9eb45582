"""Benchmark: the sweep engine against per-run loops, every workload in one run (issues 3, 8 and 25).

    python benchmarks/sweep_bench.py                                   # reference, table1, widths, big
    python benchmarks/sweep_bench.py --workloads reference,table1,big --reps 3
    python benchmarks/sweep_bench.py --quick --out /tmp/bench          # small sizes: a minute or two

Workloads (``--workloads``, comma list):

* ``reference``: widths 16, 32, …, 2,048 × 8 seeds × {hard, soft} = 128 runs, 200 steps of full-batch GD,
  n = 1,000, d = 20 (``data.sphere_xor``, label noise 0.1; soft target p = σ(4·tanh(d·x₁·x₂))), 1,097 GFLOP.
* ``table1``: the Table-1 shape: widths 4, 6, 8 × digits full/reduced (n = 1,437 / 859, d = 64) × hard and
  3 soft targets × B ∈ {none, 4} × 20 seeds = 960 runs, 3,000 projected GD steps.
* ``big``: the paper-sized sweep: 64 seeds × widths 16, 32, …, 16,384 × {hard, soft} × B ∈ {0.5, 1, 2, 4}
  × 1,000 steps on the reference data (n = 1,000, d = 20): 5,632 runs, 16.8 M neurons, 1.41 PFLOP. On an
  accelerator it runs whole; on a CPU one seed at B = 1 for 20 steps is run and the whole is *projected*
  from its FLOP count and the measured GFLOP/s (the output says so).
* ``widths``: each width of the reference sweep alone (8 seeds × {hard, soft}, 200 steps), run time with
  the compiled programs reused, in three layouts side by side: ``classes`` (the default), ``blocks`` (one
  class per width: the earlier, unpacked layout of 2026-11-22) and ``packed`` (2026-11-23).
* ``many_widths`` (31 widths 4…4,096 × 4 data sets, n = 256, d = 16) and ``multiclass`` (10-class digits
  beside its binary twin): compile and run only.

For each workload the engine is timed three ways: *cold* (an empty compilation cache and fresh in-process
caches: what a first run pays), *warm* (the same sweep again, compiled programs loaded from the cache:
what a rerun pays) and *JAX cache only* (the engine's stored programs off: tracing and lowering plus XLA's
own cache). Printed and stored: cold compile, warm compile, run time (warm wall − warm compile; also as
CPU seconds, which a loaded machine distorts less), end-to-end wall cold and warm; the PyTorch per-run loop
and a per-run jitted JAX loop (``jax.grad``, one ``lax.scan`` per run) on the same device (all runs, or
``--sample`` of them extrapolated); the GEMM roofline measured on the workload's shape, (n × d)·(d × M)
float32 in a jitted loop, M = the workload's neurons (at most 2²⁰); the engine's fraction of it on run
time, end to end cold and end to end warm; and the ratios loop / engine (end to end, cold and warm).
Useful work per neuron and step: 4·n·d (the two matrix products) + 4·n (relu, output, residual, gate).
With ``--reps N`` each figure is the best of N.

Output: the lines below and one JSON file per workload under ``--out`` (default
``docs/results/bench-<device>/``, e.g. ``bench-cpu-2-cores``, ``bench-nvidia-h100-80gb-hbm3``) plus
``sweep_bench.json`` (all workloads); ``benchmarks/perf_table.py`` makes the README's table from them.
On a GPU, XLA multiplies float32 in TF32 unless told otherwise; PyTorch does not: run with
``JAX_DEFAULT_MATMUL_PRECISION=float32`` for like-for-like numbers (the header prints the setting).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from kd_theory import compile_cache, data, nets, sweep  # noqa: E402

N_TRAIN, N_TEST, DIM, LR, LABEL_NOISE = 1000, 1000, 20, 1.0, 0.1
TARGETS = ("hard", "soft")
REFERENCE_WIDTHS, REFERENCE_SEEDS, REFERENCE_STEPS = tuple(16 * 2 ** k for k in range(8)), 8, 200
TABLE1_WIDTHS, TABLE1_STEPS, TABLE1_LR, TABLE1_B = (4, 6, 8), 3000, 2.0, (None, 4.0)
TABLE1_TEMPERATURES = (2.0, 8.0, 16.0)
BIG_WIDTHS, BIG_SEEDS, BIG_B, BIG_STEPS = tuple(16 * 2 ** k for k in range(11)), 64, (0.5, 1.0, 2.0, 4.0), 1000
GEMM_MAX_NEURONS = 2 ** 20
AGREE_RTOL = 1e-3
TARGETS_MET = {  # issue 25: what must hold (CPU, 2 cores / one GPU)
    "reference_roofline_e2e_cpu": 0.6, "table1_vs_torch_cpu": 7.0, "warm_compile_s": 1.0,
    "reference_cold_compile_s_gpu": 2.0, "reference_roofline_run_gpu": 0.3, "reference_vs_torch_gpu": 10.0,
    "big_s_gpu": 60.0}


# --------------------------------------------------------------------------------------------- problems

def make_problem():
    """The reference data and its targets: hard (1 + y)/2 and soft p = σ(4·tanh(d·x₁·x₂))."""
    ds = data.sphere_xor(dim=DIM, n_train=N_TRAIN, n_test=N_TEST, label_noise=LABEL_NOISE, seed=0)
    X = ds.X_train.astype(np.float32)
    p = (1.0 / (1.0 + np.exp(-4.0 * np.tanh(DIM * X[:, 0] * X[:, 1])))).astype(np.float32)
    return ds, {"hard": ((1.0 + ds.y_train) / 2.0).astype(np.float32), "soft": p}


def table1_problem(num_classes=2):
    """The digits tasks of Table 1 (full n = 1,437 and reduced n = 859, d = 64) with a hard target and soft
    targets σ(z/T) of a fixed teacher z (a least-squares linear score scaled to ±4: the benchmark times
    training, not the teacher)."""
    tasks = {}
    for variant in ("full", "reduced"):
        ds = data.digits_task(variant)
        w = np.linalg.lstsq(ds.X_train.astype(np.float64), ds.y_train.astype(np.float64), rcond=None)[0]
        z = ds.X_train @ w
        z = 4.0 * z / np.abs(z).max()
        targets = {"hard": ((1.0 + ds.y_train) / 2.0).astype(np.float32)}
        targets.update({f"soft-T{T:g}": (1 / (1 + np.exp(-z / T))).astype(np.float32) for T in TABLE1_TEMPERATURES})
        tasks[variant] = (ds, targets)
    return tasks


class Workload:
    """Runs on tasks, with the steps, the problem {dataset: (ds, targets)} for the per-run loops, and how the
    loops run (threads of the PyTorch loop; whether runs are projected)."""

    def __init__(self, name, problem, runs, steps, torch_threads=2, note=""):
        self.name, self.problem, self.runs, self.steps = name, problem, runs, steps
        self.tasks = {k: sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, dict(t)) for k, (ds, t) in problem.items()}
        self.torch_threads, self.note = torch_threads, note

    @property
    def neurons(self):
        return sum(r.width for r in self.runs)

    def flops(self, steps=None):
        """Useful work: per run of width m on n examples in d dimensions, (4·n·d·m + 4·n·m) a step."""
        total = 0
        for r in self.runs:
            n, d = self.problem[r.dataset][0].X_train.shape
            total += (4 * n * d + 4 * n) * r.width
        return total * (steps or self.steps)

    def shape(self):
        """(n, d) of the largest data set: the GEMM roofline's shape."""
        return max((ds.X_train.shape for ds, _ in self.problem.values()), key=lambda s: s[0])


def reference_workload(quick):
    widths, seeds, steps = ((16, 32, 64, 128, 256), 2, 50) if quick else (REFERENCE_WIDTHS, REFERENCE_SEEDS,
                                                                          REFERENCE_STEPS)
    ds, targets = make_problem()
    runs = sweep.grid(dataset=["xor"], width=list(widths), target=list(TARGETS), seed=range(seeds), lr=[LR])
    return Workload("reference", {"xor": (ds, targets)}, runs, steps,
                    note=f"widths {widths[0]}…{widths[-1]} × {seeds} seeds × {{hard, soft}}, n = {N_TRAIN}, d = {DIM}")


def table1_workload(quick):
    problem = table1_problem()
    seeds, steps = (2, 300) if quick else (20, TABLE1_STEPS)
    targets = list(next(iter(problem.values()))[1])
    runs = sweep.grid(dataset=list(problem), width=list(TABLE1_WIDTHS), target=targets, seed=range(seeds),
                      lr=[TABLE1_LR], B=list(TABLE1_B))
    # One thread for PyTorch: these per-step ops are tiny, and two OpenMP threads on two shared cores spin
    # against each other (measured: 300 steps 0.05 s with 1 thread, 6.4 s with 2 while another process ran).
    return Workload("table1", problem, runs, steps, torch_threads=1,
                    note=f"widths {TABLE1_WIDTHS} × digits n = 1,437 / 859, d = 64 × {len(targets)} targets × "
                         f"B ∈ {{none, 4}} × {seeds} seeds, lr {TABLE1_LR}")


def big_workload(quick, full):
    """The paper-sized sweep; ``full=False``: the slice a CPU runs to project the whole."""
    ds, targets = make_problem()
    widths, seeds, radii, steps = BIG_WIDTHS, BIG_SEEDS, BIG_B, BIG_STEPS
    if quick:
        widths, seeds, radii, steps = BIG_WIDTHS[:9], 4, BIG_B[:2], 100
    whole = sweep.grid(dataset=["xor"], width=list(widths), target=list(TARGETS), seed=range(seeds), lr=[LR],
                       B=list(radii))
    w = Workload("big", {"xor": (ds, targets)}, whole, steps,
                 note=f"widths {widths[0]}…{widths[-1]} × {seeds} seeds × {{hard, soft}} × B ∈ {list(radii)}, "
                      f"n = {N_TRAIN}, d = {DIM}")
    if full:
        return w, None
    part = sweep.grid(dataset=["xor"], width=list(widths), target=list(TARGETS), seed=[0], lr=[LR], B=[1.0])
    return w, Workload("big-slice", w.problem, part, 5 if quick else 20, note="one seed at B = 1")


# --------------------------------------------------------------------------------------------- engine timing

def engine_once(w: Workload, options, cache_dir, persist=True, **kwargs):
    """One run_sweep of the workload with fresh in-process caches: (wall s, CPU s, result)."""
    jax.clear_caches()
    compile_cache.enable(cache_dir)
    t0, c0 = time.perf_counter(), time.process_time()
    result = sweep.run_sweep(w.runs, w.tasks, options, progress=False, cache=sweep.ProgramCache(persist=persist),
                             **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, result


ENGINE_OPTIONS = {}  # --engine key=value,...: EngineOptions for every timed workload (e.g. slice_neurons=2048)


def load_stored_programs():
    """Seconds to load every program stored in the compilation cache: what a rerun pays to compile."""
    from jax.experimental import serialize_executable
    folder = compile_cache.program_directory()
    t0 = time.perf_counter()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pkl"):
            with open(os.path.join(folder, name), "rb") as fh:
                serialized, in_tree, out_tree = pickle.load(fh)
            serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)
    return time.perf_counter() - t0


def time_engine(w: Workload, reps, options=None, rerun=True, **kwargs):
    """Cold, warm and JAX-cache-only runs of the engine, best of ``reps`` each; the figures and the final
    training losses {run: loss}. ``rerun=False`` (a long sweep): the cold run only, the warm compile being
    the time to load the stored programs and the run time the cold run's less its compile."""
    options = options or sweep.EngineOptions(steps=(w.steps,), **ENGINE_OPTIONS)
    best = {}
    keep = lambda k, v: best.__setitem__(k, v if k not in best else min(best[k], v))
    result = None
    for _ in range(reps):
        folder = tempfile.mkdtemp(prefix="kd-bench-cache-")
        try:
            wall, cpu, result = engine_once(w, options, folder, **kwargs)
            keep("cold_s", wall)
            keep("cold_compile_s", result.timings["compile_s"])
            if not rerun:
                jax.clear_caches()
                keep("warm_compile_s", load_stored_programs())
                keep("run_s", wall - result.timings["compile_s"])
                keep("warm_s", best["run_s"] + best["warm_compile_s"])
                keep("run_cpu_s", cpu)
                continue
            wall, cpu, warm = engine_once(w, options, folder, **kwargs)
            keep("warm_s", wall)
            keep("warm_compile_s", warm.timings["compile_s"])
            keep("run_s", wall - warm.timings["compile_s"])
            keep("run_cpu_s", cpu)
            _, _, jax_only = engine_once(w, options, folder, persist=False, **kwargs)
            keep("jax_cache_compile_s", jax_only.timings["compile_s"])
        finally:
            compile_cache.disable()  # the folder goes: what runs next must not write into it
            shutil.rmtree(folder, ignore_errors=True)
    best["chunks"] = result.n_chunks
    losses = {(r["dataset"], r["width"], r["target"], r["seed"], r["B"]): r["final_train_loss"] for r in result.rows}
    return best, losses


def print_engine(e):
    jax_only = f"; with JAX's cache alone {e['jax_cache_compile_s']:.2f} s" if "jax_cache_compile_s" in e else ""
    print(f"  engine: cold {e['cold_s']:.2f} s (compile {e['cold_compile_s']:.2f} s); warm {e['warm_s']:.2f} s "
          f"(compile {e['warm_compile_s']:.3f} s{jax_only}); run {e['run_s']:.2f} s ({e['run_cpu_s']:.1f} CPU s); "
          f"{e['chunks']} chunk(s)", flush=True)


# --------------------------------------------------------------------------------------------- per-run loops

def bce_np(f, t):
    """The project's training loss R = mean KL(t ‖ σ(f)) = mean(softplus(f) − t f) − mean H(t) (losses.binary_kl),
    in float64 from float32 logits. For hard targets H(t) = 0 and this is the logistic loss."""
    f, t = np.asarray(f, np.float64), np.asarray(t, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(t > 0, t * np.log(t), 0.0) - np.where(t < 1, (1 - t) * np.log1p(-t), 0.0)
    return float(np.mean(np.logaddexp(0.0, f) - t * f) - np.mean(ent))


def init_params(width, seed, dim):
    """The initial (W, a) of run (width, seed): the engine's (rng.student_key(0, seed), symmetric init)."""
    params = nets.symmetric_init(jax.random.fold_in(jax.random.PRNGKey(0), seed), width, dim)
    return np.array(params["W"]), np.array(params["a"])  # writable copies (torch.from_numpy needs them)


def torch_pgd_run(torch, Xt, W0, c, t, steps, lr, radius=math.inf):
    """One run in PyTorch (autograd): W ← Π(W − η ∇_W mean(softplus(f) − t f)), each row of W kept within
    ``radius`` of its W0 row; returns the final logits on Xt (on the host: the run is timed whole)."""
    W = W0.clone().requires_grad_(True)
    for _ in range(steps):
        f = torch.relu(Xt @ W.T) @ c
        loss = (torch.nn.functional.softplus(f) - t * f).mean()
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            if radius != math.inf:
                delta = W - W0
                W.copy_(W0 + delta * torch.clamp(radius / delta.norm(dim=1, keepdim=True).clamp_min(1e-30), max=1.0))
        W.grad = None
    with torch.no_grad():
        return (torch.relu(Xt @ W.T) @ c).cpu()


def _mean_bce(W, c, t, X):
    f = jax.nn.relu(X @ W.T) @ c
    return jnp.mean(jax.nn.softplus(f) - t * f)


def make_train(steps, lr):
    """One run: (W0, c, t, X, radius) -> final logits on X; autodiff (jax.grad), all steps in one scan, each
    row kept within ``radius`` of its W0 row."""
    grad = jax.grad(_mean_bce)

    def train(W0, c, t, X, radius):
        def step(W, _):
            return nets.project_rows(W - lr * grad(W, c, t, X), W0, radius), None
        W, _ = jax.lax.scan(step, W0, None, length=steps)
        return jax.nn.relu(X @ W.T) @ c
    return train


def torch_device(choice):
    """Where the PyTorch loops run: ``--torch-device``, or (auto) the GPU when JAX runs on one, so that both
    sides of every ratio use the same hardware."""
    import torch
    if choice != "auto":
        return choice
    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def per_run_loop(w: Workload, variant, sample, torch_dev):
    """A per-run loop ("torch" or "jax") over ``sample`` runs spread over the grid (all when ``sample`` ≥ the
    runs), extrapolated to all runs by the ratio of their FLOPs; returns {s (all runs), measured_s,
    runs_timed, losses} or None when torch is missing. The jitted loop compiles once per (data set, width)
    shape, inside the timing, as a real loop pays it."""
    picked = w.runs[:: max(1, len(w.runs) // sample)] if sample < len(w.runs) else list(w.runs)
    inits = {(r.width, r.seed, r.dataset): init_params(r.width, r.seed, w.problem[r.dataset][0].X_train.shape[1])
             for r in picked}
    losses = {}
    if variant == "torch":
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(w.torch_threads)
        Xs = {k: torch.from_numpy(np.asarray(ds.X_train, np.float32)).to(torch_dev) for k, (ds, _) in w.problem.items()}
        t0 = time.perf_counter()
        for r in picked:
            W0, a = inits[(r.width, r.seed, r.dataset)]
            t = w.problem[r.dataset][1][r.target]
            radius = math.inf if r.B is None else r.B / math.sqrt(r.width)
            f = torch_pgd_run(torch, Xs[r.dataset], torch.from_numpy(W0).to(torch_dev),
                              torch.from_numpy(a / np.sqrt(np.float32(r.width))).to(torch_dev),
                              torch.from_numpy(t).to(torch_dev), w.steps, r.lr, radius)
            losses[r] = bce_np(f.numpy(), t)
    else:
        train = jax.jit(make_train(w.steps, w.runs[0].lr))
        Xs = {k: jnp.asarray(ds.X_train, jnp.float32) for k, (ds, _) in w.problem.items()}
        t0 = time.perf_counter()
        for r in picked:
            W0, a = inits[(r.width, r.seed, r.dataset)]
            t = w.problem[r.dataset][1][r.target]
            radius = np.inf if r.B is None else r.B / np.sqrt(r.width)
            f = np.asarray(train(jnp.asarray(W0), jnp.asarray(a / np.sqrt(np.float32(r.width))), jnp.asarray(t),
                                 Xs[r.dataset], jnp.float32(radius)))   # np.asarray blocks: a real per-run loop
            losses[r] = bce_np(f, t)
    measured = time.perf_counter() - t0
    sub = Workload(w.name, w.problem, picked, w.steps)
    return {"s": measured * w.flops() / sub.flops(), "measured_s": measured, "runs_timed": len(picked),
            "losses": losses}


def time_loops(w: Workload, engine_losses, skip, sample, torch_dev, reps):
    out = {}
    for variant, name in (("torch", "torch_loop"), ("jax", "jit_loop")):
        if name in skip:
            continue
        best = None
        for _ in range(reps):
            jax.clear_caches()
            got = per_run_loop(w, variant, sample, torch_dev)
            if got is not None and (best is None or got["s"] < best["s"]):
                best = got
        if best is None:
            print(f"  {name}: torch is not installed (pip install torch==2.13.0): null")
            continue
        worst = max(abs(l - engine_losses[(r.dataset, r.width, r.target, r.seed, r.B)]) /
                    max(abs(engine_losses[(r.dataset, r.width, r.target, r.seed, r.B)]), 1e-12)
                    for r, l in best["losses"].items())
        how = "all runs" if best["runs_timed"] == len(w.runs) else (
            f"{best['runs_timed']} runs timed ({best['measured_s']:.1f} s), extrapolated by FLOPs")
        print(f"  {name}: {best['s']:.2f} s for {len(w.runs)} runs ({how}); max rel. loss discrepancy vs the "
              f"engine {worst:.1e}  [≤ {AGREE_RTOL:g}: {met(worst <= AGREE_RTOL)}]", flush=True)
        out.update({f"{name}_s": best["s"], f"{name}_runs_timed": best["runs_timed"],
                    f"{name}_discrepancy": worst})
    return out


# --------------------------------------------------------------------------------------------- roofline

def measure_gemm(n, d, M, reps=5, inner=10):
    """GFLOP/s (wall and per CPU second) of a jitted (n × d)·(d × M) float32 product, ``inner`` of them in one
    jitted fori_loop (the output buffer reused, as in a training scan), best of ``reps``."""
    kx, kb = jax.random.split(jax.random.PRNGKey(1))
    A = jax.random.normal(kx, (n, d), jnp.float32)
    B = jax.random.normal(kb, (d, M), jnp.float32)

    @jax.jit
    def looped(A, B):
        def body(i, acc):  # the tiny shift keeps the loop from being hoisted; H[i, 0] keeps the product live
            H = jnp.dot(A + i.astype(A.dtype) * 1e-7, B)
            return acc + H[i, 0]
        return jax.lax.fori_loop(0, inner, body, jnp.float32(0))

    looped(A, B).block_until_ready()
    wall = cpu = math.inf
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        looped(A, B).block_until_ready()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    flop = 2.0 * n * d * M * inner
    return flop / wall / 1e9, flop / cpu / 1e9


def roofline(w: Workload, e, reps):
    n, d = w.shape()
    M = min(GEMM_MAX_NEURONS, w.neurons)
    gflops, gflops_cpu = measure_gemm(n, d, M, reps=max(3, reps))
    flop = w.flops()
    out = {"useful_gflop": flop / 1e9, "gemm_gflops": gflops, "gemm_gflops_per_cpu_s": gflops_cpu,
           "gemm_shape": [n, d, M], "floor_s": flop / gflops / 1e9}
    out["roofline_run"] = flop / e["run_s"] / 1e9 / gflops
    out["roofline_e2e_cold"] = flop / e["cold_s"] / 1e9 / gflops
    out["roofline_e2e_warm"] = flop / e["warm_s"] / 1e9 / gflops
    out["roofline_run_cpu_time"] = (flop / e["run_cpu_s"] / 1e9) / gflops_cpu
    print(f"  roofline: ({n} × {d})·({d} × {M}) float32 in a jitted loop {gflops:.1f} GFLOP/s "
          f"({gflops_cpu:.1f} per CPU second); the useful {flop / 1e9:.1f} GFLOP take {out['floor_s']:.2f} s at it; "
          f"engine {out['roofline_run']:.0%} of it on run time, {out['roofline_e2e_cold']:.0%} end to end cold, "
          f"{out['roofline_e2e_warm']:.0%} warm ({out['roofline_run_cpu_time']:.0%} in CPU seconds)", flush=True)
    return out


def ratios(e, loops):
    out = {}
    for name in ("torch_loop", "jit_loop"):
        if f"{name}_s" in loops:
            out[f"{name}_vs_engine_cold"] = loops[f"{name}_s"] / e["cold_s"]
            out[f"{name}_vs_engine_warm"] = loops[f"{name}_s"] / e["warm_s"]
    if out:
        print("  ratios (end to end): " + "; ".join(f"{k.replace('_vs_engine_', ' / engine ')} {v:.1f}×"
                                                  for k, v in out.items()))
    return out


def met(ok):
    return "target met" if ok else "NOT met"


# --------------------------------------------------------------------------------------------- workloads

def run_timed_workload(w: Workload, args, skip, torch_dev, extra=None, rerun=True):
    print(f"{w.name}: {len(w.runs)} runs ({w.note}), {w.neurons:,} neurons, {w.steps} steps, "
          f"{w.flops() / 1e9:,.1f} GFLOP useful", flush=True)
    e, losses = time_engine(w, args.reps, rerun=rerun)
    print_engine(e)
    out = {"workload": w.name, "runs": len(w.runs), "neurons": w.neurons, "steps": w.steps, "note": w.note,
           "engine": e, **(extra or {})}
    out["loops"] = time_loops(w, losses, skip, args.sample.get(w.name, len(w.runs)), torch_dev, args.reps)
    out["roofline"] = roofline(w, e, args.reps)
    out["ratios"] = ratios(e, out["loops"])
    return out


def widths_workload(args):
    """Each reference width alone, three layouts side by side, the programs compiled beforehand: the run
    time of each (best of ``reps``, the layouts interleaved in every repetition)."""
    quick = args.quick
    widths, seeds, steps = ((16, 64, 256), 2, 50) if quick else (REFERENCE_WIDTHS, REFERENCE_SEEDS, REFERENCE_STEPS)
    ds, targets = make_problem()
    layouts = ("classes", "blocks", "packed")
    print(f"widths: each width alone ({seeds} seeds × {{hard, soft}}, {steps} steps), layouts {layouts}: run "
          "time with the programs compiled (wall s / CPU s)", flush=True)
    folder = tempfile.mkdtemp(prefix="kd-bench-cache-")
    caches = {layout: sweep.ProgramCache() for layout in layouts}
    out = {"workload": "widths", "steps": steps, "seeds": seeds, "layouts": list(layouts), "by_width": {}}
    try:
        compile_cache.enable(folder)
        for m in widths:
            runs = sweep.grid(dataset=["xor"], width=[m], target=list(TARGETS), seed=range(seeds), lr=[LR])
            w = Workload("widths", {"xor": (ds, targets)}, runs, steps)
            best = {}
            for rep in range(args.reps + 1):  # the first repetition compiles
                for layout in layouts:
                    cache = caches[layout]
                    t0, c0, before = time.perf_counter(), time.process_time(), cache.compile_s
                    sweep.run_sweep(runs, w.tasks, sweep.EngineOptions(steps=(steps,), layout=layout),
                                    progress=False, cache=cache)
                    wall, cpu = time.perf_counter() - t0 - (cache.compile_s - before), time.process_time() - c0
                    if rep:
                        old = best.get(layout, (math.inf, math.inf))
                        best[layout] = (min(old[0], wall), min(old[1], cpu))
            row = {layout: {"run_s": best[layout][0], "run_cpu_s": best[layout][1]} for layout in layouts}
            row["classes_vs_blocks"] = best["classes"][0] / best["blocks"][0]
            row["classes_vs_blocks_cpu"] = best["classes"][1] / best["blocks"][1]
            out["by_width"][m] = row
            print(f"  width {m:5d}: " + "; ".join(f"{layout} {best[layout][0]:.2f} / {best[layout][1]:.2f}"
                                                  for layout in layouts) +
                  f"  classes/blocks {row['classes_vs_blocks']:.2f} (CPU {row['classes_vs_blocks_cpu']:.2f})",
                  flush=True)
    finally:
        compile_cache.disable()
        shutil.rmtree(folder, ignore_errors=True)
    worst = max(r["classes_vs_blocks"] for r in out["by_width"].values())
    worst_cpu = max(r["classes_vs_blocks_cpu"] for r in out["by_width"].values())
    out.update(worst_classes_vs_blocks=worst, worst_classes_vs_blocks_cpu=worst_cpu)
    print(f"  slowest width against the earlier layout: {worst:.2f}× wall, {worst_cpu:.2f}× CPU  "
          f"[≤ 1: {met(worst <= 1.0)}]")
    return out


def big_workload_run(args, skip, torch_dev):
    accelerator = jax.default_backend() != "cpu"
    whole, part = big_workload(args.quick, full=accelerator)
    if accelerator:  # one cold run: a rerun would double the longest part of the benchmark
        out = run_timed_workload(whole, args, skip, torch_dev, rerun=False)
        out["projected"] = False
        s = out["engine"]["cold_s"]
        print(f"  the big sweep end to end: {s:.1f} s cold, {out['engine']['warm_s']:.1f} s warm  "
              f"[< {TARGETS_MET['big_s_gpu']:g} s: {met(s < TARGETS_MET['big_s_gpu'])}]")
        return out
    print(f"big: {len(whole.runs)} runs ({whole.note}), {whole.neurons:,} neurons, {whole.steps} steps, "
          f"{whole.flops() / 1e15:.2f} PFLOP useful; on a CPU: {len(part.runs)} runs ({part.note}), {part.steps} "
          "steps, projected", flush=True)
    e, _ = time_engine(part, args.reps)
    print_engine(e)
    rate = part.flops() / e["run_s"]
    projected = whole.flops() / rate
    print(f"  measured {rate / 1e9:.1f} GFLOP/s on run time: the whole sweep would run about {projected:,.0f} s "
          f"= {projected / 3600:.1f} h on this CPU (projected, compile aside)", flush=True)
    return {"workload": "big", "runs": len(whole.runs), "neurons": whole.neurons, "steps": whole.steps,
            "note": whole.note, "projected": True, "useful_pflop": whole.flops() / 1e15,
            "slice": {"runs": len(part.runs), "steps": part.steps, "note": part.note, "engine": e,
                      "useful_gflop": part.flops() / 1e9},
            "engine_gflops_run": rate / 1e9, "projected_run_s": projected}


def many_widths_workload(args):
    """31 even widths 4…4,096 × 4 data sets of one shape × 8 seeds × {hard, soft}: compile and run."""
    n, dim, steps = 256, 16, (10 if args.quick else 50)
    widths = sorted({2 * int(round(2 * 1024 ** (k / 31))) for k in range(32)})
    problem = {}
    for i in range(4):
        ds = data.sphere_xor(dim, n_train=n, n_test=n, label_noise=0.1, seed=100 + i)
        p = (1 / (1 + np.exp(-4 * np.tanh(dim * ds.X_train[:, 0] * ds.X_train[:, 1])))).astype(np.float32)
        problem[f"xor{i}"] = (ds, {"hard": ((1 + ds.y_train) / 2).astype(np.float32), "soft": p})
    runs = sweep.grid(dataset=list(problem), width=widths, target=["hard", "soft"], seed=range(8), lr=[1.0])
    w = Workload("many_widths", problem, runs, steps, note=f"{len(widths)} widths {widths[0]}…{widths[-1]} × 4 data "
                 f"sets (n = {n}, d = {dim}) × 8 seeds × {{hard, soft}}")
    print(f"many_widths: {len(runs)} runs ({w.note}), {w.neurons:,} neurons, {steps} steps", flush=True)
    e, _ = time_engine(w, args.reps, memory_budget_gb=64)
    print_engine(e)
    return {"workload": "many_widths", "runs": len(runs), "widths": len(widths), "steps": steps, "engine": e}


def multiclass_workload(args):
    """The 10-class digits task (C = 10 outputs, softmax) beside its binary twin (digit > 4, one output)."""
    steps = 100 if args.quick else 500
    widths = [4, 8, 16, 32]
    out = {"workload": "multiclass", "steps": steps, "runs": 64}
    for num_classes in (2, 10):
        ds = data.digits_task("full", num_classes=num_classes)
        Y = np.eye(num_classes)[ds.y_train] if num_classes > 2 else ds.y_train[:, None].astype(np.float64)
        z = ds.X_train @ np.linalg.lstsq(ds.X_train.astype(np.float64), Y, rcond=None)[0]
        z = 4.0 * z / np.abs(z).max()
        if num_classes == 2:
            hard, soft = (1 + ds.y_train) / 2, 1 / (1 + np.exp(-z[:, 0] / 4))
        else:
            hard, soft = Y, np.exp(z / 4) / np.exp(z / 4).sum(1, keepdims=True)
        problem = {"digits": (ds, {"hard": hard.astype(np.float32), "soft": soft.astype(np.float32)})}
        w = Workload("multiclass", problem, sweep.grid(dataset=["digits"], width=widths, target=["hard", "soft"],
                                                        seed=range(8), lr=[2.0]), steps)
        w.tasks = {"digits": sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, problem["digits"][1],
                                        num_classes=num_classes)}
        e, _ = time_engine(w, args.reps)
        name = "binary_twin" if num_classes == 2 else "ten_classes"
        print(f"multiclass: {name}, widths {widths} × 8 seeds × {{hard, soft}}, {steps} steps:", flush=True)
        print_engine(e)
        out[name] = e
    return out


# --------------------------------------------------------------------------------------------- main

def device_slug():
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return f"cpu-{os.cpu_count()}-cores"
    return re.sub(r"[^a-z0-9]+", "-", str(dev.device_kind).lower()).strip("-")


def machine():
    dev = jax.devices()[0]
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"jax_version": jax.__version__, "backend": jax.default_backend(), "device": str(dev.device_kind),
            "device_slug": device_slug(), "device_count": jax.device_count(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "torch_version": torch_version,
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def parse_sample(text):
    """``--sample 96`` (every workload) or ``--sample table1=96,big=22``."""
    if not text:
        return {}
    if "=" not in text:
        return {k: int(text) for k in ("reference", "table1", "big")}
    return {k.strip(): int(v) for k, v in (item.split("=") for item in text.split(","))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    accelerator = jax.default_backend() != "cpu"
    ap.add_argument("--workloads", default="reference,table1,big" + ("" if accelerator else ",widths"),
                    help="comma list of reference, table1, big, widths, many_widths, multiclass")
    ap.add_argument("--reps", type=int, default=1, help="best of N for every figure (default 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes of every workload")
    ap.add_argument("--skip", default="", help="comma list of torch_loop, jit_loop (the loops of every workload)")
    ap.add_argument("--sample", default="",
                    help="per-run loops on this many runs, extrapolated by FLOPs: N for every workload, or e.g. "
                         "table1=96,big=22 (default: table1=96 and big=22, all runs of the reference sweep)")
    ap.add_argument("--torch-device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where the PyTorch loops run (auto: the GPU when JAX runs on one, else the CPU)")
    ap.add_argument("--engine", default="", help="EngineOptions for the timed workloads, e.g. "
                    "slice_neurons=2048,slice_layout=vmap,layout=packed (default: the engine's defaults)")
    ap.add_argument("--out", default=None, help="folder of the JSON files (default docs/results/bench-{device}; "
                    "{device} is replaced by the device's name, e.g. cpu-2-cores; 'none' writes nothing)")
    args = ap.parse_args(argv)
    args.sample = {"table1": 24 if args.quick else 96, "big": 11 if args.quick else 22, **parse_sample(args.sample)}
    args.reps = max(1, args.reps)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    known = ("reference", "table1", "big", "widths", "many_widths", "multiclass")
    unknown = [w for w in workloads if w not in known]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; allowed: {', '.join(known)}")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    for item in filter(None, (x.strip() for x in args.engine.split(","))):
        key, _, value = item.partition("=")
        allowed = ("slice_neurons", "layout", "slice_layout")
        if key not in allowed or not value:
            ap.error(f"--engine {item!r}: expected KEY=VALUE with KEY one of {', '.join(allowed)}")
        ENGINE_OPTIONS[key] = int(value) if value.isdigit() else value
    try:
        sweep.EngineOptions(**ENGINE_OPTIONS).validate()
    except ValueError as exc:
        ap.error(f"--engine: {exc}")
    try:
        torch_dev = torch_device(args.torch_device)
    except ImportError:
        torch_dev = None
    info = machine()
    info.update(torch_device=torch_dev, reps=args.reps, quick=args.quick, command=" ".join(sys.argv),
                loadavg_start=os.getloadavg(), engine_options=dict(ENGINE_OPTIONS))
    out_dir = (args.out or os.path.join(REPO, "docs", "results", "bench-{device}")).replace("{device}", info["device_slug"])

    def write(name, result):  # each workload as soon as it is done: a stopped run keeps what it finished
        if out_dir != "none":
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, f"{name}.json"), "w", encoding="utf-8") as fh:
                json.dump({"machine": {**info, "loadavg_end": os.getloadavg()}, **result}, fh, indent=1, default=str)
    print(f"sweep_bench: {', '.join(workloads)}; jax {info['jax_version']} on {info['backend']} ({info['device']}), "
          f"torch {info['torch_version']} on {torch_dev}, matmul precision "
          f"{info['jax_default_matmul_precision'] or 'default'}, {info['cpu_count']} CPUs, reps {args.reps}, "
          f"load average {info['loadavg_start']} (other processes share the cores)", flush=True)
    previous_cache = compile_cache.directory()
    results = {}
    try:
        # warm up the process (backend start, first compile, torch's thread pool): charged to no variant
        w = reference_workload(True)
        jax.block_until_ready(jax.jit(make_train(2, LR))(*map(jnp.asarray, init_params(16, 0, DIM)),
                                                          jnp.zeros(N_TRAIN), jnp.asarray(w.problem["xor"][0].X_train),
                                                          jnp.float32(np.inf)))
        for name in workloads:
            if name == "reference":
                results[name] = run_timed_workload(reference_workload(args.quick), args, skip, torch_dev)
            elif name == "table1":
                results[name] = run_timed_workload(table1_workload(args.quick), args, skip, torch_dev)
            elif name == "big":
                results[name] = big_workload_run(args, skip, torch_dev)
            elif name == "widths":
                results[name] = widths_workload(args)
            elif name == "many_widths":
                results[name] = many_widths_workload(args)
            elif name == "multiclass":
                results[name] = multiclass_workload(args)
            write(name, results[name])
    finally:
        if previous_cache:
            compile_cache.enable(previous_cache)
        else:
            compile_cache.disable()
    info["loadavg_end"] = os.getloadavg()
    verdicts = check(results, accelerator)
    for line in verdicts:
        print("  " + line)
    if out_dir != "none":
        with open(os.path.join(out_dir, "sweep_bench.json"), "w", encoding="utf-8") as fh:
            json.dump({"machine": info, "workloads": results, "verdicts": verdicts}, fh, indent=1, default=str)
        print(f"written: {out_dir}/{{{','.join(results)}}}.json and sweep_bench.json")
    print(json.dumps({"machine": info, "verdicts": verdicts}, default=str))


def check(results, accelerator):
    """The issue's targets that this run measured, each as one line."""
    lines = []
    ref = results.get("reference")
    say = lambda text, ok: lines.append(f"{text}  [{met(ok)}]")
    if ref:
        e, roof = ref["engine"], ref["roofline"]
        say(f"warm compile (a rerun) {e['warm_compile_s']:.3f} s < {TARGETS_MET['warm_compile_s']:g} s",
            e["warm_compile_s"] < TARGETS_MET["warm_compile_s"])
        if accelerator:
            say(f"reference cold compile {e['cold_compile_s']:.2f} s ≤ {TARGETS_MET['reference_cold_compile_s_gpu']:g} s",
                e["cold_compile_s"] <= TARGETS_MET["reference_cold_compile_s_gpu"])
            say(f"reference run at {roof['roofline_run']:.0%} of the roofline ≥ "
                f"{TARGETS_MET['reference_roofline_run_gpu']:.0%}", roof["roofline_run"] >= TARGETS_MET["reference_roofline_run_gpu"])
            r = ref["ratios"].get("torch_loop_vs_engine_cold")
            if r is not None:
                say(f"reference {r:.1f}× the PyTorch loop (end to end, cold) ≥ {TARGETS_MET['reference_vs_torch_gpu']:g}×",
                    r >= TARGETS_MET["reference_vs_torch_gpu"])
        else:
            say(f"reference end to end at {roof['roofline_e2e_cold']:.0%} of the roofline cold, "
                f"{roof['roofline_e2e_warm']:.0%} warm ≥ {TARGETS_MET['reference_roofline_e2e_cpu']:.0%}",
                roof["roofline_e2e_cold"] >= TARGETS_MET["reference_roofline_e2e_cpu"])
    t1 = results.get("table1")
    if t1 and not accelerator and "torch_loop_vs_engine_cold" in t1["ratios"]:
        r = t1["ratios"]["torch_loop_vs_engine_cold"]
        say(f"table1 {r:.1f}× the PyTorch loop (end to end, cold) ≥ {TARGETS_MET['table1_vs_torch_cpu']:g}×",
            r >= TARGETS_MET["table1_vs_torch_cpu"])
    wd = results.get("widths")
    if wd:
        say(f"every width at most {wd['worst_classes_vs_blocks']:.2f}× its time under the earlier layout "
            f"(CPU seconds {wd['worst_classes_vs_blocks_cpu']:.2f}×) ≤ 1", wd["worst_classes_vs_blocks"] <= 1.0)
    big = results.get("big")
    if big and not big.get("projected"):
        say(f"big sweep {big['engine']['cold_s']:.1f} s end to end < {TARGETS_MET['big_s_gpu']:g} s",
            big["engine"]["cold_s"] < TARGETS_MET["big_s_gpu"])
    return lines


if __name__ == "__main__":
    main()
