"""Differentiable DeepFool (DeepDefense's Delta_x(W)): closed form on a linear
classifier and on a piecewise-linear one (both linearisation points), weight
gradients against central finite differences, the compiled early-exit loop against
the straightforward unrolled implementation it replaced (same Delta and same gradient
of the DeepDefense loss on the registry's MLP and LeNet), the number and size of
forward passes, agreement with the evaluation DeepFool, masking and argument checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.attacks._common import as_labels
from tf_advnet.attacks.deepfool import deepfool
from tf_advnet.attacks.deepfool_diff import (deepdefense_ratio, differentiable_deepfool,
                                             safe_l2_norm, safe_l2_norm_rows)
from tf_advnet.models.registry import build_model
from tf_advnet.trainers.deepdefense import regulariser_terms


def _reference_deepfool(model_fn, x, y=None, *, num_iter=5, overshoot=0.02,
                        norm_eps=5e-6, linearize_at="overshoot"):
    """The implementation the compiled loop replaced, kept as the reference: a Python
    loop of exactly `num_iter` steps (no early exit), each running the forward pass
    on the batch repeated K times so that one backward pass gives every row of the
    Jacobian. A sample is active while the prediction at x + (1 + overshoot) sum r
    has not flipped: read from that forward pass when it is the linearisation point
    ("overshoot"), else from one more forward pass ("sum")."""
    x = tf.stop_gradient(tf.convert_to_tensor(x))
    dtype = x.dtype
    batch = tf.shape(x)[0]
    scale = tf.constant(1.0 + overshoot, dtype)
    e = tf.constant(norm_eps, dtype)
    r_tot = tf.zeros(tf.shape(tf.reshape(x, [batch, -1])), dtype)
    num_classes = int(model_fn(x[:1]).shape[-1])

    def logits_and_jacobian(p):
        p_rep = tf.repeat(p, num_classes, axis=0)
        classes = tf.tile(tf.range(num_classes, dtype=tf.int32), [batch])
        with tf.GradientTape() as inner:
            inner.watch(p_rep)
            logits_rep = model_fn(p_rep)
            picked = tf.gather(logits_rep, classes, batch_dims=1)
        grad = inner.gradient(picked, p_rep)
        logits = tf.reshape(logits_rep, [batch, num_classes, num_classes])[:, 0, :]
        return logits, tf.reshape(grad, [batch, num_classes, -1])

    for i in range(num_iter):
        r = tf.reshape(r_tot, tf.shape(x))
        p = x + (scale * r if linearize_at == "overshoot" else r)
        logits, jac = logits_and_jacobian(p)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if i == 0:
            l_hat = pred
            labels = l_hat if y is None else as_labels(y, x)
            correct = tf.equal(l_hat, labels)
        stop_pred = pred if linearize_at == "overshoot" else tf.argmax(
            model_fn(x + scale * r), axis=-1, output_type=tf.int32)
        active = tf.where(correct, tf.equal(stop_pred, l_hat),
                          tf.not_equal(stop_pred, labels))
        ref = tf.where(correct, l_hat, pred)
        candidates = tf.where(correct[:, None],
                              tf.logical_not(tf.one_hot(ref, num_classes) > 0),
                              tf.one_hot(labels, num_classes) > 0)
        f_diff = logits - tf.gather(logits, ref, batch_dims=1)[:, None]
        w = jac - tf.gather(jac, ref, batch_dims=1)[:, None, :]
        w_norm = safe_l2_norm_rows(w + e)
        usable = tf.logical_and(candidates, w_norm > 0)
        safe_norm = tf.where(usable, w_norm, tf.ones_like(w_norm))
        dist = tf.where(usable, tf.abs(f_diff) / safe_norm, tf.constant(np.inf, dtype))
        best = tf.stop_gradient(tf.argmin(dist, axis=1, output_type=tf.int32))
        movable = tf.logical_and(active,
                                 tf.math.is_finite(tf.gather(dist, best, batch_dims=1)))
        step = ((tf.abs(tf.gather(f_diff, best, batch_dims=1))
                 / tf.square(tf.gather(safe_norm, best, batch_dims=1)))[:, None]
                * tf.gather(w, best, batch_dims=1))
        r_tot = r_tot + tf.stop_gradient(tf.cast(movable, dtype))[:, None] * step
    return tf.reshape(scale * r_tot, tf.shape(x))


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
    # The ~50 difference quotients call the same objective traced once (it reads the
    # variables at each call, so `assign` is seen): the analytic gradient above is
    # still the eager tape's, checked against values of the same function.
    traced = tf.function(objective)
    assert float(traced()) == pytest.approx(float(value), rel=1e-12)
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
            fp = float(traced())
            var.assign(minus)
            fm = float(traced())
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
                                    {"overshoot": -0.1}, {"norm_eps": -1.0},
                                    {"linearize_at": "x"}])
def test_bad_arguments(kwargs):
    fn, _ = _mlp([4, 3], seed=0, dtype=tf.float32)
    with pytest.raises(ValueError):
        differentiable_deepfool(fn, tf.zeros((2, 4)), **kwargs)


def test_bad_label_shape():
    fn, _ = _mlp([4, 3], seed=0, dtype=tf.float32)
    with pytest.raises(ValueError):
        differentiable_deepfool(fn, tf.ones((2, 4)), np.array([0, 1, 2]))


class _CountingModel:
    """model_fn that records the batch size of every forward pass."""

    def __init__(self, fn):
        self.fn, self.batches = fn, []

    def __call__(self, v):
        self.batches.append(int(v.shape[0]))
        return self.fn(v)


def _float64_model(name, seed):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(seed)
        return build_model(name, (16, 16, 1), 10)
    finally:
        keras.config.set_dtype_policy(policy)


def _deepdefense_loss(delta_fn, model, x, y, lam=15.0, c=25.0, d=5.0):
    """DeepDefense's per-batch loss (Eqs. 3 and 6): mean CE + lam * mean R(r)."""
    fn = lambda v: model(v, training=False)  # noqa: E731
    logits = fn(x)
    ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    delta = delta_fn(fn, x, y)
    r = safe_l2_norm(delta) / safe_l2_norm(x)
    correct = tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y)
    return ce + lam * tf.reduce_mean(regulariser_terms(r, correct, c=c, d=d)), delta


def _loss_delta_grads(model, x, y, delta_fn, kwargs):
    with tf.GradientTape() as tape:
        loss, delta = _deepdefense_loss(
            lambda f, v, t: delta_fn(f, v, t, **kwargs), model, x, y)
    return loss, delta, tape.gradient(loss, model.trainable_weights)


@pytest.fixture(scope="module")
def reference_run():
    """`get(name, num_iter, linearize_at)`: the float64 registry model, its inputs and
    labels, and the unrolled reference's (loss, Delta, weight gradients), computed
    once per key: the compact and the uncompacted loop are both checked against the
    same reference (the model is only read, never updated)."""
    models, runs = {}, {}

    def get(name, num_iter, linearize_at):
        if name not in models:
            model = _float64_model(name, seed=11)
            rng = np.random.default_rng(12)
            x = tf.constant(rng.uniform(size=(12, 16, 16, 1)))
            pred = tf.argmax(model(x), 1, output_type=tf.int32).numpy()
            y = tf.constant(np.where(np.arange(12) % 3 == 0, (pred + 1) % 10, pred),
                            tf.int32)
            models[name] = (model, x, y)
        key = (name, num_iter, linearize_at)
        if key not in runs:
            model, x, y = models[name]
            kwargs = dict(num_iter=num_iter, overshoot=0.02, norm_eps=5e-6,
                          linearize_at=linearize_at)
            runs[key] = (kwargs, _loss_delta_grads(model, x, y, _reference_deepfool,
                                                   kwargs))
        return models[name] + runs[key]

    return get


@pytest.mark.parametrize("name,num_iter,linearize_at,compact", [
    ("deepdefense_mlp", 5, "overshoot", True),    # stops after 3 steps
    ("deepdefense_mlp", 5, "sum", True),
    ("deepdefense_mlp", 5, "overshoot", False),
    ("deepdefense_lenet", 5, "overshoot", True),  # runs all 5 steps
    ("deepdefense_lenet", 2, "overshoot", True),
    ("deepdefense_lenet", 5, "sum", True),        # stops after 4 steps
    ("deepdefense_lenet", 5, "sum", False),
])
def test_compiled_loop_matches_reference(name, num_iter, linearize_at, compact,
                                         reference_run):
    """Same Delta and same gradient of the DeepDefense loss (float64, within 1e-5) as
    the unrolled K-times-repeated-batch implementation, with correctly and wrongly
    classified samples, whether the loop stops early or not; the loop is run
    compiled, as the trainer runs it."""
    model, x, y, kwargs, (ref_loss, ref_delta, ref_grads) = reference_run(
        name, num_iter, linearize_at)
    loss, delta, new_grads = tf.function(lambda: _loss_delta_grads(
        model, x, y, lambda *a, **k: differentiable_deepfool(*a, compact=compact, **k),
        kwargs))()
    np.testing.assert_allclose(delta.numpy(), ref_delta.numpy(), rtol=1e-5,
                               atol=1e-5 * float(tf.reduce_max(tf.abs(ref_delta))))
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    for g, g_ref in zip(new_grads, ref_grads):
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-5,
                                   atol=1e-5 * float(tf.reduce_max(tf.abs(g_ref))))
    assert float(tf.reduce_max(tf.abs(delta))) > 0


def test_forward_passes_and_early_exit():
    """Eagerly: per step one forward pass at the linearisation point and one stop test
    (none after the last step), each over the samples still active only (never K
    copies of the batch); the loop stops once every sample is fooled, with the
    unrolled loop's Delta."""
    model = _float64_model("deepdefense_mlp", seed=11)
    x = tf.constant(np.random.default_rng(13).uniform(size=(12, 16, 16, 1)))
    fn = lambda v: model(v, training=False)  # noqa: E731
    counting = _CountingModel(fn)
    delta = differentiable_deepfool(counting, x, num_iter=50, norm_eps=0.0)
    assert counting.batches[0] == 1  # the number of classes
    passes = counting.batches[1:]
    steps = len(passes) // 2
    assert len(passes) == 2 * steps and 1 < steps < 50
    lin, stop = passes[0::2], passes[1::2]
    assert lin[0] == 12 and lin == stop
    assert all(a >= b for a, b in zip(lin[:-1], lin[1:])) and lin[-1] < 12
    pred0 = tf.argmax(fn(x), 1).numpy()
    assert np.all(tf.argmax(fn(x + delta), 1).numpy() != pred0)
    ref = _reference_deepfool(fn, x, num_iter=steps + 2, norm_eps=0.0)
    np.testing.assert_allclose(delta.numpy(), ref.numpy(), rtol=1e-10, atol=1e-14)
    counting.batches.clear()
    differentiable_deepfool(counting, x, num_iter=1)
    assert counting.batches == [1, 12]


def test_uncompacted_loop_under_xla():
    """compact=False (whole batch, masks) under jit_compile=True: the same value and
    weight gradient as without XLA."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(5)])
    fn = lambda v: model(v, training=False)  # noqa: E731
    x = tf.random.uniform((16, 12), seed=1)

    def value_and_grad(v):
        with tf.GradientTape() as tape:
            r, _ = deepdefense_ratio(fn, v, num_iter=5, compact=False)
            loss = tf.reduce_mean(r)
        return loss, tape.gradient(loss, model.trainable_weights)

    plain = tf.function(value_and_grad)(x)
    xla = tf.function(value_and_grad, jit_compile=True)(x)
    np.testing.assert_allclose(float(xla[0]), float(plain[0]), rtol=1e-5)
    for a, b in zip(xla[1], plain[1]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def _kinked(v):
    """Two classes on the line: Z = (0, v - 1 - 0.5 relu(v - 0.5))."""
    z1 = v - 1.0 - 0.5 * tf.nn.relu(v - 0.5)
    return tf.concat([tf.zeros_like(z1), z1], axis=1)


@pytest.mark.parametrize("linearize_at,expected", [("overshoot", 1.02 * 1.48),
                                                   ("sum", 1.02 * 1.5)])
def test_linearisation_point_by_hand(linearize_at, expected):
    """From x = 0: step 1 (slope 1) reaches v = 1, past the kink at 0.5, unfooled at
    1.02 (Z_1 = -0.24). Step 2 has slope 0.5: linearised at 1 ("sum", Z_1 = -0.25) it
    lands on the boundary v = 1.5, so Delta = 1.02 * 1.5; linearised at 1.02
    ("overshoot") it adds 0.24 / 0.5 = 0.48, so Delta = 1.02 * 1.48."""
    x = tf.zeros((1, 1), tf.float64)
    delta = differentiable_deepfool(_kinked, x, num_iter=5, overshoot=0.02, norm_eps=0.0,
                                    linearize_at=linearize_at)
    np.testing.assert_allclose(delta.numpy(), [[expected]], rtol=1e-12)
    assert int(tf.argmax(_kinked(x + delta), 1)[0]) == 1
    ref = _reference_deepfool(_kinked, x, num_iter=5, overshoot=0.02, norm_eps=0.0,
                              linearize_at=linearize_at)
    np.testing.assert_allclose(delta.numpy(), ref.numpy(), rtol=1e-12)


def test_linearisation_points_agree_without_overshoot():
    model = _float64_model("deepdefense_lenet", seed=14)
    x = tf.constant(np.random.default_rng(15).uniform(size=(6, 16, 16, 1)))
    fn = lambda v: model(v, training=False)  # noqa: E731
    a = differentiable_deepfool(fn, x, num_iter=5, overshoot=0.0, linearize_at="sum")
    b = differentiable_deepfool(fn, x, num_iter=5, overshoot=0.0)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)


def test_float16_logits_are_cast():
    """A mixed-precision classifier returns float16 logits; Delta keeps x's dtype."""
    fn, _ = _mlp([4, 6, 3], seed=9, dtype=tf.float32)
    x = tf.random.normal((5, 4), seed=3)
    delta = differentiable_deepfool(lambda v: tf.cast(fn(v), tf.float16), x)
    assert delta.dtype == tf.float32
    ref = differentiable_deepfool(fn, x)
    np.testing.assert_allclose(delta.numpy(), ref.numpy(), rtol=0.05, atol=1e-3)
