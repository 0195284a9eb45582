"""Image data for the deep experiment: (n, H, W, C) float32 arrays scaled to [0, 1], a binary task
(labels y ∈ {−1, +1}), a stratified train/validation/test split and fixed Gaussian input noise.

Sources: scikit-learn's bundled 8×8 digits (offline default), MNIST 28×28 from its IDX files
(:func:`kd_theory.data.load_mnist_idx`), and CIFAR-10 32×32 from the user's own python-pickle
batches (``cifar-10-batches-py``: ``data_batch_1`` … ``data_batch_5``, ``test_batch``).

Every source is **pooled** (MNIST's and CIFAR's own train/test parts together), restricted to the
two class sets, optionally subsampled (stratified), then split 80/10/10 stratified by class — the
paper's 80/10/10 split of the cat/dog images.

Noise (the paper says only "added Gaussian noise of variance v"; the rest is ours):
x̃_i = x_i + √v · ξ_i with ξ_i ~ N(0, I) drawn **once per example** from ``noise_seed`` (the same
draw at every epoch, for train, validation and test alike, and the same ξ at every variance, so the
noise levels differ only in their scale). Not clipped back to [0, 1].
"""
from __future__ import annotations

import math
import os
import pickle
from typing import NamedTuple, Sequence

import numpy as np

CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_SHAPE = (32, 32, 3)
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class ImageSplits(NamedTuple):
    """Images (n, H, W, C) float32 and labels y ∈ {−1, +1} (int8) of each split."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def check_images(images, what: str = "images") -> np.ndarray:
    """``images`` as a float32 array of shape (n, H, W, C) with finite values; ValueError otherwise."""
    images = np.asarray(images)
    if images.ndim != 4 or min(images.shape, default=0) == 0:
        raise ValueError(f"{what} must have shape (n, H, W, C) with every size > 0; got shape {images.shape}")
    images = images.astype(np.float32, copy=False)
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{what} contain non-finite values")
    return images


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as (1797, 8, 8, 1) in [0, 1] (pixel / 16) and their digits 0..9."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    return (bunch.images[..., None] / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def mnist_images(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 70,000 images (train then test) as (70000, 28, 28, 1) in [0, 1] (pixel / 255) and digits."""
    from kd_theory.data import load_mnist_idx
    train_x, train_y, test_x, test_y = load_mnist_idx(directory)
    images = np.concatenate([train_x, test_x])[..., None].astype(np.float32) / 255.0
    return images, np.concatenate([train_y, test_y]).astype(np.int64)


def _cifar_dir(directory: str) -> str:
    """``directory`` itself or its ``cifar-10-batches-py`` subfolder, whichever holds the batches."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"CIFAR-10 directory {directory!r} does not exist")
    nested = os.path.join(directory, CIFAR_DIRNAME)
    if not os.path.isfile(os.path.join(directory, CIFAR_FILES[0])) and os.path.isdir(nested):
        return nested
    return directory


def read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a pickled dict with ``data`` (N, 3072) uint8, rows = 1024 red, 1024
    green, 1024 blue values of a 32×32 image in row-major order, and ``labels`` (N classes 0..9).
    Returns images (N, 32, 32, 3) uint8 and labels (N,) int64."""
    with open(path, "rb") as fh:
        try:
            batch = pickle.load(fh, encoding="bytes")
        except Exception as exc:  # a truncated or foreign file: say which
            raise ValueError(f"{path} is not a CIFAR-10 python batch (unpickling failed: {exc})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict with 'data' and 'labels'; got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: missing key(s) {sorted({'data', 'labels'} - set(batch))}")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.ndim != 2 or data.shape[1] != math.prod(CIFAR_SHAPE):
        raise ValueError(f"{path}: 'data' must have shape (N, 3072) (32×32×3 pixels per row); got {data.shape}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: 'labels' must have shape ({data.shape[0]},), one per image; got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be classes 0..9; found {labels.min()}..{labels.max()}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.uint8), labels.astype(np.int64)


def cifar10_images(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """All CIFAR-10 batches found in ``directory`` (or its ``cifar-10-batches-py``), pooled:
    images (N, 32, 32, 3) in [0, 1] (pixel / 255) and classes 0..9 (3 = cat, 5 = dog)."""
    folder = _cifar_dir(directory)
    missing = [name for name in CIFAR_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 directory {folder!r} lacks {', '.join(missing)} (expected the python "
                                f"batches {', '.join(CIFAR_FILES)} of {CIFAR_DIRNAME})")
    parts = [read_cifar_batch(os.path.join(folder, name)) for name in CIFAR_FILES]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    return images, np.concatenate([p[1] for p in parts])


def binary_task(images, classes, negative: Sequence[int], positive: Sequence[int]):
    """The images whose class is in ``negative`` (y = −1) or ``positive`` (y = +1), their labels and
    their original classes (kept for stratified splitting)."""
    negative, positive = tuple(int(c) for c in negative), tuple(int(c) for c in positive)
    if not negative or not positive or set(negative) & set(positive):
        raise ValueError(f"negative={negative} and positive={positive} must be non-empty and disjoint class sets")
    classes = np.asarray(classes)
    absent = [c for c in negative + positive if not np.any(classes == c)]
    if absent:
        raise ValueError(f"classes {absent} have no images in this data set (present: {sorted(set(classes.tolist()))})")
    keep = np.isin(classes, negative + positive)
    y = np.where(np.isin(classes[keep], positive), 1, -1).astype(np.int8)
    return check_images(images)[keep], y, classes[keep]


def stratified_split(strata, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                     max_examples: int = 0) -> tuple[np.ndarray, ...]:
    """Index arrays (train, validation, test) of a split stratified by ``strata``, with the given
    fractions (summing to 1); first a stratified subsample of ``max_examples`` (0: all)."""
    from sklearn.model_selection import train_test_split
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three positive shares summing to 1; got {fractions}")
    strata = np.asarray(strata)
    index = np.arange(len(strata))
    if max_examples < 0:
        raise ValueError(f"max_examples must be 0 (all) or positive; got {max_examples}")
    if 0 < max_examples < len(index):
        index, _ = train_test_split(index, train_size=max_examples, random_state=seed, stratify=strata)
    train, rest = train_test_split(index, train_size=fractions[0], random_state=seed, stratify=strata[index])
    val, test = train_test_split(rest, train_size=fractions[1] / (fractions[1] + fractions[2]),
                                 random_state=seed, stratify=strata[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def standard_noise(shape: Sequence[int], seed: int) -> np.ndarray:
    """ξ ~ N(0, I) of the given shape, float32, from ``np.random.default_rng(seed)`` (NumPy, so the
    noise does not change with the JAX version); row i is example i's fixed noise."""
    return np.random.default_rng(seed).standard_normal(tuple(shape), dtype=np.float32)


def add_noise(images, variance: float, noise) -> np.ndarray:
    """x̃ = x + √v · ξ: images with Gaussian noise of variance v per pixel, ξ the fixed standard draw."""
    variance = float(variance)
    if not math.isfinite(variance) or variance < 0:
        raise ValueError(f"noise variance must be a finite number ≥ 0; got {variance}")
    images, noise = np.asarray(images, np.float32), np.asarray(noise, np.float32)
    if noise.shape != images.shape:
        raise ValueError(f"noise of shape {noise.shape} does not match images of shape {images.shape}")
    return images + np.float32(math.sqrt(variance)) * noise


def noisy_splits(images, y, split: tuple[np.ndarray, np.ndarray, np.ndarray], variance: float,
                 noise) -> ImageSplits:
    """Train / validation / test images of the index arrays ``split``, each with its own fixed noise."""
    noisy = add_noise(images, variance, noise)
    y = np.asarray(y)
    train, val, test = split
    return ImageSplits(noisy[train], y[train], noisy[val], y[val], noisy[test], y[test])
