"""AdvNetTrainer (Wang & Yu, Eqs. 4, 8, 9): the players' steps, the Hessian-vector
term by finite difference against double backprop, MirroredStrategy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.errors import UserError
from tf_advnet.models.advnet_generators import build_generator
from tf_advnet.trainers.advnet import AdvNetTrainer


def _gen(kind="g0", seed=1, **kw):
    keras.utils.set_random_seed(seed)
    return build_generator(kind, (8, 8, 1), 3, k=4, **kw)


def _trainer(hvp="finite_difference", gamma=1.0, fd_h=1e-3, g_lr=0.01, clf=None, gen=None,
             **kw):
    t = AdvNetTrainer(clf or toy_classifier(), gen or _gen(), eps=0.3, gamma=gamma,
                      hvp=hvp, fd_h=fd_h, **kw)
    t.compile(optimizer=keras.optimizers.SGD(0.1),
              g_optimizer=keras.optimizers.SGD(g_lr))
    return t


def _flat(grads):
    return np.concatenate([np.ravel(g.numpy()) for g in grads])


def _d_grads(trainer, x, y):
    grads, stats = trainer.discriminator_gradients(tf.constant(x), tf.constant(y))
    return _flat(grads), stats


def test_finite_difference_hvp_agrees_with_double_backprop():
    """Eq. (9) against the exact gamma (d^2 F / d theta d phi) grad_phi F."""
    x, y = toy_data(32)
    clf, gen = toy_classifier(), _gen()
    plain, _ = _d_grads(_trainer("none", clf=clf, gen=gen), x, y)
    exact, _ = _d_grads(_trainer("exact", clf=clf, gen=gen), x, y)
    fd, stats = _d_grads(_trainer("finite_difference", clf=clf, gen=gen), x, y)
    term_exact, term_fd = exact - plain, fd - plain
    assert np.linalg.norm(term_exact) > 1e-3 * np.linalg.norm(plain)  # a real term
    rel = np.linalg.norm(term_fd - term_exact) / np.linalg.norm(term_exact)
    assert rel < 0.05, rel
    assert float(stats["grad_norm_sq"]) > 0


def test_exact_term_is_the_gradient_of_the_regulariser():
    """gamma/2 ||grad_phi F||^2 differentiated numerically along a direction of theta."""
    x, y = toy_data(32)
    # tanh: the penalty is smooth in theta (ReLU kinks defeat central differences).
    clf, gen = toy_classifier(activation="tanh"), _gen()
    gamma = 1.0
    plain, _ = _d_grads(_trainer("none", clf=clf, gen=gen), x, y)
    exact, _ = _d_grads(_trainer("exact", gamma=gamma, clf=clf, gen=gen), x, y)
    t = _trainer("none", clf=clf, gen=gen)

    def penalty():
        with tf.GradientTape() as tape:
            adv_ce, _ = t.ce(t.adversarial(tf.constant(x), tf.constant(x)),
                             tf.constant(y), training=True)
        v = tape.gradient(adv_ce, gen.trainable_weights)
        return 0.5 * gamma * sum(float(tf.reduce_sum(g * g)) for g in v)

    rng = np.random.default_rng(0)
    base = [w.numpy() for w in clf.trainable_weights]
    u = [rng.normal(size=b.shape).astype("float32") for b in base]
    h = 1e-2
    vals = []
    for sign in (1, -1):
        for w, b, d in zip(clf.trainable_weights, base, u):
            w.assign(b + sign * h * d)
        vals.append(penalty())
    for w, b in zip(clf.trainable_weights, base):
        w.assign(b)
    numeric = (vals[0] - vals[1]) / (2 * h)
    analytic = float(np.dot(exact - plain, np.concatenate([d.ravel() for d in u])))
    np.testing.assert_allclose(analytic, numeric, rtol=0.05, atol=1e-5)


def test_without_regulariser_d_descends_clean_plus_lambda_adversarial_ce():
    x, y = toy_data(32)
    clf, gen = toy_classifier(), _gen()
    t = _trainer("none", clf=clf, gen=gen, lam=0.5)
    with tf.GradientTape() as tape:
        x_adv = t.adversarial(tf.constant(x), tf.constant(x))
        loss = (t.ce(x, y)[0] + 0.5 * t.ce(x_adv, y)[0])
    expected = _flat(tape.gradient(loss, clf.trainable_weights))
    got, _ = _d_grads(t, x, y)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_generator_step_is_gradient_ascent_on_the_adversarial_loss():
    x, y = toy_data(32)
    clf, gen = toy_classifier(), _gen()
    t = _trainer(clf=clf, gen=gen, g_lr=0.05)
    with tf.GradientTape() as tape:
        ce, _ = t.ce(t.adversarial(tf.constant(x), tf.constant(x)), y, training=False)
    grads = tape.gradient(ce, gen.trainable_weights)
    expected = [w.numpy() + 0.05 * g.numpy() for w, g in zip(gen.trainable_weights, grads)]
    t.generator_step(tf.constant(x), tf.constant(y))
    for w, e in zip(gen.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-6)


def test_generator_steps_raise_the_adversarial_loss():
    x, y = toy_data(64)
    clf = toy_classifier()
    clf.trainable = False
    t = _trainer(clf=clf, g_lr=1.0)  # the toy's gradients are small (near-uniform D)

    def adv_ce():  # G's BN on batch statistics, as in its steps
        return float(t.ce(t.attack(x, y, training=True), y, training=False)[0])

    losses = [adv_ce()]
    for _ in range(20):
        t.generator_step(tf.constant(x), tf.constant(y))
        losses.append(adv_ce())
    assert losses[-1] > losses[0] + 0.1
    assert np.all(np.diff(losses) > 0)


@pytest.mark.parametrize("frozen", [False, True])
def test_a_step_moves_the_right_weights(frozen):
    x, y = toy_data(32)
    clf, gen = toy_classifier(), _gen()
    clf.trainable = not frozen
    t = _trainer(clf=clf, gen=gen, g_steps=2)
    c0 = [w.numpy() for w in clf.weights]
    g0 = [w.numpy() for w in gen.trainable_weights]
    logs = t.train_step((tf.constant(x), tf.constant(y)))
    assert any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(gen.trainable_weights, g0))
    moved = any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(clf.weights, c0))
    assert moved is not frozen
    assert set(logs) == {"loss", "clean_loss", "adv_loss", "clean_acc", "adv_acc",
                         "grad_norm_sq", "g_loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_g_updates_times_g_steps_generator_steps_per_d_step():
    x, y = toy_data(16)
    t = _trainer(g_steps=3, g_updates=2)
    t.train_step((tf.constant(x), tf.constant(y)))
    assert int(t.g_optimizer.iterations) == 6
    assert int(t.optimizer.iterations) == 1


def test_default_h_is_a_tenth_of_the_generator_learning_rate():
    t = _trainer(fd_h=None, g_lr=0.02)
    np.testing.assert_allclose(float(t.finite_difference_h()), 0.002, rtol=1e-6)


def test_clip_keeps_valid_images_and_no_clip_is_the_code():
    x, y = toy_data(16)
    clipped = _trainer(clip=True).attack(x, y).numpy()
    raw = _trainer(clip=False).attack(x, y).numpy()
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert raw.min() < 0 or raw.max() > 1
    assert np.abs(raw - x).max() <= 0.3 + 1e-6


@pytest.mark.parametrize("hvp", ["finite_difference", "exact"])
def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy, hvp):
    x, y = toy_data(32)

    def make():
        clf = toy_classifier()
        gen = _gen(sync_bn=True)
        return _trainer(hvp, clf=clf, gen=gen, g_steps=2), clf

    assert_mirrored_matches_single(two_cpu_strategy, make, x, y, epochs=1)


def test_fit_with_every_generator_kind():
    x, y = toy_data(32)
    for kind in ("g1", "g2", "g3"):
        t = _trainer(gen=_gen(kind), g_steps=1)
        hist = t.fit(x, y, batch_size=16, epochs=1, verbose=0).history
        assert np.isfinite(hist["loss"][-1]) and hist["grad_norm_sq"][-1] > 0


@pytest.mark.parametrize("kwargs,message", [
    ({"hvp": "hessian"}, "hvp must be one of finite_difference, exact, none; got 'hessian'"),
    ({"g_steps": 0}, "g_steps must be >= 1, got 0"),
    ({"eps": -0.1}, "eps must be >= 0, got -0.1"),
    ({"fd_h": 0.0}, "fd_h must be > 0, got 0"),
    ({"lam": -1}, "lam must be >= 0, got -1")])
def test_bad_arguments_name_the_argument(kwargs, message):
    """Library errors name the Python argument, not the CLI key (trainer.lam)."""
    args = {"eps": 0.3, **kwargs}
    with pytest.raises(UserError) as err:
        AdvNetTrainer(toy_classifier(), _gen(), **args)
    assert str(err.value) == message


def test_d_every_updates_d_on_every_kth_batch_and_g_on_each():
    """The official MNIST schedule: G's steps on every batch, D's on every 5th (here 3):
    D's weights move only on batches 3 and 6, G's on all six."""
    x, y = toy_data(6 * 8)
    t = _trainer(g_steps=1, d_every=3)
    d_before = [w.numpy().copy() for w in t.classifier.trainable_weights]
    g_seen = [w.numpy().copy() for w in t.generator.trainable_weights]
    for b in range(6):
        t.train_on_batch(x[8 * b:8 * (b + 1)], y[8 * b:8 * (b + 1)])
        d_now = [w.numpy() for w in t.classifier.trainable_weights]
        moved = any(not np.array_equal(a, c) for a, c in zip(d_before, d_now))
        assert moved == (b % 3 == 2), b
        d_before = [w.copy() for w in d_now]
        g_now = [w.numpy() for w in t.generator.trainable_weights]
        assert any(not np.array_equal(a, c) for a, c in zip(g_seen, g_now)), b
        g_seen = [w.copy() for w in g_now]
    assert int(t.optimizer.iterations) == 2 and int(t.batches_seen) == 6


def test_d_every_one_batch_in_k_equals_the_plain_step():
    """On the k-th batch, the D step is the ordinary one: the same weights as a
    d_every=1 trainer given the same G steps before it."""
    x, y = toy_data(16)
    a = _trainer(g_steps=1, d_every=2, clf=toy_classifier(seed=5), gen=_gen())
    b = _trainer(g_steps=1, d_every=1, clf=toy_classifier(seed=5), gen=_gen())
    for w_a, w_b in zip(a.weights, b.weights):
        if w_a.name != "batches_seen":
            np.testing.assert_array_equal(w_a.numpy(), w_b.numpy())  # same start
    a.train_on_batch(x[:8], y[:8])     # G only
    b.generator_step(tf.constant(x[:8]), tf.constant(y[:8]))  # the same G step
    a.train_on_batch(x[8:], y[8:])     # G, then D
    b.train_on_batch(x[8:], y[8:])
    # float32 in a graph against the eager G step: rounding only (~1e-6)
    for w_a, w_b in zip(a.classifier.weights, b.classifier.weights):
        np.testing.assert_allclose(w_a.numpy(), w_b.numpy(), rtol=1e-4, atol=1e-5)


def test_d_every_under_two_replicas_is_a_one_line_error(two_cpu_strategy):
    x, y = toy_data(32)
    with two_cpu_strategy.scope():
        t = _trainer(g_steps=1, d_every=2)
    with pytest.raises(ValueError, match="d_every > 1 runs on one device only"):
        t.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
