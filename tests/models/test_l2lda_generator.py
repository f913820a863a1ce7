"""L2L-DA's generator and its class-conditional batch normalisation."""

import keras
import numpy as np
import pytest

from tf_advnet.errors import UserError
from tf_advnet.models.l2lda_generator import (input_names, l2l_star_generator,
                                              l2lda_generator, l2lda_generator_inputs,
                                              z_dim_of)
from tf_advnet.models.layers import ConditionalBatchNormalization


def _h(n=6, seed=0):
    return np.random.default_rng(seed).normal(2.0, 3.0, (n, 4, 4, 5)).astype("float32")


def test_cbn_is_batch_norm_then_per_class_affine():
    layer = ConditionalBatchNormalization(3)
    h, y = _h(), np.array([0, 1, 2, 0, 1, 2])
    out = layer([h, y], training=True).numpy()
    norm = (h - h.mean((0, 1, 2))) / np.sqrt(h.var((0, 1, 2)) + 1e-10)
    gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
    for i in range(len(h)):
        g = gamma[y[i]] + gamma[3]
        b = beta[y[i]] + beta[3]
        np.testing.assert_allclose(out[i], norm[i] * g + b, rtol=1e-4, atol=1e-4)


def test_cbn_initialisation_and_class_dependence():
    keras.utils.set_random_seed(0)
    layer = ConditionalBatchNormalization(10)
    h = _h(2)
    layer([h, np.array([0, 1])], training=True)
    gamma = layer.gamma.numpy()
    assert gamma.shape == (11, 5) and np.allclose(layer.beta.numpy(), 0)
    assert abs(gamma[-1].mean() - 1) < 0.05 and abs(gamma[:-1].mean()) < 0.02
    # The same features under another label come out differently.
    same = np.concatenate([h[:1], h[:1]])
    out = layer([same, np.array([3, 7])], training=False).numpy()
    assert not np.allclose(out[0], out[1])


def test_unconditional_cbn_is_plain_batch_norm_with_shared_affine():
    layer = ConditionalBatchNormalization(0)
    h = _h()
    out = layer(h, training=True).numpy()
    norm = (h - h.mean((0, 1, 2))) / np.sqrt(h.var((0, 1, 2)) + 1e-10)
    np.testing.assert_allclose(out, norm * layer.gamma.numpy()[0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalBatchNormalization(-1)


def test_cbn_moving_statistics_momentum_0_9():
    layer = ConditionalBatchNormalization(2)
    h = _h()
    layer([h, np.zeros(6)], training=True)
    mean = layer.norm.moving_mean.numpy()
    np.testing.assert_allclose(mean, 0.1 * h.mean((0, 1, 2)), rtol=1e-4)


def _inputs(g, n=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    return l2lda_generator_inputs(
        g, image=x, gradient=rng.normal(size=x.shape).astype("float32"),
        delta=np.zeros_like(x), label=np.arange(n) % 3,
        noise=rng.normal(size=(n, 4)).astype("float32"))


def test_generator_inputs_outputs_and_layer_table():
    g = l2lda_generator((8, 8, 1), 3, width=4, z_dim=4)
    assert input_names(g) == ("image", "gradient", "delta", "label", "noise")
    assert z_dim_of(g) == 4
    out = g(_inputs(g), training=True).numpy()
    assert out.shape == (3, 8, 8, 1) and np.abs(out).max() <= 1.0
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in g.layers
              if layer.name.endswith("_conv")}
    assert shapes == {"d0_conv": (8, 8, 4), "d1_conv": (4, 4, 4), "d2_conv": (2, 2, 8),
                      "u2_conv": (4, 4, 4), "u1_conv": (8, 8, 4), "out_conv": (8, 8, 1)}
    # z enters the three down-sampling convolutions (3 channels in + 4 of z).
    assert g.get_layer("d0_conv").kernel.shape == (3, 3, 3 + 4, 4)
    assert g.get_layer("d1_conv").kernel.shape == (4, 4, 4 + 4, 4)
    assert g.get_layer("d2_conv").kernel.shape == (4, 4, 4 + 4, 8)
    assert sum(isinstance(layer, ConditionalBatchNormalization) for layer in g.layers) == 3


def test_each_input_changes_the_output():
    keras.utils.set_random_seed(1)
    g = l2lda_generator((8, 8, 1), 3, width=4, z_dim=4)
    base = _inputs(g)
    ref = g(base, training=False).numpy()
    for i, name in enumerate(input_names(g)):
        changed = list(base)
        if name == "label":
            changed[i] = (base[i] + 1) % 3
        else:
            changed[i] = base[i] + 0.5
        assert not np.allclose(g(changed, training=False).numpy(), ref), name


def test_ablation_flags_drop_inputs():
    g = l2lda_generator((8, 8, 1), 3, width=4, use_delta=False, use_label=False)
    assert input_names(g) == ("image", "gradient", "noise")
    assert all(layer.num_classes == 0 for layer in g.layers
               if isinstance(layer, ConditionalBatchNormalization))
    star = l2l_star_generator((8, 8, 1), width=4)
    assert input_names(star) == ("image", "gradient") and z_dim_of(star) == 0
    with pytest.raises(ValueError, match="'noise'"):
        l2lda_generator_inputs(g, image=np.zeros((1, 8, 8, 1)), gradient=np.zeros(
            (1, 8, 8, 1)))


def test_save_load_round_trip(tmp_path):
    g = l2lda_generator((8, 8, 1), 3, width=4, z_dim=4)
    ins = _inputs(g)
    g(ins, training=True)  # moves the BN statistics
    path = str(tmp_path / "g.keras")
    g.save(path)
    g2 = keras.models.load_model(path)
    np.testing.assert_allclose(g(ins).numpy(), g2(ins).numpy(), atol=1e-6)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(UserError, match="multiples of 4"):
        l2lda_generator((10, 10, 1), 3)
    with pytest.raises(UserError, match="width"):
        l2lda_generator((8, 8, 1), 3, width=0)
    with pytest.raises(UserError, match="inputs"):
        input_names(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()]))
