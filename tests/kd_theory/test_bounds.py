"""The theorems' requirements: the worked numbers of papers.md, exact scaling laws, monotonicity, ranges."""
import math

import numpy as np
import pytest

from kd_theory import bounds

WORKED = dict(n=1000, delta=0.01, c=1.0)   # papers.md's worked example
GAMMAS = np.array([0.01, 0.03, 0.1, 0.25, 0.5])
EPSILONS = np.array([1e-3, 0.01, 0.1, 0.5, 0.9])


def test_constants_as_printed():
    assert f"{bounds.C1:.2f}" == "11.44"     # 96/(1 + e²) ≈ 11.44
    assert f"{bounds.C2:.1f}" == "366.2"     # 32·C1 ≈ 366.2


@pytest.mark.parametrize("gamma,eps", [(0.01, 0.1), (0.1, 0.01), (0.5, 0.9), (0.03, 1e-4)])
def test_corollary_4_worked_number(gamma, eps):
    # papers.md: at c = 1, δ = 0.01, n = 1000, Corollary 4 needs m ≥ 4.66e4/(γ² ε).
    req = bounds.soft_error_requirements(gamma, eps, **WORKED)
    assert f"{req.width * gamma ** 2 * eps:.3g}" == "4.66e+04"


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
def test_proposition_5_worked_number(gamma):
    # papers.md: at c = 1, δ = 0.01, n = 1000, Proposition 5 needs m ≥ 4018/γ⁴ at β = 0.1.
    req = bounds.hard_requirements(gamma, 0.1, **WORKED)
    assert round(req.width * gamma ** 4) == 4018


def test_theorem_2_by_hand_with_c_below_one():
    # β = 0.5, n = 5, δ = 0.1, c = 0.5: ln(2·5/0.1) = ln 100; S = √(2/π)/0.5 + 3√ln 100 ≈ 1.59577 + 6.43790.
    S = 1.5957691216057308 + 6.4378980788680416
    req = bounds.soft_kl_requirements(0.5, 5, 0.1, c=0.5)
    assert req.width == pytest.approx(11.443480514123287 / 0.5 * S ** 2, rel=1e-10)
    assert req.width == pytest.approx(1477.1, abs=0.1)
    assert req == pytest.approx((req.width, 0.5 / 3, 9 / 0.25, 1.0))


def test_proposition_5_by_hand():
    # γ = 0.2, β = 0.05, η = 0.5, n = 100, δ = 0.2, c = 0.8: L = ln(2/(ln2·0.05)) = ln(57.7078...).
    L = math.log(2 / (math.log(2) * 0.05))
    H = 2 * math.sqrt(2) / (0.8 * math.sqrt(math.pi)) * L + 3 * math.sqrt(math.log(1000.0))
    req = bounds.hard_requirements(0.2, 0.05, 100, 0.2, c=0.8, lr=0.5)
    assert L == pytest.approx(4.05539, abs=1e-5)
    assert req.radius == pytest.approx(2 / 0.2 * L, rel=1e-12)
    assert req.steps == pytest.approx(8 / (0.04 * 0.5) * L ** 2 / (math.log(2) * 0.05), rel=1e-12)
    assert req.width == pytest.approx(16 / 0.2 ** 4 * H ** 2, rel=1e-12)
    assert req.lr == 0.5


def test_corollary_4_width_is_theorem_2_through_lemma_3():
    for gamma in GAMMAS:
        for eps in EPSILONS:
            beta = bounds.kl_target_for_error(eps, gamma)
            assert bounds.error_bound_from_kl(beta, gamma) == pytest.approx(eps, rel=1e-12)
            cor4 = bounds.soft_error_requirements(gamma, eps, **WORKED)
            thm2 = bounds.soft_kl_requirements(beta, **WORKED)
            assert cor4.width == pytest.approx(thm2.width, rel=1e-12)
            # As stated in papers.md the corollary's η and T are not Theorem 2's at that β (documented).
            assert cor4.lr / thm2.lr == pytest.approx(32.0, rel=1e-12)
            assert cor4.steps / thm2.steps == pytest.approx(1 / 1024, rel=1e-12)


def test_soft_scaling_laws_are_exact():
    g, e = np.meshgrid(GAMMAS, EPSILONS)
    req = bounds.soft_error_requirements(g, e, **WORKED)
    assert req.width.shape == g.shape
    np.testing.assert_allclose(req.width * g ** 2 * e, req.width[0, 0] * g[0, 0] ** 2 * e[0, 0], rtol=1e-12)
    np.testing.assert_allclose(req.lr, g ** 2 * e / 3, rtol=1e-12)
    np.testing.assert_allclose(req.steps * g ** 4 * e ** 2, 9.0, rtol=1e-12)
    np.testing.assert_array_equal(req.radius, 1.0)


def test_hard_scaling_laws_are_exact_at_fixed_beta():
    for beta in (0.01, 0.1, 0.5):
        req = bounds.hard_requirements(GAMMAS, beta, **WORKED)
        for value, power in ((req.width, 4), (req.steps, 2), (req.radius, 1)):
            scaled = value * GAMMAS ** power
            np.testing.assert_allclose(scaled, scaled[0], rtol=1e-12)
    lrs = np.array([0.01, 0.1, 1.0])
    steps = bounds.hard_requirements(0.1, 0.1, lr=lrs, **WORKED).steps
    np.testing.assert_allclose(steps * lrs, steps[-1], rtol=1e-12)   # T ∝ 1/η


def test_unprojected_order_is_one_over_gamma_to_the_eighth():
    np.testing.assert_allclose(bounds.unprojected_hard_width_order(GAMMAS) * GAMMAS ** 8, 1.0, rtol=1e-12)
    slope = np.polyfit(np.log(1 / GAMMAS), np.log(bounds.unprojected_hard_width_order(GAMMAS)), 1)[0]
    assert slope == pytest.approx(8.0)


def _assert_monotone(values, increasing):
    steps = np.diff(np.asarray(values))
    assert np.all(steps > 0) if increasing else np.all(steps < 0), values


@pytest.mark.parametrize("field", ["width", "lr", "steps"])
def test_soft_monotonicity(field):
    grid = dict(gamma=GAMMAS, eps=EPSILONS, n=np.array([1, 10, 1000, 10 ** 6]),
                delta=np.array([1e-4, 0.01, 0.1, 0.3]), c=np.array([0.1, 0.5, 1.0]))
    base = dict(gamma=0.1, eps=0.1, n=1000, delta=0.01, c=1.0)
    # width falls with γ, ε, δ, c and grows with n; η grows with γ, ε; T falls with γ, ε; η, T ignore n, δ, c.
    expected = {"width": dict(gamma=False, eps=False, n=True, delta=False, c=False),
                "lr": dict(gamma=True, eps=True), "steps": dict(gamma=False, eps=False)}[field]
    for name, values in grid.items():
        out = getattr(bounds.soft_error_requirements(**{**base, name: values}), field)
        if name in expected:
            _assert_monotone(out, expected[name])
        else:
            np.testing.assert_array_equal(out, out[0])


@pytest.mark.parametrize("field", ["width", "steps", "radius"])
def test_hard_monotonicity(field):
    grid = dict(gamma=GAMMAS, beta=np.array([1e-4, 0.01, 0.1, 0.5, 0.69]), n=np.array([1, 10, 1000, 10 ** 6]),
                delta=np.array([1e-4, 0.01, 0.1, 0.9]), c=np.array([0.1, 0.5, 1.0]),
                lr=np.array([0.01, 0.5, 1.0]))
    base = dict(gamma=0.1, beta=0.1, n=1000, delta=0.01, c=1.0, lr=1.0)
    expected = {"width": dict(gamma=False, beta=False, n=True, delta=False, c=False),
                "steps": dict(gamma=False, beta=False, lr=False),
                "radius": dict(gamma=False, beta=False)}[field]
    for name, values in grid.items():
        out = getattr(bounds.hard_requirements(**{**base, name: values}), field)
        if name in expected:
            _assert_monotone(out, expected[name])
        else:
            np.testing.assert_array_equal(out, out[0])


def test_soft_kl_monotonicity():
    betas = np.array([1e-3, 0.01, 0.1, 0.9])
    req = bounds.soft_kl_requirements(betas, **WORKED)
    _assert_monotone(req.width, False)
    _assert_monotone(req.steps, False)
    _assert_monotone(req.lr, True)
    np.testing.assert_allclose(req.width * betas, req.width[0] * betas[0], rtol=1e-12)   # m ∝ 1/β


def test_width_ratio_is_the_exact_quotient_and_scales_as_one_over_gamma_squared():
    g, e = np.meshgrid(GAMMAS, EPSILONS)
    ratio = bounds.hard_over_soft_width_ratio(g, e, **WORKED)
    soft = bounds.soft_error_requirements(g, e, **WORKED).width
    hard = bounds.hard_requirements(g, e * math.log(2), **WORKED).width
    np.testing.assert_allclose(ratio, hard / soft, rtol=1e-12)
    np.testing.assert_allclose(ratio * g ** 2, np.broadcast_to((ratio * g ** 2)[:, :1], g.shape), rtol=1e-12)   # ∝ 1/γ² at fixed ε
    # ε/γ² up to logs: the remaining factor (16/C2)(H/S)² varies only logarithmically in ε.
    log_factor = ratio * g ** 2 / e
    assert 0.01 < log_factor.min() and log_factor.max() < 1.0
    assert log_factor.max() / log_factor.min() < 5.0


@pytest.mark.parametrize("eps", [1e-3, 0.05, 0.3])
def test_soft_wins_exactly_below_the_crossover_margin(eps):
    gamma_star = bounds.crossover_gamma(eps, **WORKED)
    assert bounds.hard_over_soft_width_ratio(gamma_star, eps, **WORKED) == pytest.approx(1.0, rel=1e-12)
    assert bounds.soft_needs_fewer_neurons(0.99 * gamma_star, eps, **WORKED) is True
    assert bounds.soft_needs_fewer_neurons(min(1.01 * gamma_star, 0.5), eps, **WORKED) is False
    # the rule of thumb γ² < ε, with the constants and logs the boundary sits lower: γ*² < ε
    assert gamma_star ** 2 < eps
    grid = bounds.soft_needs_fewer_neurons(GAMMAS, eps, **WORKED)
    np.testing.assert_array_equal(grid, GAMMAS < gamma_star)


BAD_INPUTS = [
    (bounds.soft_kl_requirements, dict(beta=0.1, n=1000, delta=0.01), "beta", [0.0, 1.0, -0.5, float("nan")]),
    (bounds.soft_kl_requirements, dict(beta=0.1, n=1000, delta=0.01), "delta", [0.0, 1 / 3, 0.5]),
    (bounds.soft_kl_requirements, dict(beta=0.1, n=1000, delta=0.01), "n", [0, 2.5, -3]),
    (bounds.soft_kl_requirements, dict(beta=0.1, n=1000, delta=0.01), "c", [0.0, 1.5]),
    (bounds.soft_error_requirements, dict(gamma=0.1, eps=0.1, n=1000, delta=0.01), "gamma", [0.0, 0.51, -1.0]),
    (bounds.soft_error_requirements, dict(gamma=0.1, eps=0.1, n=1000, delta=0.01), "eps", [0.0, 1.0]),
    (bounds.soft_error_requirements, dict(gamma=0.1, eps=0.1, n=1000, delta=0.01), "delta", [0.34]),
    (bounds.hard_requirements, dict(gamma=0.1, beta=0.1, n=1000, delta=0.01), "beta", [0.0, math.log(2), 1.0]),
    (bounds.hard_requirements, dict(gamma=0.1, beta=0.1, n=1000, delta=0.01), "delta", [0.0, 1.0]),
    (bounds.hard_requirements, dict(gamma=0.1, beta=0.1, n=1000, delta=0.01), "lr", [0.0, 1.5]),
    (bounds.hard_requirements, dict(gamma=0.1, beta=0.1, n=1000, delta=0.01), "gamma", [0.6]),
    (bounds.error_bound_from_kl, dict(kl=0.1, gamma=0.1), "kl", [-0.1]),
    (bounds.crossover_gamma, dict(eps=0.1, n=1000, delta=0.01), "eps", [1.5]),
    (bounds.unprojected_hard_width_order, dict(gamma=0.1), "gamma", [0.0]),
]


@pytest.mark.parametrize("fn,good,name,values", BAD_INPUTS, ids=lambda v: getattr(v, "__name__", None))
def test_out_of_range_inputs_are_named(fn, good, name, values):
    fn(**good)   # the good point passes
    for value in values:
        with pytest.raises(ValueError, match=f"{name}="):
            fn(**{**good, name: value})
    with pytest.raises(ValueError, match=f"{name}="):   # one bad entry in an array is enough
        fn(**{**good, name: np.array([good.get(name, 1.0), values[0]])})


def test_hard_allows_delta_above_one_third():
    # Proposition 5 states no δ < 1/3 (that range belongs to Theorem 2 and Corollary 4).
    assert bounds.hard_requirements(0.1, 0.1, 1000, 0.5).width > 0
