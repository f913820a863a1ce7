"""Tests for the attack building blocks: `_projections`, `losses`, `targets`."""

import numpy as np
import pytest
import tensorflow as tf

from cleverhans.tf2 import utils as ch_utils
from tf_advnet.attacks import _projections as P
from tf_advnet.attacks import losses
from tf_advnet.attacks import targets


def _np_norms(v, norm):
    flat = np.asarray(v, np.float64).reshape(len(v), -1)
    if norm == "inf":
        return np.abs(flat).max(axis=1)
    return np.sqrt((flat**2).sum(axis=1))


# normalize_norm --------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [(np.inf, "inf"), (float("inf"), "inf"), ("inf", "inf"), ("Linf", "inf"),
     (2, "2"), (2.0, "2"), ("2", "2"), ("l2", "2"), (np.int64(2), "2")],
)
def test_normalize_norm_accepts_spellings(value, expected):
    assert P.normalize_norm(value) == expected


@pytest.mark.parametrize("value", [1, "1", 0, -np.inf, "fro", None, True])
def test_normalize_norm_rejects_others(value):
    with pytest.raises(ValueError, match="norm") as info:
        P.normalize_norm(value)
    assert repr(value) in str(info.value)


# random_init -----------------------------------------------------------------


def test_random_init_linf_is_uniform_in_box():
    delta = np.asarray(P.random_init([500, 4, 4, 1], 0.3, "inf", seed=0))
    assert delta.shape == (500, 4, 4, 1) and delta.dtype == np.float32
    assert np.abs(delta).max() <= 0.3
    assert delta.min() < -0.29 and delta.max() > 0.29
    assert abs(delta.mean()) < 0.01
    np.testing.assert_allclose(delta.var(), 0.3**2 / 3, rtol=0.05)


def test_random_init_l2_is_uniform_in_ball():
    # Uniform in the d-ball: P(||delta|| <= t eps) = t^d, so the radius
    # median is eps * 0.5^(1/d); directions average to zero.
    d, eps = 3, 2.0
    delta = np.asarray(P.random_init([4000, d], eps, "2", seed=1))
    radii = _np_norms(delta, "2")
    assert radii.max() <= eps * (1 + 1e-6)
    np.testing.assert_allclose(np.median(radii), eps * 0.5 ** (1 / d),
                               rtol=0.03)
    np.testing.assert_allclose(delta.mean(axis=0), 0.0, atol=0.05)


def test_random_init_l2_image_shape():
    delta = np.asarray(P.random_init([64, 8, 8, 1], 0.5, 2, seed=2))
    assert delta.shape == (64, 8, 8, 1)
    assert _np_norms(delta, "2").max() <= 0.5 * (1 + 1e-6)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_random_init_seeding(norm):
    a = P.random_init([8, 5], 1.0, norm, seed=[3, 0])
    b = P.random_init([8, 5], 1.0, norm, seed=[3, 0])
    c = P.random_init([8, 5], 1.0, norm, seed=[3, 1])
    d = P.random_init([8, 5], 1.0, norm, seed=3)  # Same as [3, 0].
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, d)
    assert not np.array_equal(a, c)
    tf.random.set_seed(5)
    e = P.random_init([8, 5], 1.0, norm)
    tf.random.set_seed(5)
    f = P.random_init([8, 5], 1.0, norm)
    np.testing.assert_array_equal(e, f)


def test_random_init_eps_zero_is_zero():
    for norm in ("inf", "2"):
        delta = P.random_init([4, 3], 0.0, norm, seed=0)
        np.testing.assert_array_equal(delta, np.zeros((4, 3)))


# ascent_step -----------------------------------------------------------------


def test_ascent_step_linf_is_signed_step_with_zero_ties():
    grad = tf.constant([[0.5, -2.0, 0.0], [1e-30, -1e-30, 0.0]])
    step = P.ascent_step(grad, 0.1, "inf")
    expected = np.float32(0.1) * np.array([[1, -1, 0], [1, -1, 0]], "float32")
    np.testing.assert_array_equal(step, expected)


def test_ascent_step_l2_has_exact_length_per_example():
    rng = np.random.default_rng(0)
    grad = rng.normal(size=(6, 4, 4, 1)).astype("float32")
    grad[1] *= 1e4
    grad[2] *= 1e-3
    grad[3] = 0.0
    step = np.asarray(P.ascent_step(tf.constant(grad), 0.7, "2"))
    norms = _np_norms(step, "2")
    np.testing.assert_allclose(norms[[0, 1, 2, 4, 5]], 0.7, rtol=1e-6)
    assert norms[3] == 0.0 and np.all(np.isfinite(step))
    cos = (step[0] * grad[0]).sum() / (norms[0] * _np_norms(grad, "2")[0])
    np.testing.assert_allclose(cos, 1.0, rtol=1e-6)


def test_ascent_step_l2_full_length_for_tiny_gradients():
    # Saturated softmax gives gradients ~1e-22; cleverhans' 1e-12 floor on
    # the squared norm would shrink such steps to ~1e-16 (documented gap).
    grad = np.zeros((3, 4, 4, 1), "float32")
    grad[0, 0, 0, 0], grad[0, 1, 2, 0] = 3e-22, -4e-22
    grad[1] = 1e-7
    grad[2, 3, 3, 0] = 1e-37  # Its square underflows.
    step = np.asarray(P.ascent_step(tf.constant(grad), 0.5, "2"))
    np.testing.assert_allclose(_np_norms(step, "2"), 0.5, rtol=1e-6)
    np.testing.assert_allclose(step[0, 0, 0, 0], 0.3, rtol=1e-6)
    np.testing.assert_allclose(step[0, 1, 2, 0], -0.4, rtol=1e-6)


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_ascent_step_matches_cleverhans_optimize_linear(norm):
    grad = tf.constant(np.random.default_rng(1).normal(size=(5, 3, 3, 2)),
                       tf.float32)
    np.testing.assert_allclose(
        P.ascent_step(grad, 0.3, norm),
        ch_utils.optimize_linear(grad, 0.3, norm),
        rtol=0, atol=1e-7,
    )


@pytest.mark.parametrize("fn", ["ascent_step", "project"])
def test_l2_helpers_have_finite_derivatives_at_zero(fn):
    # Attacks that are differentiated through (PGN's L2 FGM/PGD-AT baselines, the
    # official code's `main.py`) must not turn a zero vector into NaN weights.
    v = tf.zeros([2, 3])
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = tf.reduce_sum(getattr(P, fn)(v, 1.0, "2"))
    assert np.all(np.isfinite(tape.gradient(out, v)))


# project ---------------------------------------------------------------------


def test_project_linf_clips_each_coordinate():
    delta = tf.constant([[0.5, -0.5, 0.1], [0.3, -0.3, -0.2]])
    np.testing.assert_allclose(
        P.project(delta, 0.3, "inf"), [[0.3, -0.3, 0.1], [0.3, -0.3, -0.2]]
    )


def test_project_l2_rescales_only_outside_ball():
    delta = np.array([[3.0, 4.0], [0.3, 0.4], [0.6, 0.8], [0.0, 0.0]],
                     "float32")
    out = np.asarray(P.project(tf.constant(delta), 1.0, "2"))
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(out[1], delta[1])  # Inside: unchanged.
    np.testing.assert_allclose(out[2], delta[2], rtol=1e-6)  # On the sphere.
    np.testing.assert_array_equal(out[3], [0.0, 0.0])
    assert _np_norms(out, "2").max() <= 1.0 + 1e-6


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_project_meets_budget_on_images(norm):
    rng = np.random.default_rng(2)
    delta = rng.normal(size=(16, 8, 8, 1)).astype("float32")
    out = np.asarray(P.project(tf.constant(delta), 0.25, norm))
    norms = _np_norms(out, norm)
    assert norms.max() <= 0.25 + 1e-6
    np.testing.assert_allclose(norms, 0.25, rtol=1e-6)  # All were outside.


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_clip_eta_matches_cleverhans(norm):
    eta = tf.constant(np.random.default_rng(3).normal(size=(6, 4, 4, 1)),
                      tf.float32)
    np.testing.assert_allclose(
        P.clip_eta(eta, norm, 0.5), ch_utils.clip_eta(eta, norm, 0.5),
        rtol=0, atol=1e-7,
    )


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_project_and_clip_is_feasible(norm):
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(16, 8, 8, 1)).astype("float32")
    x_adv = x + rng.normal(size=x.shape).astype("float32")
    out = np.asarray(P.project_and_clip(x_adv, x, 0.5, norm))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert _np_norms(out - x, norm).max() <= 0.5 + 1e-6


def test_per_example_norm():
    delta = tf.constant([[[3.0], [-4.0]], [[0.0], [1.0]]])
    np.testing.assert_allclose(P.per_example_norm(delta, "inf"), [4.0, 1.0])
    np.testing.assert_allclose(P.per_example_norm(delta, 2), [5.0, 1.0])


# losses ----------------------------------------------------------------------


def test_cross_entropy_is_per_example():
    logits = tf.constant([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    out = np.asarray(losses.cross_entropy(logits, tf.constant([0, 2])))
    z = logits.numpy()
    ref = -z[[0, 1], [0, 2]] + np.log(np.exp(z).sum(axis=1))
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_cw_margin_and_cap():
    logits = tf.constant([[1.0, 3.0, -2.0], [5.0, 0.0, 1.0],
                          [0.0, 90.0, 1.0]])
    y = tf.constant([0, 0, 0])
    np.testing.assert_allclose(losses.cw_margin(logits, y), [2.0, -4.0, 90.0])
    np.testing.assert_allclose(losses.cw_margin(logits, y, kappa=50.0),
                               [2.0, -4.0, 50.0])


def test_objective_directions():
    logits = tf.constant([[1.0, 3.0, -2.0], [5.0, 0.0, 1.0]])
    t = tf.constant([1, 1])
    ce = np.asarray(losses.cross_entropy(logits, t))
    np.testing.assert_allclose(
        losses.objective(logits, t, loss="ce", targeted=True), -ce)
    # Targeted margin: ascend -max(max_{j!=t} z_j - z_t, -kappa).
    np.testing.assert_allclose(
        losses.objective(logits, t, loss="cw", targeted=True, kappa=1.0),
        [1.0, -5.0],
    )
    np.testing.assert_allclose(
        losses.objective(logits, t, loss="cw"), [-2.0, 5.0])


def test_loss_fn_lookup():
    assert losses.loss_fn("ce") is losses.cross_entropy
    assert losses.loss_fn("cw") is losses.cw_margin
    with pytest.raises(ValueError, match="loss") as info:
        losses.loss_fn("kl")
    assert "'kl'" in str(info.value)


# targets ---------------------------------------------------------------------


def test_least_likely_and_most_confusing():
    logits = tf.constant([[1.0, 3.0, -2.0], [5.0, 0.0, 1.0]])
    np.testing.assert_array_equal(targets.least_likely(logits), [2, 1])
    # True class excluded even when it is the argmax (BAT Eq. 24).
    np.testing.assert_array_equal(
        targets.most_confusing(logits, tf.constant([1, 2])), [0, 0])
    np.testing.assert_array_equal(
        targets.most_confusing(logits, tf.constant([0, 0])), [1, 2])
    # BAT's LL target (Eq. 23) excludes the label even where it is the least likely.
    np.testing.assert_array_equal(
        targets.least_likely(logits, tf.constant([2, 0])), [0, 1])
    np.testing.assert_array_equal(
        targets.least_likely(logits, tf.constant([0, 0])), [2, 1])


def test_random_target_never_true_class_and_covers_others():
    labels = tf.constant(np.repeat(np.arange(10), 100))
    t = np.asarray(targets.random_target(labels, 10, seed=0))
    assert np.all(t != labels.numpy())
    assert set(np.unique(t)) == set(range(10))
    for c in range(10):  # Every other class is reachable from each label.
        assert len(np.unique(t[labels.numpy() == c])) == 9
    t2 = np.asarray(targets.random_target(labels, 10, seed=0))
    np.testing.assert_array_equal(t, t2)
    with pytest.raises(ValueError, match="num_classes"):
        targets.random_target(labels, 1)
