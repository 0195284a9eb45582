"""Data sets: the digits tasks, the IDX loader on files written here, the synthetic families."""
import gzip
import os
import re
import struct
import zlib

import numpy as np
import pytest

from kd_theory import data


def test_digits_tasks():
    full = data.digits_task("full")
    reduced = data.digits_task("reduced")
    assert full.X_train.shape == (1437, 64) and full.X_test.shape == (360, 64)
    for ds in (full, reduced):
        for X in (ds.X_train, ds.X_test):
            np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
        assert set(np.unique(ds.y_train)) == {-1.0, 1.0}
    # the reduced set drops exactly the images of 1, 4, 7, 9 (about 40% of the data)
    from sklearn.datasets import load_digits
    target = load_digits().target
    assert len(reduced.y_train) + len(reduced.y_test) == int(np.sum(~np.isin(target, [1, 4, 7, 9])))
    # the split is fixed by split_seed
    again = data.digits_task("full")
    np.testing.assert_array_equal(again.X_train, full.X_train)
    other = data.digits_task("full", split_seed=1)
    assert not np.array_equal(other.X_train, full.X_train)
    with pytest.raises(ValueError, match="variant"):
        data.digits_task("half")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader_round_trip(tmp_path, gz, mnist_writer):
    arrays = mnist_writer(str(tmp_path), gz=gz)
    tri, trl, tei, tel = data.load_mnist_idx(str(tmp_path))
    np.testing.assert_array_equal(tri, arrays["train_images"])
    np.testing.assert_array_equal(tel, arrays["test_labels"])
    task = data.mnist_task(str(tmp_path), "reduced")
    assert task.X_train.shape == (24, 784)  # 40 labels 0..9 cycling, minus 1, 4, 7, 9
    np.testing.assert_allclose(np.linalg.norm(task.X_train, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(task.y_test, np.where(np.array([0, 2, 3, 5, 6, 8] * 4)[:12] > 4, 1.0, -1.0))


def test_idx_loader_errors(tmp_path, mnist_writer):
    d = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_mnist_idx(os.path.join(d, "nowhere"))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist_idx(d)
    mnist_writer(d)
    path = os.path.join(d, "train-labels-idx1-ubyte")
    mnist_writer.idx(path, np.arange(39) % 10)  # one label short
    with pytest.raises(ValueError, match="40 images but 39 labels"):
        data.load_mnist_idx(d)
    mnist_writer.idx(path, np.arange(40) % 10, magic=b"\x12\x34\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.load_mnist_idx(d)
    with open(path, "wb") as fh:  # truncated
        fh.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 40) + bytes(10))
    with pytest.raises(ValueError, match="40 bytes.*10 bytes"):
        data.load_mnist_idx(d)
    with open(path + ".gz", "wb") as fh:
        fh.write(b"not gzip at all")
    os.unlink(path)
    with pytest.raises(ValueError, match="gzip"):
        data.load_mnist_idx(d)


def _deflate_start(gz: bytes) -> int:
    """Where the deflate stream of a gzip member starts (after the 10-byte header and the file name)."""
    assert gz[:2] == b"\x1f\x8b" and gz[3] & ~0x08 == 0, "only the FNAME flag is expected"
    return gz.index(0, 10) + 1 if gz[3] & 0x08 else 10


@pytest.mark.parametrize("damage, cause", [("deflate", zlib.error), ("checksum", gzip.BadGzipFile),
                                           ("cut short", EOFError)])
def test_a_damaged_gzip_is_refused_naming_the_file(tmp_path, mnist_writer, damage, cause):
    mnist_writer(str(tmp_path), gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    if damage == "deflate":      # BTYPE bits of the first block := 11, a reserved block type
        raw[_deflate_start(raw)] |= 0b110
    elif damage == "checksum":   # the CRC-32 of the trailer
        raw[-8] ^= 0xFF
    else:
        raw = raw[: len(raw) // 2]
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": cannot be read as gzip") as err:
        data.load_mnist_idx(str(tmp_path))
    assert isinstance(err.value.__cause__, cause)


def test_idx_decode_errors_name_the_file(tmp_path, mnist_writer):
    path = str(tmp_path / "x-idx4-ubyte")
    with open(path, "wb") as fh:  # 65536^4 = 2^64 bytes announced: a product that overflows int64 to 0
        fh.write(bytes([0, 0, 8, 4]) + struct.pack(">4I", *[65536] * 4))
    with pytest.raises(ValueError, match=re.escape(path) + r".*18446744073709551616 bytes.*0 bytes"):
        data.read_idx(path)
    mnist_writer.idx(path, np.arange(12).reshape(3, 4), gz=True)  # gzip data under a name without .gz
    with pytest.raises(ValueError, match=re.escape(path) + ": is gzip-compressed"):
        data.read_idx(path)
    mnist_writer(str(tmp_path))
    labels = str(tmp_path / "t10k-labels-idx1-ubyte")
    mnist_writer.idx(labels, np.full((20, 2), 3))
    with pytest.raises(ValueError, match=re.escape(labels) + ": MNIST labels must be 1-D"):
        data.load_mnist_idx(str(tmp_path))
    mnist_writer.idx(labels, np.arange(20) % 11)
    with pytest.raises(ValueError, match=re.escape(labels) + ": labels must be digits 0..9; found 10"):
        data.load_mnist_idx(str(tmp_path))


def test_noisy_xor():
    ds = data.noisy_xor(8, n_train=300, n_test=50, seed=3)
    np.testing.assert_allclose(np.linalg.norm(ds.X_train, axis=1), 1.0, rtol=1e-6)
    on_first = np.abs(ds.X_train[:, 0]) > 0
    np.testing.assert_array_equal(ds.y_train, np.where(on_first, 1.0, -1.0))
    assert np.all((ds.X_train[:, 0] == 0) | (ds.X_train[:, 1] == 0))
    with pytest.raises(ValueError, match="d=2"):
        data.noisy_xor(2)


def test_separable_with_margin():
    ds = data.separable_with_margin(5, 0.3, n_train=200, n_test=100, seed=1)
    u = np.asarray(ds.info["direction"])
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        assert np.min(y * (X @ u)) >= 0.3 - 1e-6
    assert len(ds.y_train) == 200 and len(ds.y_test) == 100


def test_normalise_rows_errors():
    with pytest.raises(ValueError, match=r"rows \[1\] have zero norm"):
        data.normalise_rows(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        data.normalise_rows(np.array([[1.0, np.nan]]))


def test_ten_class_digits():
    binary, ten = data.digits_task("full"), data.digits_task("full", num_classes=10)
    assert ten.num_classes == 10 and binary.num_classes == 2 and ten.name == "digits10-full"
    np.testing.assert_array_equal(ten.X_train, binary.X_train)      # the same split and inputs
    assert ten.y_train.dtype == np.int32 and set(np.unique(ten.y_train)) == set(range(10))
    np.testing.assert_array_equal(np.where(ten.y_train > 4, 1.0, -1.0), binary.y_train)
    with pytest.raises(ValueError, match="only the 'full' variant"):
        data.digits_task("reduced", num_classes=10)
    with pytest.raises(ValueError, match="num_classes=3"):
        data.digits_task("full", num_classes=3)


def test_mnist_ten_classes_with_validation_from_train_or_test(tmp_path, mnist_writer):
    arrays = mnist_writer(str(tmp_path), n_train=40, n_test=40)
    x_train = arrays["train_images"].reshape(40, -1).astype(np.float64)
    # validation = the last 10 training images; centred on the other 30 images' mean, then unit rows
    ds = data.mnist_classes_task(str(tmp_path), val_size=10)
    assert ds.name == "mnist10" and ds.num_classes == 10 and ds.X_train.shape == (30, 784)
    centred = x_train - x_train[:30].mean(axis=0)
    expected = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    np.testing.assert_allclose(ds.X_train, expected[:30], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds.X_val, expected[30:], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ds.y_val, arrays["train_labels"][30:])
    assert ds.y_train.dtype == np.int32 and len(ds.y_test) == 40
    # validation from the test split: every training image trains; val and test partition the test split,
    # stratified by digit (one of each of the 10 digits in validation)
    ds = data.mnist_classes_task(str(tmp_path), val_size=10, val_from="test", split_seed=3)
    assert ds.X_train.shape == (40, 784) and len(ds.y_val) == 10 and len(ds.y_test) == 30
    assert sorted(ds.y_val.tolist()) == list(range(10))
    test_rows = {tuple(r) for r in np.round(np.concatenate([ds.X_val, ds.X_test]), 5)}
    assert len(test_rows) == 40                      # disjoint and together the whole test split
    again = data.mnist_classes_task(str(tmp_path), val_size=10, val_from="test", split_seed=3)
    np.testing.assert_array_equal(again.X_val, ds.X_val)
    with pytest.raises(ValueError, match="val_size=40 must be in 1..39"):
        data.mnist_classes_task(str(tmp_path), val_size=40, val_from="test")
    with pytest.raises(ValueError, match="val_from='dev'"):
        data.mnist_classes_task(str(tmp_path), val_from="dev")


def test_cifar10_ten_classes_split_four_one_one(tmp_path):
    from PIL import Image

    from kd_theory import images
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 5), ("test", 1)):
        for name in images.CIFAR_CLASSES:
            os.makedirs(tmp_path / "tree" / split / name)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    tmp_path / "tree" / split / name / f"{i}.png")
    ds = data.cifar10_classes_task(str(tmp_path / "tree"), split_seed=1, cache_dir=str(tmp_path / "cache"))
    assert ds.name == "cifar10" and ds.num_classes == 10 and ds.X_train.shape == (40, 3072)
    # 4:1:1 stratified by class: 4 / 1 / 1 of each class's 6 images
    for y, per_class in ((ds.y_train, 4), (ds.y_val, 1), (ds.y_test, 1)):
        assert np.bincount(y, minlength=10).tolist() == [per_class] * 10
    np.testing.assert_allclose(np.linalg.norm(ds.X_test, axis=1), 1.0, rtol=1e-5)
