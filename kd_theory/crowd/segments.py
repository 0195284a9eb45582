"""Sums over the answers of each task, the reduction every aggregator's E-step and vote share.

Every aggregator's iteration is a gather (answer a reads row t_a of a task array or row w_a of a worker
array) followed by a segment sum back onto tasks or workers, so its cost is O(n_answers × n_classes).
Answers of a :class:`~kd_theory.crowd.matrix.LabelMatrix` are sorted by task, which XLA can use.
"""
from __future__ import annotations

import jax


def sum_over_task_answers(values: jax.Array, tasks: jax.Array, n_tasks: int) -> jax.Array:
    """out[t] = Σ_{a : t_a = t} values[a]  (rows of any shape; ``tasks`` sorted).

    One segment sum of the (n, K) rows: on XLA's CPU backend this measured faster to run and to compile
    than one 1-d segment sum per class column (1M answers, K = 2: 1.14 s vs 1.74 s for 100 DS iterations).
    """
    return jax.ops.segment_sum(values, tasks, n_tasks, indices_are_sorted=True)


def label_one_hot_votes(tasks: jax.Array, labels: jax.Array, weights: jax.Array, n_tasks: int,
                        n_classes: int) -> jax.Array:
    """votes[t, k] = Σ_{a : t_a = t, l_a = k} weights[a]   (weighted vote counts)."""
    one_hot = jax.nn.one_hot(labels, n_classes, dtype=weights.dtype) * weights[:, None]
    return sum_over_task_answers(one_hot, tasks, n_tasks)
