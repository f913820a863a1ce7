"""Shared pytest set-up: CPU-only, deterministic, quiet TF, absl flags parsed."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so MirroredStrategy tests can compare 1 vs 2 replicas.
# This must happen before any op runs; it does not change single-device results.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0],
        [tf.config.LogicalDeviceConfiguration(),
         tf.config.LogicalDeviceConfiguration()],
    )
except RuntimeError:  # already initialised by an earlier import
    pass
tf.config.experimental.enable_tensor_float_32_execution(False)

try:
    from absl import flags

    flags.FLAGS.mark_as_parsed()
except Exception:  # absl is optional for library tests
    pass


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    tf.random.set_seed(0)
    import keras

    keras.utils.set_random_seed(0)
    yield
