"""GLAD (Whitehill et al. 2009): worker ability α_w, task easiness exp(β_t), one-coin answers.

P(l_a = c | z_t = c) = σ(α_w e^{β_t}) =: a_a, and each wrong label has (1 − a_a)/(K − 1), with the answers
a of task t and worker w. With crowd-kit's conventions: a uniform, fixed class prior π; α ~ N(1, 1) and
β ~ N(1, 1) priors; start α = β = 1.

* E-step:  log q[t, c] = log π_c + Σ_{a ∈ t} ( [l_a = c] log σ(α e^β) + [l_a ≠ c] (log σ(−α e^β) − log(K−1)) ).
* M-step:  maximise Q(α, β) = Σ_a ( ρ_a log σ(α e^β) + (1 − ρ_a)(log σ(−α e^β) − log(K−1)) )
                              − ½ Σ_w (α_w − 1)² − ½ Σ_t (β_t − 1)²  + const,
           ρ_a = q[t_a, l_a] (the posterior that answer a is right), by ``m_step_max_iter`` L-BFGS steps
           (crowd-kit uses scipy's conjugate gradient; the optimiser differs, the objective is the same).
* Stopping: after the first iteration whose Q / (n_answers K) rose by less than ``tol`` (crowd-kit's
  normalisation: its table has one row per answer and class). As in crowd-kit, an iteration is E then M,
  and the posteriors returned are those of the last E-step.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from kd_theory.crowd.base import Aggregator
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.segments import sum_over_task_answers

_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


class GLADParams(NamedTuple):
    """The parameters the M-step optimises: worker abilities and task log-easinesses."""
    alpha: jax.Array  # (n_workers,)  α_w
    beta: jax.Array   # (n_tasks,)    β_t (the easiness is e^{β_t})


class GLADState(NamedTuple):
    """The ``lax.while_loop`` carry of :func:`glad_em`; one iteration maps it as follows.

    * E-step:  q[t, c] = softmax_c( log π_c + Σ_{a ∈ t} ([l_a = c] log a_a
                                                        + [l_a ≠ c] log((1 − a_a)/(K−1))) ),
               a_a = σ(α_{w_a} e^{β_{t_a}}) with the current (α, β);
    * M-step:  ρ_a = q[t_a, l_a];  (α, β) ← ``m_step_max_iter`` L-BFGS steps on −Q(α, β; ρ) from (α, β);
    * objective = Q(α, β; ρ) / (n_answers K) at the new (α, β);
    * converged = objective − previous objective < tol; the loop runs while iteration < n_iter and not converged.
    """
    iteration: jax.Array   # ()            EM iterations done
    params: GLADParams     # (α, β) after the last M-step (start α = β = 1)
    posteriors: jax.Array  # (n_tasks, K)  q of the last E-step
    objective: jax.Array   # ()            Q / (n_answers K) after the last M-step
    converged: jax.Array   # ()            bool: the last iteration rose by less than tol


class GLADResult(NamedTuple):
    """What :func:`glad_em` returns."""
    posteriors: jax.Array    # (n_tasks, K)   q[t, c] of the last E-step
    alpha: jax.Array         # (n_workers,)   α_w
    beta: jax.Array          # (n_tasks,)     β_t
    n_iterations: jax.Array  # ()             EM iterations run


def glad_answer_log_probs(alpha, beta, tasks, workers, n_classes: int) -> tuple[jax.Array, jax.Array]:
    """(log P(answer right), log P(one given wrong label)) per answer: log σ(α e^β), log σ(−α e^β) − log(K−1)."""
    x = alpha[workers] * jnp.exp(beta[tasks])
    return jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x) - jnp.log(max(n_classes - 1, 1))


def glad_e_step(alpha, beta, log_prior, tasks, workers, labels, n_tasks: int) -> jax.Array:
    """q[t, c] = softmax_c( log π_c + Σ_{a ∈ t} ([l_a = c] log a_a + [l_a ≠ c] log((1 − a_a)/(K−1))) )."""
    n_classes = log_prior.shape[0]
    log_right, log_wrong = glad_answer_log_probs(alpha, beta, tasks, workers, n_classes)
    is_label = jax.nn.one_hot(labels, n_classes, dtype=log_right.dtype)
    per_answer = is_label * log_right[:, None] + (1.0 - is_label) * log_wrong[:, None]
    return jax.nn.softmax(log_prior + sum_over_task_answers(per_answer, tasks, n_tasks), axis=1)


def glad_objective(alpha, beta, right_prob, tasks, workers, n_classes: int, alpha_mean, beta_mean) -> jax.Array:
    """Q(α, β) = Σ_a (ρ_a log a_a + (1 − ρ_a) log((1 − a_a)/(K−1))) + Σ log N(α; μ_α, 1) + Σ log N(β; μ_β, 1)."""
    log_right, log_wrong = glad_answer_log_probs(alpha, beta, tasks, workers, n_classes)
    expected = jnp.sum(right_prob * log_right + (1.0 - right_prob) * log_wrong)
    log_normal = lambda x, m: -0.5 * jnp.sum((x - m) ** 2) - x.shape[0] * _HALF_LOG_2PI  # noqa: E731
    return expected + log_normal(alpha, alpha_mean) + log_normal(beta, beta_mean)


@partial(jax.jit, static_argnames=("n_tasks", "n_workers", "n_classes", "n_iter", "m_step_max_iter"))
def glad_em(tasks, workers, labels, tol, *, n_tasks: int, n_workers: int, n_classes: int, n_iter: int,
            m_step_max_iter: int) -> GLADResult:
    """GLAD EM (see the module docstring and :class:`GLADState` for every formula)."""
    log_prior = jnp.full((n_classes,), -jnp.log(n_classes))
    alpha_mean, beta_mean = jnp.ones(n_workers), jnp.ones(n_tasks)
    scale = tasks.shape[0] * n_classes
    optimizer = optax.lbfgs()

    def neg_q(params: GLADParams, right_prob):
        return -glad_objective(params.alpha, params.beta, right_prob, tasks, workers, n_classes, alpha_mean,
                               beta_mean)

    def m_step(params: GLADParams, right_prob) -> GLADParams:
        loss = partial(neg_q, right_prob=right_prob)
        value_and_grad = optax.value_and_grad_from_state(loss)

        def step(carry, _):
            p, opt_state = carry
            value, grad = value_and_grad(p, state=opt_state)
            updates, opt_state = optimizer.update(grad, opt_state, p, value=value, grad=grad, value_fn=loss)
            return (optax.apply_updates(p, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=m_step_max_iter)
        return params

    def iteration(state: GLADState) -> GLADState:
        q = glad_e_step(state.params.alpha, state.params.beta, log_prior, tasks, workers, labels, n_tasks)
        right_prob = q[tasks, labels]
        params = m_step(state.params, right_prob)
        objective = -neg_q(params, right_prob) / scale
        return GLADState(iteration=state.iteration + 1, params=params, posteriors=q, objective=objective,
                         converged=objective - state.objective < tol)

    def keep_going(state: GLADState):
        return (state.iteration < n_iter) & ~state.converged

    params = GLADParams(alpha=jnp.ones(n_workers), beta=jnp.ones(n_tasks))
    q0 = glad_e_step(params.alpha, params.beta, log_prior, tasks, workers, labels, n_tasks)
    start = GLADState(iteration=jnp.int32(0), params=params, posteriors=q0,
                      objective=-neg_q(params, q0[tasks, labels]), converged=jnp.array(False))
    final = jax.lax.while_loop(keep_going, iteration, start)
    return GLADResult(final.posteriors, final.params.alpha, final.params.beta, final.iteration)


class GLAD(Aggregator):
    """GLAD with crowd-kit's interface: ``GLAD(n_iter=100, tol=1e-5, m_step_max_iter=25)``.

    After ``fit``: ``probas_``, ``labels_``, ``alphas_`` (Series by worker), ``betas_`` (Series by task),
    ``n_iter_``.
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, m_step_max_iter: int = 25):
        if n_iter < 0 or m_step_max_iter < 1:
            raise ValueError(f"need n_iter >= 0 and m_step_max_iter >= 1, got {n_iter}, {m_step_max_iter}")
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_max_iter = m_step_max_iter

    def _fit_matrix(self, matrix: LabelMatrix) -> np.ndarray:
        result = glad_em(matrix.tasks, matrix.workers, matrix.labels, self.tol, n_tasks=matrix.n_tasks,
                         n_workers=matrix.n_workers, n_classes=matrix.n_classes, n_iter=self.n_iter,
                         m_step_max_iter=self.m_step_max_iter)
        self.alphas_ = pd.Series(np.asarray(result.alpha), index=matrix.worker_ids, name="alpha")
        self.betas_ = pd.Series(np.asarray(result.beta), index=matrix.task_ids, name="beta")
        self.n_iter_ = int(result.n_iterations)
        return np.asarray(result.posteriors)
