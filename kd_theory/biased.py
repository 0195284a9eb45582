"""Biased soft labels (Yuan et al., NeurIPS 2023; papers.md §2): indicators, generators, the SBT loss.

**Indicators** (the paper's idea; the estimators are our reading, papers.md tags them [ours]). Let
top_k(d) be the k classes with the largest entries of a soft label d. For soft labels d_i, true labels y_i:

    unreliability  Δ̂ = mean_i 1[y_i ∉ top_k(d_i)]
    ambiguity      γ̂ = max_{c, j ≠ c} mean_{i: y_i = c} 1[j ∈ top_k(d_i)]

The paper's sufficient condition for learning is Δ + γ < 1; for k = 1, 1 − Δ̂ is the top-1 accuracy.
Both rest on the (C, C) matrix of top-k rates R[c, j] = mean_{i: y_i = c} 1[j ∈ top_k(d_i)]
(:func:`class_breakdown`): Δ̂ = 1 − Σ_c (n_c/n)·R[c, c] and γ̂ = max of R off the diagonal.

- Ties: top_k is ``argsort(-d, kind="stable")[:k]``, so among equal entries the lower class index wins.
  This is deterministic; it matters only for soft labels with ties at the k-th place (label smoothing or
  one-hot labels with k ≥ 2), where the top-k *set* is not defined by the values alone.
- A class with no examples has no rates (a NaN row) and is left out of the max in γ̂.

**Generators** of biased soft labels, pure functions of labels (or teacher logits), a knob and a seed,
each with the (Δ, γ) it produces in expectation (``*_expected_rates`` give the expected R):
:func:`label_smoothing`, :func:`gaussian_noise_labels`, :func:`partial_labels`, :func:`temperature_scaled`.
They use NumPy's generator, so a set of soft labels does not change with the JAX version.

**Skillful-but-bad teacher loss** :func:`sbt_loss` (JAX; papers.md: loss forms ours).
"""
from __future__ import annotations

import math
import operator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

ROW_SUM_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------

def _first_row(bad_rows):
    return int(np.flatnonzero(bad_rows)[0])


def check_soft_labels(soft_labels, name: str = "soft_labels") -> np.ndarray:
    """``soft_labels`` as a float64 (n, C) array after checking every row is a distribution: finite,
    entries ≥ 0, summing to 1 within 1e-5, with n ≥ 1 and C ≥ 2. Errors name the first offending row."""
    d = np.asarray(soft_labels, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, classes) with n ≥ 1 and classes ≥ 2, got {d.shape}")
    finite = np.isfinite(d).all(axis=1)
    if not finite.all():
        row = _first_row(~finite)
        raise ValueError(f"{name} row {row} has a NaN or infinite entry: {d[row].tolist()}")
    negative = (d < 0).any(axis=1)
    if negative.any():
        row = _first_row(negative)
        raise ValueError(f"{name} row {row} has a negative entry ({d[row].min()!r}); "
                         "soft labels must be probability distributions")
    sums = d.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = _first_row(off)
        raise ValueError(f"{name} row {row} sums to {sums[row]!r}; rows must sum to 1 within {ROW_SUM_TOLERANCE:g}")
    return d


def check_labels(labels, num_classes: int, n: int | None = None, name: str = "labels") -> np.ndarray:
    """``labels`` as an int64 (n,) array of classes in 0..num_classes−1; errors name the first bad row."""
    y = np.asarray(labels)
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        expected = f"({n},), one per soft-label row" if n is not None else "(n,)"
        raise ValueError(f"{name} has shape {y.shape}; expected {expected}")
    if y.shape[0] < 1:
        raise ValueError(f"{name} is empty; at least one example is needed")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {y.dtype}")
    outside = (y < 0) | (y >= num_classes)
    if outside.any():
        row = _first_row(outside)
        raise ValueError(f"{name} row {row} is {int(y[row])}, outside the classes 0..{num_classes - 1}")
    return y.astype(np.int64)


def check_k(k, num_classes: int) -> int:
    """k as an int in 1..num_classes − 1 (k = C would put every label in the top-k)."""
    try:
        k = operator.index(k)
    except TypeError:
        raise ValueError(f"k={k!r} must be an integer in 1..{num_classes - 1}") from None
    if not 1 <= k <= num_classes - 1:
        raise ValueError(f"k={k} is outside 1..{num_classes - 1} (1..classes − 1)")
    return k


def _check_num_classes(num_classes, minimum=2):
    if operator.index(num_classes) < minimum:
        raise ValueError(f"num_classes={num_classes} must be ≥ {minimum}")
    return operator.index(num_classes)


def _check_sigma(sigma):
    sigma = float(sigma)
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma={sigma!r} must be a positive finite noise scale")
    return sigma


def _check_rate(name, value, low=0.0, high=1.0):
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is outside [{low:g}, {high:g}]")
    return value


# ---------------------------------------------------------------------------------------------
# Indicators
# ---------------------------------------------------------------------------------------------

def top_k_mask(soft_labels, k: int) -> np.ndarray:
    """(n, C) bool: entry (i, j) is 1[j ∈ top_k(d_i)]; ties go to the lower class index (stable sort)."""
    d = np.asarray(soft_labels)
    order = np.argsort(-d, axis=1, kind="stable")[:, :k]
    mask = np.zeros(d.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


class ClassBreakdown(NamedTuple):
    """Per-class top-k statistics of a set of soft labels (C classes).

    counts[c]        n_c, the examples of true class c
    hits[c, j]       #{i: y_i = c, j ∈ top_k(d_i)}
    rates[c, j]      hits[c, j]/n_c (NaN row if n_c = 0)
    unreliability[c] Δ_c = 1 − rates[c, c]: how often class c's true label is outside the top-k
    ambiguity[c]     γ_c = max_{j ≠ c} rates[c, j]: the worst wrong label of class c
    """
    counts: np.ndarray
    hits: np.ndarray
    rates: np.ndarray
    unreliability: np.ndarray
    ambiguity: np.ndarray


def class_breakdown(soft_labels, labels, k: int = 1) -> ClassBreakdown:
    """The per-class top-k rates R[c, j] = mean_{i: y_i = c} 1[j ∈ top_k(d_i)] and their Δ_c, γ_c."""
    d = check_soft_labels(soft_labels)
    n, num_classes = d.shape
    y = check_labels(labels, num_classes, n)
    k = check_k(k, num_classes)
    hits = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(hits, y, top_k_mask(d, k).astype(np.int64))
    counts = np.bincount(y, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = hits / counts[:, None]
    wrong = np.where(np.eye(num_classes, dtype=bool), -np.inf, rates)
    ambiguity = np.where(counts > 0, wrong.max(axis=1), np.nan)
    return ClassBreakdown(counts, hits, rates, 1.0 - np.diagonal(rates), ambiguity)


def indicators(soft_labels, labels, k: int = 1) -> tuple[float, float]:
    """(unreliability Δ̂, ambiguity γ̂) of soft labels (n, C) against integer labels (n,):

        Δ̂ = mean_i 1[y_i ∉ top_k(d_i)],    γ̂ = max_{c, j ≠ c} mean_{i: y_i = c} 1[j ∈ top_k(d_i)],

    our reading of Yuan et al. (papers.md §2). Ties in top_k go to the lower class index; classes with
    no examples are left out of the max. Inputs are checked (distributions, label range, 1 ≤ k ≤ C − 1).
    """
    b = class_breakdown(soft_labels, labels, k)
    unreliability = 1.0 - np.trace(b.hits) / b.counts.sum()
    return float(unreliability), float(np.nanmax(b.ambiguity))


def indicators_from_rates(rates, class_probs=None) -> tuple[float, float]:
    """(Δ, γ) of a (C, C) matrix of top-k rates R[c, j] (observed or expected), with class frequencies
    π (uniform by default): Δ = 1 − Σ_c π_c R[c, c],  γ = max_{c, j ≠ c} R[c, j] over classes with π_c > 0."""
    rates = np.asarray(rates, dtype=np.float64)
    num_classes = rates.shape[0]
    pi = np.full(num_classes, 1.0 / num_classes) if class_probs is None else np.asarray(class_probs, float)
    present = pi > 0
    off_diagonal = np.where(np.eye(num_classes, dtype=bool), -np.inf, rates)
    return float(1.0 - pi[present] @ np.diagonal(rates)[present]), float(off_diagonal[present].max())


# ---------------------------------------------------------------------------------------------
# Generators of biased soft labels
# ---------------------------------------------------------------------------------------------

def one_hot(labels, num_classes: int) -> np.ndarray:
    """e_{y_i} as an (n, C) float64 array."""
    return np.eye(num_classes)[labels]


def label_smoothing(labels, num_classes: int, epsilon: float) -> np.ndarray:
    """d_i = (1 − ε)·e_{y_i} + ε/C, ε ∈ [0, 1].

    Expected indicators at k = 1: (Δ, γ) = (0, 0) for every ε < 1 (the true label keeps the largest
    entry): smoothing is biased but not unreliable. For k ≥ 2 the C − 1 wrong entries tie, so the
    top-k set is decided by the tie rule (lower index wins) and γ̂ = 1; use k = 1 with this generator.
    """
    num_classes = _check_num_classes(num_classes)
    epsilon = _check_rate("epsilon", epsilon)
    y = check_labels(labels, num_classes)
    return (1.0 - epsilon) * one_hot(y, num_classes) + epsilon / num_classes


def gaussian_noise_labels(labels, num_classes: int, sigma: float, seed: int) -> np.ndarray:
    """Additive Gaussian noise on one-hot labels, mapped back to the simplex by an order-preserving shift:

        d̃_i = e_{y_i} + σ·ξ_i,  ξ_i ~ N(0, I_C),    d_i = (d̃_i − min_j d̃_ij) / Σ_j (d̃_ij − min_l d̃_il).

    The shift-and-rescale (rather than clipping negatives to 0) keeps the order of the entries, so
    the indicators are those of d̃ and have a closed form (:func:`gaussian_noise_expected_rates`); the
    smallest entry becomes exactly 0. σ > 0 is the knob: Δ grows from 0 (σ → 0) towards 1 − k/C.
    """
    num_classes = _check_num_classes(num_classes)
    sigma = _check_sigma(sigma)
    y = check_labels(labels, num_classes)
    noisy = one_hot(y, num_classes) + sigma * np.random.default_rng(seed).standard_normal((y.shape[0], num_classes))
    shifted = noisy - noisy.min(axis=1, keepdims=True)
    return shifted / shifted.sum(axis=1, keepdims=True)


def _normal_cdf(x):
    """Φ(x) = erfc(−x/√2)/2, elementwise in float64."""
    return 0.5 * np.frompyfunc(math.erfc, 1, 1)(-np.asarray(x) / math.sqrt(2.0)).astype(np.float64)


def gaussian_noise_expected_rates(sigma: float, num_classes: int, k: int, grid_points: int = 20001):
    """Expected top-k rates of :func:`gaussian_noise_labels` (the same for every true class):

        Δ_k = P(y ∉ top_k) = ∫ φ(t) · P(Bin(C − 1, 1 − Φ(t + 1/σ)) ≥ k) dt,
        R[c, c] = 1 − Δ_k,   R[c, j ≠ c] = γ_k = (k − 1 + Δ_k)/(C − 1).

    Given ξ_y = t, a wrong label j beats the true one iff ξ_j > t + 1/σ, independently over the C − 1
    wrong labels; the true label is out of the top-k iff at least k of them do. The top-k holds
    k − (1 − Δ_k) wrong labels on average, spread evenly over the C − 1 by symmetry. The integral is a
    trapezoid rule on t ∈ [−12, 12] (error far below any sampling error).
    """
    num_classes = _check_num_classes(num_classes)
    sigma, k = _check_sigma(sigma), check_k(k, num_classes)
    t = np.linspace(-12.0, 12.0, grid_points)
    beat = 1.0 - _normal_cdf(t + 1.0 / sigma)
    wrong = num_classes - 1
    tail = sum(math.comb(wrong, j) * beat ** j * (1.0 - beat) ** (wrong - j) for j in range(k, wrong + 1))
    density = np.exp(-0.5 * t ** 2) / math.sqrt(2.0 * math.pi)
    unreliability = float(np.trapezoid(density * tail, t))
    off = (k - 1 + unreliability) / wrong
    return np.where(np.eye(num_classes, dtype=bool), 1.0 - unreliability, off)


def default_distractors(num_classes: int) -> np.ndarray:
    """π(c) = (c + 1) mod C: the wrong label paired with class c in :func:`partial_labels`."""
    return (np.arange(num_classes) + 1) % num_classes


def _check_distractors(distractors, num_classes):
    pi = default_distractors(num_classes) if distractors is None else np.asarray(distractors)
    pi = check_labels(pi, num_classes, num_classes, name="distractors")
    same = pi == np.arange(num_classes)
    if same.any():
        raise ValueError(f"distractors row {_first_row(same)} pairs class {_first_row(same)} with itself")
    return pi


def _check_candidate_size(candidate_size, num_classes):
    s = operator.index(candidate_size)
    if not 2 <= s <= num_classes - 2:
        raise ValueError(f"candidate_size={s} is outside 2..{num_classes - 2} (2..classes − 2)")
    return s


def partial_labels(labels, num_classes: int, candidate_size: int, false_negative_rate: float,
                   distractor_rate: float, seed: int, distractors=None) -> np.ndarray:
    """Partial-label soft labels: d_i uniform (1/s each) over a candidate set S_i of exactly s labels,

        y_i ∈ S_i with probability 1 − q                       (q = false_negative_rate),
        π(y_i) ∈ S_i with probability r                         (r = distractor_rate, π = distractors),
        the rest of S_i uniform without replacement from the C − 2 labels ∉ {y_i, π(y_i)},

    independently per example. π(c) ≠ c is the wrong label that co-occurs with class c (default
    (c + 1) mod C). s ∈ 2..C − 2 so that the set can always be filled (both or neither of y, π(y) in it).

    Expected indicators at k = s (where top_k(d_i) = S_i exactly, ties included):
        Δ = q,   γ = max(r, (s − 1 + q − r)/(C − 2))   (:func:`partial_label_expected_rates`):
    q moves Δ, r moves γ once it exceeds the filler rate.
    """
    num_classes = _check_num_classes(num_classes, minimum=4)
    s = _check_candidate_size(candidate_size, num_classes)
    q = _check_rate("false_negative_rate", false_negative_rate)
    r = _check_rate("distractor_rate", distractor_rate)
    pi = _check_distractors(distractors, num_classes)
    y = check_labels(labels, num_classes)
    n = y.shape[0]
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    keep_true = rng.random(n) >= q
    with_distractor = rng.random(n) < r
    fill = s - keep_true - with_distractor
    # Filler: the `fill` labels with the smallest uniform keys among those ∉ {y, π(y)}.
    keys = rng.random((n, num_classes))
    keys[rows, y] = np.inf
    keys[rows, pi[y]] = np.inf
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    member = rank < fill[:, None]
    member[rows, y] = keep_true
    member[rows, pi[y]] = with_distractor
    return member / float(s)


def partial_label_expected_rates(num_classes: int, candidate_size: int, false_negative_rate: float,
                                 distractor_rate: float, distractors=None) -> np.ndarray:
    """Expected top-k rates (k = s) of :func:`partial_labels`: R[c, c] = 1 − q, R[c, π(c)] = r, and
    R[c, j] = (s − 1 + q − r)/(C − 2) for the other j (the expected filler count over C − 2 labels)."""
    num_classes = _check_num_classes(num_classes, minimum=4)
    s = _check_candidate_size(candidate_size, num_classes)
    q = _check_rate("false_negative_rate", false_negative_rate)
    r = _check_rate("distractor_rate", distractor_rate)
    pi = _check_distractors(distractors, num_classes)
    rates = np.full((num_classes, num_classes), (s - 1 + q - r) / (num_classes - 2))
    classes = np.arange(num_classes)
    rates[classes, classes] = 1.0 - q
    rates[classes, pi] = r
    return rates


def temperature_scaled(teacher_logits, temperature: float) -> np.ndarray:
    """d_i = softmax(z_i/T) of teacher logits z (n, C), T > 0 (float64, max-shifted).

    Expected indicators: those of the logits themselves, for every T: dividing by T > 0 keeps the
    order of the entries, so temperature moves how soft a label is, never (Δ, γ). (At extreme T the
    float64 softmax can round distinct entries to ties, which the tie rule then decides.)
    """
    z = np.asarray(teacher_logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"teacher_logits must have shape (n, classes) with classes ≥ 2, got {z.shape}")
    finite = np.isfinite(z).all(axis=1)
    if not finite.all():
        raise ValueError(f"teacher_logits row {_first_row(~finite)} has a NaN or infinite entry")
    temperature = float(temperature)
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature={temperature!r} must be positive and finite")
    scaled = z / temperature
    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# The skillful-but-bad teacher (SBT) loss
# ---------------------------------------------------------------------------------------------

class SBTTerms(NamedTuple):
    """The four per-example terms (each shape (n,)) of :func:`sbt_loss`."""
    cross_entropy: jax.Array
    correct_top1_penalty: jax.Array
    dropout_compensation: jax.Array
    wrong_label_push: jax.Array


def random_wrong_labels(key, labels, num_classes: int, count: int) -> jax.Array:
    """(n, C) bool mask with exactly ``count`` labels ≠ y_i per row, uniform without replacement."""
    n = labels.shape[0]
    if count == 0:
        return jnp.zeros((n, num_classes), dtype=bool)
    is_true = jax.nn.one_hot(labels, num_classes, dtype=bool)
    keys = jnp.where(is_true, -1.0, jax.random.uniform(key, (n, num_classes)))
    chosen = jax.lax.top_k(keys, count)[1]
    return jnp.any(jax.nn.one_hot(chosen, num_classes, dtype=bool), axis=1)


def sbt_terms(logits, labels, key, k: int, pushed=None) -> SBTTerms:
    """The per-example terms of the SBT loss, with z = logits (n, C), y = labels, R_i = k − 1 random
    wrong labels drawn with ``key`` (:func:`random_wrong_labels`), or given as the (n, C) bool mask
    ``pushed`` (then ``key`` is not used: minibatches slice one mask drawn once for all examples),
    and softplus(u) = ln(1 + eᵘ):

        cross_entropy          −ln softmax(z)_y
        correct_top1_penalty   softplus(z_y − max_{j≠y} z_j)         ≈ the margin by which y is the top-1
        dropout_compensation   softplus(z_(k) − z_y)                 ≈ how far y is below the top-k;
                               z_(k) = the k-th largest wrong logit (y ∈ top_k iff z_y > z_(k))
        wrong_label_push       (1/(k−1)) Σ_{j∈R} softplus(max_{l∉R∪{y}} z_l − z_j)
                                                                   ≈ how far each j ∈ R is below the top-k
                               (0 for k = 1); with y and R on top, top_k = {y} ∪ R.

    Each extra term is a softplus hinge on a top-k margin: smooth in the margin, and piecewise smooth
    in z (the order statistics switch where two logits tie, a measure-zero set, as for a ReLU).
    Gradient signs (what descent does): the penalty raises ∂/∂z_y by σ(margin) > 0, so it lowers z_y,
    strongly when y is the top-1 and hardly when it is far below; the compensation has ∂/∂z_y =
    −σ(z_(k) − z_y) < 0, raising z_y, strongly once y has left the top-k; the push has ∂/∂z_j < 0
    for every j ∈ R, raising the chosen wrong labels.
    """
    num_classes = logits.shape[-1]
    is_true = jax.nn.one_hot(labels, num_classes, dtype=bool)
    true_logit = jnp.sum(jnp.where(is_true, logits, 0.0), axis=-1)
    cross_entropy = -jnp.sum(jnp.where(is_true, jax.nn.log_softmax(logits, axis=-1), 0.0), axis=-1)
    top_wrong = jax.lax.top_k(jnp.where(is_true, -jnp.inf, logits), k)[0]   # (n, k), descending
    penalty = jax.nn.softplus(true_logit - top_wrong[:, 0])
    compensation = jax.nn.softplus(top_wrong[:, k - 1] - true_logit)
    if k == 1:
        push = jnp.zeros_like(true_logit)
    else:
        pushed = random_wrong_labels(key, labels, num_classes, k - 1) if pushed is None else jnp.asarray(pushed, bool)
        best_outside = jnp.max(jnp.where(pushed | is_true, -jnp.inf, logits), axis=-1)
        gaps = jax.nn.softplus(best_outside[:, None] - logits)
        push = jnp.sum(jnp.where(pushed, gaps, 0.0), axis=-1) / (k - 1)
    return SBTTerms(cross_entropy, penalty, compensation, push)


def check_sbt_args(logits, labels, k, alphas):
    """(k, alphas) after checking logits (n, C ≥ 2), labels (n,), k ∈ 1..C − 1 and three α ≥ 0."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape (n, classes) with classes ≥ 2, got {logits.shape}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels has shape {labels.shape}; expected ({logits.shape[0]},), one per logit row")
    k = check_k(k, logits.shape[1])
    alphas = tuple(float(a) for a in alphas)
    if len(alphas) != 3 or not all(a >= 0 and math.isfinite(a) for a in alphas):
        raise ValueError(f"alphas={alphas} must be three finite weights ≥ 0 (α1, α2, α3)")
    return k, alphas


def sbt_loss(logits, labels, key, *, k: int, alphas, pushed=None) -> jax.Array:
    """Skillful-but-bad-teacher loss, averaged over the n examples (a scalar, for jax.grad and optax):

        L = mean_i [ CE_i + α1·P1_i + α2·P2_i + α3·P3_i ]

    with the terms of :func:`sbt_terms` (P1 correct_top1_penalty, P2 dropout_compensation, P3
    wrong_label_push). papers.md knows only what each term is for ([summary; loss forms ours]); these
    forms are our choice. The intended teacher: y stays in the top-k (CE, α2) but is pushed off the top-1
    (α1), and k − 1 random wrong labels fill the rest of the top-k (α3), so top-1 accuracy is low while
    Δ_k stays small and γ_k ≈ (k − 1)/(C − 1) stays low. ``key`` draws the wrong labels: keep it fixed
    per example to push the same labels at every step, or pass the mask itself as ``pushed`` (what a
    minibatch trainer does: :func:`kd_theory.teachers.train_sbt_teacher`). Shapes, k ∈ 1..C − 1 and
    α ≥ 0 are checked; label values are not (they may be traced).
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    k, (a1, a2, a3) = check_sbt_args(logits, labels, k, alphas)
    if pushed is not None and jnp.shape(pushed) != logits.shape:
        raise ValueError(f"pushed has shape {jnp.shape(pushed)}; expected {logits.shape}, one mask row per logit row")
    t = sbt_terms(logits, labels, key, k, pushed)
    return jnp.mean(t.cross_entropy + a1 * t.correct_top1_penalty + a2 * t.dropout_compensation
                    + a3 * t.wrong_label_push)
