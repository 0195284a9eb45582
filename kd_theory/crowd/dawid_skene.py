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
in each direction (O(n_answers × K)); the loop is a ``lax.while_loop`` over a :class:`DawidSkeneState`.

**Fitting a subset of the tasks** (``task_mask``): EM on the answers of the tasks where the mask holds, as
if the others did not exist — their answers add nothing to the counts, π and L run over the kept tasks,
and L is divided by the kept answers. It equals EM on the sub-matrix of those tasks, but its compiled
program depends only on the size of the whole crowd, so fitting each type of a partition (whose sizes
change from crowd to crowd) compiles once per crowd size instead of twice per crowd.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.base import Aggregator
from kd_theory.crowd.majority_vote import vote_shares
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import sum_over_task_answers

EPS = 1e-10


class EMResult(NamedTuple):
    """What :func:`dawid_skene_em` returns."""
    posteriors: jax.Array    # (n_tasks, K)   q[t, c]
    prior: jax.Array         # (K,)           π
    confusions: jax.Array    # (n_workers, K, K)  e_w[k, c] from the final posteriors; 0 on labels never given
    n_iterations: jax.Array  # ()             EM iterations run
    loss_history: jax.Array  # (n_iter,)      L after each iteration, NaN after the last


class DawidSkeneState(NamedTuple):
    """The ``lax.while_loop`` carry of :func:`dawid_skene_em`; one trip maps it as follows.

    From the posteriors q it was given (q⁰ = the start, e.g. the vote shares) and the prior π:

    * M-step:  n_w[k, c] = Σ_{a : w_a = w, l_a = k} q[t_a, c];  e_w = full or one-coin confusions of n_w;
    * L = ELBO(n, log e, π, q) (module docstring), recorded as ``loss_history[trip − 1]`` from trip 1 on;
    * stop = (trip = n_iter) or (trip > 0 and L − last_loss < tol);
    * E-step:  q'[t, c] = softmax_c( log max(π_c, ε) + Σ_{a ∈ t} log e_{w_a}[l_a, c] ),  π' = mean_t q'[t, c];
    * unless stop, (q, π) ← (q', π'); the confusions kept are e_w of the q that was given.
    """
    trip: jax.Array          # ()                 loop trips done (trip 0 only sets up the first M-step)
    posteriors: jax.Array    # (n_tasks, K)       q[t, c]
    prior: jax.Array         # (K,)               π_c = mean_t q[t, c]
    confusions: jax.Array    # (n_workers, K, K)  e_w[k, c] of the last M-step
    last_loss: jax.Array     # ()                 L of the previous trip (−∞ before the first comparison)
    loss_history: jax.Array  # (max(n_iter, 1),)  L after each iteration, NaN where not reached
    stopped: jax.Array       # ()                 bool: the stopping rule has fired


def confusion_counts(posteriors, tasks, workers, labels, n_workers: int) -> jax.Array:
    """n_w[k, c] = Σ_{a : w_a = w, l_a = k} q[t_a, c]."""
    n_classes = posteriors.shape[1]
    flat = jax.ops.segment_sum(posteriors[tasks], workers * n_classes + labels, n_workers * n_classes)
    return flat.reshape(n_workers, n_classes, n_classes)


def labels_given(counts) -> jax.Array:
    """gave[w, k]: worker w gave label k at least once (Σ_c n_w[k, c] counts those answers, q rows sum to 1)."""
    return counts.sum(axis=2) > 0.5


def full_confusions(counts) -> jax.Array:
    """e_w[k, c] = max(n_w[k, c], ε) / Σ_{k' given by w} max(n_w[k', c], ε); 0 on labels w never gave."""
    clipped = jnp.where(labels_given(counts)[:, :, None], jnp.maximum(counts, EPS), 0.0)
    return clipped / clipped.sum(axis=1, keepdims=True)


def one_coin_skills(counts) -> jax.Array:
    """s_w = mean_{a : w_a = w} q[t_a, l_a] = Σ_k n_w[k, k] / Σ_{k,c} n_w[k, c] (expected fraction right)."""
    right = jnp.trace(counts, axis1=1, axis2=2)
    return right / jnp.maximum(counts.sum(axis=(1, 2)), 1.0)


def one_coin_confusions(counts) -> jax.Array:
    """e_w[k, c] = s_w if k = c else (1 − s_w)/(K − 1), clipped to [ε, 1 − ε]; 0 on labels w never gave."""
    n_classes = counts.shape[1]
    s = one_coin_skills(counts)[:, None, None]
    e = jnp.where(jnp.eye(n_classes, dtype=bool)[None], s, (1.0 - s) / max(n_classes - 1, 1))
    return jnp.where(labels_given(counts)[:, :, None], jnp.clip(e, EPS, 1.0 - EPS), 0.0)


def log_confusions(confusions) -> jax.Array:
    """log e_w[k, c] where defined (e > 0), 0 elsewhere (those entries are never read by an answer)."""
    return jnp.log(jnp.where(confusions > 0, confusions, 1.0))


def e_step(log_conf, prior, tasks, workers, labels, n_tasks: int) -> jax.Array:
    """q[t, c] = softmax_c( log max(π_c, ε) + Σ_{a ∈ t} log e_{w_a}[l_a, c] )  (answers sorted by task)."""
    n_classes = prior.shape[0]
    per_answer = log_conf.reshape(-1, n_classes)[workers * n_classes + labels]
    log_lik = jnp.log(jnp.maximum(prior, EPS)) + sum_over_task_answers(per_answer, tasks, n_tasks)
    return jax.nn.softmax(log_lik, axis=1)


def evidence_lower_bound(counts, log_conf, prior, posteriors, n_answers, task_mask=None) -> jax.Array:
    """L = [Σ_{w,k,c} n_w[k,c] log e_w[k,c] + Σ_c (Σ_{w,k} n_w[k,c]) log π_c − Σ_{t,c} q log q] / n_answers.

    The two first sums are Σ_a Σ_c q[t_a, c] (log e_{w_a}[l_a, c] + log π_c) regrouped by (worker, label),
    so L costs O(n_workers K² + n_tasks K) once the M-step counts exist. With ``task_mask`` the entropy
    runs over the kept tasks only (the counts already hold only their answers).
    """
    joint = jnp.sum(counts * log_conf) + jnp.sum(counts.sum(axis=(0, 1)) * jnp.log(jnp.maximum(prior, EPS)))
    q = jnp.maximum(posteriors, EPS)
    per_task = q * jnp.log(q)
    entropy = -jnp.sum(per_task if task_mask is None else jnp.where(task_mask[:, None], per_task, 0.0))
    return (joint + entropy) / n_answers


def task_mean(posteriors, task_mask=None) -> jax.Array:
    """π_c = mean over the (kept) tasks of q[t, c]."""
    if task_mask is None:
        return posteriors.mean(axis=0)
    kept = jnp.where(task_mask[:, None], posteriors, 0.0)
    return kept.sum(axis=0) / jnp.maximum(task_mask.sum(), 1)


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "n_classes", "n_iter", "one_coin"))
def dawid_skene_em(tasks, workers, labels, tol, *, n_tasks: int, n_workers: int, n_classes: int, n_iter: int,
                   one_coin: bool = False, init_posteriors=None, task_mask=None) -> EMResult:
    """Dawid-Skene EM (see the module docstring for every formula), answers sorted by task.

    Starts from ``init_posteriors`` or, by default, the majority-vote shares. ``one_coin`` swaps the full
    confusion matrices for one accuracy per worker. One loop trip is an M-step (with the ELBO of the
    posteriors it was given) then an E-step, so the M-step is compiled once; the trip that stops keeps the
    posteriors it was given (the E-step it computed is discarded). ``task_mask`` (bool per task): fit the
    kept tasks alone (module docstring); the posteriors of the others are not meaningful.
    """
    if init_posteriors is None:
        init_posteriors = vote_shares(tasks, labels, jnp.ones(tasks.shape, jnp.float32), n_tasks, n_classes)
    confusions_of = one_coin_confusions if one_coin else full_confusions
    if task_mask is None:
        n_answers, counted = tasks.shape[0], lambda q: q  # noqa: E731
    else:
        task_mask = jnp.asarray(task_mask, bool)
        n_answers = task_mask[tasks].sum()
        counted = lambda q: jnp.where(task_mask[:, None], q, 0.0)  # noqa: E731 the other tasks' answers count 0

    def keep_going(state: DawidSkeneState):
        return ~state.stopped

    def trip(state: DawidSkeneState) -> DawidSkeneState:
        i, q, prior = state.trip, state.posteriors, state.prior
        counts = confusion_counts(counted(q), tasks, workers, labels, n_workers)
        conf = confusions_of(counts)
        log_conf = log_confusions(conf)
        loss = evidence_lower_bound(counts, log_conf, prior, q, n_answers, task_mask)
        stop = (i == n_iter) | ((i > 0) & (loss - state.last_loss < tol))
        next_q = e_step(log_conf, prior, tasks, workers, labels, n_tasks)
        history = jnp.where(i > 0, state.loss_history.at[i - 1].set(loss), state.loss_history)
        return DawidSkeneState(trip=i + 1, posteriors=jnp.where(stop, q, next_q),
                               prior=jnp.where(stop, prior, task_mean(next_q, task_mask)), confusions=conf,
                               last_loss=jnp.where(i > 0, loss, -jnp.inf), loss_history=history, stopped=stop)

    q0 = init_posteriors
    start = DawidSkeneState(trip=jnp.int32(0), posteriors=q0, prior=task_mean(q0, task_mask),
                            confusions=jnp.zeros((n_workers, n_classes, n_classes), q0.dtype),
                            last_loss=jnp.array(-jnp.inf, q0.dtype),
                            loss_history=jnp.full((max(n_iter, 1),), jnp.nan, q0.dtype), stopped=jnp.array(False))
    final = jax.lax.while_loop(keep_going, trip, start)
    return EMResult(final.posteriors, final.prior, final.confusions, final.trip - 1, final.loss_history[:n_iter])


def fit_dawid_skene(matrix: LabelMatrix, n_iter: int, tol: float, one_coin: bool = False,
                    task_mask=None) -> EMResult:
    """Dawid-Skene EM on a label matrix, started from its majority-vote shares (crowd-kit's start);
    with ``task_mask``, on the answers of the kept tasks alone."""
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    if task_mask is None:  # all tasks: the same compiled program as the per-type fits of this crowd
        task_mask = np.ones(matrix.n_tasks, bool)
    task_mask = np.asarray(task_mask, bool)
    if task_mask.shape != (matrix.n_tasks,) or not task_mask.any():
        raise ValueError(f"task_mask must be a bool array of length n_tasks={matrix.n_tasks} keeping at "
                         f"least one task, got shape {task_mask.shape} with {int(task_mask.sum())} kept")
    return dawid_skene_em(matrix.tasks, matrix.workers, matrix.labels, tol, n_tasks=matrix.n_tasks,
                          n_workers=matrix.n_workers, n_classes=matrix.n_classes, n_iter=int(n_iter),
                          one_coin=one_coin, task_mask=task_mask)


class DawidSkene(Aggregator):
    """Dawid-Skene EM with crowd-kit's interface and conventions (``DawidSkene(n_iter=100, tol=1e-5)``).

    After ``fit``: ``probas_``, ``labels_``, ``priors_`` (Series by label), ``errors_`` (frame indexed
    by (worker, observed label), one column per true label: e_w[k, c]), ``loss_history_``, ``n_iter_``.
    """

    _one_coin = False
    masks_tasks = True

    def __init__(self, n_iter: int = 100, tol: float = 1e-5):
        self.n_iter = n_iter
        self.tol = tol

    def _fit_matrix(self, matrix: LabelMatrix, task_mask=None) -> np.ndarray:
        result = fit_dawid_skene(matrix, self.n_iter, self.tol, one_coin=self._one_coin, task_mask=task_mask)
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

    def _fit_matrix(self, matrix: LabelMatrix, task_mask=None) -> np.ndarray:
        posteriors = super()._fit_matrix(matrix, task_mask)
        counted = posteriors if task_mask is None else np.where(np.asarray(task_mask)[:, None], posteriors, 0.0)
        skills = one_coin_skills(confusion_counts(jnp.asarray(counted, jnp.float32), matrix.tasks,
                                                  matrix.workers, matrix.labels, matrix.n_workers))
        self.skills_ = pd.Series(np.asarray(skills), index=matrix.worker_ids, name="skill")
        return posteriors
