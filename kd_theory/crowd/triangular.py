"""Triangular Estimation (Bonald & Combes, NeurIPS 2017) and its log-odds weighted vote; binary answers.

With C the co-agreement matrix (:mod:`kd_theory.crowd.agreement`, E C_ij = r_i r_j):

1. for each worker i, the most informative pair of other workers (a_i, b_i) = argmax_{a ≠ b, a, b ≠ i} |C_ab|,
   [ours, for sparse answers] among the pairs with N_ia, N_ib, N_ab ≥ ``min_overlap`` co-answered tasks
   (10 by default; with dense answers this is the paper's rule); r̂_i = 0 (weight 0) if there is none;
2. |r̂_i| = sqrt(|C_{i a_i} C_{i b_i} / C_{a_i b_i}|)   (the "triangle" i, a_i, b_i: r_i² = C_ia C_ib / C_ab);
3. signs: k* = argmax_i |r̂_i|, sign(r̂_{k*}) = sign(Σ_{j ≠ k*} C_{k* j}) (the crowd is better than random on
   the whole), and sign(r̂_i) = sign(r̂_{k*}) sign(C_{i k*}) for the others — [ours] where i and k* share
   fewer than ``min_overlap`` tasks, sign(Σ_j N_ij C_ij) (does i agree with the crowd more than not);
4. label: the weighted vote sign(Σ_{a ∈ t} w_{w_a} x_a) with w_i = log((1 + r̂_i)/(1 − r̂_i)) — the
   Neyman-Pearson / MAP vote of the one-coin model with a uniform class prior, so
   P(label index 1 | answers) = σ(Σ_a w_{w_a} x_a) is the posterior it reports.

Co-agreements are averaged over the tasks both workers answered (our choice for sparse answers; the paper
divides by the number of tasks and corrects for the sampling rate). Σ_j N_{k*j} C_{k*j} weighs step 3's sum
by co-answers. r̂ is clipped to [−r_max, r_max]
(``max_reliability``, 0.99 by default) so that a near-perfect estimate gives a finite weight.
A score of exactly 0 is a tie and goes to the lowest label.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.agreement import answer_signs, co_agreement, log_odds_weights, weighted_vote_scores
from kd_theory.crowd.base import Aggregator, require_binary
from kd_theory.crowd.matrix import LabelMatrix


def triangle_for(i, abs_c, enough) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(a, b, found): argmax |C_ab| over a < b, a, b ≠ i, with N_ia, N_ib, N_ab ≥ min_overlap (``enough``)."""
    n = abs_c.shape[0]
    usable = enough[i] & (jnp.arange(n) != i)
    candidates = usable[:, None] & usable[None, :] & enough & jnp.triu(jnp.ones((n, n), bool), 1)
    flat = jnp.argmax(jnp.where(candidates, abs_c, -1.0))
    return flat // n, flat % n, candidates.any()


@partial(jax.jit, static_argnames=("min_overlap",))
def triangular_reliabilities(c, counts, min_overlap: int) -> jax.Array:
    """r̂_i of Triangular Estimation from the co-agreements C and co-answer counts N (see module doc)."""
    n = c.shape[0]
    enough = counts >= min_overlap
    a, b, found = jax.lax.map(lambda i: triangle_for(i, jnp.abs(c), enough), jnp.arange(n))
    workers = jnp.arange(n)
    denominator = jnp.abs(c[a, b])
    magnitude = jnp.sqrt(jnp.abs(c[workers, a] * c[workers, b]) / jnp.maximum(denominator, 1e-12))
    magnitude = jnp.where(found & (denominator > 0), magnitude, 0.0)
    k_star = jnp.argmax(magnitude)
    sign_k = jnp.where(c[k_star] @ counts[k_star] >= 0, 1.0, -1.0)
    sign_via_k = sign_k * jnp.where(c[:, k_star] >= 0, 1.0, -1.0)
    sign_via_crowd = jnp.where((c * counts).sum(axis=1) >= 0, 1.0, -1.0)
    signs = jnp.where(workers == k_star, sign_k, jnp.where(enough[:, k_star], sign_via_k, sign_via_crowd))
    return signs * magnitude


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "min_overlap"))
def triangular_estimation_vote(tasks, workers, labels, max_reliability, *, n_tasks: int, n_workers: int,
                               min_overlap: int = 10):
    """(P(label index 1) per task = σ(Σ_a w x_a), r̂ per worker) for binary answers."""
    signs = answer_signs(labels)
    c, counts = co_agreement(tasks, workers, signs, n_tasks, n_workers)
    reliability = triangular_reliabilities(c, counts, min_overlap)
    scores = weighted_vote_scores(tasks, workers, signs, log_odds_weights(reliability, max_reliability), n_tasks)
    return jax.nn.sigmoid(scores), reliability


def binary_probas(prob_second_label) -> np.ndarray:
    """(n_tasks, 2) array [1 − p, p] from P(label index 1)."""
    p = np.asarray(prob_second_label, dtype=np.float64)
    return np.stack([1.0 - p, p], axis=1)


class TriangularEstimation(Aggregator):
    """Triangular Estimation + log-odds weighted vote (binary). After ``fit``: ``reliabilities_`` (r̂ by
    worker, r = 2p − 1) and ``skills_`` (p̂ = (1 + r̂)/2)."""

    def __init__(self, max_reliability: float = 0.99, min_overlap: int = 10):
        if not 0 < max_reliability < 1:
            raise ValueError(f"max_reliability must be in (0, 1), got {max_reliability}")
        if min_overlap < 1:
            raise ValueError(f"min_overlap must be >= 1, got {min_overlap}")
        self.max_reliability = max_reliability
        self.min_overlap = min_overlap

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        require_binary(matrix, "TriangularEstimation")
        if matrix.n_workers < 3:
            raise ValueError(f"TriangularEstimation needs at least 3 workers, got {matrix.n_workers}")
        p, r = triangular_estimation_vote(matrix.tasks, matrix.workers, matrix.labels, self.max_reliability,
                                          n_tasks=matrix.n_tasks, n_workers=matrix.n_workers,
                                          min_overlap=self.min_overlap)
        self.reliabilities_ = pd.Series(np.asarray(r), index=matrix.worker_ids, name="reliability")
        self.skills_ = (1.0 + self.reliabilities_.clip(-1, 1)) / 2
        return binary_probas(p)
