"""Input-gradient magnitude statistics (BAT Table 2) against a hand computation."""

import keras
import numpy as np
import tensorflow as tf

from tf_advnet.eval.gradients import gradient_magnitude_stats, input_gradient_norms


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(3)])


def test_norms_match_per_example_gradients_and_split_by_correctness():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, size=20).astype("int64")
    model = _model()
    sq, correct = input_gradient_norms(model, x, y, batch_size=7)
    for i in (0, 13):
        xi = tf.constant(x[i:i + 1])
        with tf.GradientTape() as tape:
            tape.watch(xi)
            ce = keras.losses.sparse_categorical_crossentropy(
                y[i:i + 1], model(xi, training=False), from_logits=True)
        np.testing.assert_allclose(sq[i], np.sum(tape.gradient(ce, xi).numpy() ** 2),
                                   rtol=1e-4)
    np.testing.assert_array_equal(correct, np.argmax(model.predict(x, verbose=0), 1) == y)
    stats = gradient_magnitude_stats(model, x, y, batch_size=7)
    assert stats["all"]["n"] == 20
    assert stats["correct"]["n"] + stats["wrong"]["n"] == 20
    assert stats["all"]["min"] <= stats["all"]["mean"] <= stats["all"]["max"]
    assert stats["all"]["max"] == max(s["max"] for s in (stats["correct"], stats["wrong"])
                                      if s["max"] is not None)
    assert np.isclose(stats["all"]["mean"], sq.mean())
