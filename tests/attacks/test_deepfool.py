"""Tests for `tf_advnet.attacks.deepfool`.

Closed form: on an affine model `Z(x) = W^T x + b` one DeepFool step from
label `l` lands on the nearest boundary of the polyhedral region of `l`, at
distance `d = min_k |Z_k - Z_l| / ||W_k - W_l||_q` (q = 2 for L2, q = 1 for
L-inf), so the returned norm is `(1 + overshoot) * (d + 1e-4)` (the
`1e-4` step slack of the reference code; see the module docstring).

Reference: foolbox 3.3.4's `L2DeepFoolAttack` / `LinfDeepFoolAttack` on
`foolbox.TensorFlowModel(model, bounds=(0, 1))`, imported as a reference
(never copied). Conventions compared:

- overshoot: foolbox also scales the total perturbation, `x0 + (1 +
  overshoot) * p_total`, then clips to the bounds; same as ours.
- candidates: foolbox takes the top-`candidates` classes of the clean
  logits and measures differences to the clean *top* class, while we use
  the label plus the top others. They coincide when the label is the
  prediction (which is how we call foolbox here); when the label differs,
  both treat the example as already adversarial and leave it unchanged.
- loss: foolbox's default `loss="logits"` is our logit difference.
- slack: foolbox adds 1e-4 to the chosen distance (as we do) and 1e-8 to
  the gradient norms (we exclude zero gradients instead).

With these conventions the two agree per example to float round-off
(measured relative difference ~1e-7); the tests allow 1e-4 relative per
example and identical success flags.
"""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks.deepfool import deepfool

# The package exports the function `deepfool`, which shadows the module name.
deepfool_mod = importlib.import_module("tf_advnet.attacks.deepfool")

_SLACK = 1e-4
_OVERSHOOT = 0.02


def _pred(model_fn, x):
    return np.argmax(np.asarray(model_fn(x)), axis=-1)


def _affine(model):
    """(W, b) of a Flatten -> Dense model, as float64 numpy."""
    kernel, bias = model.layers[-1].get_weights()
    return kernel.astype(np.float64), bias.astype(np.float64)


def _nearest_boundary(model, x, labels, q, candidates=None):
    """Analytic distance and direction to the nearest affine boundary."""
    w_mat, b = _affine(model)
    xf = x.reshape(len(x), -1).astype(np.float64)
    z = xf @ w_mat + b
    dists, dirs = [], []
    for i, l in enumerate(labels):
        ks = [k for k in range(w_mat.shape[1]) if k != l]
        if candidates is not None:
            ks = [k for k in np.argsort(-z[i]) if k != l][:candidates - 1]
        best = None
        for k in ks:
            w = w_mat[:, k] - w_mat[:, l]
            norm = np.sum(np.abs(w)) if q == 1 else np.linalg.norm(w)
            d = abs(z[i, k] - z[i, l]) / norm
            if best is None or d < best[0]:
                best = (d, w)
        dists.append(best[0])
        d, w = best
        dirs.append(np.sign(w) if q == 1 else w / np.linalg.norm(w))
    return np.array(dists), np.array(dirs)


def _pool_cnn(seed=0):
    """conv 3x3 -> ReLU -> max-pool 2 -> dense, with seeded weights."""
    rng = np.random.default_rng(seed)
    k = rng.normal(0.0, 0.5, (3, 3, 1, 4)).astype("float32")
    w = rng.normal(0.0, 0.25, (3 * 3 * 4, 10)).astype("float32")
    const = keras.initializers.Constant
    return keras.Sequential([
        keras.Input(_models.IMAGE_SHAPE),
        keras.layers.Conv2D(4, 3, kernel_initializer=const(k),
                            bias_initializer=const(-0.5 * k.sum((0, 1, 2)))),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, kernel_initializer=const(w)),
    ])


_MODELS = {
    "mlp": _models.tiny_mlp,
    "cnn": _models.tiny_cnn,
    "pool_cnn": _pool_cnn,
}
_BUILT = {}


def _model(name):
    if name not in _BUILT:
        _BUILT[name] = _MODELS[name]()
    model = _BUILT[name]
    return model, _models.logits_fn(model)


@pytest.fixture(scope="module")
def linear():
    model = _models.linear_model()
    return model, _models.logits_fn(model)


# --------------------------------------------------------------------------
# Closed form on affine models.


@pytest.mark.parametrize("norm, q", [("2", 2), ("inf", 1)])
@pytest.mark.parametrize("builder", [_models.linear_model,
                                     _models.trivial_model])
def test_affine_model_one_step_exact(builder, norm, q):
    model = builder()
    model_fn = _models.logits_fn(model)
    x = _models.images(16, seed=1)
    if builder is _models.trivial_model:
        # Around the trivial model's boundary (mean pixel 1/2).
        x = 0.5 + 0.1 * (x - 0.5)
    labels = _pred(model_fn, x)
    res = deepfool(model_fn, x, norm=norm, overshoot=_OVERSHOOT,
                   clip_min=None, clip_max=None)
    d, direction = _nearest_boundary(model, x, labels, q)
    expected = (1 + _OVERSHOOT) * (d + _SLACK)
    np.testing.assert_allclose(res.norms.numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    # The exact minimal distance, up to the 1e-4 slack times the overshoot.
    np.testing.assert_allclose(res.norms.numpy(), (1 + _OVERSHOOT) * d,
                               atol=1.1e-4)
    np.testing.assert_allclose(
        res.perturbation.numpy().reshape(len(x), -1),
        expected[:, None] * direction, atol=1e-5)
    np.testing.assert_array_equal(res.num_iter.numpy(), 1)
    assert res.fooled.numpy().all()
    assert np.all(_pred(model_fn, res.x_adv) != labels)
    np.testing.assert_allclose(res.x_adv.numpy() - x,
                               res.perturbation.numpy(), atol=1e-6)


def _decoy_model():
    """3-class affine model whose runner-up class is *not* the nearest.

    Z_0 = 0, Z_1 = 0.1 * sum(x) - 3.3, Z_2 = 10 * sum(x) - 322 with 64
    pixels: near x = 0.5 the runner-up is class 1 (gap ~0.1, distance
    ~0.125) but class 2's boundary is closer (gap ~2, distance ~0.025).
    """
    d = int(np.prod(_models.IMAGE_SHAPE))
    kernel = np.zeros((d, 3), "float32")
    kernel[:, 1] = 0.1
    kernel[:, 2] = 10.0
    bias = np.array([0.0, -3.3, -322.0], "float32")
    const = keras.initializers.Constant
    return keras.Sequential([
        keras.Input(_models.IMAGE_SHAPE),
        keras.layers.Flatten(),
        keras.layers.Dense(3, kernel_initializer=const(kernel),
                           bias_initializer=const(bias)),
    ])


def test_affine_model_num_candidates():
    """With 2 candidates only the runner-up class's boundary is considered."""
    model = _decoy_model()
    model_fn = _models.logits_fn(model)
    x = 0.5 + 0.002 * (_models.images(8, seed=2) - 0.5)
    labels = _pred(model_fn, x)
    np.testing.assert_array_equal(labels, 0)
    d_top2, _ = _nearest_boundary(model, x, labels, 2, candidates=2)
    d_all, _ = _nearest_boundary(model, x, labels, 2)
    assert np.all(d_top2 > 4 * d_all)  # the restriction matters here
    kw = dict(clip_min=None, clip_max=None)
    top2 = deepfool(model_fn, x, num_candidates=2, **kw)
    full = deepfool(model_fn, x, num_candidates=3, **kw)
    many = deepfool(model_fn, x, num_candidates=100, **kw)  # capped at K
    np.testing.assert_allclose(top2.norms.numpy(),
                               (1 + _OVERSHOOT) * (d_top2 + _SLACK),
                               rtol=1e-4)
    np.testing.assert_allclose(full.norms.numpy(),
                               (1 + _OVERSHOOT) * (d_all + _SLACK),
                               rtol=1e-4)
    np.testing.assert_array_equal(many.x_adv.numpy(), full.x_adv.numpy())
    assert top2.fooled.numpy().all() and full.fooled.numpy().all()


def test_no_clipping_returns_unclipped_delta(linear):
    """clip None: perturbation is (1 + overshoot) * sum r, even out of box."""
    model, model_fn = linear
    x = 1.0 - 0.01 * _models.images(16, seed=3)  # near the upper bound
    labels = _pred(model_fn, x)
    free = deepfool(model_fn, x, clip_min=None, clip_max=None)
    d, _ = _nearest_boundary(model, x, labels, 2)
    np.testing.assert_allclose(free.norms.numpy(),
                               (1 + _OVERSHOOT) * (d + _SLACK), rtol=1e-5)
    assert free.x_adv.numpy().max() > 1.0
    boxed = deepfool(model_fn, x)
    assert boxed.x_adv.numpy().max() <= 1.0
    assert boxed.x_adv.numpy().min() >= 0.0
    np.testing.assert_allclose(boxed.perturbation.numpy(),
                               boxed.x_adv.numpy() - x, atol=1e-6)
    assert boxed.fooled.numpy().all()


# --------------------------------------------------------------------------
# Per-example stopping and bookkeeping.


def test_per_example_stopping_matches_one_by_one():
    """A batch gives each example exactly what it gets alone.

    Examples fooled early stop moving while the rest iterate on.
    """
    _, model_fn = _model("mlp")
    x = _models.images(24, seed=4)
    res = deepfool(model_fn, x)
    num_iter = res.num_iter.numpy()
    assert num_iter.min() == 1 and num_iter.max() > 1
    for i in range(len(x)):
        one = deepfool(model_fn, x[i:i + 1])
        np.testing.assert_allclose(one.x_adv.numpy()[0], res.x_adv.numpy()[i],
                                   atol=1e-6)
        assert one.num_iter.numpy()[0] == num_iter[i]


def test_converged_examples_do_not_move(linear):
    _, model_fn = linear
    x = _models.images(8, seed=5)
    kw = dict(clip_min=None, clip_max=None)
    one = deepfool(model_fn, x, max_iter=1, **kw)
    many = deepfool(model_fn, x, max_iter=50, **kw)
    np.testing.assert_array_equal(many.num_iter.numpy(), 1)
    np.testing.assert_array_equal(many.x_adv.numpy(), one.x_adv.numpy())


def test_already_fooled_examples_are_untouched():
    _, model_fn = _model("mlp")
    x = _models.images(8, seed=6)
    pred = _pred(model_fn, x)
    y = pred.copy()
    y[::2] = (pred[::2] + 1) % 10  # misclassified with respect to y
    res = deepfool(model_fn, x, y)
    wrong = np.arange(len(x)) % 2 == 0
    np.testing.assert_array_equal(res.x_adv.numpy()[wrong], x[wrong])
    np.testing.assert_array_equal(res.perturbation.numpy()[wrong], 0.0)
    np.testing.assert_array_equal(res.norms.numpy()[wrong], 0.0)
    np.testing.assert_array_equal(res.num_iter.numpy()[wrong], 0)
    assert res.fooled.numpy().all()
    assert np.all(res.num_iter.numpy()[~wrong] >= 1)


def test_max_iter_zero_returns_x():
    _, model_fn = _model("cnn")
    x = _models.images(6, seed=7)
    y = _pred(model_fn, x)
    y[0] = (y[0] + 1) % 10
    res = deepfool(model_fn, x, y, max_iter=0)
    np.testing.assert_array_equal(res.x_adv.numpy(), x)
    np.testing.assert_array_equal(res.num_iter.numpy(), 0)
    np.testing.assert_array_equal(res.fooled.numpy(),
                                  np.arange(6) == 0)


def test_result_fields_are_consistent():
    _, model_fn = _model("pool_cnn")
    x = _models.images(16, seed=8)
    y = _pred(model_fn, x)
    res = deepfool(model_fn, x)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == tf.float32
    assert res.norms.shape == (16,) and res.fooled.dtype == tf.bool
    assert res.num_iter.dtype == tf.int32
    assert res.x_adv.numpy().min() >= 0.0 and res.x_adv.numpy().max() <= 1.0
    np.testing.assert_allclose(
        res.norms.numpy(),
        np.linalg.norm(res.perturbation.numpy().reshape(16, -1), axis=1),
        rtol=1e-6)
    np.testing.assert_array_equal(res.fooled.numpy(),
                                  _pred(model_fn, res.x_adv) != y)
    assert res.fooled.numpy().all()
    linf = deepfool(model_fn, x, norm=np.inf)
    np.testing.assert_allclose(
        linf.norms.numpy(),
        np.abs(linf.perturbation.numpy()).reshape(16, -1).max(axis=1),
        rtol=1e-6)


def test_y_none_and_one_hot_match_predicted_labels():
    _, model_fn = _model("mlp")
    x = _models.images(6, seed=9)
    y = _pred(model_fn, x)
    a = deepfool(model_fn, x).x_adv.numpy()
    b = deepfool(model_fn, x, y).x_adv.numpy()
    c = deepfool(model_fn, x, np.eye(10)[y]).x_adv.numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_runs_inside_tf_function():
    """Graph mode with an unknown batch size gives the eager result."""
    _, model_fn = _model("mlp")
    x = _models.images(5, seed=14)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1])])
    def attack(x):
        return deepfool(model_fn, x, max_iter=10)

    graph = attack(tf.constant(x))
    eager = deepfool(model_fn, x, max_iter=10)
    for g, e in zip(graph, eager):
        np.testing.assert_array_equal(g.numpy(), e.numpy())


def test_no_retracing_on_repeated_calls():
    _, model_fn = _model("mlp")
    deepfool(model_fn, _models.images(5, seed=10))
    loop = deepfool_mod._deepfool_loop.for_model(model_fn)  # one graph per model_fn
    before = loop.experimental_get_tracing_count()
    deepfool(model_fn, _models.images(5, seed=11), overshoot=0.05,
             max_iter=7)
    deepfool(model_fn, _models.images(5, seed=12), clip_min=0.0,
             clip_max=1.0)
    assert loop.experimental_get_tracing_count() == before
    assert deepfool_mod._deepfool_loop.for_model(model_fn) is loop


@pytest.mark.parametrize("kwargs, name", [
    (dict(norm="1"), "norm"),
    (dict(num_candidates=1), "num_candidates"),
    (dict(num_candidates=2.0), "num_candidates"),
    (dict(overshoot=-0.1), "overshoot"),
    (dict(max_iter=-1), "max_iter"),
    (dict(clip_min=1.0, clip_max=0.0), "clip_max"),
    (dict(y=np.zeros(3, np.int64)), "y"),
])
def test_invalid_arguments(kwargs, name):
    _, model_fn = _model("mlp")
    with pytest.raises(ValueError, match=f"`{name}`"):
        deepfool(model_fn, _models.images(2), **kwargs)


def test_rejects_x_outside_box():
    _, model_fn = _model("mlp")
    with pytest.raises(ValueError, match="`x`"):
        deepfool(model_fn, _models.images(2) - 1.0)
    # Without a box anything goes.
    deepfool(model_fn, _models.images(2) - 1.0, clip_min=None,
             clip_max=None, max_iter=1)


# --------------------------------------------------------------------------
# Agreement with foolbox 3.


@pytest.mark.parametrize("norm", ["2", "inf"])
@pytest.mark.parametrize("model_name", ["mlp", "cnn", "pool_cnn"])
def test_agrees_with_foolbox(model_name, norm):
    import foolbox

    model, model_fn = _model(model_name)
    x = _models.images(32, seed=13)
    y = _pred(model_fn, x)
    ours = deepfool(model_fn, x, norm=norm)  # defaults: 10, 0.02, 50
    attack_cls = (foolbox.attacks.L2DeepFoolAttack if norm == "2"
                  else foolbox.attacks.LinfDeepFoolAttack)
    fmodel = foolbox.TensorFlowModel(model, bounds=(0, 1))
    raw, _, success = attack_cls(steps=50, candidates=10, overshoot=0.02)(
        fmodel, tf.constant(x), tf.constant(y), epsilons=None)
    delta = (raw.numpy() - x).reshape(len(x), -1)
    ref = (np.linalg.norm(delta, axis=1) if norm == "2"
           else np.abs(delta).max(axis=1))
    np.testing.assert_array_equal(ours.fooled.numpy(), success.numpy())
    np.testing.assert_allclose(ours.norms.numpy(), ref, rtol=1e-4,
                               atol=1e-6)
    assert abs(ours.norms.numpy().mean() / ref.mean() - 1) < 1e-3
