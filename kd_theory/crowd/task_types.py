"""Task types: the spectral task-type partition [ours] and partition-then-aggregate.

The construction (papers.md §3 "Spectral partition", our reconstruction — the paper's algorithm box was
out of reach). For binary answers x_wt ∈ {±1} (0 when missing), E[x_it x_lt] = r_i^{(g_t)} r_l^{(g_t)} for
i ≠ l: the label's sign cancels, so a task's pattern of co-agreement depends only on its type g_t. Task
features F_t = (x_it x_lt)_{i<l}; the top-2 left singular vectors of the column-centred task × pair
matrix F − 1 μᵀ (scaled by their singular values) embed the tasks; 2-means splits them; the cluster
with the higher mean agreement (mean of F_t over the pairs that answered t) is called type 0 ("easy").

For K > 2 classes we use the same features with x_it x_lt read as +1 if i and l gave t the same label,
−1 if different, 0 if not both answered (for K = 2 this is exactly x_it x_lt).

F has n_workers (n_workers − 1)/2 columns, so it is never formed. It is read through the list of answer
pairs: every two answers a ≠ b of one task by two different workers give a pair p = (t_p, i_p, l_p, s_p),
s_p = +1 if they agree, −1 if not. With V a symmetric zero-diagonal workers × workers matrix standing for a
pair vector: (F v)_t = Σ_{p ∈ t} s_p V[i_p, l_p], and Fᵀ u = Σ_p u_{t_p} s_p (e_{i_p} e_{l_p}ᵀ + e_{l_p} e_{i_p}ᵀ).
Subspace iteration on the centred operator then costs O(#pairs) per step, #pairs = Σ_t n_t (n_t − 1)/2
(n_t answers of task t), and memory O(#pairs + workers²).

Dense crowds (most workers answer most tasks) are cheaper read through the answer counts
Y[k, t, w] = #{answers of w to t with label k} and m[t, w] = Σ_k Y[k, t, w]: for i ≠ l,
A_t[i, l] = 2 Σ_k Y[k, t, i] Y[k, t, l] − m[t, i] m[t, l] (the same ±1 sums over answer pairs; for K = 2
it is x_ti x_tl with x = Y_1 − Y_0), so F v and Fᵀ u are a few matrix products per task
(:func:`answer_components`), O(tasks × workers² × K) time and O(tasks × workers × K) memory, with no pair
list. ``partition_tasks(method="auto")`` takes whichever of the two costs less (:func:`dense_is_cheaper`);
both compute the same operator (tested), so they give the same partition up to rounding.
"""
from __future__ import annotations

import copy
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.base import Aggregator
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import label_one_hot_votes, sum_over_task_answers


def answer_pairs(tasks, workers, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(task, worker i, worker l, agreement ±1) for every pair of answers to one task by two different
    workers; answers sorted by task (host-side numpy, O(#pairs + n_answers × max answers per task))."""
    tasks, workers, labels = np.asarray(tasks), np.asarray(workers), np.asarray(labels)
    starts = np.flatnonzero(np.r_[True, tasks[1:] != tasks[:-1]]) if tasks.size else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, tasks.size])
    position = np.arange(tasks.size) - np.repeat(starts, sizes)  # rank of the answer within its task
    remaining = np.repeat(sizes, sizes) - position - 1           # answers after it in the same task
    parts = []
    for offset in range(1, int(sizes.max(initial=1))):
        a = np.flatnonzero(remaining >= offset)
        b = a + offset
        a, b = a[workers[a] != workers[b]], b[workers[a] != workers[b]]
        parts.append((tasks[a], workers[a], workers[b], np.where(labels[a] == labels[b], 1.0, -1.0)))
    if not parts:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)
    t, i, l, agree = (np.concatenate(x) for x in zip(*parts))
    order = np.argsort(t, kind="stable")
    return (t[order].astype(np.int32), i[order].astype(np.int32), l[order].astype(np.int32),
            agree[order].astype(np.float32))


def pair_features_times(pairs, v, n_tasks: int) -> jax.Array:
    """(F v)_t = Σ_{i<l} A_t[i, l] V[i, l] = Σ_{p ∈ t} s_p V[i_p, l_p]   (V symmetric, zero diagonal)."""
    t, i, l, agree = pairs
    return sum_over_task_answers(agree * v[i, l], t, n_tasks)


def pair_features_transpose_times(pairs, u, n_workers: int) -> jax.Array:
    """Fᵀ u as a symmetric zero-diagonal matrix: M[i, l] = Σ_{p : {i_p, l_p} = {i, l}} u_{t_p} s_p."""
    t, i, l, agree = pairs
    upper = jnp.zeros((n_workers, n_workers), u.dtype).at[i, l].add(u[t] * agree)
    return upper + upper.T


def answer_components(tasks, workers, labels, n_tasks: int, n_workers: int,
                      n_classes: int) -> tuple[jax.Array, tuple[float, ...]]:
    """(B, c): components B[j] (tasks × workers) and weights c_j with A_t[i, l] = Σ_j c_j B[j, t, i] B[j, t, l]
    for i ≠ l. From the counts Y[k, t, w] = #{answers of w to t with label k} and m = Σ_k Y[k]:
    A = 2 Σ_k Y_k Y_kᵀ − m mᵀ, so B = (Y_0, …, Y_{K−1}, m) with c = (2, …, 2, −1); for K = 2 that is
    x xᵀ with x = Y_1 − Y_0 (the ±1 answers), one component instead of three."""
    counts = jnp.zeros((n_classes, n_tasks, n_workers), jnp.float32).at[labels, tasks, workers].add(1.0)
    if n_classes == 2:
        return (counts[1] - counts[0])[None], (1.0,)
    return jnp.concatenate([counts, counts.sum(axis=0)[None]]), (2.0,) * n_classes + (-1.0,)


def dense_features_times(components, weights, v) -> jax.Array:
    """(F v)_t = Σ_{i<l} A_t[i, l] V[i, l] = ½ Σ_j c_j B[j, t]ᵀ V B[j, t]   (V symmetric with a zero diagonal,
    so the i = l terms vanish)."""
    quadratic = jnp.einsum("jti,il,jtl->jt", components, v, components)
    return 0.5 * jnp.tensordot(jnp.asarray(weights, quadratic.dtype), quadratic, axes=1)


def dense_features_transpose_times(components, weights, u) -> jax.Array:
    """Fᵀ u as a symmetric zero-diagonal matrix: M[i, l] = Σ_t u_t A_t[i, l] = Σ_j c_j (B_jᵀ diag(u) B_j)[i, l],
    i ≠ l."""
    gram = jnp.einsum("t,jti,jtl->jil", u, components, components)
    full = jnp.tensordot(jnp.asarray(weights, gram.dtype), gram, axes=1)
    return jnp.where(jnp.eye(full.shape[0], dtype=bool), 0.0, full)


def n_answer_pairs(tasks, workers) -> int:
    """#pairs = Σ_t n_t (n_t − 1)/2 over the answers of each task by two different workers (what the pair
    list of :func:`answer_pairs` holds), counted without building it."""
    tasks, workers = np.asarray(tasks, np.int64), np.asarray(workers, np.int64)
    per_task = np.bincount(tasks)
    per_pair = np.unique(tasks * (int(workers.max(initial=0)) + 1) + workers, return_counts=True)[1]
    return int((per_task * (per_task - 1) // 2).sum() - (per_pair * (per_pair - 1) // 2).sum())


DENSE_FLOPS_PER_PAIR = 16  # a pair's gather + scatter costs ≈ 50 multiply-adds of the dense products (CPU, measured)


def dense_is_cheaper(n_answer_pairs_: int, n_tasks: int, n_workers: int, n_classes: int) -> bool:
    """Whether the dense products (≈ tasks · workers² · J multiply-adds per operator, J = 1 component for
    K = 2, K + 1 otherwise) cost less than the pair list (≈ #pairs gathers and scatters, each worth
    ``DENSE_FLOPS_PER_PAIR`` multiply-adds, measured on CPU), with the components under 2 GiB."""
    components = 1 if n_classes == 2 else n_classes + 1
    dense = n_tasks * n_workers ** 2 * components
    fits = n_tasks * n_workers * components * 4 <= 2 * 2 ** 30
    return fits and dense <= DENSE_FLOPS_PER_PAIR * n_answer_pairs_


def mean_pair_agreement(tasks, labels, n_tasks: int, n_classes: int) -> jax.Array:
    """Mean of A_t over the pairs that answered t: (2 #agreeing pairs − #pairs)/#pairs, NaN if < 2 answers."""
    counts = label_one_hot_votes(tasks, labels, jnp.ones(tasks.shape, jnp.float32), n_tasks, n_classes)
    n = counts.sum(axis=1)
    pairs = n * (n - 1) / 2
    agreeing = (counts * (counts - 1) / 2).sum(axis=1)
    return jnp.where(pairs > 0, (2 * agreeing - pairs) / jnp.where(pairs > 0, pairs, 1.0), jnp.nan)


def top_left_singular_vectors(times, transpose_times, n_tasks: int, rank: int, n_iter: int,
                              key) -> tuple[jax.Array, jax.Array]:
    """(U, s): top ``rank`` left singular vectors and values of the centred F − 1 μᵀ, by subspace iteration
    on (F − 1μᵀ)(F − 1μᵀ)ᵀ with ``rank`` + 2 vectors, then Rayleigh-Ritz. ``times(V)`` = F v and
    ``transpose_times(u)`` = Fᵀ u (pair vectors as symmetric zero-diagonal workers × workers matrices)."""
    mu = transpose_times(jnp.ones(n_tasks)) / n_tasks
    right = lambda u: transpose_times(u) - u.sum() * mu  # noqa: E731 (F_c)ᵀ u
    left = lambda v: times(v) - 0.5 * jnp.sum(mu * v)  # noqa: E731 F_c v
    apply_gram = jax.vmap(lambda u: left(right(u)), in_axes=1, out_axes=1)

    def step(u, _):
        q, _ = jnp.linalg.qr(apply_gram(u))
        return q, None

    u0, _ = jnp.linalg.qr(jax.random.normal(key, (n_tasks, rank + 2)))
    u, _ = jax.lax.scan(step, u0, None, length=n_iter)
    small = u.T @ apply_gram(u)
    eigenvalues, eigenvectors = jnp.linalg.eigh(0.5 * (small + small.T))
    order = jnp.argsort(-eigenvalues)[:rank]
    return u @ eigenvectors[:, order], jnp.sqrt(jnp.maximum(eigenvalues[order], 0.0))


def two_means(points, n_iter: int = 100) -> jax.Array:
    """Lloyd's 2-means; starts from the two points farthest apart along the first coordinate."""
    first = points[:, 0]
    centres = jnp.stack([points[jnp.argmin(first)], points[jnp.argmax(first)]])

    def step(centres, _):
        assign = jnp.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        one_hot = jax.nn.one_hot(assign, 2, dtype=points.dtype)
        sizes = one_hot.sum(axis=0)
        means = (one_hot.T @ points) / jnp.maximum(sizes, 1.0)[:, None]
        return jnp.where(sizes[:, None] > 0, means, centres), None

    centres, _ = jax.lax.scan(step, centres, None, length=n_iter)
    return jnp.argmin(((points[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "n_classes", "n_iter"))
def spectral_task_types(tasks, labels, pairs, key, *, n_tasks: int, n_workers: int, n_classes: int,
                        n_iter: int = 30, workers=None) -> jax.Array:
    """Type per task (0 = the cluster of higher mean agreement, "easy"; 1 = the other) by the spectral
    partition of the module docstring; ``pairs`` from :func:`answer_pairs`, or None to read F through the
    dense answer counts (then ``workers`` must be given)."""
    if pairs is None:
        components, weights = answer_components(tasks, workers, labels, n_tasks, n_workers, n_classes)
        times = partial(dense_features_times, components, weights)
        transpose_times = partial(dense_features_transpose_times, components, weights)
    else:
        times = partial(pair_features_times, pairs, n_tasks=n_tasks)
        transpose_times = partial(pair_features_transpose_times, pairs, n_workers=n_workers)
    u, s = top_left_singular_vectors(times, transpose_times, n_tasks, 2, n_iter, key)
    cluster = two_means(u * s)
    agreement = mean_pair_agreement(tasks, labels, n_tasks, n_classes)
    known = ~jnp.isnan(agreement)
    mean_of = lambda g: jnp.sum(jnp.where(known & (cluster == g), agreement, 0.0)) / jnp.maximum(  # noqa: E731
        jnp.sum(known & (cluster == g)), 1)
    return jnp.where(mean_of(0) >= mean_of(1), cluster, 1 - cluster)


PARTITION_METHODS = ("auto", "pairs", "dense")


def partition_tasks(matrix: LabelMatrix, seed: int = 0, n_iter: int = 30, method: str = "auto") -> np.ndarray:
    """The spectral task-type partition of a label matrix: 0 = "easy" cluster, 1 = the other.

    ``method``: "pairs" (the list of answer pairs), "dense" (the answer counts) or "auto" (the cheaper,
    :func:`dense_is_cheaper`); the same operator either way (module docstring)."""
    if method not in PARTITION_METHODS:
        raise ValueError(f"method must be one of {PARTITION_METHODS}, got {method!r}")
    if method == "auto":
        dense = dense_is_cheaper(n_answer_pairs(matrix.tasks, matrix.workers), matrix.n_tasks, matrix.n_workers,
                                 matrix.n_classes)
        method = "dense" if dense else "pairs"
    pairs = answer_pairs(matrix.tasks, matrix.workers, matrix.labels) if method == "pairs" else None
    return np.asarray(spectral_task_types(matrix.tasks, matrix.labels, pairs, jax.random.PRNGKey(seed),
                                          n_tasks=matrix.n_tasks, n_workers=matrix.n_workers,
                                          n_classes=matrix.n_classes, n_iter=n_iter,
                                          workers=matrix.workers if method == "dense" else None))


def type_recovery(found, true_types) -> float:
    """Fraction of tasks whose type is recovered, up to swapping the two type names."""
    found, true_types = np.asarray(found), np.asarray(true_types)
    same = float(np.mean(found == true_types))
    return max(same, 1.0 - same)


class TaskTypeAware(Aggregator):
    """Partition the tasks by type, then aggregate each type with its own copy of an aggregator.

    ``aggregator``: any object with ``fit_predict_proba(df)`` (ours or crowd-kit's), copied unfitted for
    each type, or a dict {type: aggregator}. ``types``: a Series task → type to use instead of the
    spectral partition — given the true types this is the oracle, the ceiling of the method. After
    ``fit``: ``types_`` (Series by task) and ``aggregators_`` (the fitted copies by type). Dawid-Skene
    copies fit their type inside the whole crowd (:meth:`~kd_theory.crowd.base.Aggregator.fit_tasks`), so
    partitions of different sizes reuse one compiled program.
    """

    def __init__(self, aggregator, types: pd.Series | None = None, seed: int = 0, n_iter: int = 30):
        self.aggregator = aggregator
        self.types = types
        self.seed = seed
        self.n_iter = n_iter

    def _types_of(self, matrix: LabelMatrix) -> np.ndarray:
        if self.types is None:
            return partition_tasks(matrix, self.seed, self.n_iter)
        missing = matrix.task_ids.difference(self.types.index)
        if len(missing):
            raise ValueError(f"types has no type for {len(missing)} task(s), e.g. {list(missing[:5])}")
        return self.types.loc[matrix.task_ids].to_numpy()

    def _aggregator_for(self, group):
        if isinstance(self.aggregator, dict):
            if group not in self.aggregator:
                raise ValueError(f"aggregator dict has no entry for type {group!r}; types are "
                                 f"{sorted(self.aggregator)}")
            return copy.deepcopy(self.aggregator[group])
        return copy.deepcopy(self.aggregator)

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        types = self._types_of(matrix)
        posteriors = np.zeros((matrix.n_tasks, matrix.n_classes))
        self.aggregators_ = {}
        for group in pd.unique(types):
            keep = types == group
            aggregator = self._aggregator_for(group)
            if getattr(aggregator, "masks_tasks", False):  # ours: one compiled program per crowd size
                probas = aggregator.fit_tasks(matrix, keep).probas_
            else:
                probas = aggregator.fit_predict_proba(matrix.subset_tasks(keep).to_dataframe())
            posteriors[keep] = probas.reindex(index=matrix.task_ids[keep], columns=matrix.label_values,
                                              fill_value=0.0).to_numpy()
            self.aggregators_[group] = aggregator
        self.types_ = pd.Series(types, index=matrix.task_ids, name="type")
        return posteriors
