"""data.noisy_xor_support: the whole support of noisy 2-XOR, whose margin is the population margin."""
import numpy as np
import pytest

from kd_theory import data


@pytest.mark.parametrize("dim", [3, 4, 7])
def test_support_size_norm_labels_distinct(dim):
    X, y = data.noisy_xor_support(dim)
    assert X.shape == (4 * 2 ** (dim - 2), dim) and y.shape == (len(X),)
    np.testing.assert_allclose(np.linalg.norm(X.astype(np.float64), axis=1), 1.0, rtol=1e-6)
    assert len({tuple(row) for row in X}) == len(X)  # all distinct
    # Every coordinate is ±1/√(d−1) or 0; exactly one of the first two is non-zero.
    scaled = X.astype(np.float64) * np.sqrt(dim - 1)
    np.testing.assert_allclose(np.abs(scaled[:, 2:]), 1.0, rtol=1e-6)
    first_two = np.round(scaled[:, :2]).astype(int)
    assert np.all(np.count_nonzero(first_two, axis=1) == 1) and np.all(np.abs(first_two).sum(axis=1) == 1)
    # XOR label: +1 on (±1, 0), −1 on (0, ±1); both classes have half the points.
    np.testing.assert_array_equal(y, np.where(first_two[:, 0] != 0, 1.0, -1.0))
    assert np.sum(y == 1) == np.sum(y == -1) == len(X) // 2
    # Every noise pattern appears once with every corner.
    noise = {tuple(row) for row in np.sign(scaled[:, 2:]).astype(int)}
    assert len(noise) == 2 ** (dim - 2)


def test_support_is_the_population_of_noisy_xor_points():
    """Samples of noisy_xor_points only ever land on the support, with its labels, and cover all of it."""
    dim = 5
    X, y = data.noisy_xor_support(dim)
    label_of = {tuple(row): label for row, label in zip(X, y)}
    Xs, ys = data.noisy_xor_points(4000, dim, np.random.default_rng(0))  # 32 points: P(one missed) < 32·e^-125
    sampled = {tuple(row) for row in Xs}
    assert sampled == set(label_of)
    assert all(label_of[tuple(row)] == label for row, label in zip(Xs, ys))


@pytest.mark.parametrize("dim", [2, 17])
def test_support_rejects_bad_dimensions(dim):
    with pytest.raises(ValueError, match="dim"):
        data.noisy_xor_support(dim)
