"""Shared check: a trainer's fit under MirroredStrategy equals fit on one device."""

import numpy as np
import tensorflow as tf


def fit_weights(strategy, make_trainer, x, y, *, batch_size=16, epochs=2):
    """Builds `make_trainer()` (which returns (trainer, classifier)) in `strategy`'s
    scope, fits it on (x, y) and returns the classifier's weights."""
    with strategy.scope():
        trainer, clf = make_trainer()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    trainer.fit(ds, epochs=epochs, verbose=0)
    return [w.numpy() for w in clf.weights]


def assert_mirrored_matches_single(two_cpu_strategy, make_trainer, x, y, **kwargs):
    single = fit_weights(tf.distribute.get_strategy(), make_trainer, x, y, **kwargs)
    mirrored = fit_weights(two_cpu_strategy, make_trainer, x, y, **kwargs)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
