"""Biased soft labels: the indicators by hand, their invariances and input checks, the generators against
their expected (Δ, γ) within binomial sampling error, and the signs of the SBT loss gradients."""
import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from kd_theory import biased

# Six examples, three classes with entries, a fourth class (3) with none. Ties: row 4 at the 2nd place
# (0.3 = 0.3), row 5 at the 1st (0.4 = 0.4); the lower class index wins.
HAND_SOFT = np.array([
    [0.6, 0.3, 0.1, 0.0],    # y=0  top1 {0}  top2 {0,1}  top3 {0,1,2}
    [0.2, 0.5, 0.3, 0.0],    # y=0  top1 {1}  top2 {1,2}  top3 {0,1,2}
    [0.1, 0.7, 0.2, 0.0],    # y=1  top1 {1}  top2 {1,2}  top3 {0,1,2}
    [0.5, 0.4, 0.0, 0.1],    # y=1  top1 {0}  top2 {0,1}  top3 {0,1,3}
    [0.3, 0.3, 0.4, 0.0],    # y=2  top1 {2}  top2 {2,0}  top3 {0,1,2}
    [0.4, 0.2, 0.4, 0.0],    # y=2  top1 {0}  top2 {0,2}  top3 {0,1,2}
])
HAND_LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_indicators_by_hand_k1():
    # y ∉ top1 in rows 1, 3, 5: Δ = 3/6. Rates: class 0 → {0: ½, 1: ½}; class 1 → {0: ½, 1: ½};
    # class 2 → {0: ½, 2: ½}. The largest wrong-label rate is ½.
    assert biased.indicators(HAND_SOFT, HAND_LABELS, k=1) == (0.5, 0.5)
    b = biased.class_breakdown(HAND_SOFT, HAND_LABELS, k=1)
    np.testing.assert_array_equal(b.counts, [2, 2, 2, 0])
    np.testing.assert_array_equal(b.rates[:3], [[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0, 0.5, 0]])
    assert np.isnan(b.rates[3]).all() and np.isnan(b.ambiguity[3]) and np.isnan(b.unreliability[3])
    np.testing.assert_array_equal(b.unreliability[:3], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(b.ambiguity[:3], [0.5, 0.5, 0.5])


def test_indicators_by_hand_k2_and_k3():
    # k = 2: y ∉ top2 only in row 1 → Δ = 1/6. Wrong-label rates: class 0: j=1 in rows 0, 1 → 1, j=2 in
    # row 1 → ½; class 1: j=0 (row 3) ½, j=2 (row 2) ½; class 2: j=0 in rows 4, 5 → 1. γ = 1.
    delta, gamma = biased.indicators(HAND_SOFT, HAND_LABELS, k=2)
    assert delta == pytest.approx(1 / 6, abs=1e-15) and gamma == 1.0
    b = biased.class_breakdown(HAND_SOFT, HAND_LABELS, k=2)
    np.testing.assert_array_equal(b.rates[:3], [[0.5, 1, 0.5, 0], [0.5, 1, 0.5, 0], [1, 0, 1, 0]])
    # k = 3: the true label is in every top3 → Δ = 0; class 1's j=3 appears once (row 3) → ½, all else 1.
    assert biased.indicators(HAND_SOFT, HAND_LABELS, k=3) == (0.0, 1.0)
    assert biased.class_breakdown(HAND_SOFT, HAND_LABELS, k=3).rates[1, 3] == 0.5


def test_top_k_ties_go_to_the_lower_class_index():
    mask = biased.top_k_mask(np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.3, 0.3, 0.3]]), 2)
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [0, 1, 1, 0]])


def _random_soft(n, num_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(num_classes, 0.5), size=n), rng.integers(0, num_classes, n)


@pytest.mark.parametrize("soft", ["random", "tied"])
def test_k1_unreliability_is_one_minus_top1_accuracy(soft):
    d, y = _random_soft(400, 5, 0)
    if soft == "tied":   # partial labels: many exact ties; np.argmax also takes the first maximum
        d = biased.partial_labels(y, 5, 2, 0.3, 0.5, seed=1)
    delta, _ = biased.indicators(d, y, k=1)
    assert 1.0 - delta == pytest.approx(np.mean(np.argmax(d, axis=1) == y), abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_indicators_are_invariant_to_row_order_and_consistent_relabelling(k):
    d, y = _random_soft(300, 6, 2)   # continuous entries: no ties, so relabelling cannot move a tie
    rng = np.random.default_rng(3)
    rows = rng.permutation(300)
    assert biased.indicators(d[rows], y[rows], k) == biased.indicators(d, y, k)
    new_class = rng.permutation(6)             # class c is renamed new_class[c]
    d_new = np.empty_like(d)
    d_new[:, new_class] = d
    before, after = biased.class_breakdown(d, y, k), biased.class_breakdown(d_new, new_class[y], k)
    np.testing.assert_array_equal(after.rates[np.ix_(new_class, new_class)], before.rates)
    assert biased.indicators(d_new, new_class[y], k) == pytest.approx(biased.indicators(d, y, k), abs=1e-15)


def test_unreliability_is_the_count_weighted_mean_of_per_class_rates():
    d, y = _random_soft(500, 4, 4)
    b = biased.class_breakdown(d, y, k=2)
    delta, gamma = biased.indicators(d, y, k=2)
    assert delta == pytest.approx(b.counts @ b.unreliability / 500, abs=1e-12)
    assert gamma == np.nanmax(b.ambiguity)
    assert biased.indicators_from_rates(b.rates, b.counts / 500) == pytest.approx((delta, gamma), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def _bad_soft(row, value_fn):
    d = np.full((5, 3), 1 / 3)
    d[row] = value_fn(d[row])
    return d


@pytest.mark.parametrize("soft,match", [
    (_bad_soft(2, lambda r: [np.nan, 0.5, 0.5]), "soft_labels row 2 has a NaN"),
    (_bad_soft(4, lambda r: [np.inf, 0.0, 0.0]), "soft_labels row 4 has a NaN or infinite"),
    (_bad_soft(1, lambda r: [-0.1, 0.6, 0.5]), "soft_labels row 1 has a negative entry"),
    (_bad_soft(3, lambda r: [0.5, 0.5, 2e-5]), "soft_labels row 3 sums to"),
    (_bad_soft(0, lambda r: [0.5, 0.4, 0.0]), "soft_labels row 0 sums to"),
    (np.ones(3) / 3, r"soft_labels must have shape \(n, classes\)"),
    (np.ones((4, 1)), r"soft_labels must have shape \(n, classes\)"),
])
def test_bad_soft_labels_name_the_row(soft, match):
    with pytest.raises(ValueError, match=match):
        biased.indicators(soft, np.zeros(len(soft), dtype=int))


def test_row_sums_within_tolerance_pass():
    d = _bad_soft(3, lambda r: [0.5, 0.5, 5e-6])
    assert biased.indicators(d, np.zeros(5, dtype=int)) == (0.0, 0.0)


@pytest.mark.parametrize("labels,match", [
    (np.zeros(4, dtype=int), r"labels has shape \(4,\); expected \(5,\)"),
    (np.zeros((5, 1), dtype=int), r"labels has shape \(5, 1\)"),
    (np.zeros(5), "labels must be integer class indices, got dtype float64"),
    (np.array([0, 1, 2, 0, -1]), "labels row 4 is -1, outside the classes 0..2"),
    (np.array([0, 1, 3, 0, 1]), "labels row 2 is 3, outside the classes 0..2"),
])
def test_bad_labels_are_named(labels, match):
    with pytest.raises(ValueError, match=match):
        biased.indicators(np.full((5, 3), 1 / 3), labels)


@pytest.mark.parametrize("k", [0, 3, -1, 1.5])
def test_k_outside_one_to_classes_minus_one(k):
    with pytest.raises(ValueError, match=f"k={k}"):
        biased.indicators(np.full((5, 3), 1 / 3), np.zeros(5, dtype=int), k=k)


def test_generator_knobs_are_checked():
    y = np.arange(10) % 5
    with pytest.raises(ValueError, match="epsilon=1.5"):
        biased.label_smoothing(y, 5, 1.5)
    with pytest.raises(ValueError, match="sigma=0.0"):
        biased.gaussian_noise_labels(y, 5, 0.0, seed=0)
    with pytest.raises(ValueError, match="sigma=-1.0"):
        biased.gaussian_noise_expected_rates(-1.0, 5, 1)
    with pytest.raises(ValueError, match="k=5 is outside 1..4"):
        biased.gaussian_noise_expected_rates(1.0, 5, 5)
    with pytest.raises(ValueError, match="candidate_size=4 is outside 2..3"):
        biased.partial_labels(y, 5, 4, 0.1, 0.1, seed=0)
    with pytest.raises(ValueError, match="false_negative_rate=-0.1"):
        biased.partial_labels(y, 5, 2, -0.1, 0.1, seed=0)
    with pytest.raises(ValueError, match="distractors row 2 pairs class 2 with itself"):
        biased.partial_labels(y, 5, 2, 0.1, 0.1, seed=0, distractors=[1, 2, 2, 4, 0])
    with pytest.raises(ValueError, match="labels row 1 is 7"):
        biased.label_smoothing(np.array([0, 7]), 5, 0.1)
    with pytest.raises(ValueError, match="temperature=0.0"):
        biased.temperature_scaled(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="teacher_logits row 1 has a NaN"):
        biased.temperature_scaled(np.array([[0.0, 1.0], [np.nan, 0.0]]), 1.0)


# ---------------------------------------------------------------------------------------------
# Generators against their expected (Δ, γ)
# ---------------------------------------------------------------------------------------------

FAMILY_ALPHA = 1e-4   # chance that any one generator test fails by sampling error alone


def _z(tests):
    """Two-sided normal quantile with a Bonferroni correction over ``tests`` simultaneous comparisons."""
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * tests))


def _assert_hits_expected_rates(soft, labels, k, expected_rates):
    """Every observed top-k rate R̂[c, j] within z·√(R(1−R)/n_c) of its expectation (exact where R ∈ {0, 1}),
    and so (Δ̂, γ̂) within the same margins of (Δ, γ)."""
    b = biased.class_breakdown(soft, labels, k)
    num_classes = len(b.counts)
    se = np.sqrt(expected_rates * (1 - expected_rates) / b.counts[:, None])
    z = _z(num_classes ** 2 + 1)
    assert np.all(np.abs(b.rates - expected_rates) <= z * se), (b.rates, expected_rates)
    delta_hat, gamma_hat = biased.indicators(soft, labels, k)
    delta, gamma = biased.indicators_from_rates(expected_rates, b.counts / b.counts.sum())
    n = len(labels)
    assert abs(delta_hat - delta) <= z * math.sqrt(delta * (1 - delta) / n)
    off_diagonal = ~np.eye(num_classes, dtype=bool)
    assert abs(gamma_hat - gamma) <= z * se[off_diagonal].max()   # |max a − max b| ≤ max |a − b|
    return delta, gamma


def _labels(n, num_classes, seed=0):
    return np.random.default_rng(seed).integers(0, num_classes, n)


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 0.99])
def test_label_smoothing_keeps_delta_and_gamma_zero_at_k1(epsilon):
    y = _labels(200, 5)
    d = biased.label_smoothing(y, 5, epsilon)
    np.testing.assert_allclose(d, (1 - epsilon) * np.eye(5)[y] + epsilon / 5, rtol=0, atol=1e-15)
    biased.check_soft_labels(d)
    assert biased.indicators(d, y, k=1) == (0.0, 0.0)


def test_label_smoothing_at_one_is_uniform_and_the_tie_rule_decides():
    y = _labels(200, 5)
    d = biased.label_smoothing(y, 5, 1.0)
    # every entry ties: the top-1 is class 0, so Δ̂ = 1 − share of class 0, and class c ≠ 0 sees label 0 always
    assert biased.indicators(d, y, k=1) == pytest.approx((1 - np.mean(y == 0), 1.0), abs=1e-15)


def test_gaussian_expected_rates_match_the_two_class_closed_form():
    # C = 2, k = 1: y loses iff σ(ξ_j − ξ_y) > 1, and ξ_j − ξ_y ~ N(0, 2): Δ = 1 − Φ(1/(σ√2)).
    for sigma in (0.2, 1.0, 3.0):
        rates = biased.gaussian_noise_expected_rates(sigma, 2, 1)
        assert 1 - rates[0, 0] == pytest.approx(1 - NormalDist().cdf(1 / (sigma * math.sqrt(2))), abs=1e-9)


def test_gaussian_expected_indicators_move_with_sigma():
    deltas = [biased.indicators_from_rates(biased.gaussian_noise_expected_rates(s, 10, 3))[0]
              for s in (0.01, 0.3, 1.0, 3.0, 1e3)]
    assert deltas[0] < 1e-12 and np.all(np.diff(deltas) > 0)
    assert deltas[-1] == pytest.approx(1 - 3 / 10, abs=1e-3)   # pure noise: y in the top-3 with prob. 3/10


@pytest.mark.parametrize("sigma,k", [(0.3, 1), (0.6, 1), (1.5, 1), (0.6, 3), (1.5, 3)])
def test_gaussian_noise_hits_its_expected_indicators(sigma, k):
    y = _labels(20000, 10)
    d = biased.gaussian_noise_labels(y, 10, sigma, seed=7)
    biased.check_soft_labels(d)
    assert np.all(d.min(axis=1) == 0)                             # the shift zeroes the smallest entry
    # order preserved: the top-k of d is that of e_y + σξ drawn again with the same seed
    noisy = np.eye(10)[y] + sigma * np.random.default_rng(7).standard_normal((20000, 10))
    np.testing.assert_array_equal(biased.top_k_mask(d, k), biased.top_k_mask(noisy, k))
    delta, gamma = _assert_hits_expected_rates(d, y, k, biased.gaussian_noise_expected_rates(sigma, 10, k))
    assert 0.0 < delta < 1.0 and gamma == pytest.approx((k - 1 + delta) / 9)


@pytest.mark.parametrize("s,q,r", [(2, 0.0, 0.0), (2, 0.1, 0.1), (2, 0.3, 0.6), (4, 0.2, 0.9), (3, 0.5, 0.0),
                                   (2, 1.0, 1.0)])
def test_partial_labels_hit_their_expected_indicators(s, q, r):
    num_classes = 10
    y = _labels(20000, num_classes)
    d = biased.partial_labels(y, num_classes, s, q, r, seed=11)
    biased.check_soft_labels(d)
    support = d > 0
    assert np.all(support.sum(axis=1) == s) and np.all(d[support] == 1 / s)
    np.testing.assert_array_equal(biased.top_k_mask(d, s), support)   # top_s(d) is the candidate set
    expected = biased.partial_label_expected_rates(num_classes, s, q, r)
    delta, gamma = _assert_hits_expected_rates(d, y, s, expected)
    assert delta == pytest.approx(q) and gamma == pytest.approx(max(r, (s - 1 + q - r) / (num_classes - 2)))


def test_partial_labels_distractor_moves_gamma_only():
    y = _labels(20000, 10)
    gammas, deltas = [], []
    for r in (0.2, 0.5, 0.8):
        delta, gamma = biased.indicators(biased.partial_labels(y, 10, 2, 0.1, r, seed=5), y, k=2)
        deltas.append(delta)
        gammas.append(gamma)
    assert np.all(np.diff(gammas) > 0.2)
    assert np.ptp(deltas) < 6 * math.sqrt(0.1 * 0.9 / 20000)


def test_partial_labels_use_the_given_distractors():
    y = _labels(2000, 6)
    pairs = np.array([3, 0, 5, 1, 2, 4])
    d = biased.partial_labels(y, 6, 2, 0.0, 1.0, seed=2, distractors=pairs)
    np.testing.assert_array_equal(d > 0, np.eye(6, dtype=bool)[y] | np.eye(6, dtype=bool)[pairs[y]])


def test_temperature_keeps_the_indicators_of_the_logits():
    rng = np.random.default_rng(6)
    z, y = rng.normal(size=(1000, 10)) * 3, _labels(1000, 10)
    for k in (1, 2, 5):
        reference = biased.indicators(biased.temperature_scaled(z, 1.0), y, k)
        for temperature in (0.05, 0.5, 4.0, 50.0):
            d = biased.temperature_scaled(z, temperature)
            biased.check_soft_labels(d)
            np.testing.assert_array_equal(biased.top_k_mask(d, k), biased.top_k_mask(z, k))
            assert biased.indicators(d, y, k) == reference
    np.testing.assert_allclose(biased.temperature_scaled(z, 2.0), np.asarray(jax.nn.softmax(jnp.asarray(z) / 2.0)),
                               atol=1e-6)
    # higher temperature is softer: the largest entry falls
    assert np.all(biased.temperature_scaled(z, 4.0).max(1) < biased.temperature_scaled(z, 0.5).max(1))


def test_generators_are_pure_functions_of_their_seed():
    y = _labels(100, 8)
    np.testing.assert_array_equal(biased.partial_labels(y, 8, 3, 0.2, 0.3, seed=4),
                                  biased.partial_labels(y, 8, 3, 0.2, 0.3, seed=4))
    assert not np.array_equal(biased.gaussian_noise_labels(y, 8, 0.5, seed=4),
                              biased.gaussian_noise_labels(y, 8, 0.5, seed=5))


# ---------------------------------------------------------------------------------------------
# The skillful-but-bad-teacher loss
# ---------------------------------------------------------------------------------------------

def _term_grad(term, logits, labels, key=jax.random.PRNGKey(0), k=2):
    """∂/∂z of the sum over examples of one SBT term."""
    return jax.grad(lambda z: jnp.sum(getattr(biased.sbt_terms(z, labels, key, k), term)))(logits)


def test_cross_entropy_term_is_optax_cross_entropy():
    z = jax.random.normal(jax.random.PRNGKey(1), (20, 7))
    y = jnp.arange(20) % 7
    np.testing.assert_allclose(biased.sbt_terms(z, y, jax.random.PRNGKey(0), 3).cross_entropy,
                               optax.softmax_cross_entropy_with_integer_labels(z, y), rtol=1e-6)


def test_penalty_lowers_the_true_logit_when_it_is_the_top1():
    z = jnp.array([[3.0, 1.0, 0.5, 0.0],      # y = 0 is the top-1 by a margin of 2
                   [-4.0, 2.0, 0.0, 0.0]])    # y = 0 is far below the top-1
    g = _term_grad("correct_top1_penalty", z, jnp.array([0, 0]))
    assert g[0, 0] > 0.5 and g[0, 1] < -0.5                 # descent lowers z_y, raises the runner-up
    assert 0 < g[1, 0] < 0.01                                # hardly any push once y is not the top-1
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-6)  # only the margin matters (shift invariant)


def test_compensation_raises_the_true_logit_when_it_leaves_the_top_k():
    z = jnp.array([[-2.0, 3.0, 2.0, 1.0],     # y = 0 outside the top-2 (3, 2)
                   [5.0, 1.0, 0.0, -1.0]])    # y = 0 well inside
    g = _term_grad("dropout_compensation", z, jnp.array([0, 0]), k=2)
    assert g[0, 0] < -0.5 and g[0, 2] > 0.5                 # raises z_y, lowers the k-th wrong logit
    assert g[0, 1] == 0 and g[0, 3] == 0
    assert -0.01 < g[1, 0] < 0


@pytest.mark.parametrize("k", [2, 4])
def test_push_raises_exactly_the_chosen_wrong_labels(k):
    key = jax.random.PRNGKey(3)
    z = jax.random.normal(jax.random.PRNGKey(4), (50, 8))
    y = jnp.arange(50) % 8
    pushed = np.asarray(biased.random_wrong_labels(key, y, 8, k - 1))
    assert np.all(pushed.sum(axis=1) == k - 1) and not np.any(pushed[np.arange(50), np.asarray(y)])
    g = np.asarray(_term_grad("wrong_label_push", z, y, key, k))
    assert np.all(g[pushed] < 0)
    # the rest: only the best label outside R ∪ {y} is pushed down, by the same total
    rest = np.where(pushed | np.eye(8, dtype=bool)[np.asarray(y)], -np.inf, np.asarray(z))
    best = rest.argmax(axis=1)
    np.testing.assert_allclose(g[np.arange(50), best], -g.sum(axis=1) + g[np.arange(50), best], atol=1e-6)
    others = ~pushed
    others[np.arange(50), best] = False
    assert np.all(g[others] == 0)


def test_push_is_zero_for_k1():
    z = jax.random.normal(jax.random.PRNGKey(4), (10, 5))
    assert float(jnp.abs(biased.sbt_terms(z, jnp.zeros(10, int), jax.random.PRNGKey(0), 1).wrong_label_push).max()) == 0


def test_sbt_loss_gradient_matches_finite_differences(x64):
    key = jax.random.PRNGKey(5)
    z = jax.random.normal(jax.random.PRNGKey(6), (6, 5), dtype=jnp.float64) * 2
    y = jnp.array([0, 1, 2, 3, 4, 0])
    loss = lambda logits: biased.sbt_loss(logits, y, key, k=3, alphas=(0.7, 1.3, 0.5))
    g = jax.grad(loss)(z)
    h = 1e-6
    for i, j in [(0, 0), (1, 3), (2, 2), (4, 1), (5, 4)]:
        bump = jnp.zeros_like(z).at[i, j].set(h)
        assert float(g[i, j]) == pytest.approx(float((loss(z + bump) - loss(z - bump)) / (2 * h)), abs=1e-7)


def test_sbt_loss_with_optax_makes_a_skillful_but_bad_teacher():
    # Free logits (one row per example) trained on the SBT loss: top-1 accuracy collapses while the true
    # label stays in the top-k, and the top-k becomes {y} ∪ R: exactly what the terms are for.
    n, num_classes, k = 200, 10, 3
    y = jnp.arange(n) % num_classes
    key = jax.random.PRNGKey(0)
    opt = optax.adam(0.05)

    @jax.jit
    def step(z, state):
        grads = jax.grad(biased.sbt_loss)(z, y, key, k=k, alphas=(1.0, 1.0, 1.0))
        updates, state = opt.update(grads, state)
        return optax.apply_updates(z, updates), state

    z = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (n, num_classes))
    state = opt.init(z)
    for _ in range(200):
        z, state = step(z, state)
    d = np.asarray(jax.nn.softmax(z))
    top1_delta, _ = biased.indicators(d, y, k=1)
    delta_k, _ = biased.indicators(d, y, k=k)
    assert 1 - top1_delta < 0.3 and delta_k == 0.0
    intended = np.asarray(biased.random_wrong_labels(key, y, num_classes, k - 1)) | np.eye(num_classes, dtype=bool)[y]
    assert np.mean(np.all(biased.top_k_mask(d, k) == intended, axis=1)) > 0.95


@pytest.mark.parametrize("args,match", [
    (dict(logits=jnp.zeros(5)), r"logits must have shape \(n, classes\)"),
    (dict(labels=jnp.zeros(3, int)), r"labels has shape \(3,\); expected \(4,\)"),
    (dict(k=5), "k=5 is outside 1..4"),
    (dict(k=0), "k=0 is outside 1..4"),
    (dict(alphas=(1.0, -1.0, 0.0)), "alphas="),
    (dict(alphas=(1.0, 1.0)), "alphas="),
])
def test_sbt_loss_bad_arguments(args, match):
    good = dict(logits=jnp.zeros((4, 5)), labels=jnp.zeros(4, int), k=2, alphas=(1.0, 1.0, 1.0))
    kw = {**good, **args}
    with pytest.raises(ValueError, match=match):
        biased.sbt_loss(kw["logits"], kw["labels"], jax.random.PRNGKey(0), k=kw["k"], alphas=kw["alphas"])


def test_sbt_loss_with_a_given_mask_is_the_loss_with_the_mask_its_key_draws():
    key = jax.random.PRNGKey(7)
    z = jax.random.normal(jax.random.PRNGKey(8), (30, 6))
    y = jnp.arange(30) % 6
    pushed = biased.random_wrong_labels(key, y, 6, 2)
    args = dict(k=3, alphas=(0.5, 1.0, 2.0))
    assert float(biased.sbt_loss(z, y, None, pushed=pushed, **args)) == float(biased.sbt_loss(z, y, key, **args))
    other = biased.random_wrong_labels(jax.random.PRNGKey(9), y, 6, 2)
    assert float(biased.sbt_loss(z, y, None, pushed=other, **args)) != float(biased.sbt_loss(z, y, key, **args))
    with pytest.raises(ValueError, match=r"pushed has shape \(30, 5\); expected \(30, 6\)"):
        biased.sbt_loss(z, y, None, pushed=pushed[:, :5], **args)


@pytest.mark.parametrize("batch_size, steps", [(None, 1000), (100, 2000)])
def test_sbt_network_teacher_is_skillful_but_bad(batch_size, steps):
    """A wide network trained on the SBT loss (full batch, or minibatches that slice one R drawn for all
    examples): top-1 mostly wrong, the true label kept in the top-k, and the top-k = {y} ∪ R as intended;
    the same network on cross-entropy alone (α = 0) is skillful."""
    from kd_theory import data, nets, teachers
    ds = data.digits_task("full", num_classes=10)
    X, y = ds.X_train[:400], ds.y_train[:400]
    key, k = jax.random.PRNGKey(3), 3
    common = dict(num_classes=10, k=k, width=128, steps=steps, learning_rate=0.01, batch_size=batch_size)
    bad = np.asarray(jax.nn.softmax(nets.apply(teachers.train_sbt_teacher(key, X, y, alphas=(2.0, 2.0, 4.0),
                                                                           **common), X)))
    good = np.asarray(jax.nn.softmax(nets.apply(teachers.train_sbt_teacher(key, X, y, alphas=(0.0, 0.0, 0.0),
                                                                            **common), X)))
    assert 1 - biased.indicators(bad, y, k=1)[0] < 0.3
    assert biased.indicators(bad, y, k=k)[0] < 0.05
    assert 1 - biased.indicators(good, y, k=1)[0] > 0.95
    pushed = np.asarray(biased.random_wrong_labels(jax.random.split(key)[1], jnp.asarray(y), 10, k - 1))
    intended = pushed | np.eye(10, dtype=bool)[y]
    assert np.mean(np.all(biased.top_k_mask(bad, k) == intended, axis=1)) > 0.95


def test_sbt_teacher_refuses_bad_arguments():
    from kd_theory import teachers
    X, y = np.zeros((4, 3), np.float32), np.zeros(4, int)
    with pytest.raises(ValueError, match="k=5 is outside 1..4"):
        teachers.train_sbt_teacher(jax.random.PRNGKey(0), X, y, num_classes=5, k=5, alphas=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="alphas="):
        teachers.train_sbt_teacher(jax.random.PRNGKey(0), X, y, num_classes=5, k=2, alphas=(1.0, 1.0))
