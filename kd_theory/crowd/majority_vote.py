"""Majority vote and Wawa (worker agreement with aggregate).

Majority vote: shares[t, k] = #{a ∈ t : l_a = k} / #{a ∈ t}; label = argmax_k shares[t, k].

**Tie rule.** A tie (two labels with the same top count) goes to the lowest label by default (index 0 of
the sorted label values). ``MajorityVote(tie_rule="random", seed=...)`` breaks ties uniformly at random
instead, and :func:`expected_accuracy_random_ties` gives the accuracy that rule has on average. On RTE
(10 answers per binary task, 65 of 800 tasks tied 5-5) the rule moves accuracy by 2.2 points: 0.9187 with
ties to the lowest label vs 0.8969 expected with random ties, the figure Zhang et al. publish (10.31 %
error); measured by ``python -m kd_theory.crowd.evaluation``.

crowd-kit 1.4.2's majority vote follows neither rule. It builds its vote frame with
``data[["task", "label"]].value_counts().unstack("label")``; pandas (3.1) counts with
``groupby(sort=False)``, so the columns come in the order in which the labels *first appear in the
answers* — not sorted, and not by frequency — and ``idxmax`` gives a tie to the first of those columns.
``tie_rule="first_seen"`` is that rule: it reproduces crowd-kit's labels on all six real crowds of
shared/data/crowd. It depends on the row order of the file: on RTE the first answer says 1, so every tie
goes to 1 (accuracy 0.875, 4.4 points below ours); on possent the first answer says 0 although 1 is the
more frequent label; on relevance (5,168 tied tasks of 20,232) the column order is 0, 2, 1, 3. Vote shares
agree exactly with crowd-kit's; labels agree on every untied task.

Wawa: skill_w = fraction of worker w's answers equal to the majority-vote label; then a vote weighted by
skill: shares[t, k] ∝ Σ_{a ∈ t, l_a = k} skill_{w_a} (crowd-kit's definition).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.base import Aggregator
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import label_one_hot_votes

TIE_RULES = ("lowest", "first_seen", "random")


def normalize_rows(scores: jax.Array) -> jax.Array:
    """scores / Σ_k scores; a row of zeros becomes uniform (no evidence either way)."""
    total = scores.sum(axis=1, keepdims=True)
    return jnp.where(total > 0, scores / jnp.where(total > 0, total, 1.0), 1.0 / scores.shape[1])


@partial(jax.jit, static_argnames=("n_tasks", "n_classes"))
def vote_shares(tasks, labels, weights, n_tasks: int, n_classes: int) -> jax.Array:
    """shares[t, k] = Σ_{a ∈ t, l_a = k} weights[a] / Σ_{a ∈ t} weights[a]."""
    return normalize_rows(label_one_hot_votes(tasks, labels, weights, n_tasks, n_classes))


def majority_vote_shares(matrix: LabelMatrix) -> jax.Array:
    """Unweighted vote shares of a label matrix (the starting point of Dawid-Skene EM too)."""
    return vote_shares(matrix.tasks, matrix.labels, jnp.ones(matrix.n_answers), matrix.n_tasks, matrix.n_classes)


def argmax_random_ties(key: jax.Array, scores: jax.Array) -> jax.Array:
    """argmax_k scores[t, k] with ties broken uniformly at random among the tied labels."""
    is_top = scores == scores.max(axis=1, keepdims=True)
    noise = jax.random.uniform(key, scores.shape)
    return jnp.argmax(jnp.where(is_top, noise, -1.0), axis=1)


def argmax_preferring(scores, preference) -> np.ndarray:
    """argmax_k scores[t, k]; among tied labels, the one with the smallest preference[k]."""
    scores = np.asarray(scores)
    is_top = scores == scores.max(axis=1, keepdims=True)
    return np.argmin(np.where(is_top, np.asarray(preference, dtype=float)[None, :], np.inf), axis=1)


def first_seen_ranks(label_values: pd.Index, labels: pd.Series) -> np.ndarray:
    """rank[k] = position of label_values[k] among the labels in order of first appearance in ``labels``."""
    return pd.Index(pd.unique(labels)).get_indexer(label_values)


def expected_accuracy_random_ties(scores, truth) -> float:
    """E[accuracy] of argmax with random ties: mean_t 1[truth_t ∈ top_t] / |top_t|, top_t the tied maxima."""
    scores, truth = np.asarray(scores), np.asarray(truth)
    is_top = scores == scores.max(axis=1, keepdims=True)
    return float(np.mean(is_top[np.arange(len(truth)), truth] / is_top.sum(axis=1)))


@partial(jax.jit, static_argnames=("n_workers",))
def worker_agreement_with(labels_per_task, tasks, workers, labels, n_workers: int) -> jax.Array:
    """skill_w = #{a : w_a = w, l_a = ẑ_{t_a}} / #{a : w_a = w}, ẑ = labels_per_task."""
    agrees = (labels == labels_per_task[tasks]).astype(jnp.float32)
    hits = jax.ops.segment_sum(agrees, workers, n_workers)
    counts = jax.ops.segment_sum(jnp.ones_like(agrees), workers, n_workers)
    return hits / jnp.maximum(counts, 1.0)


class MajorityVote(Aggregator):
    """Majority vote; ``probas_`` are the vote shares. ``tie_rule`` (module docstring): "lowest" (default),
    "first_seen" (crowd-kit 1.4.2's labels) or "random" (uniform among the tied labels, drawn with ``seed``)."""

    def __init__(self, tie_rule: str = "lowest", seed: int = 0):
        if tie_rule not in TIE_RULES:
            raise ValueError(f"tie_rule must be one of {TIE_RULES}, got {tie_rule!r}")
        self.tie_rule = tie_rule
        self.seed = seed

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        return np.asarray(majority_vote_shares(matrix))

    def _label_indices(self, posteriors: np.ndarray, matrix: LabelMatrix, data: pd.DataFrame) -> np.ndarray:
        if self.tie_rule == "random":
            return np.asarray(argmax_random_ties(jax.random.PRNGKey(self.seed), jnp.asarray(posteriors)))
        if self.tie_rule == "first_seen":
            return argmax_preferring(posteriors, first_seen_ranks(matrix.label_values, data["label"]))
        return super()._label_indices(posteriors, matrix, data)


class Wawa(Aggregator):
    """Worker Agreement With Aggregate: a vote weighted by each worker's agreement with majority vote.

    ``skills_`` (Series by worker) is set by ``fit``. Ties of the weighted vote go to the lowest label, as in
    crowd-kit (its weighted vote groups with sorted labels). The majority vote that the skills are measured
    against breaks its ties to the lowest label too, where crowd-kit's breaks them to the label seen first
    (module docstring): on crowds with majority-vote ties the skills, and a few labels, differ from
    crowd-kit's (RTE: skills up to 0.2 apart, 98.75 % of labels equal).
    """

    skills_ = None

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        majority = jnp.argmax(majority_vote_shares(matrix), axis=1)
        skills = worker_agreement_with(majority, matrix.tasks, matrix.workers, matrix.labels, matrix.n_workers)
        self.skills_ = pd.Series(np.asarray(skills), index=matrix.worker_ids, name="skill")
        return np.asarray(vote_shares(matrix.tasks, matrix.labels, skills[matrix.workers], matrix.n_tasks,
                                      matrix.n_classes))
