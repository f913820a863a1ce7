"""Save/load round trips and MirroredStrategy builds for every model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import _model_specs as specs
from tf_advnet.models import MODEL_NAMES
from tf_advnet.models import build_model
from tf_advnet.models.layers import ChannelPad
from tf_advnet.models.layers import Standardize
from tf_advnet.models.layers import Subsample2D


def _build_small(name, k=5):
    shape = specs.SHAPES[name][-1]
    return build_model(name, shape, k, **specs.SMALL_KWARGS.get(name, {}))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip_gives_identical_logits(name, tmp_path):
    model = _build_small(name)
    shape = model.input_shape[1:]
    x = np.random.default_rng(1).uniform(size=(3,) + shape).astype("float32")
    before = np.asarray(model(x, training=False))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.name == model.name
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)),
                                  before)


def test_preprocess_layer_round_trip(tmp_path):
    mean = np.full((28, 28, 1), 0.13, "float32")
    model = build_model("deepdefense_mlp", (28, 28, 1), 10, input_mean=mean,
                        input_scale=255.0)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("preprocess")
    assert isinstance(layer, Standardize)
    np.testing.assert_allclose(np.asarray(layer.mean), mean)
    x = np.random.default_rng(2).uniform(size=(2, 28, 28, 1)).astype(
        "float32")
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("layer", [
    Standardize((0.5, 0.4, 0.3), (0.2, 0.2, 0.25), name="s"),
    Subsample2D(3, name="sub"),
    ChannelPad(1, 2, name="pad"),
])
def test_custom_layers_serialise(layer):
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_standardize_rejects_non_positive_std():
    with pytest.raises(ValueError, match="std"):
        Standardize(0.0, (1.0, 0.0))


_STRATEGY = []


def _mirrored():
    """One two-replica MirroredStrategy shared by this module's tests.

    It reduces through one device instead of CPU collectives: TF's collective
    instance keys restart with every new MirroredStrategy in a process, and a
    second strategy's all-reduce can then collide with the first one's
    ("Shape mismatch in the collective instance"), which would break other
    packages' strategy tests that run later in the same pytest process.
    """
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs the two logical CPUs from tests/conftest.py")
    if not _STRATEGY:
        _STRATEGY.append(tf.distribute.MirroredStrategy(
            [d.name for d in cpus[:2]],
            cross_device_ops=tf.distribute.ReductionToOneDevice()))
    return _STRATEGY[0]


def test_all_models_build_in_mirrored_strategy():
    strategy = _mirrored()
    assert strategy.num_replicas_in_sync == 2
    for name in MODEL_NAMES:
        with strategy.scope():
            model = _build_small(name, k=3)
        for var in model.weights:
            assert strategy.extended.variable_created_in_scope(var.value), (
                name, var.path)
        shape = model.input_shape[1:]
        x = np.random.default_rng(0).uniform(size=(2,) + shape).astype(
            "float32")
        assert model(x, training=False).shape == (2, 3), name


def test_resnet_fits_one_step_in_mirrored_strategy():
    # With plain BN (sync_bn=False) Keras 3 lets each replica keep its own
    # moving averages; sync_bn=True must keep them identical.
    strategy = _mirrored()
    with strategy.scope():
        model = build_model("resnet20", (32, 32, 3), 3, width=0.25, depth=8,
                            sync_bn=True)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 32, 32, 3)).astype("float32")
    x[4:] += 1.0  # The two replicas see sub-batches with different stats.
    y = rng.integers(0, 3, size=(8,))
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0,
                        shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    copies = [np.asarray(v) for v in
              model.get_layer("stem_bn").moving_mean.value.values]
    assert len(copies) == 2
    assert np.abs(copies[0]).max() > 0  # updated from its zero init
    np.testing.assert_allclose(copies[0], copies[1], rtol=1e-5)
