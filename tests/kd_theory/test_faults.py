"""Fault tests: files damaged at random offsets (hypothesis) are either read correctly or refused with the
project's data error naming the file — never another exception, never a silent wrong number.

Damage = one of: truncation at a random offset, a random byte overwritten, a random run of bytes deleted,
a run of random bytes inserted. Files: MNIST IDX (plain and gzipped), a crowd's answers.csv, a CIFAR-10
python batch and a CIFAR-10 image-folder archive, and a resume chunk of the sweep store.
"""
import io
import json
import os
import pickle
import tarfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DAMAGE = st.tuples(st.sampled_from(["truncate", "overwrite", "delete", "insert"]), st.floats(0, 1),
                   st.integers(1, 64), st.binary(min_size=1, max_size=64))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def damaged(data: bytes, damage) -> bytes:
    kind, where, length, junk = damage
    at = min(int(where * len(data)), len(data) - 1)
    if kind == "truncate":
        return data[:at]
    if kind == "overwrite":
        return data[:at] + bytes([(data[at] + 1 + junk[0]) % 256]) + data[at + 1:]
    if kind == "delete":
        return data[:at] + data[at + length:]
    return data[:at] + junk + data[at:]


def refused_naming(path, fn):
    """``fn()`` either returns, or raises ValueError / FileNotFoundError naming ``path``."""
    try:
        return fn()
    except (ValueError, FileNotFoundError) as exc:
        assert os.path.basename(str(path)) in str(exc), f"the error does not name {path}: {exc}"
        return None


@pytest.mark.parametrize("gz", [False, True])
def test_damaged_mnist_idx_files(tmp_path, mnist_writer, gz):
    from kd_theory import data
    mnist_writer(str(tmp_path), n_train=30, n_test=10, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    path = tmp_path / name
    original = path.read_bytes()

    @FAST
    @given(damage=DAMAGE)
    def check(damage):
        path.write_bytes(damaged(original, damage))
        loaded = refused_naming(path, lambda: data.load_mnist_idx(str(tmp_path)))
        if loaded is not None:  # read: every pixel array has the shape its header announces
            assert loaded[0].shape[1:] == (28, 28) and loaded[0].dtype == np.uint8
    check()


def test_damaged_crowd_answers(tmp_path):
    from kd_theory.crowd import io as crowd_io
    rng = np.random.default_rng(0)
    rows = [f"t{t},w{w},{int(rng.integers(0, 2))}" for t in range(40) for w in range(5)]
    original = ("task,worker,label\n" + "\n".join(rows) + "\n").encode()
    folder = tmp_path / "crowd"
    folder.mkdir()
    path = folder / "answers.csv"

    @FAST
    @given(damage=DAMAGE)
    def check(damage):
        path.write_bytes(damaged(original, damage))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", crowd_io.DuplicateAnswersWarning)
            crowd = refused_naming(path, lambda: crowd_io.read_crowd(folder))
        if crowd is not None:
            labels = set(crowd.answers["label"].tolist())
            assert labels <= {0, 1} or len(crowd.answers) > 0  # a declared-free read keeps integer labels
            assert crowd.answers["label"].dtype.kind == "i"
    check()


def test_damaged_cifar_batch(tmp_path):
    from kd_theory import images
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3, 4, 5]}
    original = pickle.dumps(batch)
    path = tmp_path / "data_batch_1"

    @FAST
    @given(damage=DAMAGE)
    def check(damage):
        path.write_bytes(damaged(original, damage))
        read = refused_naming(path, lambda: images.read_cifar_batch(str(path)))
        if read is not None:
            pixels, labels = read
            assert pixels.shape[1:] == (32, 32, 3) and pixels.dtype == np.uint8 and len(labels) == len(pixels)
            assert labels.min() >= 0 and labels.max() <= 9
    check()


def _png(colour) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_damaged_cifar_archive(tmp_path):
    from kd_theory import images
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split in ("train", "test"):
            for c, name in enumerate(images.CIFAR_CLASSES):
                raw = _png((20 * c, 100, 5))
                info = tarfile.TarInfo(f"{split}/{name}/0000.png")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    original = buf.getvalue()
    path = tmp_path / "cifar.tar.gz"

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(damage=DAMAGE)
    def check(damage):
        path.write_bytes(damaged(original, damage))
        read = refused_naming(path, lambda: images.cifar10_images(str(path), cache_dir=str(tmp_path / "cache")))
        if read is not None:
            pixels, labels = read
            assert pixels.shape == (20, 32, 32, 3) and sorted(set(labels.tolist())) == list(range(10))
    check()


def read_damaged_store_file(path, original: bytes, damage, read):
    """Leave only ``path`` in its folder, damaged; return ``read()`` and whether a CorruptResultWarning named
    the file (which must then have been moved aside)."""
    from kd_theory.results import CorruptResultWarning
    folder = os.path.dirname(path)
    for f in os.listdir(folder):
        os.unlink(os.path.join(folder, f))
    with open(path, "wb") as fh:
        fh.write(damaged(original, damage))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read()
    named = [w for w in caught if issubclass(w.category, CorruptResultWarning)]
    moved_aside = bool(named) and os.path.basename(path) in str(named[0].message) and not os.path.exists(path)
    return got, moved_aside


@pytest.mark.parametrize("offset, value, what", [(10, 99, "an unknown compression method"),
                                                 (10, 8, "stored data read as deflated"),
                                                 (8, 1, "a flag bit that reads as encrypted")])
def test_a_stored_teacher_with_a_damaged_zip_header_is_moved_aside(tmp_path, offset, value, what):
    """Damage the hypothesis search found in a zip header field (not the data): each must read as not done."""
    import struct

    from kd_theory.results import ArrayStore
    store = ArrayStore(str(tmp_path), "teachers")
    path = store.put("k", logits=np.linspace(-3.0, 3.0, 40).reshape(20, 2))
    data = bytearray(open(path, "rb").read())
    at = bytes(data).index(b"PK\x01\x02") + offset          # a field of the central directory, which zipfile reads
    data[at:at + 2] = struct.pack("<H", value)
    unchanged = ("insert", 0.0, 0, b"")                                    # write the damaged bytes as they are
    got, moved_aside = read_damaged_store_file(path, bytes(data), unchanged, lambda: store.get("k"))
    assert got is None and moved_aside, what


def test_damaged_resume_chunk_is_moved_aside_and_recomputed(tmp_path):
    from kd_theory.results import ResultStore
    store = ResultStore(str(tmp_path), "chunks", prefix="chunk")
    rows = {f"run{i}": [{"steps": 10, "test_acc": 0.5 + 0.01 * i}] for i in range(5)}
    path = store.put_many(rows, {"chunk": 0})
    original = open(path, "rb").read()

    @FAST
    @given(damage=DAMAGE)
    def check(damage):
        loaded, moved_aside = read_damaged_store_file(
            path, original, damage, lambda: ResultStore(str(tmp_path), "chunks", prefix="chunk").load())
        if loaded:  # read: exactly the runs stored (the checksum catches damage that still parses)
            assert loaded == rows
        else:        # not readable: a warning names the file, which is moved aside
            assert moved_aside
        json.dumps(loaded)
    check()


def test_damaged_stored_teacher_is_moved_aside_and_recomputed(tmp_path):
    """A teacher's logits kept in OUT/teachers (ArrayStore, .npz): read back exactly, or moved aside with a
    warning naming the file (the zip's CRC catches a changed byte inside the data)."""
    from kd_theory.results import ArrayStore
    store = ArrayStore(str(tmp_path), "teachers")
    arrays = {"logits": np.linspace(-3.0, 3.0, 40).reshape(20, 2), "test_acc": np.asarray(0.75)}
    path = store.put("k", **arrays)
    original = open(path, "rb").read()

    @FAST
    @given(damage=DAMAGE)
    def check(damage):
        got, moved_aside = read_damaged_store_file(path, original, damage, lambda: store.get("k"))
        if got is not None:
            assert set(got) == set(arrays) and all(np.array_equal(got[k], arrays[k]) for k in arrays)
        else:
            assert moved_aside
    check()
