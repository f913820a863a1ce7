"""`utils.compiled.reseed`: the same draws as `keras.utils.set_random_seed` (Python,
NumPy, Keras's SeedGenerator and initialisers, the op seeds of a function traced
after it, a seeded tf.data shuffle), and TensorFlow's kernel cache cleared only when
the seed changes. `Twins`: one clone per architecture computes what each model
computes, an attack traced once for all of them."""

import random

import keras
import numpy as np
import tensorflow as tf

from tf_advnet.utils.compiled import Twins, architecture_key, reseed


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


def test_architecture_key_ignores_names_and_sees_what_computes():
    from tf_advnet import models

    a = models.build_model("small_cnn", (28, 28, 1), 10)
    assert architecture_key(a) == architecture_key(
        models.build_model("small_cnn", (28, 28, 1), 10))
    for other in (models.build_model("small_cnn", (28, 28, 1), 5),
                  models.build_model("lenet5", (28, 28, 1), 10)):
        assert architecture_key(other) != architecture_key(a)
    # One activation changed, no weight shape changed: another function.
    def net(act):
        x = keras.Input((4,))
        return keras.Model(x, keras.layers.Dense(3, activation=act)(
            keras.layers.Dense(5, activation="relu")(x)))
    one, two = net("relu"), net("relu")
    assert [x.name for x in one.layers] != [x.name for x in two.layers]  # auto names
    assert architecture_key(one) == architecture_key(two)
    assert architecture_key(one) != architecture_key(net("tanh"))


def test_twins_give_each_models_outputs_and_trace_an_attack_once():
    from tf_advnet import models
    from tf_advnet.attacks._common import attack_graph
    from tf_advnet.attacks.pgd import pgd
    from tf_advnet.eval.robustness import as_model_fn

    x = tf.random.stateless_uniform((6, 28, 28, 1), (1, 2))
    y = tf.constant([0, 1, 2, 3, 4, 5], tf.int64)
    nets = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        nets.append(models.build_model("small_cnn", (28, 28, 1), 10))
    before = [[w.numpy() for w in m.weights] for m in nets]
    twins = Twins()
    traces = attack_graph.experimental_get_tracing_count()
    for m in nets:
        twin = twins(m)
        assert twin is not m
        np.testing.assert_allclose(twin(x), m(x), rtol=1e-6, atol=1e-6)
        own = pgd(as_model_fn(m), x, y, eps=0.1, step_size=0.03, num_steps=3, seed=0)
        shared = pgd(as_model_fn(twin), x, y, eps=0.1, step_size=0.03, num_steps=3, seed=0)
        np.testing.assert_allclose(shared, own, atol=1e-6)
    # Each model traced its own graph once; the twin one graph for all three.
    assert attack_graph.experimental_get_tracing_count() - traces == len(nets) + 1
    assert all(np.array_equal(w.numpy(), v)  # the models handed in are unchanged
               for m, ws in zip(nets, before) for w, v in zip(m.weights, ws))
