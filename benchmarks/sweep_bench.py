"""Benchmark: the sweep engine against per-run loops (issue 3).

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
    options: --reps N (repeat every variant N times, report the min), --skip torch,jit_loop,vmap,engine,scaling
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
TARGET_ROOFLINE = 0.5


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

def run_torch_loop(X, targets, widths, seeds, steps):
    try:
        import torch
    except ImportError:
        print("  (b) torch is not installed: skipped (pip install torch==2.13.0); reported as null")
        return None, {}
    torch.set_num_threads(2)
    Xt = torch.from_numpy(X)
    losses = {}
    inits = {(m, s): init_params(m, s) for m in widths for s in seeds}  # init is not part of the timing
    t0 = time.perf_counter()
    for m in widths:
        for s in seeds:
            W0, a = inits[(m, s)]
            c = torch.from_numpy(a / np.sqrt(np.float32(m)))
            for target in TARGETS:
                t = torch.from_numpy(targets[target])
                W = torch.from_numpy(W0.copy()).requires_grad_(True)
                for _ in range(steps):
                    f = torch.relu(Xt @ W.T) @ c
                    loss = (torch.nn.functional.softplus(f) - t * f).mean()
                    loss.backward()
                    with torch.no_grad():
                        W -= LR * W.grad
                    W.grad = None
                with torch.no_grad():
                    f = torch.relu(Xt @ W.T) @ c
                losses[(m, s, target)] = bce_np(f.numpy(), targets[target])
    return time.perf_counter() - t0, losses


# --------------------------------------------------------------------------------------------- JAX (autodiff)

def _mean_bce(W, c, t, X):
    f = jax.nn.relu(X @ W.T) @ c
    return jnp.mean(jax.nn.softplus(f) - t * f)


def make_train(steps):
    """One run: W0 -> (final W's logits on X). Autodiff via jax.grad of the mean loss, all steps in one scan."""
    grad = jax.grad(_mean_bce)

    def train(W0, c, t, X):
        def step(W, _):
            return W - LR * grad(W, c, t, X), None
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


def reset_engine_cache(sweep):
    """The engine keeps its compiled programs in its own cache (kd_theory.sweep.program._CACHE), which
    jax.clear_caches() does not reach: replace it, so that every repetition includes its compile."""
    prog = getattr(sweep, "program", None)
    if prog is not None and hasattr(prog, "ProgramCache") and hasattr(prog, "_CACHE"):
        prog._CACHE = prog.ProgramCache()


def run_engine(sweep, ds, targets, widths, seeds, steps):
    reset_engine_cache(sweep)
    task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets=dict(targets))
    runs = sweep.grid(dataset=["xor"], width=list(widths), target=list(TARGETS), seed=list(seeds), lr=[LR])
    t0 = time.perf_counter()
    result = sweep.run_sweep(runs, {"xor": task}, sweep.EngineOptions(steps=(steps,)), progress=False)
    wall = time.perf_counter() - t0
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


def warm_up(X):
    """Pay the process's one-time costs (backend start, first compile, PRNG, torch's thread pool) before any
    timing, so that whichever variant runs first is not charged for them."""
    W, a = init_params(16, 0)
    jax.block_until_ready(jax.jit(make_train(2))(jnp.asarray(W), jnp.asarray(a), jnp.zeros(N_TRAIN), jnp.asarray(X)))
    try:
        import torch
        torch.set_num_threads(2)
        (torch.from_numpy(X) @ torch.from_numpy(W).T).sum().item()
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


# --------------------------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="widths 16..256, 2 seeds, 50 steps")
    ap.add_argument("--reps", type=int, default=1, help="repeat every variant, report the min (default 1)")
    ap.add_argument("--skip", default="", help="comma list of: torch,jit_loop,vmap,engine,scaling")
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
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    print(f"sweep_bench: {'quick' if args.quick else 'reference'} sweep: widths {widths} × {n_seeds} seeds × "
          f"{list(TARGETS)} = {n_runs} runs, {steps} steps, n={N_TRAIN}, d={DIM}, lr={LR}, float32")
    print(f"  total neurons M = {total_neurons}; useful work = {flops / 1e9:.1f} GFLOP")
    print(f"  jax {jax.__version__}, backend {jax.default_backend()}, device {dev.device_kind}, "
          f"torch {torch_version}, cpu_count {os.cpu_count()}, reps {args.reps}")
    print(f"  load average at start (1, 5, 15 min): {os.getloadavg()} — other processes share these cores")
    print(f"  teacher p = sigmoid(4·tanh(d·x1·x2)): mean {targets['soft'].mean():.3f}, "
          f"min {targets['soft'].min():.3f}, max {targets['soft'].max():.3f}; label_noise {LABEL_NOISE}")

    out = {"jax_version": jax.__version__, "backend": jax.default_backend(), "device": str(dev.device_kind),
           "torch_version": torch_version, "cpu_count": os.cpu_count(), "platform": platform.platform(),
           "quick": args.quick, "n_runs": n_runs, "widths": widths, "n_seeds": n_seeds, "steps": steps,
           "total_neurons": total_neurons, "useful_gflop": flops / 1e9, "reps": args.reps,
           "loadavg_start": os.getloadavg()}
    losses = {}
    t0 = time.perf_counter()
    warm_up(X)
    print(f"  warm-up (backend start, first compile; not counted): {time.perf_counter() - t0:.2f} s")

    # (a) engine
    sweep = None if "engine" in skip else import_engine()
    engine_s = engine_compile_s = engine_run_s = None
    if sweep is not None:
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
        torch_s, losses["torch"] = best_of(args.reps, lambda: run_torch_loop(X, targets, widths, seeds, steps))
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
    if sweep is not None and "scaling" not in skip:
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
    out["loadavg_end"] = os.getloadavg()
    print(f"load average at end: {out['loadavg_end']}")
    vals = [v for v in agree.values() if v is not None]
    out["max_rel_discrepancy"] = max(vals) if vals else None
    out["discrepancy_by_variant"] = agree
    out["agreement_rtol"] = AGREE_RTOL
    print(json.dumps(out))


if __name__ == "__main__":
    main()
