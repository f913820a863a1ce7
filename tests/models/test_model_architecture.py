"""Layer facts from the implementation notes, checked on the built graphs."""

import keras
import numpy as np
import pytest

from tf_advnet.models import build_model
from tf_advnet.models.layers import ChannelPad
from tf_advnet.models.layers import Standardize
from tf_advnet.models.layers import Subsample2D


def _images(shape, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n,) + tuple(shape)).astype("float32")


def _input_of(model, layer_name, x):
    """What `layer_name` receives when the model is fed `x`."""
    probe = keras.Model(model.input, model.get_layer(layer_name).input)
    return np.asarray(probe(x))


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# --- Rescaling happens inside the model -----------------------------------


@pytest.mark.parametrize("name,first_conv,kwargs", [
    ("advnet_d1", "conv1", {}),
    ("advnet_resnet", "stem_conv", {"width": 0.25, "blocks_per_stage": 1}),
    ("wide_resnet", "stem_conv", {"units_per_stage": 1, "widen_factor": 1}),
])
def test_first_conv_sees_2x_minus_1(name, first_conv, kwargs):
    model = build_model(name, (32, 32, 3), 10, **kwargs)
    x = _images((32, 32, 3))
    np.testing.assert_allclose(_input_of(model, first_conv, x), 2 * x - 1,
                               atol=1e-6)


def test_resnet20_imagenet_normalisation_inside():
    model = build_model("resnet20", (32, 32, 3), 10, width=0.25, depth=8,
                        normalize="imagenet")
    x = _images((32, 32, 3))
    mean = np.array([0.485, 0.456, 0.406], "float32")
    std = np.array([0.229, 0.224, 0.225], "float32")
    np.testing.assert_allclose(_input_of(model, "stem_conv", x),
                               (x - mean) / std, rtol=1e-5, atol=1e-5)
    plain = build_model("resnet20", (32, 32, 3), 10, width=0.25, depth=8)
    np.testing.assert_array_equal(_input_of(plain, "stem_conv", x), x)


@pytest.mark.parametrize("name", ["lenet5", "convpool_cnn", "small_cnn"])
def test_models_without_rescaling_see_raw_pixels(name):
    model = build_model(name, (28, 28, 1), 10)
    first = _layers_of(model, keras.layers.Conv2D)[0]
    x = _images((28, 28, 1))
    np.testing.assert_array_equal(_input_of(model, first.name, x), x)


def test_deepdefense_preprocess_mean_image_and_scale():
    mean = _images((28, 28, 1), n=1, seed=3)[0]
    model = build_model("deepdefense_lenet", (28, 28, 1), 10,
                        input_mean=mean, input_scale=255.0)
    x = _images((28, 28, 1))
    np.testing.assert_allclose(_input_of(model, "conv1", x),
                               (x - mean) * 255.0, rtol=1e-5, atol=1e-3)
    plain = build_model("deepdefense_lenet", (28, 28, 1), 10)
    assert not _layers_of(plain, Standardize)


# --- Wang & Yu -----------------------------------------------------------


def test_advnet_d1_has_no_hidden_dense_and_xavier_init():
    model = build_model("advnet_d1", (28, 28, 1), 10)
    dense = _layers_of(model, keras.layers.Dense)
    assert [d.name for d in dense] == ["logits"]
    convs = _layers_of(model, keras.layers.Conv2D)
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [
        (32, (5, 5), "same"), (64, (5, 5), "same")]
    for layer in convs + dense:
        assert isinstance(layer.kernel_initializer,
                          keras.initializers.GlorotUniform)


def test_advnet_resnet_projection_on_first_block_of_every_stage():
    model = build_model("advnet_resnet", (32, 32, 3), 10)
    names = {layer.name for layer in model.layers}
    for stage, stride in ((1, 1), (2, 2), (3, 2)):
        proj = model.get_layer(f"stage{stage}_block1_proj_conv")
        assert proj.kernel_size == (1, 1) and proj.strides == (stride, stride)
        assert not proj.use_bias
        assert f"stage{stage}_block1_proj_bn" in names
        for block in (2, 3):
            assert f"stage{stage}_block{block}_proj_conv" not in names
    # Stage 1 block 1: 16 -> 16 channels at stride 1, yet projected.
    proj = model.get_layer("stage1_block1_proj_conv")
    assert proj.input.shape[-1] == proj.filters == 16
    # The shortcut branch goes through the projection BN into the add.
    add_inputs = model.get_layer("stage1_block1_add").input
    assert any(t is model.get_layer("stage1_block1_proj_bn").output
               for t in add_inputs)


def test_advnet_resnet_strided_convs_pad_symmetrically_then_valid():
    model = build_model("advnet_resnet", (32, 32, 3), 10)
    strided = [c for c in _layers_of(model, keras.layers.Conv2D)
               if c.strides == (2, 2) and c.kernel_size == (3, 3)]
    assert len(strided) == 2
    for conv in strided:
        assert conv.padding == "valid"
        pad = model.get_layer(f"{conv.name}_pad")
        assert isinstance(pad, keras.layers.ZeroPadding2D)
        assert pad.padding == ((1, 1), (1, 1))
    for conv in _layers_of(model, keras.layers.Conv2D):
        if conv.strides == (1, 1):
            assert conv.padding == "same"


def test_advnet_resnet_bn_and_init_settings():
    model = build_model("advnet_resnet", (32, 32, 3), 10)
    bns = _layers_of(model, keras.layers.BatchNormalization)
    assert len(bns) == 1 + 3 * (3 * 2) + 3  # stem + 2 per block + 3 proj
    for layer in bns:
        assert layer.momentum == 0.997 and layer.epsilon == 1e-5
    init = model.get_layer("stem_conv").kernel_initializer
    assert isinstance(init, keras.initializers.VarianceScaling)
    assert (init.scale, init.mode, init.distribution) == (
        1.0, "fan_in", "truncated_normal")
    stem = model.get_layer("stem_conv")
    assert stem.filters == 16 and not stem.use_bias


def test_advnet_resnet_svhn_variant():
    model = build_model("advnet_resnet", (32, 32, 3), 10, variant="svhn")
    names = {layer.name for layer in model.layers}
    assert "stem_bn" not in names and "stem_relu" not in names
    # BN -> ReLU after stage 3, right before the pool.
    assert model.get_layer("avg_pool").input is (
        model.get_layer("final_relu").output)
    assert model.get_layer("final_relu").input is (
        model.get_layer("final_bn").output)
    init = model.get_layer("stem_conv").kernel_initializer
    assert isinstance(init, keras.initializers.TruncatedNormal)
    assert init.stddev == 0.02


def test_advnet_resnet_bn_follows_training_flag():
    # Ordinary Keras BN (no hard-coded training mode): inference uses the
    # moving statistics, so a batch of one gives the same logits as the same
    # image inside a batch.
    model = build_model("advnet_resnet", (32, 32, 3), 10, width=0.25,
                        blocks_per_stage=1)
    x = _images((32, 32, 3))
    full = np.asarray(model(x, training=False))
    single = np.asarray(model(x[:1], training=False))
    np.testing.assert_allclose(full[:1], single, rtol=1e-4, atol=1e-5)
    train = np.asarray(model(x, training=True))
    assert not np.allclose(train, full, atol=1e-4)


# --- L2L-DA and DeepDefense ------------------------------------------------


def test_lenet5_layers():
    model = build_model("lenet5", (28, 28, 1), 10)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert [(c.filters, c.padding, c.activation.__name__) for c in convs] == [
        (6, "same", "relu"), (16, "valid", "relu"), (120, "valid", "relu")]
    assert model.get_layer("conv3").output.shape[1:3] == (1, 1)
    assert model.get_layer("fc1").units == 84


def test_deepdefense_lenet_has_no_activation_after_convs():
    model = build_model("deepdefense_lenet", (28, 28, 1), 10)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert [(c.filters, c.padding) for c in convs] == [(20, "valid"),
                                                        (50, "valid")]
    for conv in convs:
        assert conv.activation is keras.activations.linear
    assert not _layers_of(model, keras.layers.ReLU)
    assert model.get_layer("fc1").activation is keras.activations.relu
    # Functional check: conv1 can output negative values that reach pool1.
    x = _images((28, 28, 1))
    assert (_input_of(model, "pool1", x) < 0).any()


def test_deepdefense_convnet_layer_order():
    model = build_model("deepdefense_convnet", (32, 32, 3), 10)
    seq = [type(layer).__name__ for layer in model.layers[1:]]
    assert seq == ["Conv2D", "MaxPooling2D", "ReLU", "Conv2D",
                   "AveragePooling2D", "Conv2D", "AveragePooling2D",
                   "Conv2D", "Conv2D", "Flatten"]
    assert model.get_layer("conv4").kernel_size == (4, 4)
    assert model.get_layer("conv5").activation is keras.activations.linear


def test_nin_dropout_after_both_pools_and_linear_last_conv():
    model = build_model("nin", (32, 32, 3), 10)
    drops = _layers_of(model, keras.layers.Dropout)
    assert [d.rate for d in drops] == [0.5, 0.5]
    assert model.get_layer("block1_dropout").input is (
        model.get_layer("block1_pool").output)
    assert model.get_layer("block2_dropout").input is (
        model.get_layer("block2_pool").output)
    assert model.get_layer("block3_mlp2").activation is (
        keras.activations.linear)
    x = _images((32, 32, 3), n=2)
    # Dropout is inactive in inference: deterministic logits.
    np.testing.assert_array_equal(model(x, training=False),
                                  model(x, training=False))


# --- PGN ConvPool-CNN --------------------------------------------------------


def test_convpool_last_conv_has_leaky_relu_and_logits_are_its_mean():
    model = build_model("convpool_cnn", (32, 32, 3), 10, nb_filters=4)
    act = model.get_layer("class_conv_act")
    assert isinstance(act, keras.layers.LeakyReLU)
    assert act.input is model.get_layer("class_conv").output
    for layer in _layers_of(model, keras.layers.LeakyReLU):
        assert layer.negative_slope == pytest.approx(0.2)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [4, 8, 8, 16, 16, 32, 10]
    for conv in convs:
        assert conv.kernel_size == (3, 3) and conv.use_bias
        init = conv.kernel_initializer
        assert (init.scale, init.mode, init.distribution) == (
            2.0, "fan_in", "untruncated_normal")
    x = _images((32, 32, 3))
    feat = np.asarray(keras.Model(model.input, act.output)(x))
    np.testing.assert_allclose(model(x), feat.mean(axis=(1, 2)), rtol=1e-5,
                               atol=1e-6)


# --- BAT wide ResNet ---------------------------------------------------------


def test_wide_resnet_leaky_slope_bn_and_widths():
    model = build_model("wide_resnet", (32, 32, 3), 10, units_per_stage=2,
                        widen_factor=2)
    leaky = _layers_of(model, keras.layers.LeakyReLU)
    assert leaky and all(layer.negative_slope == pytest.approx(0.1)
                         for layer in leaky)
    for layer in _layers_of(model, keras.layers.BatchNormalization):
        assert layer.momentum == 0.9 and layer.epsilon == 1e-3
    assert model.get_layer("stem_conv").filters == 16
    assert [model.get_layer(f"stage{s}_unit1_conv1").filters
            for s in (1, 2, 3)] == [32, 64, 128]
    assert model.get_layer("stage2_unit1_conv1").strides == (2, 2)
    assert model.get_layer("stage1_unit1_conv1").strides == (1, 1)


def test_wide_resnet_shortcuts():
    model = build_model("wide_resnet", (32, 32, 3), 10, units_per_stage=2,
                        widen_factor=2)
    # Stage 1 unit 1: shortcut taken after the shared BN + activation.
    pad = model.get_layer("stage1_unit1_sc_pad")
    assert isinstance(pad, ChannelPad) and (pad.before, pad.after) == (8, 8)
    assert pad.input is model.get_layer("stage1_unit1_act1").output
    # Stage 2 unit 1: shortcut = avgpool(raw input) + zero channel padding.
    pool = model.get_layer("stage2_unit1_sc_pool")
    assert isinstance(pool, keras.layers.AveragePooling2D)
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)
    assert pool.input is model.get_layer("stage1_unit2_add").output
    assert model.get_layer("stage2_unit1_sc_pad").before == 16
    # Units with unchanged width add the raw input.
    add = model.get_layer("stage1_unit2_add")
    assert any(t is model.get_layer("stage1_unit1_add").output
               for t in add.input)
    init = model.get_layer("logits").kernel_initializer
    assert (init.scale, init.mode, init.distribution) == (
        1.0, "fan_in", "uniform")


def test_wide_resnet_init_std():
    model = build_model("wide_resnet", (32, 32, 3), 10, units_per_stage=1,
                        widen_factor=4)
    kernel = np.asarray(model.get_layer("stage3_unit1_conv2").kernel)
    expected = np.sqrt(2.0 / (3 * 3 * 256))
    assert kernel.std() == pytest.approx(expected, rel=0.02)
    assert abs(kernel).max() > 2.5 * expected  # untruncated


def test_wide_resnet_zagoruyko_projection_option():
    model = build_model("wide_resnet", (32, 32, 3), 10, units_per_stage=1,
                        widen_factor=2, shortcut="projection",
                        leaky_slope=0.0)
    for stage in (1, 2, 3):
        sc = model.get_layer(f"stage{stage}_unit1_sc_conv")
        assert sc.kernel_size == (1, 1)
        assert sc.input is model.get_layer(f"stage{stage}_unit1_act1").output
    assert not _layers_of(model, ChannelPad)


# --- He et al. ResNet, option A ----------------------------------------------


def test_resnet20_option_a_shortcuts():
    model = build_model("resnet20", (32, 32, 3), 10)
    convs = _layers_of(model, keras.layers.Conv2D)
    assert len(convs) == 19  # + 1 dense = 20 weight layers
    assert all(c.kernel_size == (3, 3) and not c.use_bias for c in convs)
    for stage in (2, 3):
        sub = model.get_layer(f"stage{stage}_block1_sc_subsample")
        assert isinstance(sub, Subsample2D) and sub.stride == 2
        pad = model.get_layer(f"stage{stage}_block1_sc_pad")
        assert pad.before == pad.after == 8 * (stage - 1)
        conv = model.get_layer(f"stage{stage}_block1_conv1")
        assert conv.padding == "valid"
        assert model.get_layer(f"stage{stage}_block1_conv1_pad").padding == (
            (1, 1), (1, 1))
    assert not any(layer.name.startswith("stage1") and "_sc_" in layer.name
                   for layer in model.layers)
    for bn in _layers_of(model, keras.layers.BatchNormalization):
        assert bn.momentum == 0.9 and bn.epsilon == 1e-5
    assert model.get_layer("avg_pool").output.shape[-1] == 64


def test_option_a_layers_numerically():
    x = _images((7, 7, 4), n=2)
    sub = np.asarray(Subsample2D(2)(x))
    np.testing.assert_array_equal(sub, x[:, ::2, ::2, :])
    assert sub.shape == (2, 4, 4, 4)
    padded = np.asarray(ChannelPad(2, 3)(x))
    assert padded.shape == (2, 7, 7, 9)
    np.testing.assert_array_equal(padded[..., 2:6], x)
    assert not padded[..., :2].any() and not padded[..., 6:].any()


def test_resnet_odd_feature_maps_line_up():
    # 30x30 inputs give a 15x15 map entering stage 3: the strided main path
    # and the shortcut (option-A subsample, 1x1 projection, or avgpool) must
    # both become 8x8.
    for name, kwargs in (("resnet20", {"width": 0.25, "depth": 8}),
                         ("advnet_resnet", {"width": 0.25,
                                            "blocks_per_stage": 1}),
                         ("wide_resnet", {"units_per_stage": 1,
                                          "widen_factor": 1})):
        model = build_model(name, (30, 30, 1), 10, **kwargs)
        assert model.get_layer("avg_pool").input.shape[1:3] == (8, 8)
