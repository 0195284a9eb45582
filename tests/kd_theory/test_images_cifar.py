"""CIFAR-10 from its three sources (python batches, an image-folder tree, a tar archive of one): the same
arrays for the same pixels, ImageFolder's class order, train pooled before test, the decode cache and the
errors on bad input. The trees and archives are tiny ones written here with Pillow."""
import os
import pickle
import re
import shutil
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

from kd_theory import images

CLASSES = images.CIFAR_CLASSES
# images per class in each split (train 3, test 2): 50 images, 1 KB PNG each
PER_CLASS = {"train": 3, "test": 2}


def _pixels(seed=0):
    """{(split, class, file name): (32, 32, 3) uint8} with random pixels, its class in pixel (0, 0, 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in PER_CLASS.items():
        for label, name in enumerate(CLASSES):
            for i in range(n):
                px = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                px[0, 0, 0] = label
                # names whose order differs from their writing order: "10.png" sorts before "2.png"
                out[split, name, f"{(2, 10, 1)[i]}.png"] = px
    return out


def _imagefolder_order(pixels):
    """The (images, labels) ImageFolder would give: train then test, class by class in alphabetical
    order, file names in (string) order — written out independently of the loader."""
    keys = [(s, c, f) for s in ("train", "test") for c in sorted(CLASSES)
            for f in sorted(f for (s2, c2, f) in pixels if (s2, c2) == (s, c))]
    return np.stack([pixels[k] for k in keys]), np.array([sorted(CLASSES).index(c) for _, c, _ in keys])


EXTENSION = {"PNG": ".png", "JPEG": ".jpg"}


def _write_tree(root, pixels, fmt="PNG"):
    for (split, name, file), px in pixels.items():
        os.makedirs(root / split / name, exist_ok=True)
        Image.fromarray(px).save(root / split / name / file.replace(".png", EXTENSION[fmt]), format=fmt)
    return root


def _write_archive(path, tree, top=None, mode="w:gz"):
    """A tar of ``tree``'s train/ and test/ (under ``top``/ if given), members in an unsorted order."""
    with tarfile.open(path, mode) as archive:
        for split in ("test", "train"):
            archive.add(tree / split, arcname=f"{top}/{split}" if top else split)
    return path


def _write_batches(folder, pixels):
    """The python batches holding the same images as the tree, in the tree's order, spread over five
    train batches of uneven size, with the official layout (rows of 1024 R, 1024 G, 1024 B)."""
    X, labels = _imagefolder_order(pixels)
    n_train = sum(PER_CLASS["train"] for _ in CLASSES)
    rows = X.transpose(0, 3, 1, 2).reshape(len(X), 3072)
    cuts = [0, 4, 10, 11, 20, n_train, len(X)]
    os.makedirs(folder, exist_ok=True)
    for name, lo, hi in zip(images.CIFAR_FILES, cuts[:-1], cuts[1:]):
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels[lo:hi].tolist(), b"data": rows[lo:hi]}, fh)
    return folder


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


@pytest.fixture
def tree(tmp_path):
    return _write_tree(tmp_path / "tree", _pixels())


def test_the_three_sources_give_the_same_arrays(tmp_path, tree, cache):
    pixels = _pixels()
    want_X, want_labels = _imagefolder_order(pixels)
    sources = {
        "batches": _write_batches(tmp_path / "b" / images.CIFAR_DIRNAME, pixels),
        "folder above the batches": tmp_path / "b",
        "tree": tree,
        "folder above the tree": tmp_path / "above",
        "tar.gz": _write_archive(tmp_path / "c.tar.gz", tree),
        "tar with a top folder": _write_archive(tmp_path / "c.tar", tree, top="cifar10", mode="w"),
    }
    shutil.copytree(tree, tmp_path / "above" / "cifar10")
    for what, source in sources.items():
        X, labels = images.cifar10_images(str(source), cache_dir=cache)
        assert X.dtype == np.float32 and labels.dtype == np.int64, what
        assert X.shape == (50, 32, 32, 3) and labels.shape == (50,), what
        # exactly pixel / 255, train (the first 30) before test
        np.testing.assert_array_equal(X, want_X.astype(np.float32) / np.float32(255), err_msg=what)
        np.testing.assert_array_equal(labels, want_labels, err_msg=what)
        # each image carries its class folder's CIFAR-10 index (airplane 0, cat 3, dog 5, truck 9)
        np.testing.assert_array_equal(np.round(X[:, 0, 0, 0] * 255).astype(int), labels, err_msg=what)
    assert list(labels[:30]) == [c for c in range(10) for _ in range(3)]
    assert list(labels[30:]) == [c for c in range(10) for _ in range(2)]
    assert CLASSES.index("cat") == 3 and CLASSES.index("dog") == 5 and list(CLASSES) == sorted(CLASSES)


def test_jpeg_tree_and_archive_agree_with_pillow(tmp_path, cache):
    jpeg_tree = _write_tree(tmp_path / "jpeg", _pixels(1), fmt="JPEG")
    archive = _write_archive(tmp_path / "jpeg.tar.gz", jpeg_tree, top="x")
    X, labels = images.cifar10_images(str(jpeg_tree), cache_dir=cache)
    X2, labels2 = images.cifar10_images(str(archive), cache_dir=cache)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(labels, labels2)
    # the last image is test/truck/2.jpg: its pixels as Pillow decodes the file
    with Image.open(jpeg_tree / "test" / "truck" / "2.jpg") as image:
        np.testing.assert_array_equal(X[-1], np.asarray(image).astype(np.float32) / np.float32(255))
    assert labels[-1] == 9


def test_hidden_files_and_files_beside_the_tree_are_skipped(tmp_path, tree, cache):
    want = images.cifar10_images(str(tree), cache_dir=cache)
    (tree / "README.md").write_text("not an image, beside train/ and test/")
    (tree / "train" / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (tree / "train" / "cat" / "._1.png").write_bytes(b"AppleDouble")
    os.makedirs(tree / "test" / ".ipynb_checkpoints")
    for source in (tree, _write_archive(tmp_path / "x.tar.gz", tree)):
        X, labels = images.cifar10_images(str(source), cache_dir=cache)
        np.testing.assert_array_equal(X, want[0])
        np.testing.assert_array_equal(labels, want[1])


def _refuse_to_decode(raw, name):
    raise AssertionError(f"decoded {name}: the cache was not used")


def test_the_second_call_is_served_from_the_cache(tmp_path, tree, cache, monkeypatch):
    archive = _write_archive(tmp_path / "c.tar.gz", tree)
    for source in (tree, archive):
        first = images.cifar10_images(str(source), cache_dir=cache)
        with monkeypatch.context() as patch:
            patch.setattr(images, "_decode_image", _refuse_to_decode)
            second = images.cifar10_images(str(source), cache_dir=cache)
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
    # one cache file per source; no temporary file left behind
    assert sorted(f.startswith("cifar10-") and f.endswith(".npz") for f in os.listdir(cache)) == [True, True]
    # a copy of the archive elsewhere (same bytes) is the same cache entry
    shutil.copy(archive, tmp_path / "copy.tar.gz")
    monkeypatch.setattr(images, "_decode_image", _refuse_to_decode)
    images.cifar10_images(str(tmp_path / "copy.tar.gz"), cache_dir=cache)


def test_the_cache_follows_the_archive_and_the_tree(tmp_path, tree, cache, monkeypatch):
    archive = tmp_path / "c.tar.gz"
    X_old, _ = images.cifar10_images(str(_write_archive(archive, tree)), cache_dir=cache)
    images.cifar10_images(str(tree), cache_dir=cache)
    changed = _pixels()[("test", "frog", "10.png")].copy()
    changed[5, 6] = 255 - changed[5, 6]
    Image.fromarray(changed).save(tree / "test" / "frog" / "10.png")   # the same size: only the bytes differ
    _write_archive(archive, tree)
    decoded = []
    real = images._decode_image
    monkeypatch.setattr(images, "_decode_image", lambda raw, name: decoded.append(name) or real(raw, name))
    for source in (archive, tree):
        X, _ = images.cifar10_images(str(source), cache_dir=cache)
        assert len(decoded) == 50, source   # decoded afresh
        decoded.clear()
        i = 30 + 6 * 2 + 0   # test, frog (class 6), "10.png" sorts before "2.png"
        np.testing.assert_array_equal(X[i], changed / np.float32(255))
        assert np.sum(X != X_old) == 3   # that one pixel's three channels
        images.cifar10_images(str(source), cache_dir=cache)
        assert decoded == []   # and the new entry is cached in turn


def test_an_unreadable_cache_file_is_decoded_afresh(tmp_path, tree, cache):
    want = images.cifar10_images(str(tree), cache_dir=cache)
    (cache_file,) = os.listdir(cache)
    with open(os.path.join(cache, cache_file), "wb") as fh:
        fh.write(b"truncated")
    with pytest.warns(UserWarning, match="cache .* is unreadable"):
        X, labels = images.cifar10_images(str(tree), cache_dir=cache)
    np.testing.assert_array_equal(X, want[0])
    np.testing.assert_array_equal(labels, want[1])
    assert np.load(os.path.join(cache, cache_file))["images"].shape == (50, 32, 32, 3)   # replaced


def test_an_unwritable_cache_is_a_warning(tmp_path, tree):
    (tmp_path / "a file").write_text("")
    with pytest.warns(UserWarning, match="could not write the CIFAR-10 cache"):
        X, _ = images.cifar10_images(str(tree), cache_dir=str(tmp_path / "a file" / "cache"))
    assert X.shape == (50, 32, 32, 3)


def test_the_cache_folder_is_the_argument_then_the_environment(tmp_path, tree, monkeypatch):
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "from_env"))
    images.cifar10_images(str(tree))
    assert len(os.listdir(tmp_path / "from_env")) == 1
    images.cifar10_images(str(tree), cache_dir=str(tmp_path / "from_arg"))
    assert len(os.listdir(tmp_path / "from_arg")) == 1
    monkeypatch.delenv("KD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert images.cache_directory() == str(tmp_path / "xdg" / "kd-theory")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert images.cache_directory() == str(tmp_path / "home" / ".cache" / "kd-theory")


def _bad_image_file(tree, what):
    """Spoil ``tree`` with one bad file; the path the message must name."""
    target = tree / "train" / "deer" / "1.png"
    if what == "not an image":
        target.write_text("these are not pixels")
    elif what == "16×16":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(target)
    elif what == "grey":
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(target)
    elif what == "RGBA":
        Image.fromarray(np.zeros((32, 32, 4), np.uint8)).save(target)
    elif what == "extra class":
        target = tree / "test" / "kitten" / "1.png"
        os.makedirs(target.parent)
        shutil.copy(tree / "test" / "cat" / "2.png", target)
    elif what == "directly in train/":
        target = tree / "train" / "0.png"
        shutil.copy(tree / "train" / "cat" / "1.png", target)
    elif what == "nested":
        target = tree / "train" / "cat" / "more" / "0.png"
        os.makedirs(target.parent)
        shutil.copy(tree / "train" / "cat" / "1.png", target)
    return target.relative_to(tree).as_posix()


BAD_IMAGES = {"not an image": "is not an image", "16×16": "is a 16×16 RGB image; CIFAR-10 images are 32×32 RGB",
              "grey": "is a 32×32 L image", "RGBA": "is a 32×32 RGBA image",
              "extra class": "test/kitten/ is not a CIFAR-10 class folder",
              "directly in train/": "this file is directly in train/",
              "nested": "nested below a class folder of train/"}


@pytest.mark.parametrize("what", list(BAD_IMAGES))
def test_a_bad_file_is_named_in_the_error(tmp_path, tree, cache, what):
    name = _bad_image_file(tree, what)
    archive = _write_archive(tmp_path / "c.tar.gz", tree, top="top")
    for source, named in ((tree, str(tree / name)), (archive, f"top/{name} (in {archive})")):
        with pytest.raises(ValueError) as error:
            images.cifar10_images(str(source), cache_dir=cache)
        assert named in str(error.value) and BAD_IMAGES[what] in str(error.value)
    assert not os.path.exists(cache) or os.listdir(cache) == []   # nothing cached


@pytest.mark.parametrize("what, message", [
    ("missing class", "test/ has no images of class(es) cat, dog"),
    ("empty class folder", "train/ has no images of class(es) ship"),
    ("empty extra folder", "train/ has folder(s) kitten that are not CIFAR-10 classes"),
])
def test_a_missing_or_extra_class_folder_names_the_tree(tmp_path, tree, cache, what, message):
    if what == "missing class":
        shutil.rmtree(tree / "test" / "cat")
        shutil.rmtree(tree / "test" / "dog")
    elif what == "empty class folder":
        for f in os.listdir(tree / "train" / "ship"):
            os.remove(tree / "train" / "ship" / f)
    else:
        os.makedirs(tree / "train" / "kitten")
    archive = _write_archive(tmp_path / "c.tar", tree, mode="w")
    for source in (tree, archive):
        with pytest.raises(ValueError, match=re.escape(f"{source}: {message}")):
            images.cifar10_images(str(source), cache_dir=cache)


def test_a_missing_split_or_an_empty_archive_names_the_file(tmp_path, tree, cache):
    archive = _write_archive(tmp_path / "c.tar.gz", tree)
    whole = archive.read_bytes()
    shutil.rmtree(tree / "test")
    with pytest.raises(FileNotFoundError, match=re.escape(f"tree '{tree}' lacks test/")):
        images.cifar10_images(str(tree), cache_dir=cache)
    with tarfile.open(archive, "w:gz") as out:   # train/ only
        out.add(tree / "train", arcname="train")
    with pytest.raises(ValueError, match=re.escape(f"{archive} has no test/ folder of images")):
        images.cifar10_images(str(archive), cache_dir=cache)
    shutil.rmtree(tree / "train")
    lacks = re.escape(f"directory '{tree}' lacks data_batch_1") + ".*and train/, test/"
    with pytest.raises(FileNotFoundError, match=lacks):
        images.cifar10_images(str(tree), cache_dir=cache)
    with tarfile.open(archive, "w:gz") as out:   # a valid archive with no images in it
        info = tarfile.TarInfo("README")
        out.addfile(info)
    with pytest.raises(ValueError, match=re.escape(f"{archive} holds no images")):
        images.cifar10_images(str(archive), cache_dir=cache)
    bad = tmp_path / "bad.tar.gz"
    for content in (b"", b"not a tar archive at all", whole[: len(whole) // 2]):
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable .tar/.tar.gz archive")):
            images.cifar10_images(str(bad), cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="'nowhere' does not exist"):
        images.cifar10_images("nowhere", cache_dir=cache)


def test_an_archive_with_two_trees_is_refused(tmp_path, tree, cache):
    archive = tmp_path / "two.tar"
    with tarfile.open(archive, "w") as out:
        out.add(tree / "train", arcname="a/train")
        out.add(tree / "test", arcname="b/test")
    with pytest.raises(ValueError, match=re.escape(f"{archive}: train/ or test/ found both under a/ and under b/")):
        images.cifar10_images(str(archive), cache_dir=cache)


def test_a_link_in_an_archive_is_refused_not_skipped(tmp_path, tree, cache):
    os.link(tree / "train" / "cat" / "1.png", tree / "train" / "cat" / "3.png")   # a duplicate image
    X, labels = images.cifar10_images(str(tree), cache_dir=cache)   # in a tree, a link is a file
    assert len(X) == 51 and np.sum(labels[:31] == 3) == 4
    archive = _write_archive(tmp_path / "c.tar", tree, mode="w")   # tar stores the second name as a hard link
    with pytest.raises(ValueError, match=re.escape(f"train/cat/3.png (in {archive}) is a link to train/cat/1.png")):
        images.cifar10_images(str(archive), cache_dir=cache)


@pytest.mark.parametrize("data, found", [
    (np.full((2, 3072), 256, np.int64), "256..256"),        # astype(uint8) would make this 0
    (np.full((2, 3072), -1, np.int16), "-1..-1"),
    (np.full((2, 3072), 0.5), "0.5..0.5 (or non-integers)"),
])
def test_batch_pixels_outside_0_255_are_refused(tmp_path, data, found):
    folder = _write_batches(tmp_path / "b", _pixels())
    with open(folder / "data_batch_4", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [0, 1]}, fh)
    message = f"{folder / 'data_batch_4'}: 'data' must hold integer pixels 0..255; found values in {found}"
    with pytest.raises(ValueError, match=re.escape(message)):
        images.cifar10_images(str(folder))


def test_the_shared_jpeg_archive(shared_data, monkeypatch):
    """The real archive: 60,000 images, 6,000 a class; the second call is served from the cache (in the
    user's cache folder, so only the first run on a machine decodes: tens of seconds). Timings:
    benchmarks/cifar_cache_bench.py."""
    archive = os.path.join(shared_data, "cifar10", "cifar10-jpeg.tar.gz")
    start = time.perf_counter()
    X, labels = images.cifar10_images(archive)
    first = time.perf_counter() - start
    assert X.shape == (60000, 32, 32, 3) and X.dtype == np.float32 and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(labels[:50000]).tolist() == [5000] * 10 and np.bincount(labels[50000:]).tolist() == [1000] * 10
    assert 0 <= X.min() and X.max() <= 1
    # PROVENANCE.md: the per-channel train means agree with the published ones to within 0.002
    means = X[:50000].mean(axis=(0, 1, 2), dtype=np.float64)   # a float32 sum of 51M pixels saturates
    np.testing.assert_allclose(means, (0.4914, 0.4822, 0.4465), atol=0.002)
    monkeypatch.setattr(images, "_decode_image", _refuse_to_decode)
    start = time.perf_counter()
    X2, labels2 = images.cifar10_images(archive)
    print(f"\nshared CIFAR-10 archive: first call {first:.2f} s, cached call {time.perf_counter() - start:.2f} s")
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(labels, labels2)
