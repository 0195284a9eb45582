"""Sums over the answers grouped by task or by worker: the only reductions the aggregators need.

Every aggregator's iteration is a gather (answer a reads row t_a of a task array or row w_a of a worker
array) followed by a segment sum back onto tasks or workers, so its cost is O(n_answers × n_classes).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def segment_sum_columns(values: jax.Array, segment_ids: jax.Array, num_segments: int,
                        indices_are_sorted: bool = False) -> jax.Array:
    """out[s, c] = Σ_{a : segment_ids[a] = s} values[a, c] for a (n, C) array.

    One 1-d segment sum per column: on XLA's CPU backend this measured 2-4× faster than one scatter of
    (n, C) rows (C is the number of classes, small).
    """
    columns = [jax.ops.segment_sum(values[:, c], segment_ids, num_segments, indices_are_sorted=indices_are_sorted)
               for c in range(values.shape[1])]
    return jnp.stack(columns, axis=1)


def label_one_hot_votes(tasks: jax.Array, labels: jax.Array, weights: jax.Array, n_tasks: int,
                        n_classes: int) -> jax.Array:
    """votes[t, k] = Σ_{a : t_a = t, l_a = k} weights[a]   (weighted vote counts, answers sorted by task)."""
    one_hot = jax.nn.one_hot(labels, n_classes, dtype=weights.dtype) * weights[:, None]
    return segment_sum_columns(one_hot, tasks, n_tasks, indices_are_sorted=True)
