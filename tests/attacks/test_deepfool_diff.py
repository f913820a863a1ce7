"""Differentiable DeepFool (DeepDefense's Delta_x(W)): closed form on a linear
classifier, weight gradients against central finite differences, agreement with
the evaluation DeepFool, masking and argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.attacks.deepfool import deepfool
from tf_advnet.attacks.deepfool_diff import (deepdefense_ratio, differentiable_deepfool,
                                             safe_l2_norm)


def _linear(num_in, num_out, seed, dtype=tf.float64):
    rng = np.random.default_rng(seed)
    w = tf.Variable(rng.normal(size=(num_in, num_out)), dtype=dtype)
    b = tf.Variable(rng.normal(size=(num_out,)) * 0.1, dtype=dtype)
    return (lambda v: tf.matmul(v, w) + b), w, b


def _mlp(sizes, seed, dtype=tf.float64):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append(tf.Variable(rng.normal(size=(a, b)) / np.sqrt(a), dtype=dtype))
        params.append(tf.Variable(rng.normal(size=(b,)) * 0.1, dtype=dtype))

    def fn(v):
        h = v
        for i in range(0, len(params), 2):
            h = tf.matmul(h, params[i]) + params[i + 1]
            if i + 2 < len(params):
                h = tf.nn.relu(h)
        return h

    return fn, params


def test_linear_binary_closed_form():
    """Affine binary model: Delta = (1+o) |f_k - f_l| / ||w||^2 * w after one step,
    then the sample is fooled and stops; misclassified samples move towards y."""
    fn, w, b = _linear(5, 2, seed=1)
    x = tf.constant(np.random.default_rng(2).normal(size=(16, 5)))
    z = fn(x).numpy()
    pred = z.argmax(1)
    y = pred.copy()
    y[:5] = 1 - y[:5]  # five misclassified samples: pushed towards y = 1 - pred
    delta = differentiable_deepfool(fn, x, y, num_iter=5, overshoot=0.02,
                                    norm_eps=0.0).numpy()
    wv = w.numpy()
    for i in range(len(x)):
        k, l_ = 1 - pred[i], pred[i]
        wd = wv[:, k] - wv[:, l_]
        expected = 1.02 * abs(z[i, k] - z[i, l_]) / wd.dot(wd) * wd
        np.testing.assert_allclose(delta[i], expected, rtol=1e-10, atol=1e-12)
    # Every sample crossed the boundary: the prediction flipped (towards y for the
    # misclassified ones, away from it for the others).
    new_pred = fn(x + delta).numpy().argmax(1)
    np.testing.assert_array_equal(new_pred, 1 - pred)
    np.testing.assert_array_equal(new_pred[:5], y[:5])


def test_norm_eps_is_added_inside_the_norm():
    fn, w, _ = _linear(4, 2, seed=3)
    x = tf.constant(np.random.default_rng(4).normal(size=(6, 4)))
    e = 0.3
    delta = differentiable_deepfool(fn, x, num_iter=1, overshoot=0.0, norm_eps=e).numpy()
    z = fn(x).numpy()
    pred = z.argmax(1)
    for i in range(len(x)):
        k, l_ = 1 - pred[i], pred[i]
        wd = w.numpy()[:, k] - w.numpy()[:, l_]
        expected = abs(z[i, k] - z[i, l_]) / np.sum((wd + e) ** 2) * wd
        np.testing.assert_allclose(delta[i], expected, rtol=1e-10)


def test_multiclass_linear_picks_nearest_boundary():
    fn, w, _ = _linear(6, 4, seed=5)
    x = tf.constant(np.random.default_rng(6).normal(size=(10, 6)))
    delta = differentiable_deepfool(fn, x, num_iter=1, overshoot=0.0, norm_eps=0.0).numpy()
    z = fn(x).numpy()
    wv = w.numpy()
    for i in range(len(x)):
        l_ = z[i].argmax()
        dists = [abs(z[i, k] - z[i, l_]) / np.linalg.norm(wv[:, k] - wv[:, l_])
                 if k != l_ else np.inf for k in range(4)]
        np.testing.assert_allclose(np.linalg.norm(delta[i]), min(dists), rtol=1e-10)


@pytest.mark.parametrize("with_labels", [False, True])
def test_weight_gradient_matches_finite_difference(with_labels):
    """d/dW of mean_k ||Delta_k|| / ||x_k|| (float64, u = 5) vs central differences."""
    fn, params = _mlp([5, 8, 8, 3], seed=7)
    rng = np.random.default_rng(8)
    x = tf.constant(rng.normal(size=(12, 5)))
    y = rng.integers(0, 3, size=12) if with_labels else None

    def objective():
        r, _ = deepdefense_ratio(fn, x, y, num_iter=5, norm_eps=5e-6)
        return tf.reduce_mean(r)

    with tf.GradientTape() as tape:
        value = objective()
    grads = tape.gradient(value, params)
    assert float(value) > 0
    h = 1e-6
    checked = 0
    for var, g in zip(params, grads):
        assert g is not None
        flat = var.numpy().ravel()
        for j in rng.choice(flat.size, size=min(4, flat.size), replace=False):
            idx = np.unravel_index(j, var.shape)
            orig = var.numpy()
            plus, minus = orig.copy(), orig.copy()
            plus[idx] += h
            minus[idx] -= h
            var.assign(plus)
            fp = float(objective())
            var.assign(minus)
            fm = float(objective())
            var.assign(orig)
            fd = (fp - fm) / (2 * h)
            np.testing.assert_allclose(g.numpy()[idx], fd, rtol=1e-4, atol=1e-7)
            checked += 1
    assert checked >= 20
    # The second-order path matters: the gradient is not that of a constant Delta.
    assert any(float(tf.reduce_max(tf.abs(g))) > 1e-6 for g in grads)


def test_agrees_with_evaluation_deepfool():
    """With e = 0 and enough steps the norms match `deepfool` (no clipping) to 0.5%
    (`deepfool` lengthens each step by 1e-4, which shifts its trajectory slightly)."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(16, "relu"), keras.layers.Dense(5)])
    fn = lambda v: model(v, training=False)  # noqa: E731
    x = tf.random.uniform((32, 12), seed=1)
    res = deepfool(fn, x, max_iter=50, overshoot=0.02, clip_min=None, clip_max=None)
    delta = differentiable_deepfool(fn, x, num_iter=50, overshoot=0.02, norm_eps=0.0)
    ours = safe_l2_norm(delta).numpy()
    theirs = res.norms.numpy()
    fooled = res.fooled.numpy()
    assert fooled.mean() > 0.9
    np.testing.assert_allclose(ours[fooled], theirs[fooled], rtol=5e-3)
    # And ours fools the model as often (no slack: a step may land on a kink and
    # stall, hence not "all").
    pred0 = tf.argmax(fn(x), 1).numpy()
    pred1 = tf.argmax(fn(x + delta), 1).numpy()
    assert np.mean(pred1 != pred0) >= 0.9


def test_zero_iterations_and_tf_function():
    fn, params = _mlp([4, 6, 3], seed=9, dtype=tf.float32)
    x = tf.random.normal((8, 4), seed=2)
    np.testing.assert_array_equal(differentiable_deepfool(fn, x, num_iter=0).numpy(), 0)

    @tf.function
    def graph_grad(v):
        with tf.GradientTape() as tape:
            r, _ = deepdefense_ratio(fn, v, num_iter=3)
            loss = tf.reduce_mean(r)
        return loss, tape.gradient(loss, params)

    with tf.GradientTape() as tape:
        r, _ = deepdefense_ratio(fn, x, num_iter=3)
        loss = tf.reduce_mean(r)
    eager = tape.gradient(loss, params)
    g_loss, graph = graph_grad(x)
    np.testing.assert_allclose(g_loss.numpy(), loss.numpy(), rtol=1e-5)
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"num_iter": -1}, {"num_iter": 1.5},
                                    {"overshoot": -0.1}, {"norm_eps": -1.0}])
def test_bad_arguments(kwargs):
    fn, _ = _mlp([4, 3], seed=0, dtype=tf.float32)
    with pytest.raises(ValueError):
        differentiable_deepfool(fn, tf.zeros((2, 4)), **kwargs)


def test_bad_label_shape():
    fn, _ = _mlp([4, 3], seed=0, dtype=tf.float32)
    with pytest.raises(ValueError):
        differentiable_deepfool(fn, tf.ones((2, 4)), np.array([0, 1, 2]))
