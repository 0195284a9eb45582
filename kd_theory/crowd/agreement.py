"""Worker co-agreement statistics of binary answers, shared by Triangular Estimation and the SML.

Binary answers as signs x_a = 2 l_a − 1 ∈ {−1, +1}. For workers i ≠ j with N_ij > 0 tasks answered by
both, the co-agreement is C_ij = (1/N_ij) Σ_{t answered by both} x_it x_jt. Under the one-coin model
(worker i right with probability p_i, r_i = 2 p_i − 1) E[C_ij] = r_i r_j whatever the true labels: the
off-diagonal of C is rank one, which is what both methods read the reliabilities from.
Memory: one dense tasks × workers array (4 bytes per cell).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from kd_theory.crowd.segments import sum_over_task_answers


def answer_signs(labels) -> jax.Array:
    """x = 2 l − 1: label index 0 ↦ −1, label index 1 ↦ +1."""
    return 2.0 * jnp.asarray(labels, jnp.float32) - 1.0


def dense_answers(tasks, workers, values, n_tasks: int, n_workers: int) -> jax.Array:
    """X[t, w] = value of w's answer to t (summed if w answered t twice), 0 where w did not answer."""
    return jnp.zeros((n_tasks, n_workers), values.dtype).at[tasks, workers].add(values)


@partial(jax.jit, static_argnames=("n_tasks", "n_workers"))
def co_agreement(tasks, workers, signs, n_tasks: int, n_workers: int) -> tuple[jax.Array, jax.Array]:
    """(C, N): C_ij = Σ_t x_it x_jt / N_ij for i ≠ j (0 where N_ij = 0 and on the diagonal), N_ij = co-answers."""
    x = dense_answers(tasks, workers, signs, n_tasks, n_workers)
    answered = dense_answers(tasks, workers, jnp.ones_like(signs), n_tasks, n_workers)
    agreement_sum, counts = x.T @ x, answered.T @ answered
    off_diagonal = ~jnp.eye(n_workers, dtype=bool)
    known = off_diagonal & (counts > 0)
    return jnp.where(known, agreement_sum / jnp.where(known, counts, 1.0), 0.0), jnp.where(off_diagonal, counts, 0.0)


def log_odds_weights(reliability, max_reliability: float) -> jax.Array:
    """w_i = log((1 + r_i)/(1 − r_i)) = log(p_i/(1 − p_i)), r clipped to [−r_max, r_max] (finite weights)."""
    r = jnp.clip(reliability, -max_reliability, max_reliability)
    return jnp.log1p(r) - jnp.log1p(-r)


def weighted_vote_scores(tasks, workers, signs, weights, n_tasks: int) -> jax.Array:
    """s_t = Σ_{a ∈ t} weights[w_a] x_a  (positive: label index 1)."""
    return sum_over_task_answers(weights[workers] * signs, tasks, n_tasks)
