"""Training many seeds of a flax binary classifier as one program, with per-seed early stopping.

Objective of one run (θ its parameters, t_i ∈ [0, 1] its targets):

    L(θ) = (1/|B|) Σ_{i∈B} BCE(f_θ(x_i), t_i) + (λ/2) Σ_{kernels K ∈ θ} ‖K‖²,   BCE(f, t) = softplus(f) − t f

t = (1 + y)/2 for hard labels (then BCE is the logistic loss ln(1 + e^{−y f})), t = σ(f_teacher/T)
for soft labels. The L2 term is added to the loss (classic "Adam with L2 regularisation", as the
paper says, rather than AdamW's decoupled decay): its gradient λK goes through Adam's
normalisation like the data term. It covers conv and dense kernels, not biases.

Optimiser: Adam on minibatches; each epoch is one pass over a fresh random permutation of the
training set (the last ⌊n/b⌋·b examples of the permutation form the batches; the n mod b left over
change from epoch to epoch). After each epoch the validation accuracy is measured; a run keeps the
parameters of its best epoch (strictly better accuracy; the first best wins ties) and **stops** once
``patience`` epochs have passed without improvement or ``max_epochs`` are done.

All runs (seeds, label types, temperatures) of one architecture train together: their states are
stacked on a leading axis and one jitted epoch updates them all (vmapped in groups of
``runs_per_vmap``). A stopped run is masked (``lax.cond`` on ``active``, a ``where`` under vmap), so
its state never changes again; the Python loop over epochs ends when every run has stopped.
"""
from __future__ import annotations

import functools
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
    runs_per_vmap: int = 0   # runs vectorised together inside the program (lax.map batch_size); 0: all
    unroll_epoch: bool = False  # unroll the minibatch loop (XLA CPU runs it 3-4× faster than a rolled scan)


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


def l2_penalty(params) -> jax.Array:
    """(1/2) Σ_K ‖K‖² over every 'kernel' leaf (conv and dense weights; biases excluded)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return 0.5 * sum(jnp.sum(leaf ** 2) for path, leaf in leaves
                     if getattr(path[-1], "key", None) == "kernel")


def objective(params, apply_fn, x, targets, l2: float) -> jax.Array:
    """mean_i BCE(f_θ(x_i), t_i) + λ · l2_penalty(θ)."""
    return jnp.mean(losses.binary_cross_entropy(apply_fn(params, x), targets)) + l2 * l2_penalty(params)


def predict(apply_fn, params, X, chunk: int = 512) -> jax.Array:
    """f_θ(X) for all rows of X, evaluated ``chunk`` images at a time (bounds activation memory)."""
    n = X.shape[0]
    chunk = min(chunk, n)
    count = -(-n // chunk)
    padded = jnp.concatenate([X, jnp.zeros((count * chunk - n,) + X.shape[1:], X.dtype)])
    out = jax.lax.map(lambda xb: apply_fn(params, xb), padded.reshape((count, chunk) + X.shape[1:]))
    return out.reshape(-1)[:n]


def init_run(model, key, image_shape, hyper: Hyper) -> RunState:
    """A fresh run: flax init from ``key`` (its first half), Adam state, its shuffle key (second half)."""
    init_key, shuffle_key = jax.random.split(key)
    params = model.init(init_key, jnp.zeros((1,) + tuple(image_shape), jnp.float32))
    opt_state = optax.adam(hyper.learning_rate).init(params)
    return RunState(params, opt_state, params, jnp.float32(-1.0), jnp.int32(0), jnp.int32(0),
                    jnp.bool_(True), shuffle_key)


def epoch_step(model, hyper: Hyper, state: RunState, X, targets, X_val, y_val) -> RunState:
    """One epoch of one run, or the run unchanged once it has stopped (``active`` false).

    ``lax.cond`` skips the work of a stopped run when runs go one after another (CPU); under ``vmap``
    it becomes ``where(active, trained, state)``: the masking that lets one program serve all runs."""
    return jax.lax.cond(state.active, lambda s: _train_epoch(model, hyper, s, X, targets, X_val, y_val),
                        lambda s: s, state)


def _train_epoch(model, hyper: Hyper, state: RunState, X, targets, X_val, y_val) -> RunState:
    """Minibatch Adam steps over a permutation, then validation and the early-stopping bookkeeping."""
    optimizer = optax.adam(hyper.learning_rate)
    n, b = X.shape[0], min(hyper.batch_size, X.shape[0])
    perm = jax.random.permutation(jax.random.fold_in(state.shuffle_key, state.epochs), n)
    batches = perm[n - (n // b) * b:].reshape(n // b, b)
    grad_fn = jax.grad(objective)

    def step(carry, idx):
        params, opt_state = carry
        grads = grad_fn(params, model.apply, X[idx], targets[idx], hyper.l2)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, opt_state), _ = jax.lax.scan(step, (state.params, state.opt_state), batches,
                                          unroll=bool(hyper.unroll_epoch))
    epochs = state.epochs + 1
    val_acc = losses.accuracy(predict(model.apply, params, X_val, hyper.eval_chunk), y_val)
    improved = val_acc > state.best_val_acc
    best_epoch = jnp.where(improved, epochs, state.best_epoch).astype(jnp.int32)
    keep_going = (epochs - best_epoch < hyper.patience) & (epochs < hyper.max_epochs)
    return RunState(params, opt_state, _where(improved, params, state.best_params),
                    jnp.where(improved, val_acc, state.best_val_acc).astype(jnp.float32),
                    best_epoch, epochs, keep_going, state.shuffle_key)


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
def compiled_init(model, image_shape, hyper: Hyper):
    return jax.jit(jax.vmap(lambda key: init_run(model, key, image_shape, hyper)))


@functools.lru_cache(maxsize=None)
def compiled_predict(model, chunk: int):
    """jit(vmap(predict)) over runs' parameters, shared images."""
    return jax.jit(jax.vmap(lambda params, X: predict(model.apply, params, X, chunk), in_axes=(0, None)))


def train_runs(model, keys, X, targets, X_val, y_val, hyper: Hyper) -> RunState:
    """Train R runs together: ``keys`` (R,) PRNG keys (init and shuffling), ``targets`` (R, n) in
    [0, 1], shared images X (n, H, W, C) and validation set (X_val, y_val ∈ {−1, +1}). Returns the
    stacked final states; ``best_params`` are the early-stopped parameters, ``epochs`` the epoch at
    which each run stopped."""
    X, X_val, y_val = jnp.asarray(X, jnp.float32), jnp.asarray(X_val, jnp.float32), jnp.asarray(y_val)
    targets = jnp.asarray(targets, jnp.float32)
    if targets.ndim != 2 or targets.shape != (len(keys), X.shape[0]):
        raise ValueError(f"targets must have shape (runs, n) = ({len(keys)}, {X.shape[0]}); got {targets.shape}")
    state = compiled_init(model, tuple(X.shape[1:]), hyper)(jnp.asarray(keys))
    epoch = compiled_epoch(model, hyper)
    for _ in range(hyper.max_epochs):
        if not bool(jnp.any(state.active)):
            break
        state = epoch(state, X, targets, X_val, y_val)
    return state


def run_accuracy(model, params, X, y, chunk: int = 512) -> jax.Array:
    """Accuracy of each run's parameters (stacked) on (X, y ∈ {−1, +1}): shape (R,)."""
    logits = compiled_predict(model, chunk)(params, jnp.asarray(X, jnp.float32))
    return losses.accuracy(logits, jnp.asarray(y))
