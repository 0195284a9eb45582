"""Training many seeds of a flax classifier as one program, with per-seed early stopping.

Objective of one run (θ its parameters, t_i its targets):

    L(θ) = (1/|B|) Σ_{i∈B} ℓ(f_θ(x_i), t_i) + (λ/2) Σ_{kernels K ∈ θ} ‖K‖²

Binary (one logit f, t_i ∈ [0, 1]): ℓ = BCE(f, t) = softplus(f) − t f, with t = (1 + y)/2 for hard labels
(then BCE is the logistic loss ln(1 + e^{−y f})) and t = σ(f_teacher/T) for soft labels. K classes (K
logits, t_i a probability vector): ℓ = KL(t ‖ softmax(f)) = Σ_c t_c ln t_c − Σ_c t_c ln softmax(f)_c (the
cross-entropy less the target's entropy, which has no gradient), one-hot t for hard labels. Which one is
decided by the targets' shape: (runs, n) binary, (runs, n, K) classes.

The L2 term is the paper's "Adam with L2 regularisation" (coupled, not AdamW's decoupled decay):
:func:`optimizer` adds its gradient λK to the data gradient with ``optax.add_decayed_weights`` (masked
to the conv and dense kernels, not the biases) *before* Adam, so λK goes through Adam's normalisation
exactly as if (λ/2)‖K‖² were part of the loss.

Optimiser: Adam on minibatches; each epoch is one pass over a fresh random permutation of the
training set (the last ⌊n/b⌋·b examples of the permutation form the batches; the n mod b left over
change from epoch to epoch). After each epoch the validation accuracy is measured; a run keeps the
parameters of its best epoch (strictly better accuracy; the first best wins ties) and **stops** once
``patience`` epochs have passed without improvement or ``max_epochs`` are done. A run whose
parameters or epoch loss become non-finite is **diverged**: it stops there and is flagged
(``RunState.diverged``), so that callers count it instead of reporting its last finite parameters.

All runs (seeds, label types, temperatures) of one architecture train together: their states are
stacked on a leading axis and one jitted epoch updates them all (vmapped in groups of
``runs_per_vmap``). A stopped run is masked (``lax.cond`` on ``active``, a ``where`` under vmap), so
its state never changes again; the Python loop over epochs ends when every run has stopped. With
``runs_per_vmap`` = 1 (the CPU layout) each run's epoch is its own call of one jitted program and
a stopped run is skipped in Python: XLA's CPU backend runs convolutions inside a conditional or a
loop several times slower than at a program's top level.
"""
from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from kd_theory import losses


class Hyper(NamedTuple):
    """Static training settings (hashable: they key the compiled epoch)."""
    learning_rate: float = 1e-3
    l2: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 20
    eval_chunk: int = 512
    runs_per_vmap: int = 0   # runs vectorised together (lax.map batch_size); 0: all; 1: one call per run (CPU)
    unroll_epoch: bool = False  # unroll the minibatch loop (XLA CPU runs it 3-4× faster than a rolled scan)

    @property
    def settle_epoch(self) -> int:
        """The epoch at 90% of ``max_epochs``: a run that trains past it has *settled* when its best
        validation accuracy did not rise after it (see :func:`settled`)."""
        return max(1, int(0.9 * self.max_epochs))


class RunState(NamedTuple):
    """One run's training state (stacked: every leaf has a leading run axis)."""
    params: Any           # current parameters
    opt_state: Any        # Adam's moments
    best_params: Any      # parameters at the best validation epoch so far
    best_val_acc: jax.Array  # () the best validation accuracy so far (−1 before the first epoch)
    best_epoch: jax.Array    # () the epoch (1-based) that reached it
    epochs: jax.Array        # () epochs trained so far (stays put once stopped)
    active: jax.Array        # () bool: still training
    shuffle_key: jax.Array   # the run's key for minibatch permutations
    train_loss: jax.Array    # () mean data loss over the minibatches of the last epoch (NaN before the first)
    settle_val_acc: jax.Array  # () best validation accuracy at the end of epoch Hyper.settle_epoch (−1 before)
    diverged: jax.Array      # () bool: the parameters or the epoch loss became non-finite (the run stopped)


def backend_layout(runs_per_vmap: int | None = None, unroll_epoch: bool | None = None) -> dict:
    """``runs_per_vmap`` and ``unroll_epoch`` for this backend where not given: on CPU 1 (each run's epoch its
    own top-level call) and unrolled — XLA's CPU backend runs a vmap's grouped convolutions, and convolutions
    inside a conditional or a loop, several times slower (BUILD_NOTES §3.10); on an accelerator 0 (all runs
    vmapped) and rolled."""
    cpu = jax.default_backend() == "cpu"
    return {"runs_per_vmap": int((1 if cpu else 0) if runs_per_vmap is None else runs_per_vmap),
            "unroll_epoch": bool(cpu if unroll_epoch is None else unroll_epoch)}


def is_kernel(path) -> bool:
    """Whether a parameter's tree path ends in a flax 'kernel' (conv and dense weights, not biases)."""
    return getattr(path[-1], "key", None) == "kernel"


def kernel_mask(params):
    """The pytree of booleans that is True on every 'kernel' leaf: the leaves that L2 regularises."""
    return jax.tree_util.tree_map_with_path(lambda path, _: is_kernel(path), params)


def optimizer(hyper: Hyper) -> optax.GradientTransformation:
    """Adam with coupled L2: g ← g + λK on the kernels (``add_decayed_weights``), then Adam(lr).

    The same update as Adam on the gradient of loss + (λ/2) Σ_K ‖K‖² (the paper's "Adam with L2"); AdamW
    would add λK *after* Adam's scaling instead (a different method)."""
    return optax.chain(optax.add_decayed_weights(hyper.l2, mask=kernel_mask), optax.adam(hyper.learning_rate))


def objective(params, apply_fn, x, targets) -> jax.Array:
    """The data term mean_i ℓ(f_θ(x_i), t_i): BCE for targets (b,), KL(t ‖ softmax f) for targets (b, K)
    (L2 enters through :func:`optimizer`)."""
    logits = apply_fn(params, x)
    if targets.ndim == 2:
        return jnp.mean(losses.multiclass_kl(logits, targets))
    return jnp.mean(losses.binary_cross_entropy(logits, targets))


def accuracy(logits, y) -> jax.Array:
    """Accuracy of logits against labels: sign rule for one logit per example (y ∈ {−1, +1}), argmax for
    K logits (y ∈ {0, …, K − 1}); ties and non-finite outputs count as mistakes (kd_theory.losses)."""
    if logits.ndim == y.ndim + 1:
        return 1.0 - losses.multiclass_error_rate(logits, y)
    return losses.accuracy(logits, y)


def settled(state: RunState, hyper: Hyper, tolerance: float = 0.0) -> jax.Array:
    """Per run: early stopping stopped it before ``max_epochs``, or its best validation accuracy rose by
    at most ``tolerance`` over the last 10% of the epochs (after :attr:`Hyper.settle_epoch`)."""
    stopped_early = state.epochs < hyper.max_epochs
    flat = state.best_val_acc - state.settle_val_acc <= tolerance
    return stopped_early | flat


def predict(apply_fn, params, X, chunk: int = 512) -> jax.Array:
    """f_θ(X) for all rows of X, evaluated ``chunk`` images at a time (bounds activation memory)."""
    n = X.shape[0]
    chunk = min(chunk, n)
    count = -(-n // chunk)
    padded = jnp.concatenate([X, jnp.zeros((count * chunk - n,) + X.shape[1:], X.dtype)])
    out = jax.lax.map(lambda xb: apply_fn(params, xb), padded.reshape((count, chunk) + X.shape[1:]))
    return out.reshape((count * chunk,) + out.shape[2:])[:n]


TRUNCATION = 2.0                      # He-normal as flax draws it: a normal truncated at ±2σ …
TRUNCATED_STD = 0.87962566103423978   # … whose std is this fraction of σ (flax's variance_scaling divides by it)


def init_params(model, key, image_shape):
    """The parameter tree of ``model.init``, drawn as the VGG declares it — every 'kernel' He-normal
    (truncated normal at ±2σ, variance 2/fan_in, fan_in = the product of all but the last axis), every
    bias zero — from **one** truncated-normal draw of ``key``, cut into the kernels in tree order.

    Why not ``model.init``: flax derives one key per parameter, and XLA on CPU compiles those key
    derivations slowly (≈ 9 CPU-s for an 11-layer VGG, 16 under vmap, against 0.5 for one draw): the
    larger part of a small run's start-up."""
    shapes = jax.eval_shape(model.init, key, jnp.zeros((1,) + tuple(image_shape), jnp.float32))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    sizes = [math.prod(leaf.shape) if is_kernel(path) else 0 for path, leaf in leaves]
    z = jax.random.truncated_normal(key, -TRUNCATION, TRUNCATION, (max(sum(sizes), 1),), jnp.float32) / TRUNCATED_STD
    values, offset = [], 0
    for (path, leaf), size in zip(leaves, sizes):
        if is_kernel(path):
            fan_in = math.prod(leaf.shape[:-1])
            values.append(z[offset:offset + size].reshape(leaf.shape) * math.sqrt(2.0 / fan_in))
            offset += size
        else:
            values.append(jnp.zeros(leaf.shape, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, values)


def init_run(model, key, image_shape, hyper: Hyper) -> RunState:
    """A fresh run: :func:`init_params` from ``key`` (its first half), optimiser state, its shuffle key (its
    second half)."""
    init_key, shuffle_key = jax.random.split(key)
    params = init_params(model, init_key, image_shape)
    opt_state = optimizer(hyper).init(params)
    return RunState(params, opt_state, params, jnp.float32(-1.0), jnp.int32(0), jnp.int32(0),
                    jnp.bool_(True), shuffle_key, jnp.float32(jnp.nan), jnp.float32(-1.0), jnp.bool_(False))


def epoch_step(model, hyper: Hyper, state: RunState, X, targets, X_val, y_val) -> RunState:
    """One epoch of one run, or the run unchanged once it has stopped (``active`` false).

    ``lax.cond`` skips the work of a stopped run when runs go one after another (CPU); under ``vmap``
    it becomes ``where(active, trained, state)``: the masking that lets one program serve all runs."""
    return jax.lax.cond(state.active, lambda s: _train_epoch(model, hyper, s, X, targets, X_val, y_val),
                        lambda s: s, state)


def all_finite(tree) -> jax.Array:
    """Whether every entry of every leaf of ``tree`` is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _train_epoch(model, hyper: Hyper, state: RunState, X, targets, X_val, y_val) -> RunState:
    """Minibatch Adam steps over a permutation, then validation and the early-stopping bookkeeping."""
    opt = optimizer(hyper)
    n, b = X.shape[0], min(hyper.batch_size, X.shape[0])
    perm = jax.random.permutation(jax.random.fold_in(state.shuffle_key, state.epochs), n)
    batches = perm[n - (n // b) * b:].reshape(n // b, b)
    loss_and_grad = jax.value_and_grad(objective)

    def step(carry, idx):
        params, opt_state = carry
        loss, grads = loss_and_grad(params, model.apply, X[idx], targets[idx])
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), batch_losses = jax.lax.scan(step, (state.params, state.opt_state), batches,
                                                     unroll=bool(hyper.unroll_epoch))
    train_loss = jnp.mean(batch_losses).astype(jnp.float32)
    diverged = ~(all_finite(params) & jnp.isfinite(train_loss))
    epochs = state.epochs + 1
    val_acc = accuracy(predict(model.apply, params, X_val, hyper.eval_chunk), y_val)
    improved = (val_acc > state.best_val_acc) & ~diverged
    best_epoch = jnp.where(improved, epochs, state.best_epoch).astype(jnp.int32)
    best_val_acc = jnp.where(improved, val_acc, state.best_val_acc).astype(jnp.float32)
    keep_going = (epochs - best_epoch < hyper.patience) & (epochs < hyper.max_epochs) & ~diverged
    settle_val_acc = jnp.where(epochs == hyper.settle_epoch, best_val_acc, state.settle_val_acc).astype(jnp.float32)
    return RunState(params, opt_state, _where(improved, params, state.best_params), best_val_acc, best_epoch, epochs,
                    keep_going, state.shuffle_key, train_loss, settle_val_acc, diverged)


def _where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


@functools.lru_cache(maxsize=None)
def compiled_epoch(model, hyper: Hyper):
    """One jitted epoch of every run: per-run state and targets, shared images and validation set.
    The runs go through ``lax.map(..., batch_size=runs_per_vmap)``: vmapped groups of that many runs
    (all of them when 0), the groups one after another inside the same program."""
    def epoch(state, X, targets, X_val, y_val):
        one = lambda run: epoch_step(model, hyper, run[0], X, run[1], X_val, y_val)
        size = min(hyper.runs_per_vmap or targets.shape[0], targets.shape[0])
        # batch_size=1 would still vmap (turning the cond into a select): a plain scan skips stopped runs
        return jax.lax.map(one, (state, targets), batch_size=None if size == 1 else size)
    return jax.jit(epoch)


@functools.lru_cache(maxsize=None)
def compiled_run_epoch(model, hyper: Hyper):
    """One jitted epoch of ONE run, with no ``lax.cond`` and no loop over runs around it: the CPU layout
    (``runs_per_vmap`` = 1), where the caller skips stopped runs in Python. XLA's CPU backend runs the
    convolutions of a conditional or a loop body several times slower than at the top level of a program
    (measured 0.53 s against 3.2 s an epoch, BUILD_NOTES §3.10)."""
    return jax.jit(functools.partial(_train_epoch, model, hyper))


@functools.lru_cache(maxsize=None)
def compiled_init(model, image_shape, hyper: Hyper):
    return jax.jit(jax.vmap(lambda key: init_run(model, key, image_shape, hyper)))


@functools.lru_cache(maxsize=None)
def compiled_predict(model, chunk: int):
    """jit(vmap(predict)) over runs' parameters, shared images."""
    return jax.jit(jax.vmap(lambda params, X: predict(model.apply, params, X, chunk), in_axes=(0, None)))


def train_runs(model, keys, X, targets, X_val, y_val, hyper: Hyper, on_epoch=None) -> RunState:
    """Train R runs together: ``keys`` (R,) PRNG keys (init and shuffling), ``targets`` (R, n) in
    [0, 1] (one logit) or (R, n, K) probability vectors (K logits), shared images X (n, H, W, C) and
    validation set (X_val, y_val ∈ {−1, +1} or {0, …, K − 1}). Returns the
    stacked final states; ``best_params`` are the early-stopped parameters, ``epochs`` the epoch at
    which each run stopped, ``diverged`` the runs that went non-finite. ``on_epoch(epoch, n_active)``,
    when given, is called after every epoch (progress bars)."""
    X, X_val, y_val = jnp.asarray(X, jnp.float32), jnp.asarray(X_val, jnp.float32), jnp.asarray(y_val)
    targets = jnp.asarray(targets, jnp.float32)
    if targets.ndim not in (2, 3) or targets.shape[:2] != (len(keys), X.shape[0]):
        raise ValueError(f"targets must have shape (runs, n) = ({len(keys)}, {X.shape[0]}) or (runs, n, classes); "
                         f"got {targets.shape}")
    state = compiled_init(model, tuple(X.shape[1:]), hyper)(jnp.asarray(keys))
    if hyper.runs_per_vmap == 1:
        return _train_one_by_one(model, state, X, targets, X_val, y_val, hyper, on_epoch)
    epoch = compiled_epoch(model, hyper)
    for e in range(hyper.max_epochs):
        if not bool(jnp.any(state.active)):
            break
        state = epoch(state, X, targets, X_val, y_val)
        if on_epoch is not None:
            on_epoch(e + 1, int(jnp.sum(state.active)))
    return state


def _train_one_by_one(model, state: RunState, X, targets, X_val, y_val, hyper: Hyper, on_epoch) -> RunState:
    """:func:`train_runs` in the CPU layout: each active run's epoch is its own call of
    :func:`compiled_run_epoch`, a stopped run is skipped here (its state never changes); stacked at the end."""
    runs = [jax.tree.map(lambda leaf, i=i: leaf[i], state) for i in range(targets.shape[0])]
    epoch = compiled_run_epoch(model, hyper)
    active = list(range(len(runs)))   # every run starts active; a stopped one never restarts
    for e in range(hyper.max_epochs):
        if not active:
            break
        for i in active:
            runs[i] = epoch(runs[i], X, targets[i], X_val, y_val)
        active = [i for i in active if bool(runs[i].active)]
        if on_epoch is not None:
            on_epoch(e + 1, len(active))
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *runs)


def run_accuracy(model, params, X, y, chunk: int = 512) -> jax.Array:
    """Accuracy of each run's parameters (stacked) on (X, y): shape (R,); y ∈ {−1, +1} for one logit,
    {0, …, K − 1} for K logits."""
    logits = compiled_predict(model, chunk)(params, jnp.asarray(X, jnp.float32))
    return jax.vmap(accuracy, in_axes=(0, None))(logits, jnp.asarray(y))
