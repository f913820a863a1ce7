"""`utils.compiled.reseed`: the same draws as `keras.utils.set_random_seed` (Python,
NumPy, Keras's SeedGenerator and initialisers, the op seeds of a function traced
after it, a seeded tf.data shuffle), and TensorFlow's kernel cache cleared only when
the seed changes."""

import random

import keras
import numpy as np
import tensorflow as tf

from tf_advnet.utils.compiled import reseed


def _draws():
    ds = tf.data.Dataset.range(16).shuffle(16, seed=3)
    # A function traced now takes its op seed from TF's stream (what a trainer or
    # an attack traced after the reseed draws).
    traced = tf.function(lambda: tf.random.uniform((3,)))
    return (random.random(), float(np.random.rand()),
            keras.random.normal((3,)).numpy().tolist(), traced().numpy().tolist(),
            [int(v) for v in ds], keras.initializers.GlorotUniform()((2, 2)).numpy().tolist())


def test_reseed_draws_what_set_random_seed_draws():
    for seed in (7, 7, 11):  # unchanged (the cache kept) and changed
        keras.utils.set_random_seed(seed)
        want = _draws()
        _draws()  # move every generator on
        reseed(seed)
        assert _draws() == want


def test_reseed_clears_the_kernel_cache_only_when_the_seed_changes(monkeypatch):
    """`tf.random.set_seed` clears the eager context's caches (every compiled function
    is instantiated again on its next call); reseed with the seed unchanged does not."""
    from tensorflow.python.eager import context

    clears = []
    real = context.pywrap_tfe.TFE_ContextClearCaches
    monkeypatch.setattr(context.pywrap_tfe, "TFE_ContextClearCaches",
                        lambda handle: (clears.append(1), real(handle)))
    keras.utils.set_random_seed(5)
    assert len(clears) == 1
    reseed(5)
    assert len(clears) == 1  # unchanged seed: the cache kept
    reseed(6)
    assert len(clears) == 2  # another seed: as set_random_seed
