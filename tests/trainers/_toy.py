"""A tiny classifier and data set shared by the trainer tests (8x8x1 images, 3 classes)."""

import keras
import numpy as np


def toy_classifier(seed=0, activation="relu"):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation=activation),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])


def toy_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    y = (x.reshape(n, -1).mean(1) * 3 > 1.5).astype("int64") + (x[:, 0, 0, 0] > 0.8)
    return x, y.astype("int64")


def assert_step_descends_ce_at(trainer, clf, x, y, x_adv):
    """trainer.train_step((x, y)) equals one SGD(lr 1) step on the CE at x_adv."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, clf(x_adv, training=True), from_logits=True))
    grads = tape.gradient(loss, clf.trainable_weights)
    expected = [w.numpy() - g.numpy() for w, g in zip(clf.trainable_weights, grads)]
    trainer.train_step((tf.constant(x), tf.constant(y)))
    for w, e in zip(clf.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)


def assert_ema_step_and_swap(trainer, x, y, decay):
    """After one train_step, each EMA weight is decay * before + (1 - decay) * after,
    a swap puts the averages live, and a second swap restores the live weights."""
    import tensorflow as tf

    w0 = [w.numpy().copy() for w in trainer.ema_variables()]
    assert len(trainer.ema_weights) == len(w0)
    trainer.train_step((tf.constant(x), tf.constant(y)))
    w1 = [w.numpy().copy() for w in trainer.ema_variables()]
    for s, a, b in zip(trainer.ema_weights, w0, w1):
        np.testing.assert_allclose(s.numpy(), decay * a + (1 - decay) * b, rtol=1e-5,
                                   atol=1e-7)
    trainer.swap_ema_weights()
    for w, a, b in zip(trainer.ema_variables(), w0, w1):
        np.testing.assert_allclose(w.numpy(), decay * a + (1 - decay) * b, rtol=1e-5,
                                   atol=1e-7)
    trainer.swap_ema_weights()
    for w, b in zip(trainer.ema_variables(), w1):
        np.testing.assert_allclose(w.numpy(), b)
