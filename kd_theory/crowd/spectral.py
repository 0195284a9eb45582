"""The Spectral Meta-Learner (Parisi, Strino, Nadler & Kluger, PNAS 2014); binary answers.

The covariance of two conditionally independent binary classifiers is rank one off the diagonal:
Q_ij = (1 − b²) v_i v_j (b the class imbalance, v_i = 2 × balanced accuracy − 1). The SML estimates v by
the leading eigenvector of Q after completing the entries a rank-one matrix cannot match (the diagonal;
here also the pairs of workers with no task in common), and labels each task by the weighted vote
sign(Σ_{a ∈ t} v̂_{w_a} x_a), v̂ signed so that Σ_i v̂_i > 0 (the crowd beats random on the whole).

Sparse answers [our choices]: Q_ij = C_ij − m_i m_j with C the co-agreement over shared tasks and m_i the
mean of worker i's signs; the completion iterates M ← observed entries of Q, the rest from λ u uᵀ (the
current top eigenpair), ``n_iter`` times. ``probas_`` are the v̂-weighted vote shares
P(label index 1) = ½ (1 + Σ_a v̂ x_a / Σ_a |v̂|) — a score in [0, 1] whose argmax is the SML label, not a
calibrated posterior. A score of exactly 0 is a tie and goes to the lowest label.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.agreement import answer_signs, co_agreement, weighted_vote_scores
from kd_theory.crowd.base import Aggregator, require_binary
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import sum_over_task_answers
from kd_theory.crowd.triangular import binary_probas


def rank_one_completion(q, observed, n_iter: int) -> tuple[jax.Array, jax.Array]:
    """(λ, u): top eigenpair of Q completed by M_ij = Q_ij if observed else λ u_i u_j, iterated n_iter times."""
    def fill(m, _):
        eigenvalues, eigenvectors = jnp.linalg.eigh(m)
        lam, u = eigenvalues[-1], eigenvectors[:, -1]
        return jnp.where(observed, q, lam * jnp.outer(u, u)), None

    m, _ = jax.lax.scan(fill, jnp.where(observed, q, 0.0), None, length=n_iter)
    eigenvalues, eigenvectors = jnp.linalg.eigh(m)
    return eigenvalues[-1], eigenvectors[:, -1]


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "n_iter"))
def spectral_meta_learner(tasks, workers, labels, *, n_tasks: int, n_workers: int, n_iter: int = 50):
    """(P(label index 1) per task as v̂-weighted vote shares, v̂ per worker) for binary answers."""
    signs = answer_signs(labels)
    c, counts = co_agreement(tasks, workers, signs, n_tasks, n_workers)
    answers_per_worker = jax.ops.segment_sum(jnp.ones_like(signs), workers, n_workers)
    mean_sign = jax.ops.segment_sum(signs, workers, n_workers) / jnp.maximum(answers_per_worker, 1.0)
    observed = counts > 0
    q = jnp.where(observed, c - jnp.outer(mean_sign, mean_sign), 0.0)
    lam, u = rank_one_completion(q, observed, n_iter)
    v = u * jnp.sqrt(jnp.maximum(lam, 0.0))
    v = jnp.where(v.sum() >= 0, v, -v)
    scores = weighted_vote_scores(tasks, workers, signs, v, n_tasks)
    total = sum_over_task_answers(jnp.abs(v)[workers], tasks, n_tasks)
    return 0.5 * (1.0 + scores / jnp.where(total > 0, total, 1.0)), v


class SpectralMetaLearner(Aggregator):
    """The Spectral Meta-Learner (binary). After ``fit``: ``weights_`` (v̂ by worker)."""

    def __init__(self, n_iter: int = 50):
        if n_iter < 1:
            raise ValueError(f"n_iter must be >= 1, got {n_iter}")
        self.n_iter = n_iter

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        require_binary(matrix, "SpectralMetaLearner")
        p, v = spectral_meta_learner(matrix.tasks, matrix.workers, matrix.labels, n_tasks=matrix.n_tasks,
                                     n_workers=matrix.n_workers, n_iter=self.n_iter)
        self.weights_ = pd.Series(np.asarray(v), index=matrix.worker_ids, name="weight")
        return binary_probas(p)
