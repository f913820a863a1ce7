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


@pytest.fixture(scope="session")
def two_cpu_strategy():
    """One two-replica MirroredStrategy over the two logical CPUs, for the session.

    It reduces through one device: TF's CPU collectives restart their instance keys
    with every new MirroredStrategy in a process, and a second strategy's all-reduce
    can then collide with the first's ("Shape mismatch in the collective instance").
    """
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs the two logical CPU devices configured above")
    return tf.distribute.MirroredStrategy(
        [d.name for d in cpus[:2]],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
