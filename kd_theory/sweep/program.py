"""The compiled program of one chunk: every run trained in one loop over the steps.

Per step and per slice of packed neurons (:mod:`kd_theory.sweep.layout`; S neurons of runs on one data
set, run slots k < K, granules of g neurons of one run) the work is

    H = W Xᵀ                                 (S, n)      one matrix product
    f_k = Σ_{j in run k} c_j ReLU(H_j)         (K, n[, C]) a contraction per granule, a sum over granules
    r_k = objective.residual(f_k, t_k)         σ(f) − t or softmax(f) − t: hard and soft runs alike
    W_j ← Π_j(W_j − η_k (1/n) Σ_i (c_j · r_{k,i}) 1(H_ji > 0) x_i)    one gate, one matrix product

with every formula from :mod:`kd_theory.nets` (a granule is a small stacked network to them) and
:mod:`kd_theory.losses`. A group's slices are stepped one after another (``slice_layout="map"``,
``lax.map``: on CPU a step is memory-bound and a slice's (S, n) temporaries stay in cache) or side by
side (``"vmap"``: an accelerator sees a few large kernels), vmapped over the device axis V (sharded).

After one ``init``, the steps run in calls of one compiled ``advance(start, stop)`` (a loop over any
number of steps): one call for a silent chunk; with progress, calls of about :data:`PROGRESS_SECONDS`
each, reported by the host between them (a call costs the fresh pages of the program's temporaries, so
calls are few). The compiled programs hold no host callback and can be stored on disk
(:class:`ProgramCache`): a rerun loads them instead of tracing and compiling.
"""
from __future__ import annotations

import dataclasses
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
PROGRESS_SECONDS = 5.0   # with progress: the length of a call of advance (a line at most this often)
FIRST_PROGRESS_SHARE = 20  # the first call runs 1/20 of the steps, to measure their pace


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
    """The loop's carry: one GroupState per group and the metric buffers written at checkpoints
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


def init_neurons(seed, position, width, dim: int, num_classes: int, options: EngineOptions, dtype, base_seed):
    """Initial parameters of neurons given as flat arrays: neuron ``position`` of a width-``width`` run whose
    key is ``rng.student_key(base_seed, seed)``, from :func:`nets.neuron_init` (the same numbers as
    ``nets.init`` for that run); padding neurons (position −1) are zero."""
    outputs = None if num_classes == 2 else num_classes
    def draw(seed, position, m):  # padding neurons draw as neuron 0 of width 2 and are zeroed below
        return nets.neuron_init(student_key(base_seed, seed), jnp.maximum(position, 0), jnp.maximum(m, 2), dim,
                                options.init, outputs, dtype)
    W, a = jax.vmap(draw)(seed, position, width)
    active = position >= 0
    mask = active.reshape(active.shape + (1,) * (a.ndim - 1))
    return {"W": jnp.where(active[:, None], W, 0.0), "a": jnp.where(mask, a, 0.0)}


def init_groups(shapes, inputs, options: EngineOptions, dtype, base_seed) -> list:
    """Initial parameters of every group ({"W": (V, L, S, d), "a": (V, L, S[, C])}): the neurons of all groups
    of one (d, C) drawn in one vectorised call, so the program (its random-number code is slow to compile)
    does not grow with the number of groups."""
    params = [None] * len(shapes)
    kinds: dict[tuple, list[int]] = {}
    for i, shape in enumerate(shapes):
        kinds.setdefault((shape.dim, shape.num_classes), []).append(i)
    for (dim, num_classes), members in kinds.items():
        per_neuron = lambda field, i: jnp.take_along_axis(getattr(inputs[i], field), inputs[i].slot, axis=-1).ravel()
        seed = jnp.concatenate([per_neuron("seeds", i) for i in members])
        width = jnp.concatenate([per_neuron("run_width", i) for i in members])
        position = jnp.concatenate([inputs[i].position.ravel() for i in members])
        drawn = init_neurons(seed, position, width, dim, num_classes, options, dtype, base_seed)
        start = 0
        for i in members:
            count = inputs[i].position.size
            params[i] = jax.tree.map(lambda x: x[start:start + count].reshape(inputs[i].position.shape + x.shape[1:]),
                                     drawn)
            start += count
    return params


def _coefficients(params, runs: SliceRuns):
    """c_j = a_j/√m of each neuron (m its run's width; 0 for padding)."""
    a = params["a"]
    return a * runs.inv_sqrt_width.reshape(runs.inv_sqrt_width.shape + (1,) * (a.ndim - 1))


def granules(x, granule: int):
    """(S, ...) -> (S/g, g, ...): the granules of g consecutive neurons of one run, as stacked networks."""
    return x.reshape((x.shape[0] // granule, granule) + x.shape[1:])


def slice_outputs(H, coef, runs: SliceRuns, shape: GroupShape):
    """f_k = Σ_{j: slot_j = k} c_j ReLU(H_j) for the K run slots of a slice: (K, n) or (K, n, C); a
    contraction over each granule (:func:`nets.output_from_pre_activations`), then a sum over the
    granules of each slot."""
    g = shape.granule
    if g == 1:  # c_j ReLU(H_j) per neuron (a contraction over one neuron is a slow batched product)
        relu = jax.nn.relu(H)
        partial = relu[..., None] * coef[:, None, :] if coef.ndim == 2 else relu * coef[:, None]
    else:
        partial = nets.output_from_pre_activations(granules(H, g), granules(coef, g))   # (S/g, n[, C])
    return jax.ops.segment_sum(partial, runs.slot[::g], shape.slots)


def slice_step(X, y, target, params, W0, runs: SliceRuns, objective: losses.Objective, shape: GroupShape,
               train_output_layer: bool):
    """One projected GD step of every run in a slice; returns (params, loss (K,), error (K,), finite (K,)),
    the loss, error and whether every training output was finite being those of the parameters before the
    step (a non-finite output is how a diverged run shows itself, at no extra cost)."""
    g = shape.granule
    H = nets.pre_activations(params["W"], X)                       # (S, n)
    coef = _coefficients(params, runs)
    f = slice_outputs(H, coef, runs, shape)                         # (K, n[, C])
    loss = jnp.mean(objective.loss(f, target), axis=-1)
    error = objective.error(f, y)
    residual = objective.residual(f, target)[runs.slot[::g]]       # (S/g, n[, C]): the residual of each granule's run
    gradient = nets.hidden_layer_gradient(granules(H, g), granules(coef, g), residual, X)   # (S/g, g, d)
    W = params["W"] - runs.lr[:, None] * gradient.reshape(params["W"].shape)
    a = params["a"]
    if train_output_layer:  # ∂/∂a_j = (1/n) Σ_i r_{k,i} ReLU(H_ji) / √m
        grad_a = jnp.einsum("sgn,sn...->sg...", granules(jax.nn.relu(H), g), residual) / X.shape[0]
        scale = (runs.lr * runs.inv_sqrt_width).reshape(runs.lr.shape + (1,) * (a.ndim - 1))
        a = a - scale * grad_a.reshape(a.shape)
    finite = jnp.all(jnp.isfinite(f.reshape(f.shape[0], -1)), axis=-1)
    return {"W": nets.project_rows(W, W0, runs.radius), "a": a}, loss, error, finite


def slice_metrics(data_index, data: GroupData, target, params, W0, runs: SliceRuns, inputs,
                  objective: losses.Objective, shape: GroupShape, loss_sum, error_sum, diverged_at, steps):
    """Every metric of :data:`METRICS` (and the objective's extra ones; :data:`VAL_METRICS` when the
    group has validation sets) for the K run slots of a slice."""
    X, y = data.X_train[data_index], data.y_train[data_index]
    coef = _coefficients(params, runs)
    output = lambda Z: slice_outputs(nets.pre_activations(params["W"], Z), coef, runs, shape)
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


def make_program(shapes: tuple, options: EngineOptions):
    """The pure functions of one chunk, with one :class:`GroupData` and one
    :class:`~kd_theory.sweep.layout.GroupInputs` per group (``shapes``, static; ``options`` resolved for
    the platform):

    * ``init(data, inputs, base_seed)`` -> the :class:`ChunkState` before step 0 (metric buffers zero);
    * ``advance(data, inputs, state, start, stop)`` -> the state after steps start … stop − 1.

    The metrics are ``state.outputs``: per group a dict metric -> (checkpoints, V, L, K)."""
    dtype = jnp.dtype(options.dtype)
    objectives = [losses.objective_for(s.num_classes) for s in shapes]
    if options.slice_layout == "vmap":   # V devices × L slices side by side
        per_slice = lambda fn: jax.vmap(jax.vmap(fn))
    else:                                # V devices × L slices one after another
        per_slice = lambda fn: jax.vmap(lambda *a: jax.lax.map(lambda b: fn(*b), a))

    def slice_runs_of(inputs):
        return [per_slice(lambda i: slice_runs(i, dtype))(inp) for inp in inputs]

    def evaluate(data, inputs, runs, states, steps):
        out = []
        for shape, objective, d, inp, r, st in zip(shapes, objectives, data, inputs, runs, states):
            def one(ds, target, params, W0, sr, i, ls, es, da, shape=shape, objective=objective, d=d):
                return slice_metrics(ds, d, target, params, W0, sr, i, objective, shape, ls, es, da, steps)
            out.append(per_slice(one)(inp.dataset, inp.targets, st.params, st.W0, r, inp, st.loss_sum,
                                      st.error_sum, st.diverged_at))
        return tuple(out)

    def init(data, inputs, base_seed) -> ChunkState:
        runs = slice_runs_of(inputs)
        initial = init_groups(shapes, inputs, options, dtype, base_seed)
        states = tuple(GroupState(p, p["W"], jnp.zeros(i.lr.shape, dtype), jnp.zeros(i.lr.shape, dtype),
                                  jnp.full(i.lr.shape, -1, jnp.int32))
                       for p, i in zip(initial, inputs))
        template = jax.eval_shape(lambda: evaluate(data, inputs, runs, states, jnp.asarray(1, dtype)))
        outputs = jax.tree.map(lambda a: jnp.zeros((len(options.steps),) + a.shape, a.dtype), template)
        return ChunkState(states, outputs)

    def advance(data, inputs, carry: ChunkState, start, stop) -> ChunkState:
        runs = slice_runs_of(inputs)
        checkpoints = jnp.asarray(options.steps)

        def group_step(shape, objective, d, inp, r, state: GroupState, t) -> GroupState:
            def one(ds, target, params, W0, sr):
                return slice_step(d.X_train[ds], d.y_train[ds], target, params, W0, sr, objective, shape,
                                  options.train_output_layer)
            params, loss, error, finite = per_slice(one)(inp.dataset, inp.targets, state.params, state.W0, r)
            diverged_at = jnp.where((state.diverged_at < 0) & ~finite, t.astype(jnp.int32), state.diverged_at)
            return GroupState(params, state.W0, state.loss_sum + loss, state.error_sum + error, diverged_at)

        def step(carry: ChunkState, t) -> ChunkState:
            groups = tuple(group_step(*args, t) for args in zip(shapes, objectives, data, inputs, runs, carry.groups))
            done = t + 1
            # One loop body for the whole run: metrics are written into slot k when step t + 1 is
            # checkpoint k (a cond, so the test-set forward runs only there).
            slot = jnp.searchsorted(checkpoints, done)
            outputs = jax.lax.cond(
                jnp.any(checkpoints == done),
                lambda o: jax.tree.map(lambda buf, new: buf.at[slot].set(new), o,
                                       evaluate(data, inputs, runs, groups, done.astype(dtype))),
                lambda o: o, carry.outputs)
            return ChunkState(groups, outputs)

        final = jax.lax.fori_loop(start, stop, lambda t, c: step(c, t), carry)
        return final

    return init, advance


class ProgramCache:
    """Compiled chunk programs (``init`` and ``advance``) by group shapes, options and devices: chunks of
    the same shapes on the same devices share one compile. With ``persist`` and JAX's compilation cache
    on (:mod:`kd_theory.compile_cache`), every compiled program is also stored on disk, keyed by its
    shapes, options, devices, argument layout, the JAX/XLA versions and flags and the engine's sources,
    and later processes load it instead of tracing and compiling (``loaded`` counts those, ``load_s`` is
    the part of ``compile_s`` they took)."""

    def __init__(self, persist: bool = True):
        self._compiled = {}
        self.compile_s = 0.0
        self.load_s = 0.0
        self.persist = persist
        self.loaded = 0

    def executable(self, key, name: str, fn, args, donate=()):
        """``fn`` compiled for ``args`` (from memory, from disk, or now); the time it takes is added to
        ``compile_s``."""
        programs = self._compiled.setdefault(key, {})
        if name not in programs:
            from kd_theory import compile_cache
            t0 = time.perf_counter()
            disk_key = compile_cache.program_key((name,) + key, args) if self.persist else None
            compiled = compile_cache.load_program(disk_key, key[-1]) if disk_key else None
            if compiled is None:
                compiled, storable = compile_cache.compile_lowered(jax.jit(fn, donate_argnums=donate).lower(*args))
                if disk_key and storable:
                    compile_cache.store_program(disk_key, compiled)
            else:
                self.loaded += 1
                self.load_s += time.perf_counter() - t0
            programs[name] = compiled
            self.compile_s += time.perf_counter() - t0
        return programs[name]


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
    """Compile (or reuse) and run one chunk; returns {run index: [row per checkpoint]}. ``progress(step)``
    is called after each call of ``advance`` (about every :data:`PROGRESS_SECONDS`)."""
    cache = DEFAULT_CACHE if cache is None else cache
    devices = list(jax.local_devices() if devices is None else devices)
    options = options.for_platform(devices[0].platform)
    chunk_runs = [runs[i] for i in chunk.run_indices]
    with maybe_x64(options.dtype):  # float64 sweeps need JAX's 64-bit mode
        groups = layout_chunk(chunk_runs, tasks, options, len(devices))
        shapes = tuple(g.shape for g in groups)
        data, inputs = place(tuple(g.data for g in groups), tuple(g.inputs for g in groups), devices)
        init, advance = make_program(shapes, options)
        key = (shapes, dataclasses.replace(options, base_seed=0), tuple(devices))  # the seed is an argument
        base_seed = np.int32(options.base_seed)
        state = cache.executable(key, "init", init, (data, inputs, base_seed))(data, inputs, base_seed)
        step = cache.executable(key, "advance", advance, (data, inputs, state, np.int32(0), np.int32(0)),
                                donate=(2,))
        done, total = 0, max(options.steps)
        per_call = total if progress is None else max(1, total // FIRST_PROGRESS_SHARE)  # steps in the next call
        while done < total:
            stop = min(total, done + per_call)
            t0 = time.perf_counter()
            state = step(data, inputs, state, np.int32(done), np.int32(stop))
            if progress is not None:
                jax.block_until_ready(state)
                progress(stop)
                pace = (time.perf_counter() - t0) / (stop - done)
                per_call = max(1, int(PROGRESS_SECONDS / max(pace, 1e-9)))
            done = stop
        outputs = jax.device_get(state.outputs)
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
