"""Simulated crowds: Dawid-Skene answers with task types, sparse (each task answered by a few workers).

The two-type model [ours, papers.md §3 "Formal model"]: task t has a true label z_t (uniform over K
classes unless ``class_prior`` is given) and a type g_t ∈ {0, 1} with P(g_t = 0) = β; worker w answers
with the confusion matrix of the task's type, e^{(g)}_w[k, c] = P(answer k | z = c, type g). With one
accuracy p^{(g)}_w per worker and type (one-coin) and K = 2 this is X_wt = z_t w.p. p_w^{(g_t)}, −z_t
otherwise. Each task is answered by ``answers_per_task`` distinct workers drawn uniformly at random.

Variants: easy/hard (Kong et al. v1: p^E ~ U[0.75, 0.95] ≥ p^H ~ U[0.5, 0.65]), distinct skills (v2:
half the workers good on type 0 and near random on type 1, the other half the reverse), and the control
same skills [ours]: one accuracy per worker on both types, p ~ U[0.6, 0.8] (mean 0.70, near easy/hard's
mean over the two types, 0.71), so the types exist in name only and partitioning cannot help.
Type 0 is "easy" in the easy/hard variant; the first type in general.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from kd_theory.crowd.matrix import LabelMatrix


@dataclass(frozen=True)
class SimulatedCrowd:
    """Answers with the truth they were drawn from: ``matrix``, ``truth`` (label index per task),
    ``types`` (type per task) and ``skills`` (n_types, n_workers) accuracies (NaN for non one-coin)."""

    matrix: LabelMatrix
    truth: np.ndarray
    types: np.ndarray
    skills: np.ndarray

    def answers(self) -> pd.DataFrame:
        """The answers as a frame with columns task, worker, label (integer ids)."""
        return self.matrix.to_dataframe()

    def truth_series(self) -> pd.Series:
        return pd.Series(self.truth, index=self.matrix.task_ids, name="label")

    def types_series(self) -> pd.Series:
        return pd.Series(self.types, index=self.matrix.task_ids, name="type")


def one_coin_confusion_matrices(skills, n_classes: int) -> jax.Array:
    """e_w[k, c] = p_w if k = c else (1 − p_w)/(K − 1), for an array of accuracies p (any leading shape)."""
    p = jnp.asarray(skills)[..., None, None]
    return jnp.where(jnp.eye(n_classes, dtype=bool), p, (1.0 - p) / (n_classes - 1))


def easy_hard_skills(key, n_workers: int, easy=(0.75, 0.95), hard=(0.5, 0.65)) -> jax.Array:
    """(2, n_workers) accuracies: row 0 on easy tasks ~ U[easy], row 1 on hard tasks ~ U[hard]."""
    easy_key, hard_key = jax.random.split(key)
    return jnp.stack([jax.random.uniform(easy_key, (n_workers,), minval=easy[0], maxval=easy[1]),
                      jax.random.uniform(hard_key, (n_workers,), minval=hard[0], maxval=hard[1])])


def distinct_skill_skills(key, n_workers: int, good=(0.75, 0.95), poor=(0.45, 0.55)) -> jax.Array:
    """(2, n_workers) accuracies of specialists: workers w < n/2 good on type 0 and poor on type 1, the rest
    the reverse."""
    good_key, poor_key = jax.random.split(key)
    good_p = jax.random.uniform(good_key, (n_workers,), minval=good[0], maxval=good[1])
    poor_p = jax.random.uniform(poor_key, (n_workers,), minval=poor[0], maxval=poor[1])
    first_half = jnp.arange(n_workers) < n_workers // 2
    return jnp.stack([jnp.where(first_half, good_p, poor_p), jnp.where(first_half, poor_p, good_p)])


def same_skills(key, n_workers: int, skill=(0.6, 0.8)) -> jax.Array:
    """(2, n_workers) accuracies equal on both types, p_w ~ U[skill]: the control where types do not matter."""
    p = jax.random.uniform(key, (n_workers,), minval=skill[0], maxval=skill[1])
    return jnp.stack([p, p])


def random_worker_subsets(key, n_tasks: int, n_workers: int, answers_per_task: int) -> jax.Array:
    """(n_tasks, m) distinct workers per task, uniform without replacement (the first m of a random order)."""
    if not 1 <= answers_per_task <= n_workers:
        raise ValueError(f"answers_per_task must be in [1, n_workers={n_workers}], got {answers_per_task}")
    order = jnp.argsort(jax.random.uniform(key, (n_tasks, n_workers)), axis=1)
    return order[:, :answers_per_task].astype(jnp.int32)


def simulate_crowd(key, confusions, n_tasks: int, answers_per_task: int, type_probs, class_prior=None,
                   skills=None) -> SimulatedCrowd:
    """Answers of workers with confusions[g, w, k, c] on tasks of types g ~ type_probs, labels z ~ class_prior."""
    confusions = jnp.asarray(confusions)
    n_types, _, n_classes, _ = confusions.shape
    type_probs = jnp.asarray(type_probs, jnp.float32)
    if type_probs.shape != (n_types,):
        raise ValueError(f"type_probs must have one entry per type ({n_types}), got shape {type_probs.shape}")
    class_prior = jnp.full((n_classes,), 1.0 / n_classes) if class_prior is None else jnp.asarray(class_prior)
    type_key, label_key, worker_key, answer_key = jax.random.split(key, 4)
    types = jax.random.categorical(type_key, jnp.log(type_probs), shape=(n_tasks,))
    truth = jax.random.categorical(label_key, jnp.log(class_prior), shape=(n_tasks,))
    return draw_answers(worker_key, answer_key, confusions, types, truth, answers_per_task, skills)


def simulate_answers(key, confusions, types, truth, answers_per_task: int, skills=None) -> SimulatedCrowd:
    """Answers to tasks whose types g_t and true label indices z_t are given (e.g. read off a data set):
    each task is answered by ``answers_per_task`` distinct uniformly drawn workers, worker w answering
    k with probability confusions[g_t, w, k, z_t]."""
    confusions = jnp.asarray(confusions)
    n_types, n_workers, n_classes, _ = confusions.shape
    types, truth = np.asarray(types), np.asarray(truth)
    if types.ndim != 1 or types.shape != truth.shape:
        raise ValueError(f"types and truth must be 1-d arrays of one length, got shapes {types.shape} and "
                         f"{truth.shape}")
    if types.size and (types.min() < 0 or types.max() >= n_types):
        raise ValueError(f"types must be in 0..{n_types - 1} (one per confusion set), got {np.unique(types)[:10]}")
    if truth.size and (truth.min() < 0 or truth.max() >= n_classes):
        raise ValueError(f"truth must hold label indices 0..{n_classes - 1}, got {np.unique(truth)[:10]}")
    worker_key, answer_key = jax.random.split(key)
    return draw_answers(worker_key, answer_key, confusions, types, truth, answers_per_task, skills)


def draw_answers(worker_key, answer_key, confusions, types, truth, answers_per_task: int,
                 skills=None) -> SimulatedCrowd:
    """The crowd of :func:`simulate_answers` from its two keys (who answers; what they answer)."""
    confusions = jnp.asarray(confusions)
    n_types, n_workers, n_classes, _ = confusions.shape
    types, truth = np.asarray(types), np.asarray(truth)
    n_tasks = int(types.size)
    if not 1 <= answers_per_task <= n_workers:
        raise ValueError(f"answers_per_task must be in [1, n_workers={n_workers}], got {answers_per_task}")
    workers, labels = _draw_workers_and_labels(worker_key, answer_key, confusions, types, truth, answers_per_task)
    tasks = np.repeat(np.arange(n_tasks), answers_per_task)
    matrix = LabelMatrix.from_arrays(np.asarray(tasks), np.asarray(workers).ravel(), np.asarray(labels).ravel(),
                                     n_tasks=n_tasks, n_workers=n_workers, n_classes=n_classes)
    skills = np.full((n_types, n_workers), np.nan) if skills is None else np.asarray(skills)
    return SimulatedCrowd(matrix, truth.astype(np.int64), types.astype(np.int64), skills)


@partial(jax.jit, static_argnames=("answers_per_task",))
def _draw_workers_and_labels(worker_key, answer_key, confusions, types, truth, answers_per_task: int):
    """(workers (n_tasks, m), labels (n_tasks, m)): who answers each task and what, as one compiled program
    (one per crowd size instead of one per operation)."""
    n_tasks, n_workers = types.shape[0], confusions.shape[1]
    workers = random_worker_subsets(worker_key, n_tasks, n_workers, answers_per_task)
    answer_probs = confusions[types[:, None], workers, :, truth[:, None]]  # (n_tasks, m, K): P(k | z, type)
    return workers, jax.random.categorical(answer_key, jnp.log(answer_probs), axis=-1)


def exact_share_types(key, n_tasks: int, beta: float) -> np.ndarray:
    """Types with exactly round(β·n_tasks) tasks of type 0, in a uniformly random order (the share of type 0 is
    fixed instead of Binomial: per-type crowds then have the same size in every draw)."""
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    n_first = int(round(beta * n_tasks))
    return np.asarray(jax.random.permutation(key, np.r_[np.zeros(n_first, np.int64), np.ones(n_tasks - n_first,
                                                                                             np.int64)]))


VARIANTS = ("easy_hard", "distinct_skills", "same_skills")


def exact_share_two_type_crowd(key, n_tasks: int, n_workers: int, answers_per_task: int, beta: float = 0.5,
                               variant: str = "easy_hard") -> SimulatedCrowd:
    """The two-type model with one-coin workers (``variant`` as in :func:`two_type_skills`), exactly
    round(β d) tasks of type 0 in random order (:func:`exact_share_types`) and uniform binary labels.

    The fixed share keeps per-type crowds the same size in every draw. The whole draw is one compiled
    program per crowd size; it equals skills = two_type_skills(k₁), types = exact_share_types(k₂),
    truth ~ Bernoulli(1/2) with k₃, answers = simulate_answers(k₄, …) for (k₁, k₂, k₃, k₄) = split(key, 4).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if not 1 <= answers_per_task <= n_workers:
        raise ValueError(f"answers_per_task must be in [1, n_workers={n_workers}], got {answers_per_task}")
    # the skills are drawn outside the compiled program, so every variant shares it
    skills = two_type_skills(jax.random.split(key, 4)[0], n_workers, variant)
    types, truth, workers, labels = _exact_share_draw(key, skills, n_tasks, answers_per_task,
                                                      int(round(beta * n_tasks)))
    matrix = LabelMatrix.from_arrays(np.repeat(np.arange(n_tasks), answers_per_task), np.asarray(workers).ravel(),
                                     np.asarray(labels).ravel(), n_tasks=n_tasks, n_workers=n_workers, n_classes=2)
    return SimulatedCrowd(matrix, np.asarray(truth).astype(np.int64), np.asarray(types).astype(np.int64),
                          np.asarray(skills))


@partial(jax.jit, static_argnames=("n_tasks", "answers_per_task", "n_first"))
def _exact_share_draw(key, skills, n_tasks: int, answers_per_task: int, n_first: int):
    _, type_key, label_key, answer_key = jax.random.split(key, 4)
    types = jax.random.permutation(type_key, (jnp.arange(n_tasks) >= n_first).astype(jnp.int32))
    truth = jax.random.bernoulli(label_key, 0.5, (n_tasks,)).astype(jnp.int32)
    worker_key, answer_key = jax.random.split(answer_key)
    workers, labels = _draw_workers_and_labels(worker_key, answer_key, one_coin_confusion_matrices(skills, 2), types,
                                               truth, answers_per_task)
    return types, truth, workers, labels


def two_type_skills(key, n_workers: int, variant: str) -> jax.Array:
    """(2, n_workers) one-coin accuracies of the two-type model: ``variant`` "easy_hard" (v1,
    :func:`easy_hard_skills`), "distinct_skills" (v2, :func:`distinct_skill_skills`) or the control
    "same_skills" (:func:`same_skills`)."""
    makers = {"easy_hard": easy_hard_skills, "distinct_skills": distinct_skill_skills, "same_skills": same_skills}
    if variant not in makers:
        raise ValueError(f"variant must be one of {sorted(makers)}, got {variant!r}")
    return makers[variant](key, n_workers)


def simulate_two_type_crowd(key, n_tasks: int, n_workers: int, answers_per_task: int, beta: float = 0.5,
                            variant: str = "easy_hard", n_classes: int = 2) -> SimulatedCrowd:
    """The two-type model with one-coin workers: ``variant`` "easy_hard" (v1), "distinct_skills" (v2) or the
    control "same_skills"."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    skill_key, crowd_key = jax.random.split(key)
    skills = two_type_skills(skill_key, n_workers, variant)
    return simulate_crowd(crowd_key, one_coin_confusion_matrices(skills, n_classes), n_tasks, answers_per_task,
                          jnp.array([beta, 1.0 - beta]), skills=skills)
