"""Image data for the deep experiment: (n, H, W, C) float32 arrays scaled to [0, 1], a binary task
(labels y ∈ {−1, +1}), a stratified train/validation/test split and fixed Gaussian input noise.

Sources: scikit-learn's bundled 8×8 digits (offline default), MNIST 28×28 from its IDX files
(:func:`kd_theory.data.load_mnist_idx`), and CIFAR-10 32×32 from the user's own copy in any of three
forms (:func:`cifar10_images` tells them apart from ``path``):

* the python-pickle batches ``cifar-10-batches-py`` (``data_batch_1`` … ``data_batch_5``,
  ``test_batch``): a folder holding them, or the folder above it;
* an image-folder tree ``train/<class>/*`` and ``test/<class>/*`` (PNG, JPEG or anything Pillow
  reads; every image 32×32 RGB): a folder holding train/ and test/, or the folder above it;
* a ``.tar`` / ``.tar.gz`` archive of such a tree (train/ and test/ at its top or under one top-level
  folder), streamed member by member without unpacking.

As torchvision's ImageFolder does, class folders in alphabetical order are the label indices; the ten
folders must be exactly CIFAR-10's class names, whose alphabetical order is CIFAR-10's own label order
(airplane 0, automobile 1, bird 2, cat 3, deer 4, dog 5, frog 6, horse 7, ship 8, truck 9). Within a
class, images are in the order of their file names. Hidden files and folders (``.DS_Store``, ``._*``)
are skipped; files outside train/ and test/ (a README) are ignored.

Every CIFAR-10 source returns the same thing: the images of train then test, **pooled**, as
(N, 32, 32, 3) float32 pixel / 255 in [0, 1], and their classes (N,) int64. Identical pixels give
identical arrays whatever the source (a JPEG copy's pixels are its decoded JPEGs, not the originals).

Decoded trees and archives are cached: the uint8 images and labels go to
``<cache>/cifar10-<key>.npz``, written atomically, so only the first call decodes (tens of seconds
for 60,000 JPEGs; a cached call takes well under a second). ``<cache>`` is the ``cache_dir`` argument,
else ``$KD_CACHE_DIR``, else ``$XDG_CACHE_HOME/kd-theory``, else ``~/.cache/kd-theory``. The key of an
archive is the sha256 of its bytes; of a tree, the names, sizes and modification times of its files;
both also hold Pillow's version (JPEG decoders may differ in the last bit). A cache that cannot be
written gives a warning, not an error; an unreadable cache file is decoded afresh and replaced.
The pickles are read directly (no decoding, no cache).

Every source is **pooled** (MNIST's and CIFAR's own train/test parts together), restricted to the
two class sets, optionally subsampled (stratified), then split 80/10/10 stratified by class — the
paper's 80/10/10 split of the cat/dog images.

Noise (the paper says only "added Gaussian noise of variance v"; the rest is ours):
x̃_i = x_i + √v · ξ_i with ξ_i ~ N(0, I) drawn **once per example** from ``noise_seed`` (the same
draw at every epoch, for train, validation and test alike, and the same ξ at every variance, so the
noise levels differ only in their scale). Not clipped back to [0, 1].
"""
from __future__ import annotations

import collections
import hashlib
import io
import math
import os
import pickle
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from typing import NamedTuple, Sequence

import numpy as np

CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_SHAPE = (32, 32, 3)
CIFAR_SPLITS = ("train", "test")   # pooled in this order
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


def _pixels_to_unit(pixels) -> np.ndarray:
    """uint8 pixels as float32 pixel / 255 in [0, 1]: the one scaling of every source."""
    return np.divide(pixels, np.float32(255), dtype=np.float32)


def mnist_images(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 70,000 images (train then test) as (70000, 28, 28, 1) in [0, 1] (pixel / 255) and digits."""
    from kd_theory.data import load_mnist_idx
    train_x, train_y, test_x, test_y = load_mnist_idx(directory)
    images = _pixels_to_unit(np.concatenate([train_x, test_x])[..., None])
    return images, np.concatenate([train_y, test_y]).astype(np.int64)


# --- CIFAR-10: python batches, an image-folder tree, or a tar archive of one ----------------------------------------

CIFAR_SOURCES = (f"a folder with the python batches ({CIFAR_DIRNAME}: {', '.join(CIFAR_FILES)}), a folder with "
                 f"an image-folder tree (train/<class>/*.png|jpg and test/<class>/*), or a .tar/.tar.gz archive "
                 f"of such a tree")


def cifar10_images(path: str, cache_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from ``path`` — the python batches, an image-folder tree or a .tar/.tar.gz of one (module
    docstring) — pooled, train then test: images (N, 32, 32, 3) float32 pixel / 255 in [0, 1] and classes
    (N,) int64 0..9 (3 = cat, 5 = dog). Trees and archives are decoded once and cached in ``cache_dir``
    (default :func:`cache_directory`)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"CIFAR-10 data {path!r} does not exist (expected {CIFAR_SOURCES})")
    if os.path.isfile(path):
        pixels, labels = _cached(_archive_key(path), lambda: _decode_tree(_archive_entries(path), path), cache_dir)
        return _pixels_to_unit(pixels), labels
    batches = _batch_folder(path)
    if batches is not None:
        pixels, labels = read_cifar_batches(batches)
        return _pixels_to_unit(pixels), labels
    root = _tree_root(path)
    if root is None:
        raise FileNotFoundError(f"CIFAR-10 directory {path!r} lacks {', '.join(CIFAR_FILES)} and train/, test/ "
                                f"(expected {CIFAR_SOURCES})")
    listing = _tree_listing(root)
    pixels, labels = _cached(_tree_key(listing), lambda: _decode_tree(_tree_entries(listing), root), cache_dir)
    return _pixels_to_unit(pixels), labels


def _batch_folder(directory: str) -> str | None:
    """``directory`` or its ``cifar-10-batches-py`` subfolder, whichever holds a python batch; None if neither."""
    for folder in (directory, os.path.join(directory, CIFAR_DIRNAME)):
        if any(os.path.isfile(os.path.join(folder, name)) for name in CIFAR_FILES):
            return folder
    return None


def read_cifar_batches(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """The six python batches of ``folder`` in the order of CIFAR_FILES (train, then test): images
    (N, 32, 32, 3) uint8 and labels (N,) int64."""
    missing = [name for name in CIFAR_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 directory {folder!r} lacks {', '.join(missing)} (expected the python "
                                f"batches {', '.join(CIFAR_FILES)} of {CIFAR_DIRNAME})")
    parts = [read_cifar_batch(os.path.join(folder, name)) for name in CIFAR_FILES]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_cifar_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a pickled dict with ``data`` (N, 3072) integers 0..255, rows = 1024 red,
    1024 green, 1024 blue values of a 32×32 image in row-major order, and ``labels`` (N classes 0..9).
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
    if data.dtype.kind not in "iuf":
        raise ValueError(f"{path}: 'data' must hold integer pixels 0..255; got dtype {data.dtype}")
    # casting to uint8 would wrap 256 to 0 and truncate 0.5 to 0: refuse instead
    if data.size and not (data.min() >= 0 and data.max() <= 255 and np.array_equal(data, np.floor(data))):
        raise ValueError(f"{path}: 'data' must hold integer pixels 0..255; found values in "
                         f"{data.min()}..{data.max()}" + ("" if data.dtype.kind in "iu" else " (or non-integers)"))
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.uint8), labels.astype(np.int64)


def _is_hidden(name: str) -> bool:
    """.DS_Store, macOS's ._ twins, .ipynb_checkpoints: skipped in trees and archives."""
    return name.startswith(".")


def _tree_root(directory: str) -> str | None:
    """``directory`` or its only (non-hidden) subfolder, whichever holds train/ or test/; None if neither."""
    def has_split(folder):
        return any(os.path.isdir(os.path.join(folder, split)) for split in CIFAR_SPLITS)
    if has_split(directory):
        return directory
    subfolders = [e.path for e in os.scandir(directory) if e.is_dir() and not _is_hidden(e.name)]
    return subfolders[0] if len(subfolders) == 1 and has_split(subfolders[0]) else None


class _TreeEntry(NamedTuple):
    path: str                 # the file or folder
    parts: tuple[str, ...]    # its path relative to the tree's root, e.g. ("train", "cat", "0001.png")
    size: int                 # bytes; −1 for a folder
    mtime_ns: int


def _tree_listing(root: str) -> list[_TreeEntry]:
    """Every non-hidden folder and file below ``root``/train and ``root``/test (FileNotFoundError if either
    is missing), sorted."""
    absent = [f"{split}/" for split in CIFAR_SPLITS if not os.path.isdir(os.path.join(root, split))]
    if absent:
        raise FileNotFoundError(f"CIFAR-10 image-folder tree {root!r} lacks {' and '.join(absent)} (expected "
                                f"train/<class>/*.png|jpg and test/<class>/* for the ten classes)")
    listing = []
    for split in CIFAR_SPLITS:
        for folder, subfolders, files in os.walk(os.path.join(root, split)):
            subfolders[:] = sorted(d for d in subfolders if not _is_hidden(d))
            parts = tuple(os.path.relpath(folder, root).split(os.sep))
            entries = [(folder, parts)] + [(os.path.join(folder, f), parts + (f,)) for f in files if not _is_hidden(f)]
            for path, rel in entries:
                info = os.stat(path)
                listing.append(_TreeEntry(path, rel, -1 if path == folder else info.st_size, info.st_mtime_ns))
    return sorted(listing, key=lambda e: e.parts)


def _tree_entries(listing: list[_TreeEntry]):
    """(name, parts, bytes, or None for a folder) of each entry of a tree's listing."""
    for entry in listing:
        if entry.size < 0:
            yield entry.path, entry.parts, None
        else:
            with open(entry.path, "rb") as fh:
                yield entry.path, entry.parts, fh.read()


def _archive_entries(path: str):
    """(name, parts, bytes, or None for a folder) of each member of the tar archive ``path``, streamed, with
    parts relative to the tree's root: the archive's top, or its one top-level folder above train/ and test/."""
    root = None
    try:
        with tarfile.open(path, "r|*") as archive:   # "|": a stream, members read in order, nothing unpacked
            for member in archive:
                parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
                top = _tree_top(parts)
                if top is None or any(_is_hidden(p) for p in parts):
                    continue   # a README, a folder above train/, .DS_Store
                if root is None:
                    root = top
                elif top != root:
                    raise ValueError(f"{path}: train/ or test/ found both under {_place(root)} and under "
                                     f"{_place(top)} ({member.name}); expected one tree")
                name = f"{member.name} (in {path})"
                if member.isdir():
                    yield name, parts[len(root):], None
                elif member.isfile():
                    yield name, parts[len(root):], archive.extractfile(member).read()
                elif member.islnk() or member.issym():   # a stream cannot go back to the target: say so
                    raise ValueError(f"{name} is a link to {member.linkname}; only regular files are read (make "
                                     f"the archive with tar --dereference --hard-dereference)")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable .tar/.tar.gz archive ({type(exc).__name__}: {exc}); expected "
                         f"{CIFAR_SOURCES}") from exc


def _tree_top(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The folder above train/ or test/ in an archive member's path: () at the archive's top, (folder,) one
    level down, None if neither."""
    if parts and parts[0] in CIFAR_SPLITS:
        return ()
    if len(parts) > 1 and parts[1] in CIFAR_SPLITS:
        return parts[:1]
    return None


def _place(top: tuple[str, ...]) -> str:
    return f"{top[0]}/" if top else "the archive's top"


def _decode_image(raw: bytes, name: str) -> np.ndarray:
    """The (32, 32, 3) uint8 pixels of one encoded image (PNG, JPEG, … as Pillow reads it)."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            size, mode = image.size, image.mode
            pixels = np.asarray(image, dtype=np.uint8) if (size, mode) == ((32, 32), "RGB") else None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name} is not an image (Pillow cannot read it: {exc})") from exc
    if pixels is None:
        raise ValueError(f"{name} is a {size[0]}×{size[1]} {mode} image; CIFAR-10 images are 32×32 RGB")
    return pixels


def _decode_tree(entries, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of the image-folder tree whose ``entries`` are
    (name, parts relative to the tree's root, bytes or None for a folder): train then test, each by class
    (alphabetical = CIFAR-10's label order) then file name."""
    folders = {split: set() for split in CIFAR_SPLITS}   # class folders seen in each split
    decoded = {}                                          # (split, class, file name) -> pixels
    for name, parts, raw in entries:
        if parts[0] not in CIFAR_SPLITS:
            continue   # beside train/ and test/
        if raw is None:
            if len(parts) == 2:
                folders[parts[0]].add(parts[1])
            continue
        if len(parts) != 3:
            raise ValueError(f"{name}: images must lie at train|test/<class>/<file>; this file is "
                             f"{'directly in' if len(parts) == 2 else 'nested below a class folder of'} {parts[0]}/")
        split, label, _ = parts
        folders[split].add(label)
        if label not in CIFAR_CLASSES:   # fail before decoding the rest
            raise ValueError(f"{name}: {split}/{label}/ is not a CIFAR-10 class folder (expected exactly "
                             f"{', '.join(CIFAR_CLASSES)})")
        decoded[parts] = _decode_image(raw, name)
    if not decoded:
        raise ValueError(f"{source} holds no images (expected train/<class>/*.png|jpg and test/<class>/* for the "
                         f"ten CIFAR-10 classes)")
    counts = collections.Counter(p[:2] for p in decoded)
    for split in CIFAR_SPLITS:
        extra = sorted(folders[split] - set(CIFAR_CLASSES))
        if extra:
            raise ValueError(f"{source}: {split}/ has folder(s) {', '.join(extra)} that are not CIFAR-10 classes "
                             f"(expected exactly {', '.join(CIFAR_CLASSES)})")
        empty = [c for c in CIFAR_CLASSES if not counts[split, c]]
        if len(empty) == len(CIFAR_CLASSES):
            raise ValueError(f"{source} has no {split}/ folder of images (expected train/ and test/, each with "
                             f"a folder per CIFAR-10 class)")
        if empty:
            raise ValueError(f"{source}: {split}/ has no images of class(es) {', '.join(empty)} (expected a "
                             f"folder with images for each of {', '.join(CIFAR_CLASSES)})")
    label_of = {c: i for i, c in enumerate(sorted(CIFAR_CLASSES))}   # ImageFolder: alphabetical order
    order = sorted(decoded, key=lambda p: (CIFAR_SPLITS.index(p[0]), label_of[p[1]], p[2]))
    return np.stack([decoded[p] for p in order]), np.array([label_of[p[1]] for p in order], np.int64)


# --- the cache of decoded trees and archives ------------------------------------------------------------------------

CACHE_ENV = "KD_CACHE_DIR"
CACHE_FORMAT = 1   # bump when what a cache file holds changes


def cache_directory(cache_dir: str | None = None) -> str:
    """Where decoded data are cached: ``cache_dir``, else ``$KD_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/kd-theory``, else ``~/.cache/kd-theory``."""
    if cache_dir:
        return os.fspath(cache_dir)
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kd-theory")


def _decoder_version() -> str:
    import PIL
    return f"format {CACHE_FORMAT}, Pillow {PIL.__version__}"


def _archive_key(path: str) -> str:
    """sha256 of the archive's bytes and the decoder's version (a moved or copied archive still hits)."""
    digest = hashlib.sha256(_decoder_version().encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def _tree_key(listing: list[_TreeEntry]) -> str:
    """sha256 of the tree's relative names, sizes and modification times and the decoder's version."""
    digest = hashlib.sha256(_decoder_version().encode())
    for entry in listing:
        digest.update(f"{'/'.join(entry.parts)}\0{entry.size}\0{entry.mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _cached(key: str, decode, cache_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The cached (uint8 images, labels) of ``key``, or ``decode()``'s, then written to the cache."""
    path = os.path.join(cache_directory(cache_dir), f"cifar10-{key}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as cached:
                pixels, labels = cached["images"], cached["labels"]
            if (pixels.dtype == np.uint8 and pixels.ndim == 4 and pixels.shape[1:] == CIFAR_SHAPE
                    and labels.dtype == np.int64 and labels.shape == pixels.shape[:1] and len(labels)):
                return pixels, labels
            problem = "arrays of the wrong shape or type"
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"CIFAR-10 cache {path} is unreadable ({problem}); decoding afresh and replacing it",
                      stacklevel=3)
    pixels, labels = decode()
    _write_atomically(path, images=pixels, labels=labels)
    return pixels, labels


def _write_atomically(path: str, **arrays) -> None:
    """np.savez to a temporary file beside ``path``, then renamed onto it: a reader never sees half a file.
    A cache that cannot be written is a warning (the data are still returned)."""
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".cifar10-", suffix=".tmp")
        with os.fdopen(descriptor, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
        warnings.warn(f"could not write the CIFAR-10 cache {path} ({exc}); the next call decodes again "
                      f"(set cache_dir= or ${CACHE_ENV} to a writable folder)", stacklevel=3)


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
