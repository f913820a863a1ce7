"""Parseval training (Cisse et al. 2017): the retraction formula, convergence towards
orthonormal rows, the trainer's step (30% of rows), MirroredStrategy and the config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tf_advnet.configs import override, preset
from tf_advnet.errors import UserError
from tf_advnet.trainers.parseval import (ParsevalTrainer, kernel_matrix,
                                         parseval_retraction, sample_rows)


def _gap(w):
    w = np.asarray(w, np.float64)
    return np.linalg.norm(w @ w.T - np.eye(len(w)))


def _classifier(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((20,)),
                             keras.layers.Dense(10, activation="relu", name="h1"),
                             keras.layers.Dense(4, name="out")])


def test_retraction_formula_on_selected_rows():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 9)) * 0.3
    rows = np.array([1, 4])
    new = parseval_retraction(tf.constant(w), 0.1, tf.constant(rows)).numpy()
    ws = w[rows]
    np.testing.assert_allclose(new[rows], 1.1 * ws - 0.1 * ws @ ws.T @ ws, rtol=1e-12)
    others = np.setdiff1d(np.arange(6), rows)
    np.testing.assert_array_equal(new[others], w[others])


@pytest.mark.parametrize("fraction", [1.0, 0.3])
def test_repeated_retractions_approach_orthonormal_rows(fraction):
    rng = np.random.default_rng(1)
    w = tf.constant(rng.normal(size=(8, 20)) * 0.1)
    gaps = [_gap(w)]
    for step in range(int(300 / fraction)):
        rows = None if fraction == 1.0 else sample_rows(8, fraction, tf.constant([0, step]))
        w = parseval_retraction(w, 0.05, rows)
        gaps.append(_gap(w))
    assert gaps[1] < gaps[0]
    assert gaps[-1] < 0.05 * gaps[0]


def test_sample_rows_draws_thirty_percent_distinct():
    rows = sample_rows(10, 0.3, tf.constant([3, 7])).numpy()
    assert len(rows) == 3 and len(set(rows)) == 3 and rows.max() < 10
    np.testing.assert_array_equal(rows, sample_rows(10, 0.3, tf.constant([3, 7])).numpy())


def test_step_retracts_thirty_percent_of_each_kernel():
    """With lr = 0 the step is the retraction alone: 30% of the rows (kernel columns)
    move, towards W W^T = I; biases do not."""
    x = np.random.default_rng(2).uniform(size=(16, 20)).astype("float32")
    y = np.arange(16) % 4
    clf = _classifier()
    trainer = ParsevalTrainer(clf, beta=0.05, seed=3)
    trainer.compile(optimizer=keras.optimizers.SGD(0.0))
    before = {v.path: v.numpy().copy() for v in clf.trainable_weights}
    logs = trainer.train_step((tf.constant(x), tf.constant(y)))
    assert set(logs) == {"loss", "clean_acc"} and np.isfinite(float(logs["loss"]))
    for v in clf.trainable_weights:
        old, new = before[v.path], v.numpy()
        if v.path.endswith("bias"):
            np.testing.assert_array_equal(new, old)
            continue
        changed = np.any(old != new, axis=0)
        assert changed.sum() == int(np.ceil(0.3 * old.shape[1]))
        w_old = kernel_matrix(tf.constant(old)).numpy()[changed]
        w_new = kernel_matrix(tf.constant(new)).numpy()[changed]
        assert _gap(w_new) < _gap(w_old)


def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy):
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(32, 20)).astype("float32")
    y = rng.integers(0, 4, size=32)

    def make():
        clf = _classifier(seed=1)
        trainer = ParsevalTrainer(clf, beta=0.01, seed=5)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        return trainer, clf

    assert_mirrored_matches_single(two_cpu_strategy, make, x, y)


def test_config_and_bad_beta():
    from tf_advnet.pipelines.train import build_trainer

    cfg = override(preset("cpu", "synthetic", "parseval"), trainer={"beta": 3e-4}).validate()
    trainer = build_trainer(cfg, _classifier())
    assert isinstance(trainer, ParsevalTrainer) and trainer.beta == 3e-4
    with pytest.raises(UserError, match=r"^trainer\.beta must be in \(0, 0.5\], got 0$"):
        override(cfg, trainer={"beta": 0.0}).validate()
    with pytest.raises(UserError, match=r"^beta must be in \(0, 0.5\], got 2$"):
        ParsevalTrainer(_classifier(), beta=2.0)
