"""L2LDATrainer (Algorithm 1 of L2L-DA): the generator's and the classifier's steps,
the diversity loss, the ablation flags and the attack-fine-tuning mode."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.attacks.l2lda import trajectory
from tf_advnet.models.l2lda_generator import l2l_star_generator, l2lda_generator
from tf_advnet.trainers.l2lda import L2LDATrainer, diversity_loss


def _gen(seed=2, **kw):
    keras.utils.set_random_seed(seed)
    return l2lda_generator((8, 8, 1), 3, width=4, z_dim=4, **kw)


def _trainer(clf=None, gen=None, **kw):
    clf = clf or toy_classifier(1)
    gen = gen or _gen()
    tr = L2LDATrainer(clf, gen, eps=0.2, num_steps=3, **kw)
    tr.compile(optimizer=keras.optimizers.SGD(1.0), g_optimizer=keras.optimizers.SGD(1.0))
    return tr, clf, gen


def test_diversity_loss_by_hand():
    rng = np.random.default_rng(0)
    xs = [rng.uniform(size=(4, 2, 2, 1)).astype("float32") for _ in range(3)]
    z = rng.normal(size=(4, 5)).astype("float32")
    terms = []
    for xa in xs:
        ratio = [np.abs(xa[i] - xa[i + 2]).mean() / (np.abs(z[i] - z[i + 2]).mean() + 1e-8)
                 for i in range(2)]
        terms.append(np.mean(ratio))
    got = float(diversity_loss([tf.constant(v) for v in xs], tf.constant(z), 2))
    assert np.isclose(got, np.mean(terms), rtol=1e-5)


def test_ablation_flags():
    tr, _, _ = _trainer(recursive=False, diversity=False)
    assert (tr.num_steps, tr.eps_step, tr.lam) == (1, 0.2, 0.0)
    tr, _, _ = _trainer(lam=0.5)
    assert (tr.num_steps, tr.eps_step, tr.lam) == (3, 0.05, 0.5)


def test_noise_pairs_rows_and_changes_each_step():
    tr, _, _ = _trainer()
    z = tr.noise(5).numpy()
    assert z.shape == (10, 4) and not np.allclose(z[:5], z[5:])
    again = tr.noise(5).numpy()
    np.testing.assert_allclose(z, again)  # keyed on the generator's step
    tr.g_optimizer.iterations.assign_add(1)
    assert not np.allclose(tr.noise(5).numpy(), z)


def _hand_gradient(tr, clf, gen, x, y):
    """The gradient of Eq. (6)'s objective (mean over T = 3 steps, lambda 0.3) for the
    generator, computed by hand from `trajectory` and `diversity_loss` on the
    trainer's next noise draw (two z samples per image)."""
    z = tr.noise(8)
    xx, yy = tf.concat([x, x], 0), tf.concat([y, y], 0)
    with tf.GradientTape() as tape:
        x_advs, losses = trajectory(gen, lambda v: clf(v, training=False), xx, yy, z,
                                    eps=0.2, eps_step=0.05, num_steps=3)
        obj = (tf.add_n([tf.reduce_mean(v) for v in losses]) / 3
               + 0.3 * diversity_loss(x_advs, z, 8))
    return tape.gradient(obj, gen.trainable_weights)


@pytest.mark.parametrize("reduction,factor", [("mean", 1.0), ("sum", 3.0)])
def test_generator_step_is_gradient_ascent_on_l_cls_plus_lambda_l_div(reduction, factor):
    """Eq. (6)'s mean over the T = 3 steps, or the code's sum: T times the mean's
    gradient (the generator's SGD step, lr 1, no clip)."""
    x, y = toy_data(8)
    tr, clf, gen = _trainer(lam=0.3, step_reduction=reduction)
    grads = _hand_gradient(tr, clf, gen, x, y)
    expected = [w.numpy() + factor * g.numpy()
                for w, g in zip(gen.trainable_weights, grads)]
    tr.train_step((tf.constant(x), tf.constant(y)))
    for w, e in zip(gen.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction,factor", [("mean", 1.0), ("sum", 3.0)])
def test_g_grad_norm_is_the_generator_gradient_norm_before_the_clip(reduction, factor):
    """g_grad_norm = sqrt(sum of squares) of the generator's hand-computed gradient
    (factor T for the code's sum), while its SGD (lr 1, global clip 1e-4) moves the
    weights by exactly the clipped 1e-4."""
    x, y = toy_data(8)
    clf, gen = toy_classifier(1), _gen()
    tr = L2LDATrainer(clf, gen, eps=0.2, num_steps=3, lam=0.3, step_reduction=reduction)
    tr.compile(optimizer=keras.optimizers.SGD(1.0),
               g_optimizer=keras.optimizers.SGD(1.0, global_clipnorm=1e-4))
    grads = _hand_gradient(tr, clf, gen, x, y)
    want = factor * np.sqrt(sum(float(np.sum(g.numpy() ** 2)) for g in grads))
    before = [w.numpy().copy() for w in gen.trainable_weights]
    logs = tr.train_step((tf.constant(x), tf.constant(y)))
    assert want > 1e-3  # the clip below is active
    np.testing.assert_allclose(float(logs["g_grad_norm"]), want, rtol=1e-4)
    moved = np.sqrt(sum(np.sum((w.numpy() - b) ** 2)
                        for w, b in zip(gen.trainable_weights, before)))
    np.testing.assert_allclose(moved, 1e-4, rtol=1e-3)


def test_classifier_step_descends_ce_on_clean_and_both_adversarial_copies():
    x, y = toy_data(8)
    tr, clf, gen = _trainer()
    z = tr.noise(8)
    xx, yy = tf.concat([x, x], 0), tf.concat([y, y], 0)
    x_advs, _ = trajectory(gen, lambda v: clf(v, training=False), xx, yy, z, eps=0.2,
                           eps_step=0.05, num_steps=3)  # before G's update
    batch, labels = tf.concat([x, x_advs[-1]], 0), tf.concat([y, yy], 0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            labels, clf(batch, training=True), from_logits=True))
    grads = tape.gradient(loss, clf.trainable_weights)
    expected = [w.numpy() - g.numpy() for w, g in zip(clf.trainable_weights, grads)]
    tr.train_step((tf.constant(x), tf.constant(y)))
    for w, e in zip(clf.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)


def test_frozen_classifier_trains_the_generator_alone_and_raises_the_loss():
    x, y = toy_data(64)
    clf = toy_classifier(1)
    clf.compile(optimizer=keras.optimizers.Adam(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(x, y, epochs=30, verbose=0)
    clf.trainable = False
    frozen = [w.numpy().copy() for w in clf.weights]
    gen = _gen()
    tr = L2LDATrainer(clf, gen, eps=0.2, num_steps=3)
    tr.compile(g_optimizer=keras.optimizers.Adam(0.01))
    fn = lambda v: clf(v, training=False)  # noqa: E731
    before = tr.attack(x, y, num_samples=1, training=True)
    loss_before = float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        y, fn(before), from_logits=True)))
    tr.fit(x, y, batch_size=16, epochs=8, verbose=0)
    after = tr.attack(x, y, num_samples=1, training=True)
    loss_after = float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        y, fn(after), from_logits=True)))
    assert loss_after > loss_before
    for a, b in zip(frozen, clf.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_metrics_and_l2l_star_configuration():
    x, y = toy_data(32)
    tr, _, _ = _trainer(gen=l2l_star_generator((8, 8, 1), width=4), recursive=False,
                        diversity=False, normalize_grad=False)
    hist = tr.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert {"loss", "clean_acc", "adv_acc", "l_cls", "l_div", "adv_loss_first",
            "adv_loss_last"} <= set(hist.history)
    assert hist.history["l_div"][-1] == 0.0  # no z, no diversity term
    assert all(np.isfinite(v[-1]) for v in hist.history.values())


def test_wrong_generator_kind_is_a_clear_error():
    from tf_advnet.errors import UserError

    bad = keras.Sequential([keras.Input((8, 8, 1), name="pixels"),
                            keras.layers.Conv2D(1, 1)])
    with pytest.raises(UserError, match="L2L-DA generator"):
        L2LDATrainer(toy_classifier(), bad, eps=0.1)
