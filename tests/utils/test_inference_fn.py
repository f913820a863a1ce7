"""as_model_fn(model) twice gives the same callable, so predict and the compiled attacks
trace once per model, not once per call (the main job's repeated-retracing warnings)."""

import importlib

import keras
import numpy as np

from tf_advnet.attacks.fgsm import fgm
from tf_advnet.eval import robustness
from tf_advnet.eval.robustness import InferenceFn, as_model_fn, predict


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(3)])


def test_same_model_same_callable():
    model, other = _model(0), _model(1)
    a, b = as_model_fn(model), as_model_fn(model)
    assert a is b
    assert as_model_fn(other) is not a
    assert as_model_fn(a) is a  # already a logits callable
    x = np.random.default_rng(0).random((5, 6), np.float32)
    # Inference mode: dropout off, so it equals the model's own inference call.
    np.testing.assert_allclose(a(x), model(x, training=False))
    assert isinstance(a, InferenceFn)


def test_predict_traces_once_per_model():
    model = _model()
    x = np.random.default_rng(0).random((10, 6), np.float32)
    want = np.argmax(model(x, training=False), -1)
    for _ in range(4):  # a new wrapper each call, as the studies do
        np.testing.assert_array_equal(predict(as_model_fn(model), x, batch_size=4), want)
    fn = robustness._argmax.for_model(as_model_fn(model))
    # Batches of 4, 4 and 2: one trace per batch shape, none per call.
    assert fn.experimental_get_tracing_count() == 2
    predict(as_model_fn(model), x[:3], batch_size=4)
    assert fn.experimental_get_tracing_count() == 2  # reduce_retracing: general shape


def test_attack_traces_once_for_two_wrappers():
    model = _model()
    x = np.random.default_rng(1).random((4, 6), np.float32)
    y = np.array([0, 1, 2, 0])
    graph = importlib.import_module("tf_advnet.attacks._common").attack_graph
    before = graph.experimental_get_tracing_count()
    first = fgm(as_model_fn(model), x, y, eps=0.1)
    after_first = graph.experimental_get_tracing_count()
    second = fgm(as_model_fn(model), x, y, eps=0.1)
    assert after_first == before + 1
    assert graph.experimental_get_tracing_count() == after_first
    np.testing.assert_allclose(first, second)


def test_callable_dies_with_its_model():
    import gc
    import weakref

    model = _model()
    predict(as_model_fn(model), np.zeros((2, 6), np.float32))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None  # neither the callable nor predict's cache keeps it alive


def test_predict_float64_input_shares_the_float32_trace():
    """numpy arithmetic yields float64 arrays; predict casts them, so they reuse the
    float32 trace (one for the first shape, one relaxed for every other)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    fn = as_model_fn(model)
    x = np.random.default_rng(0).random((300, 4))
    labels = predict(fn, x.astype(np.float32), 250)
    for dtype in (np.float64, np.float32, np.float64):
        np.testing.assert_array_equal(predict(fn, x.astype(dtype), 250), labels)
        predict(fn, x[:130].astype(dtype), 250)
    assert robustness._argmax.for_model(as_model_fn(model)).experimental_get_tracing_count() == 2
