"""Runs evaluated on a validation set as well as the test set, from the same trained networks."""
import jax
import numpy as np
import pytest

from kd_theory import data, losses, nets, sweep, train


def test_validation_metrics_are_those_of_the_same_networks():
    ds = data.digits_task("reduced", val_fraction=0.25)
    task = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                      {"hard": np.asarray(losses.hard_target(ds.y_train))}, X_val=ds.X_val, y_val=ds.y_val)
    options = sweep.EngineOptions(steps=(5, 30), base_seed=3)
    runs = sweep.grid(dataset=["r"], width=[4, 6], target=["hard"], seed=[0, 1], lr=[2.0], B=[None, 2.0])
    result = sweep.run_sweep(runs, {"r": task}, options, progress=False)
    assert len(result.rows) == len(runs) * 2
    for row in result.rows:
        assert set(sweep.VAL_METRICS) <= set(row)
        key = jax.random.fold_in(jax.random.PRNGKey(3), row["seed"])
        p0 = nets.init(key, row["width"], ds.dim)
        final, _ = train.projected_gradient_descent(p0, ds.X_train, ds.y_train, task.targets["hard"], lr=2.0,
                                                    steps=row["steps"], B=row["B"])
        f_val, f_test = nets.apply(final, ds.X_val), nets.apply(final, ds.X_test)
        one_flip_val, one_flip_test = 1 / len(ds.y_val), 1 / len(ds.y_test)
        assert row["val_acc"] == pytest.approx(float(losses.accuracy(f_val, ds.y_val)), abs=one_flip_val + 1e-6)
        assert row["test_acc"] == pytest.approx(float(losses.accuracy(f_test, ds.y_test)), abs=one_flip_test + 1e-6)
        assert row["val_loss"] == pytest.approx(float(np.mean(losses.logistic(f_val, ds.y_val))), rel=1e-4)


def test_a_validation_set_changes_the_task_fingerprint():
    ds = data.digits_task("reduced", val_fraction=0.25)
    targets = {"hard": np.asarray(losses.hard_target(ds.y_train))}
    plain = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets)
    with_val = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets, X_val=ds.X_val, y_val=ds.y_val)
    assert plain.fingerprint() != with_val.fingerprint()
    assert "val" not in plain.eval_sets() and set(with_val.eval_sets()) == {"test", "val"}
