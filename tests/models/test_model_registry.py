"""Registry contract: models build, return (N, K) logits, bad input fails."""

import numpy as np
import pytest

from tests.models import _model_specs as specs
from tf_advnet.errors import UserError
from tf_advnet.models import MODEL_NAMES
from tf_advnet.models import build_model
from tf_advnet.models import model_kwargs

CASES = [(n, s) for n in MODEL_NAMES for s in specs.SHAPES[n]]


def test_specs_cover_every_registered_model():
    assert set(specs.SHAPES) == set(MODEL_NAMES)
    assert len(MODEL_NAMES) == len(set(MODEL_NAMES))


@pytest.mark.parametrize("name,shape", CASES,
                         ids=[f"{n}-{s[0]}x{s[2]}" for n, s in CASES])
def test_builds_and_outputs_logits(name, shape):
    k = 7  # Not 10, so a hard-coded 10 would show.
    model = build_model(name, shape, k, **specs.SMALL_KWARGS.get(name, {}))
    # Each model is named after its registry entry (resnets after depth).
    assert model.name == ("resnet8" if name == "resnet20" else name)
    assert tuple(model.input_shape) == (None,) + shape
    x = np.random.default_rng(0).uniform(size=(3,) + shape).astype("float32")
    logits = np.asarray(model(x, training=False))
    assert logits.shape == (3, k)
    assert np.all(np.isfinite(logits))
    # Logits, not probabilities: rows do not all sum to 1.
    assert not np.allclose(logits.sum(axis=1), 1.0, atol=1e-3)


def test_unknown_model_names_argument_and_choices():
    with pytest.raises(UserError) as err:
        build_model("resnet18", (32, 32, 3), 10)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("name must be one of ") and msg.endswith("; got 'resnet18'")
    for name in MODEL_NAMES:
        assert name in msg
    assert isinstance(err.value, ValueError)


def test_unknown_kwarg_names_it():
    with pytest.raises(UserError, match="widht") as err:
        build_model("small_cnn", (28, 28, 1), 10, widht=2)
    assert "width" in str(err.value)  # Lists the valid arguments.
    assert "\n" not in str(err.value)


def test_model_kwargs_lists_keyword_options():
    assert model_kwargs("resnet20") == {
        "depth": 20, "width": 1, "normalize": None, "sync_bn": False,
        "name": None}
    assert model_kwargs("wide_resnet")["units_per_stage"] == 5
    assert model_kwargs("wide_resnet")["widen_factor"] == 10


@pytest.mark.parametrize("name,kwargs,arg", [
    ("small_cnn", {"width": 0}, "width"),
    ("small_cnn", {"width": "2"}, "width"),
    ("advnet_resnet", {"variant": "imagenet"}, "variant"),
    ("advnet_resnet", {"blocks_per_stage": 0}, "blocks_per_stage"),
    ("resnet20", {"depth": 21}, "depth"),
    ("resnet20", {"normalize": "cifar"}, "normalize"),
    ("wide_resnet", {"widen_factor": 2.5}, "widen_factor"),
    ("wide_resnet", {"shortcut": "conv"}, "shortcut"),
    ("wide_resnet", {"leaky_slope": -0.1}, "leaky_slope"),
    ("wide_resnet", {"sync_bn": "yes"}, "sync_bn"),
    ("convpool_cnn", {"nb_filters": 0}, "nb_filters"),
    ("nin", {"dropout": 1.0}, "dropout"),
    ("deepdefense_mlp", {"input_scale": 0.0}, "input_scale"),
    ("deepdefense_mlp", {"input_mean": np.zeros((5, 5, 1))}, "input_mean"),
])
def test_bad_kwarg_values_raise_user_error_naming_them(name, kwargs, arg):
    shape = specs.SHAPES[name][0]
    with pytest.raises(UserError, match=arg):
        build_model(name, shape, 10, **kwargs)


@pytest.mark.parametrize("num_classes", [1, 0, 2.0, "10"])
def test_bad_num_classes(num_classes):
    with pytest.raises(UserError, match="num_classes"):
        build_model("small_cnn", (28, 28, 1), num_classes)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 0), "28x28", None])
def test_malformed_input_shape(shape):
    with pytest.raises(UserError, match="input_shape"):
        build_model("small_cnn", shape, 10)


@pytest.mark.parametrize("name", sorted(specs.MIN_HW))
def test_minimum_spatial_size(name):
    kwargs = specs.SMALL_KWARGS.get(name, {})
    hw = specs.MIN_HW[name]
    model = build_model(name, (hw, hw, 1), 4, **kwargs)
    x = np.zeros((2, hw, hw, 1), "float32")
    assert model(x).shape == (2, 4)
    if hw > 1:
        with pytest.raises(UserError) as err:
            build_model(name, (hw - 1, hw, 1), 4, **kwargs)
        assert name in str(err.value)
        assert "supported shapes" in str(err.value)


def test_deepdefense_convnet_rejects_28x28_naming_supported_shapes():
    with pytest.raises(UserError) as err:
        build_model("deepdefense_convnet", (28, 28, 1), 10)
    msg = str(err.value)
    assert "deepdefense_convnet" in msg and "(32, 32, C)" in msg


def test_imagenet_normalisation_needs_three_channels():
    with pytest.raises(UserError, match="resnet20"):
        build_model("resnet20", (28, 28, 1), 10, normalize="imagenet")
