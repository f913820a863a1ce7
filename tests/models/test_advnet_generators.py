"""Wang & Yu generators G0-G3: shapes, output norms, inputs, serialisation, errors."""

import keras
import numpy as np
import pytest

from tf_advnet.errors import UserError
from tf_advnet.models.advnet_generators import (advnet_g0, advnet_g1, advnet_g2,
                                                advnet_g3, build_generator,
                                                generator_input_kind)


def _input(gen, n=5, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(gen.inputs[0].shape[1:])
    kind = generator_input_kind(gen)
    if kind == "label":
        return np.eye(shape[1], dtype="float32")[rng.integers(0, shape[1], n)]
    if kind == "noise":
        return rng.normal(size=shape).astype("float32")
    return rng.uniform(size=shape).astype("float32")


@pytest.mark.parametrize("kind,shape,expected_kind", [
    ("g0", (28, 28, 1), "image"), ("g1", (32, 32, 3), "image"),
    ("g2", (28, 28, 1), "noise"), ("g3", (32, 32, 3), "label")])
def test_output_is_image_shaped_and_in_the_unit_box(kind, shape, expected_kind):
    gen = build_generator(kind, shape, 10, k=4)
    assert generator_input_kind(gen) == expected_kind
    out = keras.ops.convert_to_numpy(gen(_input(gen), training=True))
    assert out.shape == (5,) + shape
    assert np.abs(out).max() <= 1.0
    assert np.abs(out).max() > 0.0  # not a dead output


@pytest.mark.parametrize("builder", [advnet_g0, advnet_g1, advnet_g2])
def test_l2_output_has_unit_norm_per_example(builder):
    gen = builder((8, 8, 1), None, k=4, output="l2")
    out = keras.ops.convert_to_numpy(gen(_input(gen)))
    np.testing.assert_allclose(np.sqrt((out ** 2).reshape(5, -1).sum(1)), 1.0, rtol=1e-4)


def test_g0_layer_table_matches_the_official_code():
    gen = advnet_g0((28, 28, 1), k=64)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in gen.layers}
    assert shapes["enc1"] == (14, 14, 64)
    assert shapes["enc2"] == (7, 7, 128)
    assert shapes["dec1"] == (14, 14, 64)
    assert shapes["dec2"] == (28, 28, 1)
    assert gen.get_layer("enc1").kernel.shape == (5, 5, 1, 64)
    assert not gen.get_layer("dec1").use_bias  # deconvs have no bias in the code


def test_g1_has_six_residual_blocks_at_quarter_resolution():
    gen = advnet_g1((32, 32, 3), k=8)
    names = [layer.name for layer in gen.layers]
    assert sum(n.endswith("_add") for n in names) == 6
    assert "res1_proj_conv" in names and "res2_proj_conv" not in names
    assert tuple(gen.get_layer("res6_out").output.shape[1:]) == (8, 8, 32)


def test_label_generator_is_a_set_of_class_filters():
    gen = advnet_g3((8, 8, 1), 3, k=4)
    y = np.eye(3, dtype="float32")[[0, 0, 1]]
    out = keras.ops.convert_to_numpy(gen(y, training=False))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # same label, same output
    assert np.abs(out[0] - out[2]).max() > 1e-4


def test_noise_generator_output_depends_on_z():
    gen = advnet_g2((8, 8, 1), None, k=4, z_dim=16)
    assert gen.inputs[0].shape[-1] == 16
    out = keras.ops.convert_to_numpy(gen(_input(gen)))
    assert np.abs(out[0] - out[1]).max() > 1e-4


@pytest.mark.parametrize("kind", ["g0", "g1", "g2", "g3"])
def test_round_trips_through_keras_save(tmp_path, kind):
    gen = build_generator(kind, (8, 8, 1), 3, k=4)
    path = str(tmp_path / "g.keras")
    gen.save(path)
    loaded = keras.models.load_model(path)
    assert generator_input_kind(loaded) == generator_input_kind(gen)
    z = _input(gen)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(z)),
                               keras.ops.convert_to_numpy(gen(z)), atol=1e-6)


@pytest.mark.parametrize("call,flag", [
    (lambda: advnet_g0((30, 30, 1)), "input_shape"),
    (lambda: advnet_g0((28, 28, 1), k=0), "k"),
    (lambda: advnet_g1((32, 32, 3), output="l1"), "output"),
    (lambda: advnet_g2((8, 8, 1), z_dim=0), "z_dim"),
    (lambda: build_generator("g9", (8, 8, 1), 3), "^kind must be one of g0, g1, g2, g3; got 'g9'$"),
])
def test_bad_arguments_are_one_line_user_errors(call, flag):
    with pytest.raises(UserError, match=flag) as err:
        call()
    assert "\n" not in str(err.value)


def test_input_kind_of_a_foreign_model_is_a_user_error():
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(2)])
    with pytest.raises(UserError, match="image, noise, label"):
        generator_input_kind(model)
