"""CW-AT (L2L-DA's "C&W100" baseline): adversarial training on L-inf C&W."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tests.trainers._toy import assert_step_descends_ce_at, toy_classifier, toy_data
from tf_advnet.attacks.cw_linf import carlini_wagner_linf
from tf_advnet.errors import UserError
from tf_advnet.trainers.cw_at import CWATTrainer


def _classifier(seed=0):
    return toy_classifier(seed, activation="relu")


def _linf(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).reshape(len(a), -1).max(axis=1)


def test_defaults_are_cw100_with_a_fixed_constant():
    trainer = CWATTrainer(_classifier(), eps=0.3)
    assert (trainer.max_iterations, trainer.binary_search_steps,
            trainer.initial_const, trainer.learning_rate) == (100, 1, 1.0, 1e-3)
    assert trainer.tau == pytest.approx(8 / 255)
    assert (trainer.max_const, trainer.confidence) == (128.0, 0.0)
    assert trainer.eps == 0.3 and trainer.clean_weight == 0.0


def test_craft_is_cw_linf_in_the_ball_and_detached():
    x, y = toy_data(16)
    clf = _classifier()
    trainer = CWATTrainer(clf, eps=0.05)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    with tf.GradientTape(persistent=True) as tape:
        x_adv = trainer.craft(tf.constant(x), tf.constant(y))
        total = tf.reduce_sum(x_adv)
    # Detached: no path from the classifier's weights to the examples.
    assert all(g is None for g in tape.gradient(total, clf.trainable_weights))
    x_adv = x_adv.numpy()
    fn = lambda v: clf(v, training=False)  # noqa: E731
    expected = carlini_wagner_linf(fn, x, y, eps=0.05, max_iterations=100,
                                   binary_search_steps=1, initial_const=1.0,
                                   learning_rate=1e-3, tau=8 / 255).numpy()
    np.testing.assert_array_equal(x_adv, expected)
    dist = _linf(x_adv, x)
    assert dist.max() <= 0.05 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    moved = dist > 0
    assert moved.any()
    pred = np.argmax(fn(x_adv), -1)
    # Moved examples are misclassified; the others are returned clean.
    assert np.all(pred[moved] != y[moved])
    np.testing.assert_array_equal(x_adv[~moved], x[~moved])


def test_step_descends_ce_on_crafted_examples_and_touches_only_the_classifier():
    x, y = toy_data(16)
    clf = _classifier()
    trainer = CWATTrainer(clf, eps=0.1)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    assert ({id(w) for w in trainer.trainable_weights}
            == {id(w) for w in clf.trainable_weights})
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert np.any(_linf(x_adv, x) > 0)
    ce = lambda inp: float(tf.reduce_mean(  # noqa: E731
        keras.losses.sparse_categorical_crossentropy(
            y, clf(inp, training=False), from_logits=True)))
    assert ce(x_adv) > ce(x)
    # The update is one SGD step on the CE at exactly these examples.
    assert_step_descends_ce_at(trainer, clf, x, y, x_adv)


def test_fit_logs_finite_metrics_and_changes_weights():
    x, y = toy_data(64)
    clf = _classifier()
    before = [w.numpy().copy() for w in clf.trainable_weights]
    trainer = CWATTrainer(clf, eps=0.1, max_iterations=30)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    hist = trainer.fit(x, y, batch_size=16, epochs=1, verbose=0,
                       validation_data=(x, y))
    assert {"loss", "adv_acc", "clean_acc", "val_loss", "val_clean_acc"} <= set(
        hist.history)
    assert all(np.isfinite(v[-1]) for v in hist.history.values())
    after = [w.numpy() for w in clf.trainable_weights]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_xla_fit_equals_plain_fit():
    """The attack's while loop compiles under XLA (what Keras picks on GPU)."""
    x, y = toy_data(32)
    weights = []
    for jit in (False, True):
        clf = _classifier(seed=2)
        trainer = CWATTrainer(clf, eps=0.1, max_iterations=10,
                              learning_rate=1e-2)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=jit)
        trainer.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        weights.append([w.numpy() for w in clf.trainable_weights])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_eps_warmup_ramps_the_budget():
    x, y = toy_data(16)
    trainer = CWATTrainer(_classifier(), eps=0.3, max_iterations=100,
                          learning_rate=1e-2, eps_warmup_steps=10)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01))
    trainer.optimizer.build(trainer.classifier.trainable_weights)
    # Before the first update the budget is eps / 10.
    d = _linf(trainer.craft(tf.constant(x), tf.constant(y)), x).max()
    assert 0.0 < d <= 0.03 + 1e-6


def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy):
    x, y = toy_data(32)

    def make():
        clf = _classifier(seed=1)
        # The sum form: the max form's gradient splits among tied pixels, so
        # round-off differences between the two layouts would decide it.
        trainer = CWATTrainer(clf, eps=0.1, max_iterations=20,
                              learning_rate=1e-2, weight_decay=1e-3, penalty="sum")
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return trainer, clf

    assert_mirrored_matches_single(two_cpu_strategy, make, x, y,
                                   batch_size=32, epochs=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=1.5), "eps must be in [0, 1], got 1.5"),
    (dict(max_iterations=-1), "max_iterations must be >= 0, got -1"),
    (dict(binary_search_steps=0), "binary_search_steps must be >= 1, got 0"),
    (dict(initial_const=0.0), "initial_const must be > 0, got 0"),
    (dict(learning_rate=0.0), "learning_rate must be > 0, got 0"),
    (dict(tau=-0.1), "tau must be >= 0, got -0.1"),
    (dict(max_const=0.5), "max_const must be >= 1, got 0.5"),
    (dict(penalty="l2"), "penalty must be one of max, sum; got 'l2'"),
])
def test_bad_arguments_are_user_errors(kwargs, message):
    kwargs = {"eps": 0.1, **kwargs}
    with pytest.raises(UserError) as err:
        CWATTrainer(_classifier(), **kwargs)
    assert str(err.value) == message
