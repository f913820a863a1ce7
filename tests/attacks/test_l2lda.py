"""L2L-DA's recursion (Eq. 5), its gradient normalisation, its attack, and the loss
curves of Fig. 2."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.attacks.l2lda import (l2lda_attack, loss_and_gradient,
                                     normalize_gradient, trajectory)
from tf_advnet.eval.loss_trajectories import loss_trajectories
from tf_advnet.models.l2lda_generator import l2l_star_generator, l2lda_generator


def _setup(seed=2):
    clf = toy_classifier(1)
    keras.utils.set_random_seed(seed)
    gen = l2lda_generator((8, 8, 1), 3, width=4, z_dim=4)
    x, y = toy_data(16)
    return clf, gen, tf.constant(x), tf.constant(y)


def _fn(clf):
    return lambda v: clf(v, training=False)


def test_normalized_gradient_has_unit_norm_per_example_and_channel():
    g = np.random.default_rng(0).normal(size=(3, 5, 5, 2)).astype("float32")
    out = normalize_gradient(tf.constant(g)).numpy()
    np.testing.assert_allclose(np.sqrt((out ** 2).sum(axis=(1, 2))), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(normalize_gradient(tf.zeros((1, 2, 2, 1))).numpy()))


def test_trajectory_stays_in_the_ball_and_box_and_is_eq5():
    clf, gen, x, y = _setup()
    z = tf.random.normal((16, 4), seed=0)
    x_advs, losses = trajectory(gen, _fn(clf), x, y, z, eps=0.1, eps_step=0.025,
                                num_steps=4, training=False)
    assert len(x_advs) == len(losses) == 4
    for xa in x_advs:
        assert np.all(np.abs(xa - x) <= 0.1 + 1e-6)
        assert 0.0 <= float(tf.reduce_min(xa)) and float(tf.reduce_max(xa)) <= 1.0
    # Step 1 by hand: delta = clip(eps_step * g(x, normalised grad, 0, y, z)).
    _, grad = loss_and_gradient(_fn(clf), x, y)
    step = gen([x, normalize_gradient(grad), tf.zeros_like(x), y, z], training=False)
    expected = tf.clip_by_value(x + tf.clip_by_value(0.025 * step, -0.1, 0.1), 0, 1)
    np.testing.assert_allclose(x_advs[0].numpy(), expected.numpy(), atol=1e-6)
    # Each step moves each pixel by at most eps_step.
    for a, b in zip(x_advs[:-1], x_advs[1:]):
        assert np.all(np.abs(b - a) <= 0.025 + 1e-6)


def test_trajectory_is_differentiable_through_delta():
    clf, gen, x, y = _setup()
    z = tf.random.normal((16, 4), seed=1)
    with tf.GradientTape() as tape:
        _, losses = trajectory(gen, _fn(clf), x, y, z, eps=0.1, eps_step=0.025,
                               num_steps=3)
        total = tf.reduce_mean(losses[-1])
    grads = tape.gradient(total, gen.trainable_weights)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_different_z_give_different_perturbations():
    clf, gen, x, y = _setup()
    a, _ = trajectory(gen, _fn(clf), x, y, tf.random.normal((16, 4), seed=1), eps=0.1,
                      eps_step=0.025, num_steps=2, training=False)
    b, _ = trajectory(gen, _fn(clf), x, y, tf.random.normal((16, 4), seed=2), eps=0.1,
                      eps_step=0.025, num_steps=2, training=False)
    assert not np.allclose(a[-1].numpy(), b[-1].numpy())


def test_attack_keeps_any_fooling_sample_and_is_seeded():
    clf, gen, x, y = _setup()
    fn = _fn(clf)
    adv = l2lda_attack(gen, fn, x, y, eps=0.3, num_steps=3, num_samples=4, seed=5)
    assert np.all(np.abs(adv - x) <= 0.3 + 1e-6)
    np.testing.assert_allclose(adv, l2lda_attack(gen, fn, x, y, eps=0.3, num_steps=3,
                                                 num_samples=4, seed=5))
    # Per example, fooled by the best-of-4 whenever any single sample fools it.
    fooled = tf.argmax(fn(adv), -1).numpy() != y.numpy()
    for s in range(4):
        z = tf.random.stateless_normal((16, 4), seed=[5, s])
        one, _ = trajectory(gen, fn, x, y, z, eps=0.3, eps_step=0.075, num_steps=3,
                            training=False)
        single = tf.argmax(fn(one[-1]), -1).numpy() != y.numpy()
        assert np.all(fooled[single])
    with pytest.raises(ValueError, match="eps"):
        l2lda_attack(gen, fn, x, y, eps=-1.0)


def test_loss_trajectories_shapes_and_pgd_rises():
    clf, gen, x, y = _setup()
    fn = _fn(clf)
    pgd = loss_trajectories(fn, x.numpy(), y.numpy(), method="pgd", eps=0.3,
                            num_steps=5, num_attacks=3)
    assert len(pgd["max"]) == len(pgd["std"]) == 5
    assert pgd["max"][-1] > pgd["max"][0]
    assert all(s >= 0 for s in pgd["std"])
    lda = loss_trajectories(fn, x.numpy(), y.numpy(), method="l2lda", eps=0.3,
                            generator=gen, num_steps=3, num_attacks=2)
    star = loss_trajectories(fn, x.numpy(), y.numpy(), method="l2l", eps=0.3,
                             generator=l2l_star_generator((8, 8, 1), width=4),
                             num_steps=3, num_attacks=2, normalize=False)
    assert len(lda["max"]) == len(star["max"]) == 3
    with pytest.raises(ValueError, match="generator"):
        loss_trajectories(fn, x.numpy(), y.numpy(), method="l2lda", eps=0.3)
