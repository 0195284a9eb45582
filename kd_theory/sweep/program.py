"""The compiled program of one chunk: every run of every block trained in one ``lax.scan``.

Per step and per block (runs of one dataset and width, weights stacked as (R, m, d)) the work is
the two-layer network's forward and hidden-layer gradient from :mod:`kd_theory.nets` — two matrix
products and a gate — and the residual σ(f) − t from :mod:`kd_theory.losses`, which serves hard
(t = (1+y)/2) and soft (t = p) runs alike. Nothing is padded to a larger width.
"""
from __future__ import annotations

import contextlib
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from kd_theory import losses, nets
from kd_theory.sweep.plan import Chunk, EngineOptions, Run, Task

METRICS = ("avg_train_loss", "avg_train_error", "final_train_loss", "final_train_error", "train_acc",
           "test_loss", "test_error", "test_acc", "max_move_B")
VAL_METRICS = ("val_loss", "val_error", "val_acc")  # also, for tasks with a validation set
_PROGRESS_TICKS = 20


def run_key(seed_root, seed: int):
    """The PRNG key of student seed ``seed``: fold_in(PRNGKey(base_seed), seed). Hard and soft runs
    with the same seed share their initialisation (a paired comparison)."""
    return jax.random.fold_in(seed_root, seed)


def _block_step(X, y, params, W0, target, lr, radius, train_output_layer):
    """One projected GD step of R stacked runs; returns (params, loss (R,), error (R,)) where loss and
    error are those of the parameters before the step."""
    H = nets.pre_activations(params["W"], X)                  # (R, m, n)
    coef = nets.output_coefficients(params["a"])              # (R, m)
    f = nets.output_from_pre_activations(H, coef)             # (R, n)
    loss = jnp.mean(losses.binary_kl(f, target), axis=-1)     # (R,)
    err = losses.error_rate(f, y)
    residual = losses.logit_residual(f, target)
    W = params["W"] - lr[:, None, None] * nets.hidden_layer_gradient(H, coef, residual, X)
    a = params["a"]
    if train_output_layer:
        a = a - lr[:, None] * nets.output_layer_gradient(H, residual)
    return {"W": nets.project_to_balls(W, W0, radius), "a": a}, loss, err


def _runs_per_slice(R: int, width: int, max_neurons: int) -> int:
    """The largest divisor k of R with k·width ≤ max_neurons (at least 1)."""
    k = max(1, min(R, max_neurons // width))
    while R % k:
        k -= 1
    return k


def _sliced_block_step(X, y, params, W0, target, lr, radius, train_output_layer, max_neurons):
    """:func:`_block_step` over slices of k runs (k·m ≤ ``max_neurons``) one after another (lax.map).

    Why: a step is memory-bound; per slice the (k, m, n) intermediates (H, gates, E) stay in cache
    instead of streaming R·m·n floats through memory several times (≈ 1.8× on CPU, see BUILD_NOTES.md).
    """
    R, width = params["W"].shape[0], params["W"].shape[1]
    k = _runs_per_slice(R, width, max_neurons)
    if k == R:
        return _block_step(X, y, params, W0, target, lr, radius, train_output_layer)
    split = lambda a: a.reshape((R // k, k) + a.shape[1:])
    args = jax.tree.map(split, (params, W0, target, lr, radius))
    step = lambda a: _block_step(X, y, *a, train_output_layer)
    p, loss, err = jax.lax.map(step, args)
    merge = lambda a: a.reshape((R,) + a.shape[2:])
    return jax.tree.map(merge, p), merge(loss), merge(err)


def _evaluate(data, params, W0, target, sums, steps):
    """Metrics of a block at a checkpoint. ``data`` = (X_train, y_train, X_test, y_test[, X_val, y_val]);
    the held-out sets get ``{name}_loss`` (logistic), ``{name}_error`` and ``{name}_acc``."""
    Xtr, ytr = data[0], data[1]
    f = nets.apply(params, Xtr)
    train_err = losses.error_rate(f, ytr)
    width = params["W"].shape[-2]
    move = jnp.max(jnp.linalg.norm(params["W"] - W0, axis=-1), axis=-1) * math.sqrt(width)
    out = {"avg_train_loss": sums[0] / steps, "avg_train_error": sums[1] / steps,
           "final_train_loss": jnp.mean(losses.binary_kl(f, target), axis=-1),
           "final_train_error": train_err, "train_acc": 1.0 - train_err, "max_move_B": move}
    held_out = {"test": data[2:4]}
    if len(data) == 6:
        held_out["val"] = data[4:6]
    for name, (X, y) in held_out.items():
        f_eval = nets.apply(params, X)
        err = losses.error_rate(f_eval, y)
        out.update({f"{name}_loss": jnp.mean(losses.logistic(f_eval, y), axis=-1), f"{name}_error": err,
                    f"{name}_acc": 1.0 - err})
    return out


def make_program(structure: tuple, options: EngineOptions, progress=None):
    """The pure function of one chunk. ``structure`` is ((dataset, width, R), ...) per block.

    Arguments: ``data[ds] = (X_train, y_train, X_test, y_test)`` and per block
    ``(keys (R, 2), targets (R, n), lr (R,), radius (R,))`` with radius = B/√m (inf: no projection).
    Returns per checkpoint, per block, a dict of (R,) metric arrays.
    """
    dtype = jnp.dtype(options.dtype)
    total = max(options.steps)
    tick = max(1, math.ceil(total / _PROGRESS_TICKS))

    def program(data, blocks):
        params, W0 = [], []
        for (ds, width, _), (keys, *_rest) in zip(structure, blocks):
            dim = data[ds][0].shape[1]
            p = jax.vmap(lambda k: nets.init(k, width, dim, options.init, dtype))(keys)
            params.append(p)
            W0.append(p["W"])
        checkpoints = jnp.asarray(options.steps)

        def evaluate(ps, sums, T):
            return [_evaluate(data[ds], p, w0, b[1], s, T)
                    for (ds, _, _), p, w0, b, s in zip(structure, ps, W0, blocks, sums)]

        def step(carry, t):
            ps, sums, outputs = carry
            new_ps, new_sums = [], []
            for (ds, _, _), p, w0, (_, target, lr, radius), s in zip(structure, ps, W0, blocks, sums):
                X, y = data[ds][0], data[ds][1]
                p, loss, err = _sliced_block_step(X, y, p, w0, target, lr, radius, options.train_output_layer,
                                                  options.slice_neurons)
                new_ps.append(p)
                new_sums.append((s[0] + loss, s[1] + err))
            done = t + 1
            # One scan body for the whole run: metrics are written into slot k when step t + 1 is
            # checkpoint k (a cond, so the test-set forward runs only there).
            slot = jnp.searchsorted(checkpoints, done)
            is_checkpoint = jnp.any(checkpoints == done)
            outputs = jax.lax.cond(
                is_checkpoint,
                lambda o: jax.tree.map(lambda buf, new: buf.at[slot].set(new), o,
                                       evaluate(new_ps, new_sums, done.astype(dtype))),
                lambda o: o, outputs)
            if progress is not None:
                jax.lax.cond(done % tick == 0, lambda: jax.debug.callback(progress, done), lambda: None)
            return (new_ps, new_sums, outputs), None

        sums = [(jnp.zeros(b[0].shape[0], dtype), jnp.zeros(b[0].shape[0], dtype)) for b in blocks]
        template = jax.eval_shape(lambda: evaluate(params, sums, jnp.asarray(1, dtype)))
        outputs = jax.tree.map(lambda a: jnp.zeros((len(options.steps),) + a.shape, a.dtype), template)
        (_, _, outputs), _ = jax.lax.scan(step, (params, sums, outputs), jnp.arange(total))
        # per checkpoint, per block, a dict of (R,) arrays
        return [jax.tree.map(lambda buf: buf[k], outputs) for k in range(len(options.steps))]

    return program


def chunk_inputs(chunk: Chunk, runs: list[Run], tasks: dict[str, Task], options: EngineOptions,
                 pad_to: int = 1):
    """Host arrays of one chunk; each block's run axis padded to a multiple of ``pad_to`` (the device
    count) by repeating its last run, whose copies are dropped from the results."""
    dtype = np.dtype(options.dtype)
    root = jax.random.PRNGKey(options.base_seed)
    data = {}
    for ds in sorted({b.dataset for b in chunk.blocks}):
        t = tasks[ds]
        arrays = (t.X_train, t.y_train, t.X_test, t.y_test) + (() if t.X_val is None else (t.X_val, t.y_val))
        data[ds] = tuple(np.asarray(a, dtype) for a in arrays)
    structure, blocks = [], []
    for block in chunk.blocks:
        idx = list(block.runs)
        idx += [idx[-1]] * (-len(idx) % pad_to)
        block_runs = [runs[i] for i in idx]
        keys = jax.vmap(run_key, (None, 0))(root, jnp.array([r.seed for r in block_runs]))
        keys = np.asarray(jax.random.key_data(keys) if _typed(keys) else keys)
        targets = np.stack([np.asarray(tasks[block.dataset].targets[r.target], dtype) for r in block_runs])
        lr = np.array([r.lr for r in block_runs], dtype)
        radius = np.array([nets.projection_radius(r.B, block.width) for r in block_runs], dtype)
        structure.append((block.dataset, block.width, len(idx)))
        blocks.append((keys, targets, lr, radius))
    return tuple(structure), data, blocks


def _precision(dtype: str):
    """float64 sweeps run with JAX's 64-bit mode on (off by default, when float64 arrays become float32)."""
    if dtype == "float64" and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _typed(key) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


class ProgramCache:
    """Compiled chunk programs by structure, devices and progress reporting (chunks of the same
    shapes on the same devices share one compile). A compiled program reports progress through
    ``self.progress``, which is set per chunk, so a reused program reports for the chunk it runs."""

    def __init__(self):
        self._compiled = {}
        self.compile_s = 0.0
        self.progress = None

    def _report(self, step):
        if self.progress is not None:
            self.progress(step)

    def get(self, structure, options, data, blocks, devices, progress=None):
        self.progress = progress
        key = (structure, options, tuple((k, tuple(a.shape for a in v)) for k, v in sorted(data.items())),
               tuple(str(d) for d in devices), progress is not None)
        if key not in self._compiled:
            t0 = time.perf_counter()
            fn = jax.jit(make_program(structure, options, self._report if progress is not None else None))
            self._compiled[key] = fn.lower(data, blocks).compile()
            self.compile_s += time.perf_counter() - t0
        return self._compiled[key]


def shard_inputs(data, blocks, devices):
    """Replicate the data and split every block's run axis across ``devices`` (jax.sharding)."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    mesh = Mesh(np.asarray(devices), ("runs",))
    rep = NamedSharding(mesh, P())
    data = {k: tuple(jax.device_put(a, rep) for a in v) for k, v in data.items()}
    specs = (P("runs", None), P("runs", None), P("runs"), P("runs"))
    blocks = [tuple(jax.device_put(a, NamedSharding(mesh, s)) for a, s in zip(b, specs)) for b in blocks]
    return data, blocks


_CACHE = ProgramCache()


def execute_chunk(chunk: Chunk, runs: list[Run], tasks: dict[str, Task], options: EngineOptions,
                  devices=None, cache: ProgramCache | None = None, progress=None):
    """Compile (or reuse) and run one chunk; returns {run index: [row per checkpoint]}."""
    cache = _CACHE if cache is None else cache
    devices = list(jax.local_devices() if devices is None else devices)
    with _precision(options.dtype):
        structure, data, blocks = chunk_inputs(chunk, runs, tasks, options, pad_to=len(devices))
        if len(devices) > 1:
            data, blocks = shard_inputs(data, blocks, devices)
        else:
            data, blocks = jax.device_put((data, blocks), devices[0])
        compiled = cache.get(structure, options, data, blocks, devices, progress)
        outputs = jax.device_get(compiled(data, blocks))
    results: dict[int, list[dict]] = {}
    for T, per_block in zip(options.steps, outputs):
        for block, metrics in zip(chunk.blocks, per_block):
            for r, run_index in enumerate(block.runs):
                row = {"steps": T, **{m: float(v[r]) for m, v in metrics.items()}}
                row["finite"] = bool(np.isfinite(row["avg_train_loss"]) and np.isfinite(row["final_train_loss"]))
                results.setdefault(run_index, []).append(row)
    return results
