"""Image data of the deep experiment: the digits binary task, the stratified 80/10/10 split, the fixed
per-example Gaussian noise, and CIFAR-10's python batches (the other CIFAR sources: test_images_cifar.py)."""
import math
import os
import pickle

import numpy as np
import pytest

from kd_theory import images


def test_digits_binary_task_and_stratified_80_10_10_split():
    pixels, digits = images.digits_images()
    assert pixels.shape == (1797, 8, 8, 1) and pixels.min() == 0 and pixels.max() == 1
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    assert np.array_equal(y == 1, strata > 4) and len(y) == 1797
    train, val, test = images.stratified_split(strata, (0.8, 0.1, 0.1), seed=3)
    assert len(train) + len(val) + len(test) == 1797 and abs(len(val) - 180) <= 1 and abs(len(test) - 180) <= 1
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    for d in range(10):  # stratified: each digit's share is the same in every part, to rounding
        assert abs(np.mean(strata[test] == d) - np.mean(strata == d)) < 0.02
    sub = images.stratified_split(strata, (0.8, 0.1, 0.1), seed=3, max_examples=500)
    assert sum(map(len, sub)) == 500
    X3, y3, _ = images.binary_task(pixels, digits, (3,), (5,))
    assert len(y3) == np.sum((digits == 3) | (digits == 5)) and set(np.unique(y3)) == {-1, 1}
    with pytest.raises(ValueError, match="disjoint"):
        images.binary_task(pixels, digits, (3, 5), (5,))
    with pytest.raises(ValueError, match="three positive shares"):
        images.stratified_split(strata, (0.8, 0.1, 0.2))


def test_noise_is_fixed_per_example_and_has_the_asked_variance():
    pixels, digits = images.digits_images()
    X, y, strata = images.binary_task(pixels, digits, range(5), range(5, 10))
    split = images.stratified_split(strata, seed=0)
    xi = images.standard_noise(X.shape, seed=7)
    assert np.array_equal(xi, images.standard_noise(X.shape, seed=7))
    low, high = images.noisy_splits(X, y, split, 0.01, xi), images.noisy_splits(X, y, split, 0.2, xi)
    for part, idx in zip((0, 2, 4), split):
        # every split carries its own examples' fixed draw, scaled by √v (the same ξ at each variance)
        np.testing.assert_allclose(low[part] - X[idx], 0.1 * xi[idx], atol=1e-6)
        np.testing.assert_allclose(high[part] - X[idx], math.sqrt(0.2) * xi[idx], atol=1e-6)
    # sample variance of N = 115,008 draws: its standard error is v·√(2/(N−1)); allow 5 of them
    for v in (0.03, 0.2):
        noise = images.add_noise(X, v, xi) - X
        assert abs(noise.var() - v) < 5 * v * math.sqrt(2 / (noise.size - 1))
        assert abs(noise.mean()) < 5 * math.sqrt(v / noise.size)
    assert np.array_equal(images.add_noise(X, 0.0, xi), X)
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"noise variance must be a finite number ≥ 0; got {bad}"):
            images.add_noise(X, bad, xi)
    with pytest.raises(ValueError, match="does not match images"):
        images.add_noise(X, 0.1, xi[:10])
    with pytest.raises(ValueError, match="shape \\(n, H, W, C\\)"):
        images.check_images(np.zeros((4, 8, 8)))


def _write_cifar(folder, sizes, rng, skip=()):
    """Small CIFAR-10 python batches (as the official ones: dict of bytes keys, data (N, 3072) uint8)."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, n in zip(images.CIFAR_FILES, sizes):
        if name in skip:
            continue
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, fh)
        written[name] = (data, labels)
    return written


def test_cifar_loader_reads_the_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_cifar(folder, (3, 4, 2, 5, 3, 6), rng)
    for directory in (folder, tmp_path):   # the batch folder itself, or the folder that holds it
        X, labels = images.cifar10_images(str(directory))
        assert X.shape == (23, 32, 32, 3) and X.dtype == np.float32 and X.min() >= 0 and X.max() <= 1
        data = np.concatenate([written[n][0] for n in images.CIFAR_FILES])
        assert labels.tolist() == sum((written[n][1] for n in images.CIFAR_FILES), [])
        # row layout: 1024 red, then 1024 green, then 1024 blue values, each a 32×32 image row-major
        i, r, c = 7, 5, 30
        for ch in range(3):
            assert X[i, r, c, ch] == pytest.approx(data[i, ch * 1024 + r * 32 + c] / 255.0)
    Xb, yb, classes = images.binary_task(X, labels, (3,), (5,))
    assert np.array_equal(classes, labels[(labels == 3) | (labels == 5)]) and np.array_equal(yb == 1, classes == 5)


def test_cifar_loader_errors_name_the_file(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        images.cifar10_images(str(tmp_path / "nowhere"))
    partial = tmp_path / "partial"
    _write_cifar(partial, (2,) * 6, rng, skip=("data_batch_3", "test_batch"))
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3, test_batch"):
        images.cifar10_images(str(partial))
    bad = tmp_path / "bad"
    _write_cifar(bad, (2,) * 6, rng)
    with open(bad / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match="data_batch_2: 'data' must have shape \\(N, 3072\\).*\\(2, 1024\\)"):
        images.cifar10_images(str(bad))
    with open(bad / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}, fh)
    with pytest.raises(ValueError, match="data_batch_2: 'labels' must have shape \\(2,\\)"):
        images.cifar10_images(str(bad))
    with open(bad / "data_batch_2", "wb") as fh:
        fh.write(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_2 is not a CIFAR-10 python batch"):
        images.cifar10_images(str(bad))
