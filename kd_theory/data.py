"""Data sets of the experiments, all normalised the same way (rows on the unit sphere).

* Table-1 tasks "digit > 4" built from scikit-learn's bundled 8×8 ``digits`` (no download):
  ``full`` (all digits) and ``reduced`` (digits 1, 4, 7, 9 removed).
* The same tasks from real MNIST files in IDX format that a user already has.
* Synthetic families whose margin is set by a knob: noisy 2-XOR in dimension d, and linearly
  separable data with a set margin.

Binary tasks (``num_classes == 2``) have labels ±1 (float32); C-class tasks integer labels 0..C−1
(int32), e.g. ``digits_task(num_classes=10)``. Synthetic data use NumPy's generator so that a data set
does not depend on the JAX version.
"""
from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zlib

import numpy as np

DIGIT_VARIANTS = ("full", "reduced")
REDUCED_REMOVED_DIGITS = (1, 4, 7, 9)
XOR_CORNERS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float64)  # label +1, +1, −1, −1
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A task with inputs on the unit sphere: binary (``num_classes=2``, labels in {−1, +1}) or with
    C = ``num_classes`` > 2 classes (integer labels 0..C−1). ``X_val, y_val`` (optional) are held out
    of training for choosing settings; ``X_test, y_test`` only report."""
    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    num_classes: int = 2

    @property
    def dim(self) -> int:
        return self.X_train.shape[1]


def normalise_rows(X, what="inputs"):
    """x ← x/‖x‖₂ for every row; zero rows are an error (they have no direction)."""
    X = np.asarray(X, np.float64)
    if not np.all(np.isfinite(X)):
        bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
        raise ValueError(f"{what}: rows {bad[:10].tolist()} contain NaN or inf")
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{what}: rows {zero[:10].tolist()} have zero norm and cannot be put on the unit sphere")
    return (X / norms[:, None]).astype(np.float32)


def _digit_task(name, images, digits, test_images, test_digits, variant, center, info, val_mask=None,
                num_classes=2):
    """digit > 4 (class +1 = {5..9}), or (``num_classes=10``) the digit itself as the label 0..9;
    ``reduced`` drops digits 1, 4, 7, 9 from train, validation and test (binary only).

    ``val_mask`` (over the training images) marks the validation images; they are left out of the
    training set and of the centring mean.
    """
    if variant not in DIGIT_VARIANTS:
        raise ValueError(f"unknown digits variant {variant!r}; allowed: {', '.join(DIGIT_VARIANTS)}")
    if num_classes not in (2, 10):
        raise ValueError(f"num_classes must be 2 (digit > 4) or 10 (the digit); got num_classes={num_classes}")
    if num_classes == 10 and variant != "full":
        raise ValueError(f"the 10-class digits task has only the 'full' variant; got variant={variant!r}")
    val_mask = np.zeros(len(digits), bool) if val_mask is None else np.asarray(val_mask, bool)
    images = images.reshape(len(images), -1).astype(np.float64)
    test_images = test_images.reshape(len(test_images), -1).astype(np.float64)
    parts = {"train": (images[~val_mask], digits[~val_mask]), "val": (images[val_mask], digits[val_mask]),
             "test": (test_images, test_digits)}
    if variant == "reduced":
        parts = {k: (x[~np.isin(d, REDUCED_REMOVED_DIGITS)], d[~np.isin(d, REDUCED_REMOVED_DIGITS)])
                 for k, (x, d) in parts.items()}
    if center:  # no bias in the network: centring on the training mean lets ReLU gates split the data
        mean = parts["train"][0].mean(axis=0)
        parts = {k: (x - mean, d) for k, (x, d) in parts.items()}
    if num_classes == 10:
        label = lambda d: np.asarray(d, np.int32)
        name = f"{name}10"
    else:
        label = lambda d: np.where(d > 4, 1.0, -1.0).astype(np.float32)
    X = {k: normalise_rows(x, f"{name} {k} images") if len(x) else x.astype(np.float32)
         for k, (x, _) in parts.items()}
    has_val = bool(val_mask.any())
    return Dataset(name=f"{name}-{variant}", num_classes=num_classes,
                   X_train=X["train"], y_train=label(parts["train"][1]),
                   X_test=X["test"], y_test=label(parts["test"][1]),
                   info=dict(info, variant=variant, center=center, n_train=int(len(parts["train"][1])),
                             n_val=int(len(parts["val"][1])), n_test=int(len(parts["test"][1]))),
                   X_val=X["val"] if has_val else None, y_val=label(parts["val"][1]) if has_val else None)


def digits_task(variant: str = "full", test_fraction: float = 0.2, split_seed: int = 0,
                center: bool = True, val_fraction: float = 0.0, num_classes: int = 2) -> Dataset:
    """Table-1 task "digit > 4" on scikit-learn's bundled 8×8 digits (1,797 images, d = 64), or with
    ``num_classes=10`` the 10-class task (label = the digit, 0..9; name ``digits10-full``).

    A stratified (by digit) train/test split fixed by ``split_seed`` (the same images for both tasks); then, if ``val_fraction`` > 0,
    that share of the training images is held out as a validation set, stratified by digit (the same
    ``split_seed``); then ``reduced`` removes 1, 4, 7, 9 everywhere. The test split does not depend
    on ``val_fraction``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    bunch = load_digits()
    Xtr, Xte, dtr, dte = train_test_split(bunch.data, bunch.target, test_size=test_fraction,
                                          random_state=split_seed, stratify=bunch.target)
    val_mask = np.zeros(len(dtr), bool)
    if val_fraction > 0:
        _, val_idx = train_test_split(np.arange(len(dtr)), test_size=val_fraction, random_state=split_seed,
                                      stratify=dtr)
        val_mask[val_idx] = True
    return _digit_task("digits", Xtr, dtr, Xte, dte, variant, center,
                       {"source": "sklearn.datasets.load_digits", "split_seed": split_seed,
                        "test_fraction": test_fraction, "val_fraction": val_fraction}, val_mask, num_classes)


def _decode_idx(raw: bytes) -> np.ndarray:
    """The array of the bytes of an IDX file; ValueError saying what is wrong."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("not an IDX file (the first two bytes must be zero)")
    if raw[2] != 0x08:
        raise ValueError(f"IDX element type 0x{raw[2]:02x} is not supported (only 0x08, unsigned byte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError("truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape)  # exact (np.prod of large dimensions would overflow)
    if len(raw) - header != expected:
        raise ValueError(f"header says shape {shape} ({expected} bytes) but the file has "
                         f"{len(raw) - header} bytes of data")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (MNIST's format), gzipped or not, into a uint8 array.

    Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then one
    big-endian uint32 per dimension. Every way a file can fail to decode is a ValueError naming it.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    gzipped = path.endswith(".gz")
    try:
        with (gzip.open if gzipped else open)(path, "rb") as fh:
            raw = fh.read()
    # a damaged gzip fails in the header (BadGzipFile), the deflate stream (zlib.error), the end
    # (EOFError) or the checksum (BadGzipFile)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{path}: cannot be read as gzip ({type(exc).__name__}: {exc}); the file is damaged, "
                         "download it again") from exc
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not gzipped and raw[:2] == b"\x1f\x8b":
        raise ValueError(f"{path}: is gzip-compressed; name it {os.path.basename(path)}.gz or decompress it")
    try:
        return _decode_idx(raw)
    except (ValueError, struct.error) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _find_idx(directory, stem):
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"MNIST file {stem} (or {stem}.gz) not found in {directory!r}; expected the four "
                            f"files {', '.join(MNIST_FILES.values())}")


def load_mnist_idx(directory: str):
    """The four MNIST IDX files from ``directory`` as (train_images, train_labels, test_images, test_labels)."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MNIST directory {directory!r} does not exist")
    paths = {key: _find_idx(directory, stem) for key, stem in MNIST_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_path, label_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.ndim != 3:
            raise ValueError(f"{image_path}: MNIST images must be 3-D (count, rows, columns); got shape {images.shape}")
        if labels.ndim != 1:
            raise ValueError(f"{label_path}: MNIST labels must be 1-D; got shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels ({image_path}, "
                             f"{label_path})")
        if labels.max(initial=0) > 9:
            raise ValueError(f"{label_path}: labels must be digits 0..9; found {labels.max()}")
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def mnist_task(directory: str, variant: str = "full", center: bool = True, val_size: int = 0) -> Dataset:
    """Table-1 task "digit > 4" on real MNIST read from IDX files (its own train/test split).

    ``val_size`` > 0 holds out the **last** ``val_size`` training images as the validation set (the usual
    MNIST convention: 50,000 train / 10,000 validation)."""
    tri, trl, tei, tel = load_mnist_idx(directory)
    if not 0 <= val_size < len(trl):
        raise ValueError(f"val_size must be in [0, {len(trl)}) (the number of MNIST training images); got {val_size}")
    val_mask = np.arange(len(trl)) >= len(trl) - val_size
    return _digit_task("mnist", tri, trl, tei, tel, variant, center,
                       {"source": os.path.abspath(directory), "val_size": val_size}, val_mask)


VAL_SOURCES = ("train", "test")   # where mnist_classes_task takes its validation images from


def classes_task(name: str, X_train, y_train, X_val, y_val, X_test, y_test, *, center: bool = True,
                 info: dict | None = None) -> Dataset:
    """A C-class task (label = the class index 0..C−1, C = the largest label + 1) from inputs already
    split into train / validation / test: each input flattened, centred on the **training** mean when
    ``center`` (no bias in the network: centring lets ReLU gates split the data), then put on the unit
    sphere."""
    parts = {"train": (X_train, y_train), "val": (X_val, y_val), "test": (X_test, y_test)}
    parts = {k: (np.asarray(x, np.float64).reshape(len(x), -1), np.asarray(y).astype(np.int32))
             for k, (x, y) in parts.items()}
    for split, (x, y) in parts.items():
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"{name} {split}: {len(x)} inputs and {len(y)} labels; each split needs as many "
                             "labels as inputs, at least one")
        if y.min() < 0:
            raise ValueError(f"{name} {split}: labels must be class indices ≥ 0; found {y.min()}")
    if center:
        mean = parts["train"][0].mean(axis=0)
        parts = {k: (x - mean, y) for k, (x, y) in parts.items()}
    X = {k: normalise_rows(x, f"{name} {k} inputs") for k, (x, _) in parts.items()}
    num_classes = int(max(y.max() for _, y in parts.values())) + 1
    return Dataset(name=name, num_classes=num_classes, X_train=X["train"], y_train=parts["train"][1],
                   X_val=X["val"], y_val=parts["val"][1], X_test=X["test"], y_test=parts["test"][1],
                   info=dict(info or {}, center=center, n_train=len(X["train"]), n_val=len(X["val"]),
                             n_test=len(X["test"])))


def mnist_classes_task(directory: str, center: bool = True, val_size: int = 10000, val_from: str = "train",
                       split_seed: int = 0) -> Dataset:
    """MNIST's ten digits (label = the digit; name ``mnist10``) from its IDX files, on its own 60,000 /
    10,000 train/test split with ``val_size`` validation images held out:

    * ``val_from="train"``: the **last** ``val_size`` training images (MNIST's usual 50,000 / 10,000);
    * ``val_from="test"``: ``val_size`` test images drawn stratified by digit with ``split_seed``; the
      rest of the test split reports, and all 60,000 training images can train.
    """
    from sklearn.model_selection import train_test_split
    if val_from not in VAL_SOURCES:
        raise ValueError(f"val_from={val_from!r}; allowed: {', '.join(VAL_SOURCES)}")
    tri, trl, tei, tel = load_mnist_idx(directory)
    source = trl if val_from == "train" else tel
    if not 0 < val_size < len(source):
        raise ValueError(f"val_size={val_size} must be in 1..{len(source) - 1} (MNIST's {val_from} split has "
                         f"{len(source):,} images)")
    if val_from == "train":
        cut = len(trl) - val_size
        splits = (tri[:cut], trl[:cut], tri[cut:], trl[cut:], tei, tel)
    else:
        val, test = train_test_split(np.arange(len(tel)), train_size=val_size, random_state=split_seed,
                                     stratify=tel)
        val, test = np.sort(val), np.sort(test)
        splits = (tri, trl, tei[val], tel[val], tei[test], tel[test])
    return classes_task("mnist10", *splits, center=center,
                        info={"source": os.path.abspath(directory), "val_size": val_size, "val_from": val_from,
                              "split_seed": split_seed if val_from == "test" else None})


def cifar10_classes_task(path: str, center: bool = True, split_seed: int = 0,
                         fractions=(4 / 6, 1 / 6, 1 / 6), cache_dir: str | None = None) -> Dataset:
    """CIFAR-10's ten classes as flat 3,072-d inputs (name ``cifar10``): the 60,000 images of
    :func:`kd_theory.images.cifar10_images` pooled, then split train / validation / test with
    ``fractions`` stratified by class (default 4:1:1, Yuan et al.'s split: 40,000 / 10,000 / 10,000)."""
    from kd_theory import images
    pixels, labels = images.cifar10_images(path, cache_dir=cache_dir)
    train, val, test = images.stratified_split(labels, fractions, seed=split_seed)
    return classes_task("cifar10", pixels[train], labels[train], pixels[val], labels[val], pixels[test],
                        labels[test], center=center,
                        info={"source": os.path.abspath(path), "fractions": [float(f) for f in fractions],
                              "split_seed": split_seed})


def subset_indices(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a uniformly random subset of ``size`` of range(n) (all of them if size ≥ n)."""
    if size <= 0:
        raise ValueError(f"train_subset: size must be positive; got {size}")
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def train_subset(ds: Dataset, size: int, seed: int = 0) -> Dataset:
    """The same task with the training examples :func:`subset_indices` picks (validation and test
    unchanged), e.g. to choose a regime on a 10,000-image MNIST subset. ``size`` ≥ n keeps everything."""
    n = len(ds.y_train)
    idx = subset_indices(n, size, seed)
    if len(idx) == n:
        return ds
    return dataclasses.replace(ds, name=f"{ds.name}-sub{size}", X_train=ds.X_train[idx], y_train=ds.y_train[idx],
                               info=dict(ds.info, train_subset=size, train_subset_seed=seed))


def noisy_xor_points(n: int, dim: int, rng: np.random.Generator):
    """n points of noisy 2-XOR (Ji & Telgarsky): x ∈ {(±1,0),(0,±1)} × {±1}^{d−2}, scaled by 1/√(d−1).

    The label is the XOR of the first two coordinates: +1 on (±1, 0), −1 on (0, ±1); the other d − 2
    coordinates are noise. Points are drawn uniformly from the 4 · 2^{d−2} possible ones.
    """
    if dim < 3:
        raise ValueError(f"noisy 2-XOR needs dimension d ≥ 3; got d={dim}")
    which = rng.integers(0, 4, size=n)
    noise = rng.choice([-1.0, 1.0], size=(n, dim - 2))
    X = np.concatenate([XOR_CORNERS[which], noise], axis=1) / np.sqrt(dim - 1)
    y = np.where(which < 2, 1.0, -1.0)
    return X.astype(np.float32), y.astype(np.float32)


def noisy_xor_support(dim: int):
    """All 4 · 2^{d−2} points of noisy 2-XOR (the conventions of :func:`noisy_xor_points`).

    The margin of this set is the population margin γ of the distribution (a sample has fewer
    constraints, hence a larger margin).
    """
    if not 3 <= dim <= 16:
        raise ValueError(f"noisy_xor_support: need 3 ≤ dim ≤ 16 (the support has 4·2^(d−2) points); got {dim}")
    noise = 1.0 - 2.0 * ((np.arange(2 ** (dim - 2))[:, None] >> np.arange(dim - 2)) & 1)
    X = np.concatenate([np.repeat(XOR_CORNERS, len(noise), axis=0), np.tile(noise, (4, 1))], axis=1)
    y = np.repeat([1.0, 1.0, -1.0, -1.0], len(noise))
    return (X / np.sqrt(dim - 1)).astype(np.float32), y.astype(np.float32)


def noisy_xor(dim: int, n_train: int = 1000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Noisy 2-XOR in dimension d, margin γ = Θ(1/d)."""
    rng = np.random.default_rng(seed)
    Xtr, ytr = noisy_xor_points(n_train, dim, rng)
    Xte, yte = noisy_xor_points(n_test, dim, rng)
    return Dataset(f"xor-d{dim}", Xtr, ytr, Xte, yte, {"source": "noisy_xor", "dim": dim, "seed": seed})


def separable_with_margin(dim: int, margin: float, n_train: int = 1000, n_test: int = 1000,
                          seed: int = 0) -> Dataset:
    """Unit-sphere points with y⟨u, x⟩ ≥ margin for a random unit u (rejection sampling)."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1); got {margin}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(dim)
    u /= np.linalg.norm(u)
    rows, need = [], n_train + n_test
    while need > 0:
        X = normalise_rows(rng.standard_normal((max(4 * need, 256), dim)))
        keep = X[np.abs(X @ u) >= margin][:need]
        rows.append(keep)
        need -= len(keep)
    X = np.concatenate(rows)
    y = np.where(X @ u > 0, 1.0, -1.0).astype(np.float32)
    return Dataset(f"separable-d{dim}-g{margin:g}", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   {"source": "separable_with_margin", "dim": dim, "margin": margin, "seed": seed,
                    "direction": u.tolist()})


def sphere_xor(dim: int, n_train: int = 1000, n_test: int = 1000, label_noise: float = 0.0,
               seed: int = 0) -> Dataset:
    """Points uniform on the unit sphere in R^d, label sign(x₁ x₂) flipped with probability ``label_noise``.

    The sweep benchmark's task ("noisy-XOR-style labels"); ``label_noise`` is a difficulty knob.
    """
    if not 0 <= label_noise < 0.5:
        raise ValueError(f"label_noise must be in [0, 0.5); got {label_noise}")
    rng = np.random.default_rng(seed)
    X = normalise_rows(rng.standard_normal((n_train + n_test, dim)))
    y = np.sign(X[:, 0] * X[:, 1])
    y = np.where(y == 0, 1.0, y)
    y = np.where(rng.random(len(y)) < label_noise, -y, y).astype(np.float32)
    return Dataset(f"sphere-xor-d{dim}-noise{label_noise:g}", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   {"source": "sphere_xor", "dim": dim, "label_noise": label_noise, "seed": seed})
