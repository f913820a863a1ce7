"""Tests for `tf_advnet.attacks.cw_linf` (mister_ed's L-inf C&W, L2L-DA).

cleverhans' TF2 API has no L-inf C&W attack, so besides property tests on
tiny fixed models the attack is compared with `_reference`, a plain eager
re-implementation of the algorithm in the module docstring (numpy Adam in
`torch.optim.Adam`'s form, tf eager gradients, Python loops over examples'
binary search), written without looking at the compiled loop.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks import cw_linf
from tf_advnet.attacks.cw_linf import carlini_wagner_linf


def _pred(model_fn, x):
    return np.argmax(np.asarray(model_fn(x)), axis=-1)


def _linf(a, b):
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)
                  ).reshape(len(a), -1).max(axis=1)


@pytest.fixture(scope="module")
def mlp():
    return _models.logits_fn(_models.shared("tiny_mlp"))


@pytest.fixture(scope="module")
def cnn():
    return _models.logits_fn(_models.shared("tiny_cnn"))


@pytest.fixture(scope="module")
def trivial():
    return _models.logits_fn(_models.shared("trivial_model"))


def _far_from_boundary(n=16, seed=0):
    """Images whose mean pixel lies in [0.55, 0.75]: the trivial model says
    class 0, and flipping it needs about `mean - 0.5` on every pixel."""
    rng = np.random.default_rng(seed)
    mu = np.linspace(0.55, 0.75, n)[:, None, None, None]
    noise = rng.uniform(-0.2, 0.2, (n,) + _models.IMAGE_SHAPE)
    return (mu + noise).astype("float32")


# --------------------------------------------------------------------------
# The eager reference.


def _reference(model_fn, x, y, *, eps, max_iterations, learning_rate=1e-3,
               binary_search_steps=1, initial_const=1.0, max_const=128.0,
               tau=8 / 255, confidence=0.0, penalty="max"):
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    n = len(x)
    const = np.full(n, initial_const, np.float64)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    best = x.copy()
    best_dist = np.full(n, np.inf)
    b1, b2 = 0.9, 0.999
    for _ in range(binary_search_steps):
        delta = np.zeros_like(x)
        m = np.zeros_like(x)
        v = np.zeros_like(x)
        found = np.zeros(n, bool)
        for t in range(max_iterations + 1):
            delta_t = tf.constant(delta)
            with tf.GradientTape() as tape:
                tape.watch(delta_t)
                z = model_fn(x + delta_t)
                top, idx = tf.math.top_k(z, 2)
                z_y = tf.gather(z, y, batch_dims=1)
                z_other = tf.where(idx[:, 0] == y, top[:, 1], top[:, 0])
                f6 = tf.maximum(z_y - z_other, -confidence)
                reduce = tf.reduce_max if penalty == "max" else tf.reduce_sum
                dist_pen = reduce(tf.nn.relu(tf.abs(delta_t) - tau), axis=[1, 2, 3])
                total = tf.reduce_sum(
                    dist_pen + tf.constant(const, tf.float32) * f6)
            grad = tape.gradient(total, delta_t).numpy()
            success = (z_other > z_y + confidence).numpy()
            dist = np.abs(delta).reshape(n, -1).max(axis=1)
            for i in range(n):
                if success[i]:
                    found[i] = True
                    if dist[i] < best_dist[i]:
                        best_dist[i] = dist[i]
                        best[i] = np.clip(x[i] + delta[i], 0.0, 1.0)
            if t == max_iterations:
                break
            m = b1 * m + (1 - b1) * grad
            v = b2 * v + (1 - b2) * grad ** 2
            m_hat = m / (1 - b1 ** (t + 1))
            v_hat = v / (1 - b2 ** (t + 1))
            delta = delta - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
            # The eps-box, then the image box [0, 1] (as bounds on delta).
            delta = np.clip(np.clip(delta, -eps, eps), -x, 1.0 - x)
        for i in range(n):
            if found[i]:
                hi[i] = min(hi[i], const[i])
                const[i] = (lo[i] + hi[i]) / 2
            else:
                lo[i] = max(lo[i], const[i])
                if np.isfinite(hi[i]):
                    const[i] = (lo[i] + hi[i]) / 2
                else:
                    const[i] = min(const[i] * 10, max_const)
    return best


@pytest.mark.parametrize("penalty", ["sum"])
@pytest.mark.parametrize("model_name, eps, tau, lr", [
    ("mlp", 0.065, 0.025, 0.01),
    ("cnn", 0.025, 0.015, 0.01 / 3),
])
def test_agrees_with_eager_reference_one_search_step(model_name, eps, tau, lr,
                                                     penalty, request):
    """One binary-search step, penalty and projection both active (the sum
    form: the max form's gradient splits among tied pixels, and Adam's first
    steps tie many, so float round-off decides it -- see the next test).

    A large learning rate moves pixels past tau and onto the eps-box within
    the 40 steps, so every term of the update is exercised; the outputs
    agree to 1e-5 (float32 round-off) and success is identical. tau and eps
    are not multiples of the learning rate: Adam's first steps are exactly
    `lr * sign(g)`, and landing exactly on the penalty's kink would leave
    its gradient to round-off.
    """
    model_fn = request.getfixturevalue(model_name)
    x = _models.images(8, seed=10)
    y = _pred(model_fn, x)
    kw = dict(eps=eps, max_iterations=40, learning_rate=lr, tau=tau,
              initial_const=1.0, binary_search_steps=1, penalty=penalty)
    ours = carlini_wagner_linf(model_fn, x, y, **kw).numpy()
    ref = _reference(model_fn, x, y, **kw)
    success = _pred(model_fn, ours) != y
    np.testing.assert_array_equal(success, _pred(model_fn, ref) != y)
    assert 0 < success.sum() <= len(x)
    if penalty == "sum":  # the weaker form leaves a mixed batch: both branches tested
        assert success.sum() < len(x)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_max_penalty_is_the_default_and_at_least_as_strong_as_sum(cnn):
    """The max form lets all but the largest pixel use the eps-ball (why it is
    the default; module docstring), so it fools at least as many examples."""
    x = _models.images(32, seed=12)
    y = _pred(cnn, x)
    kw = dict(eps=0.3, max_iterations=100, learning_rate=0.01, binary_search_steps=1)
    default = carlini_wagner_linf(cnn, x, y, **kw)
    np.testing.assert_allclose(default, carlini_wagner_linf(cnn, x, y, penalty="max",
                                                            **kw))
    fooled_max = np.mean(_pred(cnn, default) != y)
    fooled_sum = np.mean(_pred(cnn, carlini_wagner_linf(cnn, x, y, penalty="sum",
                                                        **kw)) != y)
    assert fooled_max >= fooled_sum
    ref = _reference(cnn, x, y, **kw)  # success agrees with the eager form
    assert np.mean((_pred(cnn, ref) != y) != (_pred(cnn, default) != y)) <= 0.1


def test_agrees_with_eager_reference_binary_search(mlp):
    """Three binary-search steps from a small constant: the c schedule
    (x10 for failures, bisection after a success) matches too."""
    x = _models.images(6, seed=11)
    y = _pred(mlp, x)
    kw = dict(eps=0.105, max_iterations=20, learning_rate=0.01, tau=0.0,
              initial_const=0.05, binary_search_steps=3, penalty="sum")
    ours = carlini_wagner_linf(mlp, x, y, **kw).numpy()
    ref = _reference(mlp, x, y, **kw)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_update_bounds_rule():
    found = tf.constant([True, False, False, False])
    const = tf.constant([4.0, 1.0, 100.0, 3.0])
    lower = tf.constant([1.0, 0.0, 10.0, 2.0])
    upper = tf.constant([1e10, 1e10, 1e10, 5.0])
    c, lo, hi = cw_linf._update_bounds(found, const, lower, upper,
                                       tf.constant(128.0))
    # Success: upper = c, c = midpoint. Failure without an upper bound: x10,
    # capped at max_const. Failure with one: lower = c, c = midpoint.
    np.testing.assert_allclose(c.numpy(), [2.5, 10.0, 128.0, 4.0])
    np.testing.assert_allclose(lo.numpy(), [1.0, 1.0, 100.0, 3.0])
    np.testing.assert_allclose(hi.numpy(), [4.0, 1e10, 1e10, 5.0])


# --------------------------------------------------------------------------
# Properties.


def test_inside_eps_ball_and_box(cnn):
    x = _models.images(16, seed=1)
    y = _pred(cnn, x)
    for eps in (0.02, 0.3):
        out = carlini_wagner_linf(cnn, x, y, eps=eps, max_iterations=200,
                                  learning_rate=0.01,
                                  binary_search_steps=2).numpy()
        assert out.shape == x.shape and out.dtype == np.float32
        assert _linf(out, x).max() <= eps + 1e-6
        assert out.min() >= 0.0 and out.max() <= 1.0
    # Another box; the budget reaches past it.
    x_mid = np.clip(x, 0.25, 0.75)
    out = carlini_wagner_linf(cnn, x_mid, y, eps=0.3, max_iterations=200,
                              learning_rate=0.01, binary_search_steps=1,
                              clip_min=0.25, clip_max=0.75).numpy()
    assert out.min() >= 0.25 and out.max() <= 0.75
    assert _linf(out, x_mid).max() <= 0.3 + 1e-6


def test_succeeds_on_undefended_models(cnn):
    linear = _models.logits_fn(_models.shared("linear_model"))
    for model_fn in (cnn, linear):
        x = _models.images(32, seed=2)
        y = _pred(model_fn, x)
        out = carlini_wagner_linf(model_fn, x, y, eps=0.3,
                                  max_iterations=300).numpy()
        success = _pred(model_fn, out) != y
        assert success.mean() >= 0.9
        # Successes are real perturbations inside the budget; failures are x.
        assert np.all(_linf(out[success], x[success]) > 0)
        np.testing.assert_array_equal(out[~success], x[~success])


def test_100_steps_reach_about_0_1_and_1000_steps_go_further(trivial):
    """The paper's C&W100 vs C&W1000 gap: lr 1e-3 moves a pixel ~1e-3/step.

    On the trivial model an image of mean m needs about m - 0.5 on every
    pixel; with m in [0.55, 0.75] and eps = 0.3, C&W100 can only flip the
    images that need less than ~0.1, C&W1000 flips them all.
    """
    x = _far_from_boundary()
    y = _pred(trivial, x)
    assert np.all(y == 0)
    kw = dict(eps=0.3, binary_search_steps=1)
    out100 = carlini_wagner_linf(trivial, x, y, max_iterations=100, **kw)
    out1000 = carlini_wagner_linf(trivial, x, y, max_iterations=1000, **kw)
    s100 = _pred(trivial, out100) != y
    s1000 = _pred(trivial, out1000) != y
    assert _linf(out100, x).max() <= 0.1 + 1e-3
    assert 0 < s100.sum() < len(x) // 2
    assert s1000.all()
    assert _linf(out1000, x).max() > 0.15


@pytest.mark.parametrize("model_name", ["cnn", "trivial"])
def test_more_steps_never_less_successful(model_name, request):
    """Same trajectory prefix and per-iterate success test: with one
    binary-search step the 1000-step successes contain the 100-step ones;
    with a binary search the success rate does not drop."""
    model_fn = request.getfixturevalue(model_name)
    if model_name == "cnn":
        x, eps = _models.images(32, seed=3), 0.04
    else:
        x, eps = _far_from_boundary(seed=3), 0.3
    y = _pred(model_fn, x)
    for bs in (1, 3):
        s = [_pred(model_fn, carlini_wagner_linf(
            model_fn, x, y, eps=eps, max_iterations=k,
            binary_search_steps=bs)) != y for k in (100, 1000)]
        assert s[1].mean() >= s[0].mean()
        if bs == 1:
            assert np.all(s[1][s[0]])
    assert s[0].mean() < 1.0  # the setting leaves something to gain


def test_100_steps_at_lr_1e3_move_pixels_at_most_about_0_1(cnn):
    x = _models.images(32, seed=4)
    y = _pred(cnn, x)
    out = carlini_wagner_linf(cnn, x, y, eps=0.3, max_iterations=100,
                              binary_search_steps=3)
    assert _linf(out, x).max() <= 0.1 + 0.01


def test_binary_search_raises_const_for_failures(cnn):
    """With tau = 0 the penalty pulls every pixel back with gradient 1; a
    tiny c cannot beat it, and the x10 schedule recovers within a few
    binary-search steps."""
    x = _models.images(32, seed=5)
    y = _pred(cnn, x)
    kw = dict(eps=0.3, max_iterations=100, tau=0.0, initial_const=1e-3, penalty="sum")
    one = carlini_wagner_linf(cnn, x, y, binary_search_steps=1, **kw)
    five = carlini_wagner_linf(cnn, x, y, binary_search_steps=5, **kw)
    assert np.mean(_pred(cnn, one) != y) <= 0.1
    assert np.mean(_pred(cnn, five) != y) >= 0.9


def test_returns_x_where_it_fails(cnn):
    x = _models.images(8, seed=6)
    y = _pred(cnn, x)
    for kw in (dict(eps=0.3, max_iterations=0), dict(eps=0.0)):
        out = carlini_wagner_linf(cnn, x, y, binary_search_steps=2, **kw)
        np.testing.assert_array_equal(out.numpy(), x)


def test_misclassified_inputs_come_back_unchanged(cnn):
    """A wrong label is already an adversarial example at distance 0."""
    x = _models.images(4, seed=7)
    wrong = (_pred(cnn, x) + 1) % _models.NUM_CLASSES
    out = carlini_wagner_linf(cnn, x, wrong, eps=0.3, max_iterations=20)
    np.testing.assert_array_equal(out.numpy(), x)


def test_y_none_uses_predicted_labels_and_one_hot(mlp):
    x = _models.images(6, seed=8)
    y = _pred(mlp, x)
    kw = dict(eps=0.1, max_iterations=30, binary_search_steps=2)
    a = carlini_wagner_linf(mlp, x, **kw).numpy()
    b = carlini_wagner_linf(mlp, x, y, **kw).numpy()
    c = carlini_wagner_linf(mlp, x, np.eye(10)[y], **kw).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_runs_inside_tf_function_with_tensor_eps(mlp):
    """Graph mode, unknown batch size and a symbolic eps give the eager
    result (what a trainer with an eps warm-up does)."""
    x = _models.images(5, seed=9)
    kw = dict(max_iterations=20, binary_search_steps=2)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1]),
                                  tf.TensorSpec([])])
    def attack(x, eps):
        return carlini_wagner_linf(mlp, x, eps=eps, **kw)

    np.testing.assert_array_equal(
        attack(tf.constant(x), tf.constant(0.05)).numpy(),
        carlini_wagner_linf(mlp, x, eps=0.05, **kw).numpy())


def test_no_retracing_on_repeated_calls(mlp):
    x = _models.images(5, seed=12)
    carlini_wagner_linf(mlp, x, eps=0.1, max_iterations=3,
                        binary_search_steps=2)
    before = cw_linf._search_step.experimental_get_tracing_count()
    carlini_wagner_linf(mlp, x, eps=0.2, max_iterations=4,
                        binary_search_steps=3, learning_rate=1e-2,
                        initial_const=0.1, tau=0.0, confidence=0.5)
    carlini_wagner_linf(mlp, _models.images(5, seed=13), eps=0.1,
                        max_iterations=3)
    assert cw_linf._search_step.experimental_get_tracing_count() == before


@pytest.mark.parametrize("kwargs, name", [
    (dict(eps=-0.1), "eps"),
    (dict(eps=None), "eps"),
    (dict(tau=-1.0), "tau"),
    (dict(confidence=-1.0), "confidence"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(binary_search_steps=0), "binary_search_steps"),
    (dict(binary_search_steps=2.0), "binary_search_steps"),
    (dict(max_iterations=-1), "max_iterations"),
    (dict(max_iterations=2.5), "max_iterations"),
    (dict(initial_const=0.0), "initial_const"),
    (dict(max_const=0.5), "max_const"),
    (dict(clip_min=1.0, clip_max=0.0), "clip_max"),
    (dict(y=np.zeros(3, np.int64)), "y"),
])
def test_invalid_arguments(mlp, kwargs, name):
    kwargs = {"eps": 0.1, **kwargs}
    with pytest.raises(ValueError, match=f"Invalid value for argument `{name}`"):
        carlini_wagner_linf(mlp, _models.images(2), **kwargs)


def test_rejects_x_outside_box_and_non_float(mlp):
    with pytest.raises(ValueError, match="`x`"):
        carlini_wagner_linf(mlp, _models.images(2) + 1.0, eps=0.1)
    with pytest.raises(ValueError, match="`x`"):
        carlini_wagner_linf(mlp, np.zeros((2, 8, 8, 1), np.int32), eps=0.1)
