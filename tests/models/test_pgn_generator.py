"""PGN's perturbation generator (the official code's `models/PGN.py`, ATPGN/ATPGN) and
the tanh change of variables (Eq. 5)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.attacks.pgn import pgn_attack, tanh_space
from tf_advnet.errors import UserError
from tf_advnet.models.pgn_generator import pgn_generator


@pytest.mark.parametrize("shape,k", [((32, 32, 3), 100), ((28, 28, 1), 10),
                                     ((8, 8, 1), 3)])
def test_output_is_image_shaped(shape, k):
    gen = pgn_generator(shape, k, width=8, dense_units=16)
    assert gen.output_shape == (None,) + shape
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype("float32")
    w = gen([tf.zeros_like(x), tf.constant(x), tf.one_hot([0, 1], k)])
    assert w.shape == (2,) + shape and np.all(np.isfinite(w))


def test_paper_widths_on_cifar():
    """Layer 2 is dense to 128 * 8 * 8 and the merge has 128 + 3 + 3 channels."""
    gen = pgn_generator((32, 32, 3), 10)
    assert gen.get_layer("fc1").units == 1024
    assert gen.get_layer("fc2").units == 128 * 8 * 8
    assert gen.get_layer("merge").output.shape[-1] == 134
    assert gen.get_layer("w").activation.__name__ == "linear"


def test_bad_shape_is_one_line_user_error():
    with pytest.raises(UserError, match="multiples of 4") as err:
        pgn_generator((30, 30, 3), 10)
    assert "\n" not in str(err.value)


def test_label_path_matters():
    keras.utils.set_random_seed(1)
    gen = pgn_generator((8, 8, 1), 3, width=8, dense_units=16)
    x = tf.fill((1, 8, 8, 1), 0.5)
    g = tf.zeros_like(x)
    w0 = gen([g, x, tf.one_hot([0], 3)]).numpy()
    w1 = gen([g, x, tf.one_hot([2], 3)]).numpy()
    assert np.abs(w0 - w1).max() > 1e-3


def test_tanh_space_range_and_identity():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8, 1)).astype("float32")
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 0.0, 1.0
    for scale in (0.5, 1.0):
        w = (rng.normal(size=x.shape) * scale).clip(-1.5, 1.5).astype("float32")
        x_adv = tanh_space(x, w).numpy()
        assert np.all(x_adv > 0.0) and np.all(x_adv < 1.0)
    # Huge w saturate inside [0, 1], never outside or NaN.
    big = tanh_space(x, 100.0 * np.sign(rng.normal(size=x.shape))).numpy()
    assert np.all(np.isfinite(big)) and big.min() >= 0.0 and big.max() <= 1.0
    np.testing.assert_allclose(tanh_space(x, np.zeros_like(x)).numpy(), x, atol=1e-5)
    # Eq. (5) exactly as written.
    u = np.arctanh(0.999999 * (2 * x.astype("float64") - 1)) + 0.3
    np.testing.assert_allclose(tanh_space(x, np.full_like(x, 0.3)).numpy(),
                               0.5 * (np.tanh(u) + 1), atol=1e-6)


def test_tanh_space_gradients_finite_at_the_edges():
    x = tf.constant([[0.0, 1.0, 0.5]])
    w = tf.constant([[0.2, -0.2, 0.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        out = tanh_space(x, w)
    gx, gw = tape.gradient(out, x), tape.gradient(out, w)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))
    # d x_adv / d w = 1/2 sech^2 = 2 x_adv (1 - x_adv).
    o = out.numpy()
    np.testing.assert_allclose(gw.numpy(), 2 * o * (1 - o), rtol=1e-4)
    assert gx.numpy()[0, 2] == pytest.approx(0.999999, rel=1e-4)


def test_pgn_attack_uses_the_generator_and_stays_in_the_box():
    keras.utils.set_random_seed(0)
    clf = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(3)])
    gen = pgn_generator((8, 8, 1), 3, width=8, dense_units=16)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    fn = lambda v: clf(v, training=False)  # noqa: E731
    x_adv = pgn_attack(fn, gen, x, y).numpy()
    assert x_adv.shape == x.shape and 0 <= x_adv.min() and x_adv.max() <= 1
    # By hand: w = G(d mean(p_y)/dx, x, y).
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        p = tf.nn.softmax(fn(xt))
        obj = tf.reduce_mean(tf.gather(p, y, batch_dims=1))
    w = gen([tape.gradient(obj, xt), xt, tf.one_hot(y, 3)])
    np.testing.assert_allclose(x_adv, tanh_space(x, w).numpy(), atol=1e-6)
    # One-hot labels and an explicit training batch size are accepted.
    same = pgn_attack(fn, gen, x, tf.one_hot(y, 3), grad_batch_size=4).numpy()
    np.testing.assert_allclose(same, x_adv, atol=1e-6)
