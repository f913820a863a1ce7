"""PGN adversarial training (`ATPGN/ATPGN`, `main.py`, `models/PGN.py`): the step
against a hand computation, each player's objective, the c_L penalty, EMA,
MirroredStrategy and plumbing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tests.trainers._toy import assert_ema_step_and_swap, toy_classifier, toy_data
from tf_advnet.attacks.pgn import tanh_space
from tf_advnet.errors import UserError
from tf_advnet.models.pgn_generator import pgn_generator
from tf_advnet.trainers import PGNTrainer, build_trainer

K = 3


def _classifier(seed=0):
    return toy_classifier(seed, activation='tanh')


def _generator(seed=0):
    keras.utils.set_random_seed(seed)
    return pgn_generator((8, 8, 1), K, width=4, dense_units=8)


def _data(n=16, seed=0):
    return toy_data(n, seed)


def _trainer(c_l=1.0, lr=0.1, seed=0, **kwargs):
    trainer = PGNTrainer(_classifier(seed), _generator(seed), c_l=c_l, **kwargs)
    trainer.compile(optimizer=keras.optimizers.SGD(lr),
                    g_optimizer=keras.optimizers.SGD(lr))
    return trainer


def _hand_losses(clf, gen, x, y, c_l):
    """Eq. (2), (4), (5) written out; returns (classifier CE, generator loss)."""
    y1h = tf.one_hot(y, K)
    with tf.GradientTape() as inner:
        inner.watch(x)
        p = tf.nn.softmax(clf(x, training=False))
        mean_py = tf.reduce_mean(tf.reduce_sum(p * y1h, -1))
    grad = inner.gradient(mean_py, x)  # not detached, not normalised
    x_adv = tanh_space(x, gen([grad, x, y1h]))
    ce = tf.reduce_mean(keras.losses.categorical_crossentropy(
        y1h, clf(x_adv, training=True), from_logits=True))
    l2_sq = tf.reduce_mean(tf.reduce_sum(tf.square(x_adv - x), axis=[1, 2, 3]))
    return ce, -ce + c_l * l2_sq


def test_step_matches_hand_computation_and_moves_both_players():
    x, y = _data()
    trainer = _trainer(c_l=2.0, lr=0.1)
    clf, gen = trainer.classifier, trainer.generator
    xt, yt = tf.constant(x), tf.constant(y)
    with tf.GradientTape(persistent=True) as tape:
        ce, g_loss = _hand_losses(clf, gen, xt, yt, 2.0)
    c_grads = tape.gradient(ce, clf.trainable_weights)
    g_grads = tape.gradient(g_loss, gen.trainable_weights)
    c_exp = [w.numpy() - 0.1 * g.numpy() for w, g in zip(clf.trainable_weights, c_grads)]
    g_exp = [w.numpy() - 0.1 * g.numpy() for w, g in zip(gen.trainable_weights, g_grads)]
    before = [w.numpy().copy() for w in trainer.ema_variables()]
    logs = trainer.train_step((xt, yt))
    for w, e in zip(list(clf.trainable_weights) + list(gen.trainable_weights),
                    c_exp + g_exp):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-6)
    changed = [not np.allclose(a, w.numpy()) for a, w in zip(before, trainer.ema_variables())]
    n_clf = len(clf.trainable_weights)
    assert any(changed[:n_clf]) and any(changed[n_clf:])
    assert set(logs) == {"loss", "g_loss", "adv_acc", "clean_acc", "l2", "l2_sq"}
    assert float(logs["loss"]) == pytest.approx(float(ce), rel=1e-5)
    assert float(logs["g_loss"]) == pytest.approx(float(g_loss), rel=1e-5)
    assert float(logs["l2"]) <= np.sqrt(float(logs["l2_sq"])) + 1e-6


def test_input_gradient_is_not_detached():
    """Detaching grad changes the classifier's gradient (second-order terms)."""
    x, y = _data(8)
    clf, gen = _classifier(), _generator()
    xt, y1h = tf.constant(x), tf.one_hot(y, K)

    def ce(detach):
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(xt)
                p = tf.reduce_mean(tf.reduce_sum(tf.nn.softmax(clf(xt)) * y1h, -1))
            g = inner.gradient(p, xt)
            g = tf.stop_gradient(g) if detach else g
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(
                y1h, clf(tanh_space(xt, gen([g, xt, y1h]))), from_logits=True))
        return tape.gradient(loss, clf.trainable_weights)

    trainer = _trainer()
    with tf.GradientTape() as tape:
        out = trainer.forward(xt, tf.constant(y))
    got = tape.gradient(out["adv_ce"], trainer.classifier.trainable_weights)
    for a, b in zip(got, ce(False)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-7)
    assert any(not np.allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-7)
               for a, b in zip(got, ce(True)))


def test_generator_steps_raise_the_adversarial_loss():
    """With the classifier fixed, generator steps descend its loss -CE + c_L l2^2."""
    x, y = _data()
    trainer = _trainer(c_l=0.0)
    trainer.g_optimizer = keras.optimizers.Adam(1e-2)
    gen_w = trainer.generator.trainable_weights
    xt, yt = tf.constant(x), tf.constant(y)
    first = trainer.forward(xt, yt)
    for _ in range(5):
        with tf.GradientTape() as tape:
            g_loss = trainer.forward(xt, yt)["g_loss"]
        trainer.g_optimizer.apply(tape.gradient(g_loss, gen_w), gen_w)
    last = trainer.forward(xt, yt)
    assert float(last["g_loss"]) < float(first["g_loss"])
    assert float(last["adv_ce"]) > float(first["adv_ce"])


@pytest.mark.parametrize("c_l", [0.0, 1e3])
def test_c_l_controls_the_perturbation_size(c_l):
    x, y = _data()
    xt, yt = tf.constant(x), tf.constant(y)
    trainer = _trainer(c_l=c_l)
    trainer.g_optimizer = keras.optimizers.Adam(2e-2)
    gen_w = trainer.generator.trainable_weights
    start = float(trainer.forward(xt, yt)["l2_sq"])
    for _ in range(8):
        with tf.GradientTape() as tape:
            g_loss = trainer.forward(xt, yt)["g_loss"]
        trainer.g_optimizer.apply(tape.gradient(g_loss, gen_w), gen_w)
    end = float(trainer.forward(xt, yt)["l2_sq"])
    if c_l:
        assert end < 0.5 * start  # a huge c_L pulls x_adv back towards x
    else:
        assert end > start  # nothing restrains the attack


def test_generator_loss_gradient_by_hand():
    """With a classifier that ignores its input, d g_loss / d b (the last conv's bias)
    is c_L * sum_pixels (2 / B) (x_adv - x) * 2 x_adv (1 - x_adv)."""
    x, y = _data(4)
    keras.utils.set_random_seed(0)
    clf = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(K, kernel_initializer="zeros",
                                               bias_initializer="ones")])
    trainer = PGNTrainer(clf, _generator(), c_l=3.0)
    bias = trainer.generator.get_layer("w").bias
    with tf.GradientTape() as tape:
        out = trainer.forward(tf.constant(x), tf.constant(y))
    got = tape.gradient(out["g_loss"], bias).numpy()
    xa = out["x_adv"].numpy()
    expected = 3.0 * np.sum(2.0 / 4 * (xa - x) * 2 * xa * (1 - xa))
    np.testing.assert_allclose(got, [expected], rtol=1e-4)


def test_generator_loss_gradient_matches_finite_differences():
    x, y = _data(4)
    trainer = PGNTrainer(_classifier(), _generator(), c_l=0.5)
    bias = trainer.generator.get_layer("w").bias
    xt, yt = tf.constant(x), tf.constant(y)
    with tf.GradientTape() as tape:
        g_loss = trainer.forward(xt, yt)["g_loss"]
    got = float(tape.gradient(g_loss, bias)[0])
    h, b0 = 1e-2, bias.numpy()
    vals = []
    for s in (1, -1):
        bias.assign(b0 + s * h)
        vals.append(float(trainer.forward(xt, yt)["g_loss"]))
    bias.assign(b0)
    assert got == pytest.approx((vals[0] - vals[1]) / (2 * h), rel=1e-2, abs=1e-4)


def test_ema_tracks_both_players_and_swaps():
    x, y = _data()
    trainer = _trainer(ema_decay=0.9)
    assert len(trainer.ema_weights) == len(trainer.classifier.trainable_weights) + len(
        trainer.generator.trainable_weights)
    assert_ema_step_and_swap(trainer, x, y, 0.9)
    with pytest.raises(UserError, match="no EMA"):
        _trainer().swap_ema_weights()


def test_shared_optimizer_advances_twice_per_step():
    x, y = _data()
    trainer = PGNTrainer(_classifier(), _generator(), c_l=1.0)
    trainer.compile(optimizer=keras.optimizers.Adam(5e-4), g_optimizer="shared")
    assert trainer.g_optimizer is trainer.optimizer
    trainer.train_step((tf.constant(x), tf.constant(y)))
    assert int(trainer.optimizer.iterations) == 2
    default = PGNTrainer(_classifier(), _generator())
    default.compile()
    assert default.g_optimizer is not default.optimizer
    assert float(default.g_optimizer.learning_rate) == pytest.approx(5e-4)


def test_fit_logs_finite_metrics():
    x, y = _data(32)
    trainer = PGNTrainer(_classifier(), _generator(), c_l=5.0, ema_decay=0.5)
    trainer.compile()
    hist = trainer.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y))
    assert {"loss", "g_loss", "adv_acc", "clean_acc", "l2", "l2_sq", "val_loss",
            "val_clean_acc"} <= set(hist.history)
    assert all(np.all(np.isfinite(v)) for v in hist.history.values())


def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy):
    """Includes the generator and the EMA: the returned 'model' is the trainer."""
    x, y = _data(32)

    def make():
        trainer = PGNTrainer(_classifier(1), _generator(1), c_l=2.0, ema_decay=0.9,
                             weight_decay=1e-3)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                        g_optimizer=keras.optimizers.SGD(0.1))
        return trainer, trainer

    assert_mirrored_matches_single(two_cpu_strategy, make, x, y, batch_size=16,
                                   epochs=1)


def test_build_trainer_builds_a_generator():
    clf = _classifier()
    trainer = build_trainer("pgn", clf, c_l=50, generator_width=4, generator_units=8)
    assert isinstance(trainer, PGNTrainer) and trainer.c_l == 50.0
    assert trainer.generator.output_shape == (None, 8, 8, 1)
    assert trainer.generator.inputs[2].shape[-1] == K
    x, y = _data(8)
    trainer.compile()
    trainer.train_step((tf.constant(x), tf.constant(y)))


@pytest.mark.parametrize("kwargs,message", [
    ({"c_l": -1.0}, "c_l must be >= 0, got -1"),
    ({"ema_decay": 1.5}, "ema_decay must be in [0, 1], got 1.5"),
    ({"ema_decay": 1.0}, "ema_decay must be in [0, 1) or None, got 1")])
def test_bad_arguments_are_one_line_user_errors(kwargs, message):
    with pytest.raises(UserError) as err:
        PGNTrainer(_classifier(), _generator(), **kwargs)
    assert str(err.value) == message


def test_generator_alone_against_a_frozen_classifier():
    """Fig. 3's PGN attack: train G against a fixed classifier, then attack with it."""
    from tf_advnet.attacks.pgn import pgn_attack

    x, y = _data(32)
    clf = _classifier()
    clf.trainable = False
    trainer = PGNTrainer(clf, _generator(), c_l=0.1)
    trainer.compile(g_optimizer=keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in clf.weights]
    hist = trainer.fit(x, y[:, None], batch_size=16, epochs=3, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, clf.weights))
    assert hist.history["g_loss"][-1] < hist.history["g_loss"][0]
    fn = lambda v: clf(v, training=False)  # noqa: E731
    x_adv = pgn_attack(fn, trainer.generator, x[:16], y[:16]).numpy()
    np.testing.assert_allclose(x_adv, trainer.attack(x[:16], y[:16]).numpy(), atol=1e-6)
