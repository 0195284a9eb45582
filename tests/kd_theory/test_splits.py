"""Validation splits: held out of training, disjoint from test, and the test split unchanged."""
import numpy as np
import pytest

from kd_theory import data



def _rows(X):
    return {tuple(np.round(x, 6)) for x in X}


@pytest.mark.parametrize("variant", data.DIGIT_VARIANTS)
def test_digits_validation_is_held_out_and_test_is_unchanged(variant):
    plain = data.digits_task(variant, val_fraction=0.0)
    split = data.digits_task(variant, val_fraction=0.2, center=False)
    plain_raw = data.digits_task(variant, val_fraction=0.0, center=False)
    assert plain.X_val is None and split.X_val is not None
    n_plain = len(plain.y_train)
    assert len(split.y_train) + len(split.y_val) == n_plain
    assert abs(len(split.y_val) / n_plain - 0.2) < 0.02
    # without centring the rows are the raw directions: train ∪ val = the plain training set, disjoint
    assert _rows(split.X_train) | _rows(split.X_val) == _rows(plain_raw.X_train)
    assert not _rows(split.X_train) & _rows(split.X_val)
    np.testing.assert_array_equal(split.y_test, plain.y_test)
    np.testing.assert_allclose(split.X_test, plain_raw.X_test)
    # stratified by digit: both classes present in validation in about the training proportion
    assert abs(np.mean(split.y_val > 0) - np.mean(plain.y_train > 0)) < 0.05
    np.testing.assert_allclose(np.linalg.norm(split.X_val, axis=1), 1.0, rtol=1e-5)


def test_mnist_validation_is_the_last_training_images(tmp_path, mnist_writer):
    arrays = mnist_writer(str(tmp_path), n_train=40, n_test=20)
    task = data.mnist_task(str(tmp_path), "full", center=False, val_size=10)
    assert len(task.y_train) == 30 and len(task.y_val) == 10 and len(task.y_test) == 20
    last = arrays["train_images"].reshape(40, -1)[-10:].astype(float)
    np.testing.assert_allclose(task.X_val, last / np.linalg.norm(last, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(task.y_val, np.where(arrays["train_labels"][-10:] > 4, 1.0, -1.0))
    with pytest.raises(ValueError, match="val_size"):
        data.mnist_task(str(tmp_path), "full", val_size=40)


def test_train_subset_keeps_validation_and_test():
    ds = data.digits_task("full", val_fraction=0.2)
    sub = data.train_subset(ds, 100, seed=1)
    assert len(sub.y_train) == 100 and _rows(sub.X_train) <= _rows(ds.X_train)
    assert sub.X_val is ds.X_val and sub.X_test is ds.X_test
    assert data.train_subset(ds, 10**6) is ds
    with pytest.raises(ValueError, match="size"):
        data.train_subset(ds, 0)
