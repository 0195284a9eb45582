"""The compiled program of one chunk: every run trained in one ``lax.scan`` over steps.

Per step and per slice of packed neurons (:mod:`kd_theory.sweep.layout`; S neurons of runs of any
widths on one data set, run slots k < K) the work is

    H = W Xᵀ                              (S, n)      one matrix product
    f_k = Σ_{j in run k} c_j ReLU(H_j)      (K, n[, C]) a segment sum, c_j = a_j/√m_k
    r_k = objective.residual(f_k, t_k)      σ(f) − t or softmax(f) − t: hard and soft runs alike
    W_j ← Π_j(W_j − η_k (1/n) Σ_i (c_j · r_{k,i}) 1(H_ji > 0) x_i)    one gate, one matrix product

with every formula from :mod:`kd_theory.nets` and :mod:`kd_theory.losses`. The slices of a group are
stepped one after another (``lax.map``: a step is memory-bound and a slice's (S, n) temporaries stay in
cache), vmapped over the device axis V (sharded over local devices).
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kd_theory import losses, nets
from kd_theory.precision import maybe_x64
from kd_theory.rng import student_key
from kd_theory.sweep.layout import Group, GroupData, GroupShape, layout_chunk
from kd_theory.sweep.plan import Chunk, EngineOptions, Run, Task

METRICS = ("avg_train_loss", "avg_train_error", "final_train_loss", "final_train_error", "train_acc",
           "test_loss", "test_error", "test_acc", "max_move_B")
VAL_METRICS = ("val_loss", "val_error", "val_acc")  # also, for tasks with a validation set
_PROGRESS_TICKS = 20


class SliceRuns(NamedTuple):
    """Per neuron of a slice: its run slot, 1/√m, learning rate and ball radius (gathered from slots)."""
    slot: jax.Array
    inv_sqrt_width: jax.Array
    lr: jax.Array
    radius: jax.Array


class GroupState(NamedTuple):
    """The training state of one group: parameters, their initial W, and running sums over steps
    of each run's training loss and error (for the iteration averages)."""
    params: dict          # {"W": (V, L, S, d), "a": (V, L, S[, C])}
    W0: jax.Array         # (V, L, S, d)
    loss_sum: jax.Array   # (V, L, K)
    error_sum: jax.Array  # (V, L, K)
    diverged_at: jax.Array  # (V, L, K) int32: the first step whose training outputs were non-finite, else −1


class ChunkState(NamedTuple):
    """The scan carry: one GroupState per group and the metric buffers written at checkpoints
    (per group, a dict metric -> (checkpoints, V, L, K))."""
    groups: tuple
    outputs: tuple


def slice_runs(inputs, dtype) -> SliceRuns:
    """Per-neuron copies of the slot quantities of one slice (padding neurons: width 0 → c = 0, η = 0)."""
    width = inputs.run_width[inputs.slot]
    active = inputs.position >= 0
    inv_sqrt = jnp.where(active, 1.0 / jnp.sqrt(jnp.maximum(width, 1).astype(dtype)), 0.0)
    return SliceRuns(inputs.slot, inv_sqrt.astype(dtype), jnp.where(active, inputs.lr[inputs.slot], 0.0),
                     inputs.radius[inputs.slot])


def init_slice(inputs, shape: GroupShape, options: EngineOptions, dtype):
    """Initial parameters of a slice's neurons: neuron j of run k from :func:`nets.neuron_init` with the
    run's key, its position and its width (the same numbers as ``nets.init`` for that run)."""
    outputs = None if shape.num_classes == 2 else shape.num_classes
    width = inputs.run_width[inputs.slot]
    keys = inputs.keys[inputs.slot]
    def draw(key, position, m):  # padding neurons draw as neuron 0 of width 2 and are zeroed below
        return nets.neuron_init(key, jnp.maximum(position, 0), jnp.maximum(m, 2), shape.dim, options.init, outputs,
                                dtype)
    W, a = jax.vmap(draw)(keys, inputs.position, width)
    active = inputs.position >= 0
    mask = active.reshape(active.shape + (1,) * (a.ndim - 1))
    return {"W": jnp.where(active[:, None], W, 0.0), "a": jnp.where(mask, a, 0.0)}


def _coefficients(params, runs: SliceRuns):
    """c_j = a_j/√m of each neuron (m its run's width; 0 for padding)."""
    a = params["a"]
    return a * runs.inv_sqrt_width.reshape(runs.inv_sqrt_width.shape + (1,) * (a.ndim - 1))


def _neuron_terms(H, coef):
    """c_j ReLU(H_ji): (S, n), or (S, n, C) for C outputs."""
    relu = jax.nn.relu(H)
    return relu[..., None] * coef[:, None, :] if coef.ndim == 2 else relu * coef[:, None]


def slice_outputs(H, coef, runs: SliceRuns, slots: int):
    """f_k = Σ_{j: slot_j = k} c_j ReLU(H_j) for the K run slots of a slice: (K, n) or (K, n, C)."""
    return jax.ops.segment_sum(_neuron_terms(H, coef), runs.slot, slots)


def slice_step(X, y, target, params, W0, runs: SliceRuns, objective: losses.Objective, slots: int,
               train_output_layer: bool):
    """One projected GD step of every run in a slice; returns (params, loss (K,), error (K,), finite (K,)),
    the loss, error and whether every training output was finite being those of the parameters before the
    step (a non-finite output is how a diverged run shows itself, at no extra cost)."""
    H = nets.pre_activations(params["W"], X)                       # (S, n)
    coef = _coefficients(params, runs)
    f = slice_outputs(H, coef, runs, slots)                         # (K, n[, C])
    loss = jnp.mean(objective.loss(f, target), axis=-1)
    error = objective.error(f, y)
    residual = objective.residual(f, target)[runs.slot]             # (S, n[, C]): the residual of j's run
    signal = nets.neuron_signal(coef, residual, multiclass=coef.ndim == 2)
    W = params["W"] - runs.lr[:, None] * nets.gated_products(H, signal, X)
    a = params["a"]
    if train_output_layer:  # ∂/∂a_j = (1/n) Σ_i r_{k,i} ReLU(H_ji) / √m
        grad_a = jnp.einsum("sn,sn...->s...", jax.nn.relu(H), residual) / X.shape[0]
        scale = (runs.lr * runs.inv_sqrt_width).reshape(runs.lr.shape + (1,) * (a.ndim - 1))
        a = a - scale * grad_a
    finite = jnp.all(jnp.isfinite(f.reshape(f.shape[0], -1)), axis=-1)
    return {"W": nets.project_rows(W, W0, runs.radius), "a": a}, loss, error, finite


def slice_metrics(data_index, data: GroupData, target, params, W0, runs: SliceRuns, inputs,
                  objective: losses.Objective, shape: GroupShape, loss_sum, error_sum, diverged_at, steps):
    """Every metric of :data:`METRICS` (and the objective's extra ones; :data:`VAL_METRICS` when the
    group has validation sets) for the K run slots of a slice."""
    X, y = data.X_train[data_index], data.y_train[data_index]
    coef = _coefficients(params, runs)
    output = lambda Z: slice_outputs(nets.pre_activations(params["W"], Z), coef, runs, shape.slots)
    f = output(X)
    train_error = objective.error(f, y)
    # ‖W_j − W_j(0)‖ √m: the largest over a run's neurons is the B its trajectory needed
    sqrt_width = jnp.sqrt(inputs.run_width[runs.slot].astype(W0.dtype))
    move = jnp.linalg.norm(params["W"] - W0, axis=-1) * sqrt_width
    metrics = {"avg_train_loss": loss_sum / steps, "avg_train_error": error_sum / steps,
               "final_train_loss": jnp.mean(objective.loss(f, target), axis=-1),
               "final_train_error": train_error, "train_acc": 1.0 - train_error,
               "max_move_B": jax.ops.segment_max(move, runs.slot, shape.slots),
               "diverged_step": diverged_at}
    held_out = {"test": (data.X_test[data_index], data.y_test[data_index])}
    if shape.n_val:
        held_out["val"] = (data.X_val[data_index], data.y_val[data_index])
    for name, (X_eval, y_eval) in held_out.items():
        f_eval = output(X_eval)
        error = objective.error(f_eval, y_eval)
        metrics.update({f"{name}_loss": jnp.mean(objective.loss(f_eval, objective.hard_target(y_eval, shape.num_classes)), -1),
                        f"{name}_error": error, f"{name}_acc": 1.0 - error})
        metrics.update({f"{name}_{m}": fn(f_eval, y_eval) for m, fn in objective.metrics.items()})
    return metrics


def make_program(shapes: tuple, options: EngineOptions, progress=None):
    """The pure function of one chunk: ``program(data, inputs)`` with one :class:`GroupData` and one
    :class:`~kd_theory.sweep.layout.GroupInputs` per group (``shapes``, static). Returns per group a dict metric ->
    (checkpoints, V, L, K)."""
    dtype = jnp.dtype(options.dtype)
    total = max(options.steps)
    tick = max(1, math.ceil(total / _PROGRESS_TICKS))
    checkpoints = np.asarray(options.steps)
    objectives = [losses.objective_for(s.num_classes) for s in shapes]
    per_slice = lambda fn: jax.vmap(lambda *a: jax.lax.map(lambda b: fn(*b), a))  # V devices × L slices

    def program(data, inputs):
        runs = [per_slice(lambda i: slice_runs(i, dtype))(inp) for inp in inputs]
        initial = [per_slice(lambda i, s=s: init_slice(i, s, options, dtype))(inp) for s, inp in zip(shapes, inputs)]

        def group_step(shape, objective, d, inp, r, state: GroupState, t) -> GroupState:
            def one(ds, target, params, W0, sr):
                return slice_step(d.X_train[ds], d.y_train[ds], target, params, W0, sr, objective, shape.slots,
                                  options.train_output_layer)
            params, loss, error, finite = per_slice(one)(inp.dataset, inp.targets, state.params, state.W0, r)
            diverged_at = jnp.where((state.diverged_at < 0) & ~finite, t.astype(jnp.int32), state.diverged_at)
            return GroupState(params, state.W0, state.loss_sum + loss, state.error_sum + error, diverged_at)

        def evaluate(states, steps):
            out = []
            for shape, objective, d, inp, r, st in zip(shapes, objectives, data, inputs, runs, states):
                def one(ds, target, params, W0, sr, i, ls, es, da):
                    return slice_metrics(ds, d, target, params, W0, sr, i, objective, shape, ls, es, da, steps)
                out.append(per_slice(one)(inp.dataset, inp.targets, st.params, st.W0, r, inp, st.loss_sum,
                                          st.error_sum, st.diverged_at))
            return tuple(out)

        def step(carry: ChunkState, t):
            groups = tuple(group_step(*args, t) for args in zip(shapes, objectives, data, inputs, runs, carry.groups))
            done = t + 1
            # One scan body for the whole run: metrics are written into slot k when step t + 1 is
            # checkpoint k (a cond, so the test-set forward runs only there).
            slot = jnp.searchsorted(checkpoints, done)
            outputs = jax.lax.cond(
                jnp.any(checkpoints == done),
                lambda o: jax.tree.map(lambda buf, new: buf.at[slot].set(new), o,
                                       evaluate(groups, done.astype(dtype))),
                lambda o: o, carry.outputs)
            if progress is not None:
                jax.lax.cond(done % tick == 0, lambda: jax.debug.callback(progress, done), lambda: None)
            return ChunkState(groups, outputs), None

        states = tuple(GroupState(p, p["W"], jnp.zeros(i.lr.shape, dtype), jnp.zeros(i.lr.shape, dtype),
                                  jnp.full(i.lr.shape, -1, jnp.int32))
                       for p, i in zip(initial, inputs))
        template = jax.eval_shape(lambda: evaluate(states, jnp.asarray(1, dtype)))
        outputs = jax.tree.map(lambda a: jnp.zeros((len(options.steps),) + a.shape, a.dtype), template)
        final, _ = jax.lax.scan(step, ChunkState(states, outputs), jnp.arange(total))
        return final.outputs

    return program


def _key_data(base_seed: int):
    def key_data(seeds):
        keys = jax.vmap(lambda s: student_key(base_seed, s))(jnp.asarray(seeds))
        typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
        return np.asarray(jax.random.key_data(keys) if typed else keys)
    return key_data


class ProgramCache:
    """Compiled chunk programs by group shapes, options, devices and progress reporting (chunks of the
    same shapes on the same devices share one compile). A compiled program reports progress through
    ``self.progress``, which is set per chunk, so a reused program reports for the chunk it runs."""

    def __init__(self):
        self._compiled = {}
        self.compile_s = 0.0
        self.progress = None

    def _report(self, step):
        if self.progress is not None:
            self.progress(step)

    def get(self, shapes, options, data, inputs, devices, progress=None):
        self.progress = progress
        key = (shapes, options, tuple(str(d) for d in devices), progress is not None)
        if key not in self._compiled:
            t0 = time.perf_counter()
            fn = jax.jit(make_program(shapes, options, self._report if progress is not None else None))
            self._compiled[key] = fn.lower(data, inputs).compile()
            self.compile_s += time.perf_counter() - t0
        return self._compiled[key]


DEFAULT_CACHE = ProgramCache()


def place(data, inputs, devices):
    """Data replicated on every device; every input's leading (device) axis split across ``devices``."""
    if len(devices) == 1:
        return jax.device_put((data, inputs), devices[0])
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    mesh = Mesh(np.asarray(devices), ("runs",))
    data = jax.device_put(data, NamedSharding(mesh, P()))
    inputs = jax.device_put(inputs, NamedSharding(mesh, P("runs")))
    return data, inputs


def execute_chunk(chunk: Chunk, runs: list[Run], tasks: dict[str, Task], options: EngineOptions,
                  devices=None, cache: ProgramCache | None = None, progress=None):
    """Compile (or reuse) and run one chunk; returns {run index: [row per checkpoint]}."""
    cache = DEFAULT_CACHE if cache is None else cache
    devices = list(jax.local_devices() if devices is None else devices)
    chunk_runs = [runs[i] for i in chunk.run_indices]
    with maybe_x64(options.dtype):  # float64 sweeps need JAX's 64-bit mode
        groups = layout_chunk(chunk_runs, tasks, options, len(devices), _key_data(options.base_seed))
        shapes = tuple(g.shape for g in groups)
        data, inputs = place(tuple(g.data for g in groups), tuple(g.inputs for g in groups), devices)
        compiled = cache.get(shapes, options, data, inputs, devices, progress)
        outputs = jax.device_get(compiled(data, inputs))
    return collect_rows(chunk, groups, outputs, options)


def collect_rows(chunk: Chunk, groups: list[Group], outputs, options: EngineOptions) -> dict:
    """{run index: [row per checkpoint]} from the per-group metric buffers."""
    results: dict[int, list[dict]] = {}
    for group, metrics in zip(groups, outputs):
        names = sorted(metrics, key=lambda m: (m not in METRICS, METRICS.index(m) if m in METRICS else m))
        for local, (v, l, k) in sorted(group.where.items()):
            rows = results.setdefault(chunk.run_indices[local], [])
            for c, steps in enumerate(options.steps):
                row = {"steps": steps, **{m: float(metrics[m][c, v, l, k]) for m in names if m != "diverged_step"}}
                step = int(metrics["diverged_step"][c, v, l, k])
                row["diverged"] = diverged(row, step)
                row["diverged_step"] = step if step >= 0 else None
                row["finite"] = not row["diverged"]
                rows.append(row)
    return results


ACCURACY_ROUNDING = 1e-6  # 1 − error in float32 (XLA multiplies by 1/n) can land a few 1e-9 below 0


def diverged(row: dict, diverged_step: int = -1) -> bool:
    """A run has diverged when a training output became non-finite at some step (``diverged_step`` ≥ 0),
    its weights are non-finite (``max_move_B``), a loss is non-finite, or an accuracy left [0, 1] by more
    than rounding (:data:`ACCURACY_ROUNDING`: a run wrong on every example is not a diverged one)."""
    if diverged_step >= 0 or not np.isfinite(row["max_move_B"]):
        return True
    if any(not np.isfinite(v) for k, v in row.items() if k.endswith("_loss")):
        return True
    return any(not (-ACCURACY_ROUNDING <= v <= 1.0 + ACCURACY_ROUNDING) for k, v in row.items() if k.endswith("_acc"))
