"""Trainer contract: fit runs and logs finite metrics, a step changes the classifier,
PGD-AT trains on adversarial inputs, and MirroredStrategy on two logical CPU devices
gives the same step as one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import assert_step_descends_ce_at, toy_classifier, toy_data
from tf_advnet.errors import UserError
from tf_advnet.trainers import METHOD_NAMES, PGDATTrainer, build_trainer


def _classifier(seed=0):
    return toy_classifier(seed, activation='relu')


def _data(n=64, seed=0):
    return toy_data(n, seed)


def _small_l2lda_generator():
    """Every input the L2L-DA trainer feeds (image, gradient, delta, label, z) and a
    synchronised conditional batch norm, in a few layers.

    What the two-replica comparison checks is the trainer's replica arithmetic (z
    drawn for the global batch and split per replica, the diversity pairs, the
    loss scaling) and the batch statistics shared across replicas, which the one
    synchronised CBN carries; the paper's U-Net (three such CBNs) only makes the
    replicated graph slower to trace."""
    from tf_advnet.models.layers import ConditionalBatchNormalization

    shape = (8, 8, 1)
    image, grad, delta = (keras.Input(shape, name=n) for n in ("image", "gradient", "delta"))
    label = keras.Input((), dtype="int32", name="label")
    noise = keras.Input((2,), name="noise")
    z = keras.layers.Reshape(shape)(keras.layers.Dense(64)(noise))
    h = keras.layers.Concatenate()([image, grad, delta, z])
    h = keras.layers.Conv2D(2, 3, padding="same", use_bias=False)(h)
    h = ConditionalBatchNormalization(3, synchronized=True)([h, label])
    out = keras.layers.Conv2D(1, 1, activation="tanh")(keras.layers.LeakyReLU(0.2)(h))
    return keras.Model([image, grad, delta, label, noise], out)


def _method_kwargs(method):
    """What a method needs beyond the classifier, deterministic across strategies."""
    if method == "pgd_at":
        return {"eps": 0.1, "num_steps": 2, "random_start": False}
    if method == "advnet":
        from tf_advnet.models.advnet_generators import advnet_g0

        keras.utils.set_random_seed(2)
        return {"eps": 0.1, "g_steps": 1,
                "generator": advnet_g0((8, 8, 1), k=4, sync_bn=True)}
    if method == "l2lda":
        keras.utils.set_random_seed(2)
        return {"eps": 0.1, "num_steps": 2, "generator": _small_l2lda_generator()}
    if method == "pgn":
        # The generator the trainer builds, at test_pgn.py's size (the paper's
        # 128 channels and 1,024 units cost time and change no replica arithmetic).
        return {"generator_width": 4, "generator_units": 8}
    if method == "cw_at":
        return {"eps": 0.1, "max_iterations": 3}
    if method == "ensemble_at":
        return {"eps": 0.1, "pgd_steps": 2, "random_start": False,
                "sources": [toy_classifier(3)]}
    return {}


def test_unknown_method():
    with pytest.raises(UserError, match=r"^method must be one of standard, .*; got 'trades'$"):
        build_trainer("trades", _classifier())


def test_pgd_at_trains_on_adversarial_examples(monkeypatch):
    """The gradient PGD-AT applies is that of the loss at the crafted points."""
    x, y = _data(16)
    clf = _classifier()
    trainer = PGDATTrainer(clf, eps=0.2, num_steps=3, random_start=False)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and np.abs(x_adv - x).max() > 0.1
    ce = lambda inp: float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        y, clf(inp, training=False), from_logits=True)))
    assert ce(x_adv) > ce(x)
    # Expected update: w - lr * grad of CE at x_adv (SGD lr 1, no momentum).
    assert_step_descends_ce_at(trainer, clf, x, y, x_adv)


def test_weight_decay_only_on_kernels():
    from tf_advnet.trainers.base import l2_penalty

    clf = _classifier()
    expected = 0.5 * 0.1 * sum(float(tf.reduce_sum(w ** 2)) for w in clf.trainable_weights
                               if w.path.endswith("kernel"))
    assert np.isclose(float(l2_penalty(clf, 0.1)), expected, rtol=1e-6)
    assert float(l2_penalty(clf, 0.0)) == 0.0


def _one_step(strategy, method, validation_data=None):
    """Two SGD-momentum epochs of one 32-image batch under `strategy`; returns the
    classifier's weights before and after, and the fit history."""
    x, y = _data(32)
    with strategy.scope():
        clf = _classifier(seed=1)
        trainer = build_trainer(method, clf, weight_decay=1e-3, **_method_kwargs(method))
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    before = [w.numpy().copy() for w in clf.trainable_weights]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    traces = []
    step = trainer.train_step
    trainer.train_step = lambda data: traces.append(1) or step(data)  # runs when traced
    hist = trainer.fit(ds, epochs=2, verbose=0, validation_data=validation_data)
    hist.history["traces"] = len(traces)
    return before, [w.numpy() for w in clf.trainable_weights], hist.history


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_fit_logs_finite_metrics_and_mirrored_two_cpus_equals_one_device(
        method, two_cpu_strategy):
    """On one device fit logs the method's metrics (and the validation ones), all
    finite, and changes every weight; on two replicas it gives the same weights.

    One single-device fit serves both checks (tracing the trainer is most of the
    cost). Validation runs on one device only: `test_step` reads the classifier and
    updates no weight, so the two runs stay comparable."""
    x, y = _data(32)
    before, single, history = _one_step(tf.distribute.get_strategy(), method,
                                        validation_data=(x, y))
    # compile() built every optimiser: one trace of train_step serves the whole fit
    # (an optimiser that creates its variables in the first trace costs a second).
    assert history.pop("traces") == 1
    expected = {"loss", "clean_acc"} | (
        {"adv_acc"} if method in ("pgd_at", "advnet", "ensemble_at", "l2lda", "cw_at")
        else set())
    assert expected | {"val_" + k for k in ("loss", "clean_acc")} <= set(history)
    assert all(np.isfinite(v).all() for v in history.values())
    # Weight decay moves the kernels by itself; the biases (never decayed) move only
    # with the loss's gradient, so "every weight changed" still needs the gradient
    # to reach every layer.
    assert all(not np.allclose(a, b) for a, b in zip(before, single))
    _, mirrored, _ = _one_step(two_cpu_strategy, method)
    # DeepDefense's regulariser divides by ||grad||, which is tiny on this toy: its
    # weights reach ~1e15, where float32 sums in another order differ by ~2e-4.
    rtol = 1e-3 if method == "deepdefense" else 1e-4
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5)


def test_pgd_at_eps_warmup_ramps_the_budget():
    x, y = _data(16)
    trainer = PGDATTrainer(_classifier(), eps=0.3, num_steps=3, eps_warmup_steps=10)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01))
    trainer.optimizer.build(trainer.classifier.trainable_weights)
    # Before the first update the budget is eps / 10.
    d = np.abs(trainer.craft(tf.constant(x), tf.constant(y)).numpy() - x).max()
    assert 0.0 < d <= 0.03 + 1e-6
    for _ in range(12):
        trainer.train_step((tf.constant(x), tf.constant(y)))
    assert float(trainer.budget_scale()) == 1.0
    d = np.abs(trainer.craft(tf.constant(x), tf.constant(y)).numpy() - x).max()
    assert 0.2 < d <= 0.3 + 1e-6


def test_warmup_epochs_become_steps():
    from tf_advnet.configs import override, preset
    from tf_advnet.pipelines.train import build_trainer as build_from_config

    cfg = override(preset("cpu", "mnist_5k", "pgd_at"), eps_warmup_epochs=2.5)
    trainer = build_from_config(cfg, _classifier(), steps_per_epoch=32)
    assert trainer.eps_warmup_steps == 80 and trainer.eps == 0.3
