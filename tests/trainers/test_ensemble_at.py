"""Ensemble adversarial training (Wang & Yu Table 4 baseline): the static examples
(Eqs. 10-12 on a fixed source model) and the trainer step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.errors import UserError
from tf_advnet.trainers.ensemble_at import EnsembleATTrainer, static_examples


def _fn(model):
    return lambda t: model(t, training=False)


def _sign_step(model, x, labels, eps, sign):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        ce = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            labels, model(x, training=False), from_logits=True))
    return np.clip(x.numpy() + sign * eps * np.sign(tape.gradient(ce, x).numpy()), 0, 1)


def test_static_examples_follow_eqs_10_to_12():
    x, y = toy_data(32)
    src = toy_classifier(seed=3)
    logits = src(x).numpy()
    ex = {k: v.numpy() for k, v in static_examples(_fn(src), x, y, eps=0.2, seed=0).items()}
    # FGS on the most likely label (no label leaking), Eq. (10).
    np.testing.assert_allclose(ex["fgs_ml"], _sign_step(src, x, logits.argmax(1), 0.2, +1),
                               atol=1e-6)
    # Least-likely class: a step *down* its loss, Eq. (12).
    np.testing.assert_allclose(ex["ll"], _sign_step(src, x, logits.argmin(1), 0.2, -1),
                               atol=1e-6)
    for v in ex.values():
        assert np.abs(v - x).max() <= 0.2 + 1e-6 and v.min() >= 0 and v.max() <= 1
    # PGD raises the source's loss on the true labels.
    ce = keras.losses.sparse_categorical_crossentropy
    assert float(np.mean(ce(y, src(ex["pgd"]), from_logits=True))) > float(
        np.mean(ce(y, src(x), from_logits=True)))


def test_step_trains_the_classifier_on_clean_plus_crafted_and_not_the_source():
    x, y = toy_data(16)
    clf, src = toy_classifier(seed=1), toy_classifier(seed=3)
    t = EnsembleATTrainer(clf, sources=[src], eps=0.2)
    t.compile(keras.optimizers.SGD(1.0))
    x_adv, y_adv = t.craft(tf.constant(x), tf.constant(y))
    assert x_adv.shape[0] == 3 * len(x)
    t.craft = lambda *_: (x_adv, y_adv)  # the same draw of PGD's random start
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            np.concatenate([y, y_adv.numpy()]), clf(np.concatenate([x, x_adv.numpy()])),
            from_logits=True))
    grads = tape.gradient(loss, clf.trainable_weights)
    expected = [w.numpy() - g.numpy() for w, g in zip(clf.trainable_weights, grads)]
    src_before = [w.numpy() for w in src.weights]
    logs = t.train_step((tf.constant(x), tf.constant(y)))
    for w, e in zip(clf.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)
    for w, b in zip(src.weights, src_before):
        np.testing.assert_array_equal(w.numpy(), b)
    assert set(logs) == {"loss", "clean_acc", "adv_acc"}


def test_fit_runs_and_sources_are_required():
    x, y = toy_data(32)
    t = EnsembleATTrainer(toy_classifier(), sources=[toy_classifier(seed=3)], eps=0.1)
    t.compile(keras.optimizers.Adam(1e-2))
    hist = t.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][-1])
    with pytest.raises(UserError, match="^sources must hold at least one model"):
        EnsembleATTrainer(toy_classifier(), sources=[], eps=0.1)
