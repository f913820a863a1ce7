"""The generator attack x + eps G(.): budget, pixel range, inputs, seeds."""

import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.attacks.generator import generator_attack, generator_inputs
from tf_advnet.models.advnet_generators import build_generator


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n, 8, 8, 1)).astype("float32"),
            rng.integers(0, 3, n).astype("int64"))


@pytest.mark.parametrize("kind", ["g0", "g1", "g2", "g3"])
def test_inside_the_eps_ball_and_the_pixel_range(kind):
    x, y = _data()
    gen = build_generator(kind, (8, 8, 1), 3, k=4)
    x_adv = generator_attack(gen, x, y, eps=0.3, seed=1).numpy()
    assert np.abs(x_adv - x).max() <= 0.3 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv - x).max() > 0.0


def test_unclipped_is_exactly_x_plus_eps_g():
    x, y = _data()
    gen = build_generator("g0", (8, 8, 1), 3, k=4)
    x_adv = generator_attack(gen, x, y, eps=0.5, clip=False).numpy()
    expected = x + 0.5 * gen(x, training=False).numpy()
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)


def test_noise_seed_is_reproducible_and_matters():
    x, y = _data()
    gen = build_generator("g2", (8, 8, 1), 3, k=4)
    a = generator_attack(gen, x, y, eps=0.3, seed=1).numpy()
    b = generator_attack(gen, x, y, eps=0.3, seed=1).numpy()
    c = generator_attack(gen, x, y, eps=0.3, seed=2).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_label_generator_gets_one_hot_labels_and_needs_them():
    x, y = _data()
    gen = build_generator("g3", (8, 8, 1), 3, k=4)
    np.testing.assert_array_equal(generator_inputs(gen, x, y).numpy(),
                                  tf.one_hot(y, 3).numpy())
    with pytest.raises(ValueError, match="`y`"):
        generator_attack(gen, x, None, eps=0.1)


def test_negative_eps_is_rejected():
    x, y = _data()
    with pytest.raises(ValueError, match="eps"):
        generator_attack(build_generator("g0", (8, 8, 1), 3, k=4), x, y, eps=-0.1)
