"""Benchmark: the sweep engine against per-run loops (issues 3 and 8).

Four workloads, each printed with its figures and ratios; the last line is one JSON object:
  * the reference sweep (below), four ways, with the engine's compile time on its own;
  * the Table-1 workload: 960 runs (widths 4, 6, 8 × digits full/reduced (n = 1,437 / 859, d = 64) × hard and
    3 soft targets × B ∈ {none, 4} × 20 seeds), 3,000 projected GD steps, against a PyTorch per-run loop and a
    per-run jitted JAX loop (``ratio_table1_vs_torch``, ``ratio_table1_vs_jax_loop``; ``--sample k`` times k
    runs of each loop and extrapolates, which the output says);
  * the many-widths workload: 32 geometric widths 4…4,096 × 4 data sets of one shape × 8 seeds × {hard, soft}
    (``compile_s_many_widths``: the compile must not grow with the number of widths);
  * a 10-class workload (digits, softmax) beside its binary twin.

One sweep of soft- vs hard-label training of two-layer ReLU networks, run four ways:

  (a) the engine: ``kd_theory.sweep.run_sweep`` (one compiled program for the whole sweep);
  (b) PyTorch, a Python loop over runs, autograd (what a typical hand-written script does);
  (c) JAX, one jitted ``lax.scan`` training function per run, called in a Python loop (``jax.grad``);
  (d) JAX, ``jit(vmap)`` over seeds and hard/soft targets, one program per width (``jax.grad``).

The math of one run (width m, d = 20, n = 1000, float32): symmetric init (``nets.symmetric_init`` with key
``fold_in(PRNGKey(0), seed)``, the same initial W copied into torch), f(x) = Σ_j (a_j/√m) relu(W_jᵀx), only W
trained, full-batch GD with lr 1.0, loss per example softplus(f) − t·f (binary cross-entropy with target t):
hard runs t = (1+y)/2 (= logistic loss), soft runs t = p, a fixed teacher:

    p_i = sigmoid(4 · tanh(d · x_i1 · x_i2))        (a smooth, confident version of the noiseless XOR rule)

computed once from the training inputs (it ignores the label noise). Reported losses are the project's R = mean
KL(t ‖ σ(f)) = BCE − H(t) (losses.binary_kl; the logistic loss for hard runs).

Data: ``data.sphere_xor(dim=20, n_train=1000, n_test=1000, label_noise=0.1, seed=0)``.
Reference sweep: widths {16, 32, …, 2048} × 8 seeds × {hard, soft} = 128 runs, 200 steps.
``--quick``: widths {16, …, 256} × 2 seeds × {hard, soft} = 20 runs, 50 steps.

Printed: wall time of each variant end to end (compile included; compile alone where it applies), the ratios,
the engine's GFLOP/s against a measured GEMM roofline, the engine's scaling with a sweep of twice the total
neurons (twice the seeds), and the agreement of the four variants (final training loss per run). The last line
is one JSON object.

Useful work counted per run of width m per step: 4·n·d·m (forward X·Wᵀ and the gradient Eᵀ·X) + 4·n·m
(relu, output, residual, gate). Roofline: the best of several reps of a jitted jnp.dot of (n × d)·(d × M),
M = total neurons of the sweep, float32.

Usage:
    .venv/bin/python benchmarks/sweep_bench.py            # reference sweep (minutes on 2 cores)
    .venv/bin/python benchmarks/sweep_bench.py --quick    # well under a minute
    options: --reps N (repeat every variant N times, report the min), --skip torch,jit_loop,vmap,engine,scaling,
             --torch-device auto|cpu|cuda (auto: PyTorch on the GPU when JAX runs on one; the JSON says which)
    On a GPU, JAX's default float32 matmul precision may use TF32 while PyTorch's does not: set
    JAX_DEFAULT_MATMUL_PRECISION=float32 for like-for-like numbers (the header prints the setting).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from kd_theory import data, nets  # noqa: E402

N_TRAIN, N_TEST, DIM, LR, LABEL_NOISE = 1000, 1000, 20, 1.0, 0.1
TARGETS = ("hard", "soft")
AGREE_RTOL = 1e-3
TARGET_SPEEDUP = 5.0
TARGET_ROOFLINE = 0.6  # issue 8: end to end ≥ 60% of the measured GEMM roofline (issue 3 had 50%)


# --------------------------------------------------------------------------------------------- setup

def make_problem():
    ds = data.sphere_xor(dim=DIM, n_train=N_TRAIN, n_test=N_TEST, label_noise=LABEL_NOISE, seed=0)
    X = ds.X_train.astype(np.float32)
    score = np.tanh(DIM * X[:, 0] * X[:, 1])
    p = (1.0 / (1.0 + np.exp(-4.0 * score))).astype(np.float32)
    t_hard = ((1.0 + ds.y_train) / 2.0).astype(np.float32)
    return ds, {"hard": t_hard, "soft": p}


def init_params(width, seed):
    """The initial (W, a) of run (width, seed): the same for every variant and for hard/soft."""
    params = nets.symmetric_init(jax.random.fold_in(jax.random.PRNGKey(0), seed), width, DIM)
    return np.array(params["W"]), np.array(params["a"])  # writable copies (torch.from_numpy needs them)


def useful_flops(widths, n_seeds, steps, n_targets=2):
    per_step = sum((4 * N_TRAIN * DIM * m + 4 * N_TRAIN * m) * n_seeds * n_targets for m in widths)
    return per_step * steps


def bce_np(f, t):
    """The project's training loss R = mean KL(t ‖ σ(f)) = mean(softplus(f) − t f) − mean H(t) (losses.binary_kl),
    in float64 from float32 logits. For hard targets H(t) = 0 and this is the logistic loss."""
    f = np.asarray(f, np.float64)
    t = np.asarray(t, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(t > 0, t * np.log(t), 0.0) - np.where(t < 1, (1 - t) * np.log1p(-t), 0.0)
    return float(np.mean(np.logaddexp(0.0, f) - t * f) - np.mean(ent))


def fmt(x, unit="s"):
    return "null" if x is None else f"{x:.3f} {unit}"


# --------------------------------------------------------------------------------------------- (b) torch

def torch_pgd_run(torch, Xt, W0, c, t, steps, lr, radius=float("inf")):
    """One run in PyTorch (autograd): W ← Π(W − η ∇_W mean(softplus(f) − t f)), each row of W kept within
    ``radius`` of its W0 row; returns the final logits on Xt. The gradient is that of binary_kl (they
    differ by H(t), a constant)."""
    W0 = to_torch(torch, W0, Xt.device)
    W = W0.clone().requires_grad_(True)
    for _ in range(steps):
        f = torch.relu(Xt @ W.T) @ c
        loss = (torch.nn.functional.softplus(f) - t * f).mean()
        loss.backward()
        with torch.no_grad():
            W -= lr * W.grad
            if radius != float("inf"):
                delta = W - W0
                W.copy_(W0 + delta * torch.clamp(radius / delta.norm(dim=1, keepdim=True).clamp_min(1e-30), max=1.0))
        W.grad = None
    with torch.no_grad():
        return (torch.relu(Xt @ W.T) @ c).cpu()  # .cpu() waits for the device: the run is timed whole


def torch_device(torch, choice):
    """Where the PyTorch loops run: ``--torch-device``, or (auto) the GPU when JAX runs on one, so that both
    sides of every ratio use the same hardware."""
    if choice != "auto":
        return choice
    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def to_torch(torch, array, dev):
    return torch.from_numpy(array).to(dev)


def run_torch_loop(X, targets, widths, seeds, steps, dev):
    try:
        import torch
    except ImportError:
        print("  (b) torch is not installed: skipped (pip install torch==2.13.0); reported as null")
        return None, {}
    torch.set_num_threads(2)
    Xt = to_torch(torch, X, dev)
    losses = {}
    inits = {(m, s): init_params(m, s) for m in widths for s in seeds}  # init is not part of the timing
    t0 = time.perf_counter()
    for m in widths:
        for s in seeds:
            W0, a = inits[(m, s)]
            c = to_torch(torch, a / np.sqrt(np.float32(m)), dev)
            for target in TARGETS:
                f = torch_pgd_run(torch, Xt, W0, c, to_torch(torch, targets[target], dev), steps, LR)
                losses[(m, s, target)] = bce_np(f.numpy(), targets[target])
    return time.perf_counter() - t0, losses


# --------------------------------------------------------------------------------------------- JAX (autodiff)

def _mean_bce(W, c, t, X):
    f = jax.nn.relu(X @ W.T) @ c
    return jnp.mean(jax.nn.softplus(f) - t * f)


def make_train(steps, lr=LR, projected=False):
    """One run: W0 -> (final W's logits on X). Autodiff via jax.grad of the mean loss, all steps in one scan;
    ``projected``: each row kept within ``radius`` (an extra argument) of its W0 row."""
    grad = jax.grad(_mean_bce)

    def train(W0, c, t, X, radius=jnp.inf):
        def step(W, _):
            W = W - lr * grad(W, c, t, X)
            return (nets.project_rows(W, W0, radius) if projected else W), None
        W, _ = jax.lax.scan(step, W0, None, length=steps)
        return jax.nn.relu(X @ W.T) @ c
    return train


def run_jit_loop(X, targets, widths, seeds, steps):
    """(c): one jitted scan per run; compiled once per width (hard/soft and seeds share the program)."""
    train = jax.jit(make_train(steps))
    Xj = jnp.asarray(X)
    tj = {k: jnp.asarray(v) for k, v in targets.items()}
    inits = {(m, s): init_params(m, s) for m in widths for s in seeds}
    losses, compile_s = {}, 0.0
    t0 = time.perf_counter()
    for m in widths:
        W0, a = inits[(m, seeds[0])]
        tc = time.perf_counter()
        compiled = train.lower(jnp.asarray(W0), jnp.asarray(a), tj["hard"], Xj).compile()
        compile_s += time.perf_counter() - tc
        for s in seeds:
            W0, a = inits[(m, s)]
            W0j, cj = jnp.asarray(W0), jnp.asarray(a / np.sqrt(np.float32(m)))
            for target in TARGETS:
                f = np.asarray(compiled(W0j, cj, tj[target], Xj))  # np.asarray blocks: a real per-run loop
                losses[(m, s, target)] = bce_np(f, targets[target])
    return time.perf_counter() - t0, compile_s, losses


def run_vmap_per_width(X, targets, widths, seeds, steps):
    """(d): jit(vmap(train)) over the seeds × {hard, soft} runs of one width; one program per width."""
    train = jax.jit(jax.vmap(make_train(steps), in_axes=(0, 0, 0, None)))
    Xj = jnp.asarray(X)
    losses, compile_s = {}, 0.0
    t0 = time.perf_counter()
    for m in widths:
        keys = [(s, target) for s in seeds for target in TARGETS]
        inits = {s: init_params(m, s) for s in seeds}
        W0 = jnp.asarray(np.stack([inits[s][0] for s, _ in keys]))
        c = jnp.asarray(np.stack([inits[s][1] / np.sqrt(np.float32(m)) for s, _ in keys]))
        t = jnp.asarray(np.stack([targets[target] for _, target in keys]))
        tc = time.perf_counter()
        compiled = train.lower(W0, c, t, Xj).compile()
        compile_s += time.perf_counter() - tc
        f = np.asarray(compiled(W0, c, t, Xj))  # (R, n)
        for r, (s, target) in enumerate(keys):
            losses[(m, s, target)] = bce_np(f[r], targets[target])
    return time.perf_counter() - t0, compile_s, losses


# --------------------------------------------------------------------------------------------- (a) engine

def import_engine():
    try:
        from kd_theory import sweep
        for name in ("Task", "grid", "run_sweep", "EngineOptions"):
            if not hasattr(sweep, name):
                raise ImportError(f"kd_theory.sweep has no {name!r} yet")
    except ImportError as exc:
        print(f"engine not available ({exc})")
        return None
    return sweep


def timed_sweep(sweep, runs, tasks, options, **kwargs):
    """run_sweep with a fresh program cache (jax.clear_caches() does not reach the engine's), so that
    the time includes the compile; returns (wall seconds, result)."""
    t0 = time.perf_counter()
    result = sweep.run_sweep(runs, tasks, options, progress=False, cache=sweep.ProgramCache(), **kwargs)
    return time.perf_counter() - t0, result


def run_engine(sweep, ds, targets, widths, seeds, steps):
    task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets=dict(targets))
    runs = sweep.grid(dataset=["xor"], width=list(widths), target=list(TARGETS), seed=list(seeds), lr=[LR])
    wall, result = timed_sweep(sweep, runs, {"xor": task}, sweep.EngineOptions(steps=(steps,)))
    timings = dict(getattr(result, "timings", {}) or {})
    losses = {}
    for row in result.rows:
        key = (int(row["width"]), int(row["seed"]), str(row["target"]))
        if "final_train_loss" in row:
            losses[key] = float(row["final_train_loss"])
    return wall, timings, losses, result


# --------------------------------------------------------------------------------------------- roofline

def measure_gemm(M, reps=10, inner=10):
    """GFLOP/s of a jitted (n × d)·(d × M) float32 product (2·n·d·M FLOPs), two ways, best of ``reps`` each:

    * ``single``: one call of jit(jnp.dot) per timing. Each call returns a fresh n × M buffer (261 MB for the
      reference sweep) whose pages the OS must fault in and zero, so on this machine it measures page-fault
      bandwidth more than the GEMM;
    * ``in_loop``: ``inner`` products inside one jitted fori_loop (the buffer is reused, as in a training
      scan), time / inner. The roofline is the larger of the two (the stricter target)."""
    kx, kb = jax.random.split(jax.random.PRNGKey(1))
    A = jax.random.normal(kx, (N_TRAIN, DIM), jnp.float32)
    B = jax.random.normal(kb, (DIM, M), jnp.float32)
    dot = jax.jit(jnp.dot)

    @jax.jit
    def looped(A, B):
        def body(i, acc):  # the tiny shift keeps the loop from being hoisted; H[i, 0] keeps the product live
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

    flop = 2.0 * N_TRAIN * DIM * M
    single = flop / best(lambda: dot(A, B), reps) / 1e9
    in_loop = flop / (best(lambda: looped(A, B), max(3, reps // 2)) / inner) / 1e9
    return max(single, in_loop), {"single_call": single, "in_loop": in_loop}


# --------------------------------------------------------------------------------------------- agreement

def max_rel_discrepancy(ref, other):
    common = sorted(set(ref) & set(other))
    if not common:
        return None, None, 0
    worst, where = 0.0, None
    for k in common:
        d = abs(other[k] - ref[k]) / max(abs(ref[k]), 1e-12)
        if d > worst:
            worst, where = d, k
    return worst, where, len(common)


def warm_up(X, torch_dev):
    """Pay the process's one-time costs (backend start, first compile, PRNG, torch's thread pool) before any
    timing, so that whichever variant runs first is not charged for them."""
    W, a = init_params(16, 0)
    jax.block_until_ready(jax.jit(make_train(2))(jnp.asarray(W), jnp.asarray(a), jnp.zeros(N_TRAIN), jnp.asarray(X)))
    try:
        import torch
        torch.set_num_threads(2)
        (to_torch(torch, X, torch_dev) @ to_torch(torch, W, torch_dev).T).sum().item()
    except ImportError:
        pass


def best_of(reps, fn):
    """Run ``fn`` ``reps`` times (JAX caches cleared before each, so compile is always included); keep the
    repetition with the smallest end-to-end time (element 0 of fn's result)."""
    best = None
    for _ in range(reps):
        jax.clear_caches()
        out = fn()
        if out[0] is not None and (best is None or out[0] < best[0]):
            best = out
        elif best is None:
            best = out
    return best


def met(ok):
    return "target met" if ok else "NOT met"


# --------------------------------------------------------------------------------------------- Table-1 workload

TABLE1_WIDTHS, TABLE1_STEPS, TABLE1_LR, TABLE1_B = (4, 6, 8), 3000, 2.0, (None, 4.0)
TABLE1_TEMPERATURES = (2.0, 8.0, 16.0)
TARGET_TABLE1_VS_TORCH = 10.0


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


def table1_runs(sweep, problem, n_seeds):
    """2 data sets × 3 widths × 4 targets × 2 radii × ``n_seeds`` seeds (20 seeds: the demo's 960 runs)."""
    targets = list(next(iter(problem.values()))[1])
    return sweep.grid(dataset=list(problem), width=list(TABLE1_WIDTHS), target=targets, seed=range(n_seeds),
                      lr=[TABLE1_LR], B=list(TABLE1_B))


def per_run_loop(runs, problem, variant, sample, torch_dev):
    """Time a per-run loop ("torch" or "jax") over ``runs[::step]`` (``sample`` runs, spread over the grid) and
    extrapolate to all runs; returns (seconds for all runs, measured seconds, runs timed, final losses)."""
    picked = runs[:: max(1, len(runs) // sample)] if sample < len(runs) else list(runs)
    losses = {}
    inits = {(r.width, r.seed): init_params_dim(r.width, r.seed, 64) for r in picked}
    if variant == "torch":
        try:
            import torch
        except ImportError:
            return None, None, 0, {}
        # One thread: these per-step ops are tiny, and two OpenMP threads on two shared cores spin against
        # each other (measured: 300 steps 0.05 s with 1 thread, 6.4 s with 2 while another process ran).
        torch.set_num_threads(1)
        Xs = {k: to_torch(torch, ds.X_train, torch_dev) for k, (ds, _) in problem.items()}
        t0 = time.perf_counter()
        for r in picked:
            W0, a = inits[(r.width, r.seed)]
            t = problem[r.dataset][1][r.target]
            radius = float("inf") if r.B is None else r.B / np.sqrt(r.width)
            f = torch_pgd_run(torch, Xs[r.dataset], W0, to_torch(torch, a / np.sqrt(np.float32(r.width)), torch_dev),
                              to_torch(torch, t, torch_dev), TABLE1_STEPS, r.lr, radius)
            losses[r] = bce_np(f.numpy(), t)
    else:
        train = jax.jit(make_train(TABLE1_STEPS, TABLE1_LR, projected=True))
        Xs = {k: jnp.asarray(ds.X_train) for k, (ds, _) in problem.items()}
        t0 = time.perf_counter()
        for r in picked:  # compiled once per (data set, width) shape: included, as a real loop pays it
            W0, a = inits[(r.width, r.seed)]
            t = problem[r.dataset][1][r.target]
            radius = np.inf if r.B is None else r.B / np.sqrt(r.width)
            f = np.asarray(train(jnp.asarray(W0), jnp.asarray(a / np.sqrt(np.float32(r.width))), jnp.asarray(t),
                                 Xs[r.dataset], jnp.float32(radius)))
            losses[r] = bce_np(f, t)
    measured = time.perf_counter() - t0
    return measured * len(runs) / len(picked), measured, len(picked), losses


def init_params_dim(width, seed, dim):
    params = nets.symmetric_init(jax.random.fold_in(jax.random.PRNGKey(0), seed), width, dim)
    return np.array(params["W"]), np.array(params["a"])


def table1_workload(sweep, sample, skip, torch_dev):
    problem = table1_problem()
    runs = table1_runs(sweep, problem, n_seeds=20)
    tasks = {k: sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, t) for k, (ds, t) in problem.items()}
    print(f"Table-1 workload: {len(runs)} runs (widths {TABLE1_WIDTHS}, data sets n = "
          f"{[len(ds.X_train) for ds, _ in problem.values()]}, d = 64, targets {list(next(iter(problem.values()))[1])},"
          f" B ∈ {TABLE1_B}, 20 seeds), {TABLE1_STEPS} PGD steps, lr {TABLE1_LR}", flush=True)
    wall, result = timed_sweep(sweep, runs, tasks, sweep.EngineOptions(steps=(TABLE1_STEPS,)))
    print(f"  engine: {wall:.2f} s end to end (compile {result.timings['compile_s']:.2f} s)", flush=True)
    engine_loss = {r: row["final_train_loss"] for r, row in zip(runs, result.rows)}
    out = {"table1_runs": len(runs), "table1_engine_s": wall, "table1_engine_compile_s": result.timings["compile_s"]}
    for variant in ("torch", "jax_loop"):
        if variant in skip:
            out[f"table1_{variant}_s"] = None
            continue
        total, measured, n_timed, loop_loss = per_run_loop(runs, problem, "torch" if variant == "torch" else "jax",
                                                           sample, torch_dev)
        if total is None:
            print(f"  {variant}: torch not installed (pip install torch==2.13.0): null")
            out[f"table1_{variant}_s"] = None
            continue
        how = "all runs" if n_timed == len(runs) else f"{n_timed} runs timed, extrapolated to {len(runs)}"
        worst = max(abs(loop_loss[r] - engine_loss[r]) / max(abs(engine_loss[r]), 1e-12) for r in loop_loss)
        print(f"  {variant} per-run loop: {total:.1f} s for {len(runs)} runs ({how}; measured {measured:.1f} s, "
              f"{measured / n_timed:.3f} s a run); max rel. loss discrepancy vs engine {worst:.1e}", flush=True)
        out.update({f"table1_{variant}_s": total, f"table1_{variant}_runs_timed": n_timed,
                    f"table1_{variant}_discrepancy": worst})
    ratio = lambda a: None if a is None else a / wall
    out["ratio_table1_vs_torch"] = ratio(out.get("table1_torch_s"))
    out["ratio_table1_vs_jax_loop"] = ratio(out.get("table1_jax_loop_s"))
    r = out["ratio_table1_vs_torch"]
    print(f"  Table-1 ratios (end to end): torch loop / engine = {'null' if r is None else f'{r:.1f}×'}"
          f"{'' if r is None else f'  [≥ {TARGET_TABLE1_VS_TORCH:g}×: {met(r >= TARGET_TABLE1_VS_TORCH)}]'}; "
          f"jax loop / engine = {out['ratio_table1_vs_jax_loop'] and round(out['ratio_table1_vs_jax_loop'], 1)}×")
    return out


# --------------------------------------------------------------------------------------------- many widths

TARGET_MANY_WIDTHS_COMPILE_S = 2.0


def many_widths_workload(sweep, quick):
    """32 geometric widths 4…4,096 × 4 data sets of one shape × 8 seeds × {hard, soft}: the compile time must
    not grow with the number of widths (nor of data sets)."""
    n, dim = 256, 16
    steps = 10 if quick else 50
    widths = sorted({2 * int(round(2 * 1024 ** (k / 31))) for k in range(32)})
    tasks = {}
    for i in range(4):
        ds = data.sphere_xor(dim, n_train=n, n_test=n, label_noise=0.1, seed=100 + i)
        p = (1 / (1 + np.exp(-4 * np.tanh(dim * ds.X_train[:, 0] * ds.X_train[:, 1])))).astype(np.float32)
        tasks[f"xor{i}"] = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                                      {"hard": ((1 + ds.y_train) / 2).astype(np.float32), "soft": p})
    runs = sweep.grid(dataset=list(tasks), width=widths, target=["hard", "soft"], seed=range(8), lr=[1.0])
    neurons = sum(r.width for r in runs)
    print(f"many-widths workload: {len(widths)} widths {widths[0]}…{widths[-1]} × 4 data sets (n = {n}, d = {dim}) × "
          f"8 seeds × {{hard, soft}} = {len(runs)} runs, {neurons} neurons, {steps} steps", flush=True)
    wall, result = timed_sweep(sweep, runs, tasks, sweep.EngineOptions(steps=(steps,)), memory_budget_gb=64)
    c = result.timings["compile_s"]
    print(f"  engine: {wall:.2f} s end to end, compile {c:.2f} s  [≤ {TARGET_MANY_WIDTHS_COMPILE_S:g} s: "
          f"{met(c <= TARGET_MANY_WIDTHS_COMPILE_S)}], run {wall - c:.2f} s, {result.n_chunks} chunk(s)", flush=True)
    return {"many_widths_runs": len(runs), "many_widths_widths": len(widths), "many_widths_s": wall,
            "compile_s_many_widths": c, "many_widths_chunks": result.n_chunks}


# --------------------------------------------------------------------------------------------- multiclass

def multiclass_workload(sweep, quick):
    """The 10-class digits task (C = 10 outputs, softmax) beside its binary twin (digit > 4, one output):
    the same inputs, widths, seeds and steps; soft targets from a fixed linear teacher at T = 4."""
    steps = 100 if quick else 500
    widths, seeds = [4, 8, 16, 32], range(8)
    times = {}
    for num_classes in (2, 10):
        ds = data.digits_task("full", num_classes=num_classes)
        Y = np.eye(num_classes)[ds.y_train] if num_classes > 2 else ds.y_train[:, None].astype(np.float64)
        z = ds.X_train @ np.linalg.lstsq(ds.X_train.astype(np.float64), Y, rcond=None)[0]
        z = 4.0 * z / np.abs(z).max()
        if num_classes == 2:
            hard, soft = (1 + ds.y_train) / 2, 1 / (1 + np.exp(-z[:, 0] / 4))
        else:
            hard, soft = Y, np.exp(z / 4) / np.exp(z / 4).sum(1, keepdims=True)
        task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                          {"hard": hard.astype(np.float32), "soft": soft.astype(np.float32)}, num_classes=num_classes)
        runs = sweep.grid(dataset=["digits"], width=widths, target=["hard", "soft"], seed=seeds, lr=[2.0])
        wall, result = timed_sweep(sweep, runs, {"digits": task}, sweep.EngineOptions(steps=(steps,)))
        acc = np.mean([row["test_acc"] for row in result.rows])
        times[num_classes] = (wall, result.timings["compile_s"], acc)
    print(f"multiclass workload: digits, widths {widths} × 8 seeds × {{hard, soft}} = 64 runs, {steps} steps")
    for C, (wall, c, acc) in times.items():
        print(f"  {'binary (digit > 4)' if C == 2 else '10 classes'}: {wall:.2f} s end to end (compile {c:.2f} s), "
              f"mean test accuracy {acc:.3f}")
    print(f"  10-class / binary time: {times[10][0] / times[2][0]:.2f}× (the output layer and residual are C× larger)")
    return {"multiclass_s": times[10][0], "multiclass_compile_s": times[10][1], "binary_twin_s": times[2][0],
            "binary_twin_compile_s": times[2][1], "multiclass_mean_test_acc": times[10][2],
            "binary_twin_mean_test_acc": times[2][2]}


# --------------------------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="widths 16..256, 2 seeds, 50 steps")
    ap.add_argument("--reps", type=int, default=1, help="repeat every variant, report the min (default 1)")
    ap.add_argument("--skip", default="", help="comma list of: torch,jit_loop,vmap,engine,scaling (reference sweep), "
                    "table1,table1_torch,table1_jax_loop,many_widths,multiclass")
    ap.add_argument("--sample", type=int, default=None,
                    help="Table-1 per-run loops: time this many runs (spread over the grid) and extrapolate to "
                         "all 960 (default: all runs; 24 with --quick)")
    ap.add_argument("--torch-device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where the PyTorch loops run (auto: the GPU when JAX runs on one, else the CPU)")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    if args.quick:
        widths, n_seeds, steps = [16, 32, 64, 128, 256], 2, 50
    else:
        widths, n_seeds, steps = [16 * 2 ** k for k in range(8)], 8, 200
    seeds = list(range(n_seeds))
    n_runs = len(widths) * n_seeds * len(TARGETS)
    total_neurons = sum(widths) * n_seeds * len(TARGETS)
    flops = useful_flops(widths, n_seeds, steps)

    ds, targets = make_problem()
    X = ds.X_train
    dev = jax.devices()[0]
    try:
        import torch
        torch_version, torch_dev = torch.__version__, torch_device(torch, args.torch_device)
    except ImportError:
        torch_version = torch_dev = None
    print(f"sweep_bench: {'quick' if args.quick else 'reference'} sweep: widths {widths} × {n_seeds} seeds × "
          f"{list(TARGETS)} = {n_runs} runs, {steps} steps, n={N_TRAIN}, d={DIM}, lr={LR}, float32")
    print(f"  total neurons M = {total_neurons}; useful work = {flops / 1e9:.1f} GFLOP")
    print(f"  jax {jax.__version__}, backend {jax.default_backend()}, device {dev.device_kind}, "
          f"torch {torch_version} on {torch_dev}, jax matmul precision "
          f"{jax.config.jax_default_matmul_precision or 'default'}, cpu_count {os.cpu_count()}, reps {args.reps}")
    print(f"  load average at start (1, 5, 15 min): {os.getloadavg()} — other processes share these cores")
    print(f"  teacher p = sigmoid(4·tanh(d·x1·x2)): mean {targets['soft'].mean():.3f}, "
          f"min {targets['soft'].min():.3f}, max {targets['soft'].max():.3f}; label_noise {LABEL_NOISE}")

    out = {"jax_version": jax.__version__, "backend": jax.default_backend(), "device": str(dev.device_kind),
           "torch_version": torch_version, "torch_device": torch_dev,
           "jax_default_matmul_precision": jax.config.jax_default_matmul_precision, "cpu_count": os.cpu_count(),
           "platform": platform.platform(),
           "quick": args.quick, "n_runs": n_runs, "widths": widths, "n_seeds": n_seeds, "steps": steps,
           "total_neurons": total_neurons, "useful_gflop": flops / 1e9, "reps": args.reps,
           "loadavg_start": os.getloadavg()}
    losses = {}
    t0 = time.perf_counter()
    warm_up(X, torch_dev)
    print(f"  warm-up (backend start, first compile; not counted): {time.perf_counter() - t0:.2f} s")

    # (a) engine
    # the engine serves every workload; "engine" in --skip skips only its reference-sweep variant (a)
    others = ("table1", "many_widths", "multiclass")
    sweep = None if "engine" in skip and all(w in skip for w in others) else import_engine()
    engine_s = engine_compile_s = engine_run_s = None
    if "engine" not in skip:
        print("(a) engine ...", flush=True)
        wall, timings, losses["engine"], _ = best_of(
            args.reps, lambda: run_engine(sweep, ds, targets, widths, seeds, steps))
        engine_s = wall
        engine_compile_s = timings.get("compile_s")
        engine_run_s = timings.get("run_s")
        print(f"  (a) engine: {fmt(engine_s)} end to end; compile {fmt(engine_compile_s)}; "
              f"run {fmt(engine_run_s)}; timings {json.dumps({k: v for k, v in timings.items() if isinstance(v, (int, float))})}")
    out.update(engine_s=engine_s, engine_compile_s=engine_compile_s, engine_run_s=engine_run_s)

    # (b) torch
    torch_s = None
    if "torch" not in skip:
        print("(b) torch per-run loop ...", flush=True)
        torch_s, losses["torch"] = best_of(args.reps, lambda: run_torch_loop(X, targets, widths, seeds, steps, torch_dev))
        print(f"  (b) torch loop: {fmt(torch_s)}")
    out["torch_loop_s"] = torch_s

    # (c) jit per run
    jit_s = jit_compile_s = None
    if "jit_loop" not in skip:
        print("(c) JAX jitted per-run loop ...", flush=True)
        jit_s, jit_compile_s, losses["jit_loop"] = best_of(
            args.reps, lambda: run_jit_loop(X, targets, widths, seeds, steps))
        print(f"  (c) jit loop: {fmt(jit_s)} end to end; compile {fmt(jit_compile_s)}")
    out.update(jit_loop_s=jit_s, jit_loop_compile_s=jit_compile_s)

    # (d) vmap per width
    vmap_s = vmap_compile_s = None
    if "vmap" not in skip:
        print("(d) JAX jit(vmap) per width ...", flush=True)
        vmap_s, vmap_compile_s, losses["vmap_per_width"] = best_of(
            args.reps, lambda: run_vmap_per_width(X, targets, widths, seeds, steps))
        print(f"  (d) vmap per width: {fmt(vmap_s)} end to end; compile {fmt(vmap_compile_s)}")
    out.update(vmap_per_width_s=vmap_s, vmap_per_width_compile_s=vmap_compile_s)

    # roofline
    gemm_gflops, gemm_ways = measure_gemm(total_neurons)
    print(f"roofline: jitted jnp.dot ({N_TRAIN}×{DIM})·({DIM}×{total_neurons}) float32: "
          f"{gemm_ways['single_call']:.1f} GFLOP/s one call at a time (fresh output buffer), "
          f"{gemm_ways['in_loop']:.1f} GFLOP/s inside a jitted loop; roofline = {gemm_gflops:.1f} GFLOP/s")
    floor_s = flops / (gemm_gflops * 1e9)
    print(f"  time floor of the sweep's useful work at that rate: {floor_s:.2f} s")
    out.update(gemm_gflops=gemm_gflops, gemm_gflops_single_call=gemm_ways["single_call"],
               gemm_gflops_in_loop=gemm_ways["in_loop"], floor_s=floor_s)

    # scaling
    scaling_2x = scaling_2x_run = None
    if "engine" not in skip and "scaling" not in skip:
        seeds2 = list(range(2 * n_seeds))
        print(f"(a') engine, sweep twice as large ({len(seeds2)} seeds) ...", flush=True)
        wall2, timings2, _, _ = best_of(args.reps, lambda: run_engine(sweep, ds, targets, widths, seeds2, steps))
        scaling_2x = wall2 / engine_s
        if engine_run_s and timings2.get("run_s"):
            scaling_2x_run = timings2["run_s"] / engine_run_s
        print(f"  (a') engine 2x: {fmt(wall2)} end to end (run {fmt(timings2.get('run_s'))}); "
              f"scaling_2x = {scaling_2x:.2f} (run only: {scaling_2x_run if scaling_2x_run is None else round(scaling_2x_run, 2)})")
        out.update(engine_2x_s=wall2, engine_2x_run_s=timings2.get("run_s"))
    out.update(scaling_2x=scaling_2x, scaling_2x_run_only=scaling_2x_run)

    # ratios and targets
    ratio = lambda a, b: (a / b) if (a is not None and b is not None) else None
    r_torch = ratio(torch_s, engine_s)
    r_vmap = ratio(vmap_s, engine_s)
    r_jit = ratio(jit_s, engine_s)
    engine_gflops = flops / engine_run_s / 1e9 if engine_run_s else None
    engine_gflops_e2e = flops / engine_s / 1e9 if engine_s else None
    roof = engine_gflops / gemm_gflops if engine_gflops else None
    roof_e2e = engine_gflops_e2e / gemm_gflops if engine_gflops_e2e else None
    print("summary (end to end, compile included):")
    for name, val in [("torch loop / engine", r_torch), ("jit loop / engine", r_jit),
                      ("vmap per width / engine", r_vmap)]:
        tag = ""
        if name.startswith(("torch", "vmap")):
            tag = "  [n/a]" if val is None else f"  [≥ {TARGET_SPEEDUP:g}×: {met(val >= TARGET_SPEEDUP)}]"
        print(f"  {name}: {'null' if val is None else f'{val:.2f}×'}{tag}")
    if engine_gflops is not None:
        print(f"  engine: {engine_gflops:.1f} GFLOP/s over run_s (excluding compile) = {roof:.1%} of the "
              f"{gemm_gflops:.1f} GFLOP/s GEMM roofline  [≥ {TARGET_ROOFLINE:.0%}: {met(roof >= TARGET_ROOFLINE)}]")
    if engine_gflops_e2e is not None:
        print(f"  engine: {engine_gflops_e2e:.1f} GFLOP/s end to end (compile included) = {roof_e2e:.1%} of the "
              f"roofline  [≥ {TARGET_ROOFLINE:.0%}: {met(roof_e2e >= TARGET_ROOFLINE)}]")
    if engine_gflops is None:
        print("  engine GFLOP/s: null (engine not run, or no run_s in its timings)")
    out.update(ratio_vs_torch=r_torch, ratio_vs_vmap_per_width=r_vmap, ratio_vs_jit_loop=r_jit,
               engine_gflops=engine_gflops, engine_gflops_e2e=engine_gflops_e2e,
               roofline_fraction=roof, roofline_fraction_e2e=roof_e2e,
               target_speedup_vs_torch_met=None if r_torch is None else r_torch >= TARGET_SPEEDUP,
               target_speedup_vs_vmap_met=None if r_vmap is None else r_vmap >= TARGET_SPEEDUP,
               target_roofline_met=None if roof is None else roof >= TARGET_ROOFLINE)

    # agreement: every variant against the jit loop (or the first one present)
    ref_name = "jit_loop" if "jit_loop" in losses else next(iter(losses), None)
    agree = {}
    if ref_name is not None:
        print(f"agreement: final training loss (mean KL(t‖σ(f)) = BCE − H(t) at W after {steps} steps) vs {ref_name}:")
        for name, ls in losses.items():
            if name == ref_name:
                continue
            d, where, k = max_rel_discrepancy(losses[ref_name], ls)
            agree[name] = d
            if d is None:
                print(f"  {name}: no common runs (engine rows without final_train_loss or other keys?)")
            else:
                print(f"  {name}: max rel. discrepancy {d:.2e} over {k} runs (worst {where}: "
                      f"{ls[where]:.6f} vs {losses[ref_name][where]:.6f})  [≤ {AGREE_RTOL:g}: {met(d <= AGREE_RTOL)}]")
        ex = sorted(losses[ref_name])[:: max(1, len(losses[ref_name]) // 4)]
        print("  sample final losses: " + "; ".join(f"{k}: {losses[ref_name][k]:.5f}" for k in ex))
    # the other workloads
    if sweep is not None and "table1" not in skip:
        sample = args.sample or (24 if args.quick else 960)
        out.update(table1_workload(sweep, sample, {k[len("table1_"):] for k in skip if k.startswith("table1_")},
                                   torch_dev))
    if sweep is not None and "many_widths" not in skip:
        out.update(many_widths_workload(sweep, args.quick))
    if sweep is not None and "multiclass" not in skip:
        out.update(multiclass_workload(sweep, args.quick))

    out["loadavg_end"] = os.getloadavg()
    print(f"load average at end: {out['loadavg_end']}")
    vals = [v for v in agree.values() if v is not None]
    out["max_rel_discrepancy"] = max(vals) if vals else None
    out["discrepancy_by_variant"] = agree
    out["agreement_rtol"] = AGREE_RTOL
    print(json.dumps(out))


if __name__ == "__main__":
    main()
