"""Dawid-Skene EM (full confusion matrices) and its one-coin variant, as jitted array functions.

Model: z_t ~ π, and worker w answers k on a task of true class c with probability e_w[k, c].
With posteriors q[t, c] = P(z_t = c | answers):

* E-step:  log q[t, c] = log π_c + Σ_{a ∈ t} log e_{w_a}[l_a, c] + const  (softmax over c);
* M-step:  π_c = mean_t q[t, c];  n_w[k, c] = Σ_{a : w_a = w, l_a = k} q[t_a, c];
           full:     e_w[k, c] = max(n_w[k, c], ε) / Σ_{k'} max(n_w[k', c], ε)  (k, k' over labels w gave);
           one-coin: s_w = mean_{a : w_a = w} q[t_a, l_a],  e_w[k, c] = s_w if k = c else (1 − s_w)/(K − 1),
                     clipped to [ε, 1 − ε];
* ELBO (what ``tol`` compares):  L = [Σ_a Σ_c q[t_a, c] (log e_{w_a}[l_a, c] + log π_c)
                                      − Σ_t Σ_c q[t, c] log q[t, c]] / n_answers,
  with ε = 1e-10 clipping π and q inside the logs. EM stops after the first iteration whose L rose by
  less than ``tol`` over the previous one (the first iteration is compared with −∞), or after ``n_iter``.

These are crowd-kit 1.4.2's conventions, kept so that its users get the same numbers: start from the
majority-vote shares (q⁰ = vote shares, then one M-step), the prior term of L counted once per *answer*
(not per task), and the ε clipping. Each iteration is one gather and one segment sum over the answers
in each direction (O(n_answers × K)); the loop is a ``lax.while_loop``.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.base import Aggregator
from kd_theory.crowd.majority_vote import majority_vote_shares
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import segment_sum_columns

EPS = 1e-10


class EMResult(NamedTuple):
    posteriors: jax.Array    # (n_tasks, K)   q[t, c]
    prior: jax.Array         # (K,)           π
    confusions: jax.Array    # (n_workers, K, K)  e_w[k, c]; rows k the worker never gave are 0
    n_iterations: jax.Array  # ()             EM iterations run
    loss_history: jax.Array  # (n_iter,)      L after each iteration, NaN after the last


def observed_labels(workers, labels, n_workers: int, n_classes: int) -> jax.Array:
    """gave[w, k] = True iff worker w gave label k at least once."""
    hits = jax.ops.segment_sum(jnp.ones(workers.shape, jnp.int32), workers * n_classes + labels,
                               n_workers * n_classes)
    return (hits > 0).reshape(n_workers, n_classes)


def confusion_counts(posteriors, tasks, workers, labels, n_workers: int) -> jax.Array:
    """n_w[k, c] = Σ_{a : w_a = w, l_a = k} q[t_a, c]."""
    n_classes = posteriors.shape[1]
    flat = segment_sum_columns(posteriors[tasks], workers * n_classes + labels, n_workers * n_classes)
    return flat.reshape(n_workers, n_classes, n_classes)


def full_confusions(counts, gave) -> jax.Array:
    """e_w[k, c] = max(n_w[k, c], ε) / Σ_{k' given by w} max(n_w[k', c], ε); 0 on labels w never gave."""
    clipped = jnp.where(gave[:, :, None], jnp.maximum(counts, EPS), 0.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def one_coin_skills(posteriors, tasks, workers, labels, n_workers: int) -> jax.Array:
    """s_w = mean_{a : w_a = w} q[t_a, l_a]  (the expected fraction of w's answers that are right)."""
    right = posteriors[tasks, labels]
    total = jax.ops.segment_sum(right, workers, n_workers)
    return total / jnp.maximum(jax.ops.segment_sum(jnp.ones_like(right), workers, n_workers), 1.0)


def one_coin_confusions(skills, gave) -> jax.Array:
    """e_w[k, c] = s_w if k = c else (1 − s_w)/(K − 1), clipped to [ε, 1 − ε]; 0 on labels w never gave."""
    n_classes = gave.shape[1]
    s = skills[:, None, None]
    e = jnp.where(jnp.eye(n_classes, dtype=bool)[None], s, (1.0 - s) / max(n_classes - 1, 1))
    return jnp.where(gave[:, :, None], jnp.clip(e, EPS, 1.0 - EPS), 0.0)


def log_confusions(confusions) -> jax.Array:
    """log e_w[k, c] where defined (e > 0), 0 elsewhere (those entries are never read by an answer)."""
    return jnp.log(jnp.where(confusions > 0, confusions, 1.0))


def e_step(log_conf, prior, tasks, workers, labels, n_tasks: int) -> jax.Array:
    """q[t, c] = softmax_c( log max(π_c, ε) + Σ_{a ∈ t} log e_{w_a}[l_a, c] )  (answers sorted by task)."""
    n_classes = prior.shape[0]
    per_answer = log_conf.reshape(-1, n_classes)[workers * n_classes + labels]
    log_lik = jnp.log(jnp.maximum(prior, EPS)) + segment_sum_columns(per_answer, tasks, n_tasks,
                                                                      indices_are_sorted=True)
    return jax.nn.softmax(log_lik, axis=1)


def evidence_lower_bound(counts, log_conf, prior, posteriors, n_answers: int) -> jax.Array:
    """L = [Σ_{w,k,c} n_w[k,c] log e_w[k,c] + Σ_c (Σ_{w,k} n_w[k,c]) log π_c − Σ_{t,c} q log q] / n_answers.

    The two first sums are Σ_a Σ_c q[t_a, c](log e_{w_a}[l_a, c] + log π_c) regrouped by (worker, label),
    so L costs O(n_workers K² + n_tasks K) once the M-step counts exist.
    """
    joint = jnp.sum(counts * log_conf) + jnp.sum(counts.sum(axis=(0, 1)) * jnp.log(jnp.maximum(prior, EPS)))
    q = jnp.maximum(posteriors, EPS)
    entropy = -jnp.sum(q * jnp.log(q))
    return (joint + entropy) / n_answers


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "n_iter", "one_coin"))
def dawid_skene_em(tasks, workers, labels, init_posteriors, tol, *, n_tasks: int, n_workers: int,
                   n_iter: int, one_coin: bool = False) -> EMResult:
    """Dawid-Skene EM from ``init_posteriors`` (see the module docstring for every formula).

    ``one_coin`` swaps the full confusion matrices for one accuracy per worker. Answers must be sorted
    by task (a :class:`LabelMatrix` is).
    """
    n_classes = init_posteriors.shape[1]
    gave = observed_labels(workers, labels, n_workers, n_classes)

    def m_step(q):
        counts = confusion_counts(q, tasks, workers, labels, n_workers)
        if one_coin:
            return counts, one_coin_confusions(one_coin_skills(q, tasks, workers, labels, n_workers), gave)
        return counts, full_confusions(counts, gave)

    def keep_going(state):
        i, _, _, _, _, converged, _ = state
        return (i < n_iter) & ~converged

    def iteration(state):
        i, q, prior, conf, last_loss, _, history = state
        q = e_step(log_confusions(conf), prior, tasks, workers, labels, n_tasks)
        prior = q.mean(axis=0)
        counts, conf = m_step(q)
        loss = evidence_lower_bound(counts, log_confusions(conf), prior, q, tasks.shape[0])
        return i + 1, q, prior, conf, loss, loss - last_loss < tol, history.at[i].set(loss)

    q0 = init_posteriors
    _, conf0 = m_step(q0)
    state = (jnp.int32(0), q0, q0.mean(axis=0), conf0, jnp.array(-jnp.inf, q0.dtype), jnp.array(False),
             jnp.full((n_iter,), jnp.nan, q0.dtype))
    n, q, prior, conf, _, _, history = jax.lax.while_loop(keep_going, iteration, state)
    return EMResult(q, prior, conf, n, history)


def fit_dawid_skene(matrix: LabelMatrix, n_iter: int, tol: float, one_coin: bool = False) -> EMResult:
    """Dawid-Skene EM on a label matrix, started from its majority-vote shares (crowd-kit's start)."""
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    return dawid_skene_em(matrix.tasks, matrix.workers, matrix.labels, majority_vote_shares(matrix), tol,
                          n_tasks=matrix.n_tasks, n_workers=matrix.n_workers, n_iter=int(n_iter),
                          one_coin=one_coin)


class DawidSkene(Aggregator):
    """Dawid-Skene EM with crowd-kit's interface and conventions (``DawidSkene(n_iter=100, tol=1e-5)``).

    After ``fit``: ``probas_``, ``labels_``, ``priors_`` (Series by label), ``errors_`` (frame indexed
    by (worker, observed label), one column per true label: e_w[k, c]), ``loss_history_``, ``n_iter_``.
    """

    _one_coin = False

    def __init__(self, n_iter: int = 100, tol: float = 1e-5):
        self.n_iter = n_iter
        self.tol = tol

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        result = fit_dawid_skene(matrix, self.n_iter, self.tol, one_coin=self._one_coin)
        self.n_iter_ = int(result.n_iterations)
        self.loss_history_ = [float(x) for x in np.asarray(result.loss_history)[: self.n_iter_]]
        self.priors_ = pd.Series(np.asarray(result.prior), index=matrix.label_values, name="prior")
        rows = pd.MultiIndex.from_product([matrix.worker_ids, matrix.label_values], names=["worker", "label"])
        self.errors_ = pd.DataFrame(np.asarray(result.confusions).reshape(-1, matrix.n_classes), index=rows,
                                    columns=matrix.label_values)
        return np.asarray(result.posteriors)


class OneCoinDawidSkene(DawidSkene):
    """One-coin Dawid-Skene: one accuracy s_w per worker, errors spread evenly over the other labels.

    After ``fit`` also ``skills_`` (Series by worker).
    """

    _one_coin = True

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        posteriors = super()._fit_matrix(matrix)
        skills = one_coin_skills(jnp.asarray(posteriors), matrix.tasks, matrix.workers, matrix.labels,
                                 matrix.n_workers)
        self.skills_ = pd.Series(np.asarray(skills), index=matrix.worker_ids, name="skill")
        return posteriors
