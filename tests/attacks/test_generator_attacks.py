"""AdvGAN and GAP: budgets, losses, one-player steps, training, saving, reuse."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.attacks.generator_attacks import advgan_attack
from tf_advnet.attacks.generator_attacks import advgan_perturbation
from tf_advnet.attacks.generator_attacks import gap_attack
from tf_advnet.attacks.generator_attacks import gap_perturbation
from tf_advnet.attacks.generator_attacks import scale_to_linf
from tf_advnet.errors import UserError
from tf_advnet.models.attack_generators import ReflectionPadding2D
from tf_advnet.models.attack_generators import advgan_discriminator
from tf_advnet.models.attack_generators import advgan_generator
from tf_advnet.models.attack_generators import gap_generator
from tf_advnet.trainers.attack_generators import AdvGANTrainer
from tf_advnet.trainers.attack_generators import GAPTrainer
from tf_advnet.trainers.attack_generators import train_attack_generator
from tf_advnet.store import Store

SHAPE = (8, 8, 1)


def _images(n=6, low=0.0, high=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(n,) + SHAPE).astype("float32")


def _advgan_nets():
    return advgan_generator(SHAPE, width=0.5), advgan_discriminator(SHAPE, width=0.5)


def _gap_net(norm="instance"):
    return gap_generator(SHAPE, width=4, res_blocks=1, norm=norm)


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def _assert_same(before, model):
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, b.numpy())


def _changed(before, model):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights))


@pytest.fixture(scope="module")
def trained_toy():
    """The toy classifier fitted to the toy labels (about 80% accuracy)."""
    keras.utils.set_random_seed(0)
    x, y = toy_data(128)
    clf = toy_classifier()
    clf.compile(keras.optimizers.Adam(0.05),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(x, y, epochs=40, batch_size=64, verbose=0)
    return clf, x, y


# ------------------------------------------------------------- budgets


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_advgan_stays_in_the_eps_ball_and_the_pixel_range(eps):
    x = _images()
    gen = _advgan_nets()[0]
    x_adv = advgan_attack(gen, x, eps=eps).numpy()
    assert x_adv.dtype == np.float32 and x_adv.shape == x.shape
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = advgan_perturbation(gen, x, eps=eps).numpy()
    np.testing.assert_allclose(delta, eps * gen(x, training=False).numpy(), atol=1e-7)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_gap_perturbation_has_linf_norm_exactly_eps(norm):
    eps = 0.2
    gen = _gap_net(norm)
    x = _images()
    delta = gap_perturbation(gen, x, eps=eps).numpy()
    np.testing.assert_allclose(np.abs(delta).reshape(len(x), -1).max(1), eps, rtol=1e-6)
    # Away from the pixel bounds clipping never binds: ||x_adv - x||_inf = eps.
    inner = _images(low=eps, high=1.0 - eps, seed=1)
    x_adv = gap_attack(gen, inner, eps=eps).numpy()
    np.testing.assert_allclose(np.abs(x_adv - inner).reshape(len(x), -1).max(1), eps,
                               rtol=1e-5)
    x_adv = gap_attack(gen, x, eps=eps).numpy()
    assert x_adv.dtype == np.float32
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_gap_scaling_is_per_image_and_safe_at_zero():
    u = np.zeros((3, 2, 2, 1), "float32")
    u[0, 0, 0, 0], u[1, 1, 1, 0] = 0.5, -4.0
    out = scale_to_linf(u, 0.1).numpy()
    assert np.isfinite(out).all()
    assert out[0, 0, 0, 0] == pytest.approx(0.1) and out[1, 1, 1, 0] == pytest.approx(-0.1)
    np.testing.assert_array_equal(out[2], 0.0)


def test_negative_eps_is_rejected():
    with pytest.raises(ValueError, match="eps"):
        advgan_attack(_advgan_nets()[0], _images(), eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        gap_attack(_gap_net(), _images(), eps=-0.1)


# ------------------------------------------------------------- losses


def test_advgan_generator_step_descends_the_paper_objective():
    """One SGD(lr 1) step of G equals the step on L_adv + a L_GAN + b L_hinge."""
    x, y = toy_data(8)
    clf = toy_classifier()
    gen, disc = _advgan_nets()
    eps, alpha, beta, c, kappa = 0.3, 0.5, 2.0, 0.1, 1.0  # c small: hinge active
    trainer = AdvGANTrainer(clf, gen, disc, eps=eps, alpha=alpha, beta=beta,
                            hinge_c=c, kappa=kappa)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0))
    with tf.GradientTape() as tape:
        delta = eps * gen(x, training=True)
        logits = clf(tf.clip_by_value(x + delta, 0.0, 1.0), training=False)
        z_y = tf.gather(logits, y, batch_dims=1)
        z_other = tf.reduce_max(logits - 1e9 * tf.one_hot(y, 3), axis=-1)
        l_adv = tf.reduce_mean(tf.maximum(z_y - z_other, -kappa))
        l_gan = 0.5 * tf.reduce_mean(tf.square(
            disc(tf.clip_by_value(x + delta, 0.0, 1.0)) - 1.0))
        norms = tf.norm(tf.reshape(delta, [len(x), -1]), axis=1)
        l_hinge = tf.reduce_mean(tf.maximum(0.0, norms - c))
        loss = l_adv + alpha * l_gan + beta * l_hinge
    assert float(l_hinge) > 0.0
    grads = tape.gradient(loss, gen.trainable_weights)
    expected = [w.numpy() - g.numpy() for w, g in zip(gen.trainable_weights, grads)]
    parts = trainer.generator_step(x, y)
    np.testing.assert_allclose(float(parts["g_loss"]), float(loss), rtol=1e-5)
    for w, e in zip(gen.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)


def test_gap_step_descends_log_ce_towards_the_least_likely_class():
    x, y = toy_data(8)
    clf = toy_classifier()
    gen = _gap_net()
    trainer = GAPTrainer(clf, gen, eps=0.2)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0))
    target = tf.argmin(clf(x), axis=-1)
    with tf.GradientTape() as tape:
        u = gen(x, training=True)
        u = 0.2 * u / tf.reduce_max(tf.abs(u), axis=[1, 2, 3], keepdims=True)
        logits = clf(tf.clip_by_value(x + u, 0.0, 1.0), training=False)
        loss = tf.math.log(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            target, logits, from_logits=True)))
    grads = tape.gradient(loss, gen.trainable_weights)
    expected = [w.numpy() - g.numpy() for w, g in zip(gen.trainable_weights, grads)]
    logs = trainer.train_step((tf.constant(x), tf.constant(y)))
    np.testing.assert_allclose(float(logs["g_loss"]), float(loss), rtol=1e-5)
    for w, e in zip(gen.trainable_weights, expected):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)


def test_advgan_steps_touch_only_their_own_network():
    x, y = toy_data(8)
    clf = toy_classifier()
    gen, disc = _advgan_nets()
    trainer = AdvGANTrainer(clf, gen, disc, eps=0.3)
    trainer.compile()
    clf0, gen0, disc0 = _weights(clf), _weights(gen), _weights(disc)
    trainer.discriminator_step(x)
    assert _changed(disc0, disc)
    _assert_same(gen0, gen)
    _assert_same(clf0, clf)
    disc1 = _weights(disc)
    trainer.generator_step(x, y)
    assert _changed(gen0, gen)
    _assert_same(disc1, disc)
    _assert_same(clf0, clf)


# ------------------------------------------------------------- training


@pytest.mark.parametrize("kind", ["advgan", "gap"])
def test_training_strengthens_the_attack_and_never_touches_the_classifier(
        kind, trained_toy):
    clf, x, y = trained_toy
    eps = 0.3
    if kind == "advgan":
        gen, disc = _advgan_nets()
        trainer, attack = AdvGANTrainer(clf, gen, disc, eps=eps), advgan_attack
        keys = {"d_loss", "g_loss", "adv_loss", "gan_loss", "hinge_loss", "delta_l2",
                "clean_acc", "adv_acc"}
    else:
        gen = _gap_net()
        trainer, attack = GAPTrainer(clf, gen, eps=eps), gap_attack
        keys = {"g_loss", "ll_ce", "clean_acc", "adv_acc", "fool_rate"}
    trainer.compile()

    def ce_and_acc():
        logits = clf(attack(gen, x, eps=eps), training=False)
        ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return float(tf.reduce_mean(ce)), float(np.mean(np.argmax(logits, -1) == y))

    clf0 = _weights(clf)
    ce0, acc0 = ce_and_acc()
    history = trainer.fit(x, y, batch_size=32, epochs=5, verbose=0).history
    ce1, acc1 = ce_and_acc()
    assert set(history) == keys
    assert all(np.isfinite(v).all() for v in history.values())
    assert ce1 > ce0 + 0.1 and acc1 < acc0 - 0.1, (ce0, ce1, acc0, acc1)
    _assert_same(clf0, clf)


def _tiny_generator():
    # The replica arithmetic is the trainers', not the architectures': a
    # one-layer tanh generator keeps the two-replica graphs quick to trace.
    return keras.Sequential([keras.Input(SHAPE),
                             keras.layers.Conv2D(1, 3, padding="same", activation="tanh")])


def _mirrored_generator_weights(strategy, kind):
    x, y = toy_data(32)
    with strategy.scope():
        clf = toy_classifier()  # seeds Keras' RNG, so both runs start equal
        gen = _tiny_generator()
        if kind == "advgan":
            disc = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                                     keras.layers.Dense(1)])
            trainer = AdvGANTrainer(clf, gen, disc, eps=0.3, hinge_c=0.5)
        else:
            trainer = GAPTrainer(clf, gen, eps=0.3)
        trainer.compile()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    trainer.fit(ds, epochs=2, verbose=0, shuffle=False)
    return [w.numpy() for w in gen.weights + getattr(trainer, "discriminator", gen).weights]


@pytest.mark.parametrize("kind", ["advgan", "gap"])
def test_mirrored_steps_equal_single_device_steps(kind, two_cpu_strategy):
    single = _mirrored_generator_weights(tf.distribute.get_strategy(), kind)
    mirrored = _mirrored_generator_weights(two_cpu_strategy, kind)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------- models


@pytest.mark.parametrize("build", [
    lambda: _advgan_nets()[0], lambda: _advgan_nets()[1],
    lambda: _gap_net("batch"), lambda: _gap_net("instance")],
    ids=["advgan_g", "advgan_d", "gap_batch", "gap_instance"])
def test_save_load_round_trip_gives_identical_outputs(build, tmp_path):
    model = build()
    x = _images()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(model(x, training=False).numpy(),
                                  loaded(x, training=False).numpy())


def test_paper_sized_shapes_and_bad_shapes():
    assert advgan_generator((28, 28, 1)).output_shape == (None, 28, 28, 1)
    assert advgan_discriminator((28, 28, 1)).output_shape == (None, 1)
    assert gap_generator((32, 32, 3), width=8).output_shape == (None, 32, 32, 3)
    with pytest.raises(UserError, match="multiples of 4"):
        gap_generator((10, 10, 3))
    with pytest.raises(UserError, match="width"):
        advgan_generator(SHAPE, width=0)


def test_reflection_padding_matches_numpy():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    out = ReflectionPadding2D(2)(x).numpy()
    np.testing.assert_array_equal(
        out, np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))


# ------------------------------------------------------------- train_attack_generator


# GAP's ngf is round(64 * width): GAP_WIDTH gives 4 channels, as the other GAP tests
# here; the store's behaviour does not depend on the network's size.
GAP_WIDTH = 4 / 64


@pytest.fixture(scope="module")
def stored_gap(tmp_path_factory):
    """One GAP generator trained (2 epochs) against the toy classifier into a fresh
    store, with its progress lines: the reuse and the stale-key tests below both
    start from it, so the suite trains it once instead of once per test."""
    x, y = toy_data(16)
    clf = toy_classifier()
    store = Store(str(tmp_path_factory.mktemp("gap_store") / "store"))
    lines = []
    gen = train_attack_generator("gap", clf, x, y, eps=0.2, epochs=2, batch_size=16,
                                 seed=0, width=GAP_WIDTH, store=store,
                                 progress=lines.append)
    return clf, x, y, store, gen, lines


GAP_KW = dict(eps=0.2, epochs=2, batch_size=16, seed=0, width=GAP_WIDTH)


def test_train_attack_generator_stores_then_reuses_it(stored_gap):
    clf, x, y, store, gen, lines = stored_gap
    assert sum(line.startswith("[gap] epoch ") for line in lines) == 2
    again = []
    reused = train_attack_generator("gap", clf, x, y, store=store, progress=again.append,
                                    **GAP_KW)
    assert len(again) == 1 and "reusing" in again[0]
    np.testing.assert_array_equal(gap_attack(gen, x, eps=0.2).numpy(),
                                  gap_attack(reused, x, eps=0.2).numpy())


def test_attack_generator_stale_after_the_classifier_is_retrained(stored_gap):
    """A generator is tied to the weights it was trained against: once the
    classifier changes, the stored one is not served (it was, keyed by file name)."""
    clf, x, y, store, _, _ = stored_gap
    # "Retrained": a copy with other weights, so the fixture's classifier (and the
    # reuse test) is left as it is.
    retrained = keras.models.clone_model(clf)
    retrained.set_weights([w + 0.1 for w in clf.get_weights()])
    lines = []
    train_attack_generator("gap", retrained, x, y, store=store, progress=lines.append,
                           **GAP_KW)
    assert not any("reusing" in line for line in lines)
    assert sum(line.startswith("[gap] epoch ") for line in lines) == 2
    assert len(list((Path(store.root) / "gap_generator").iterdir())) == 2


def test_train_attack_generator_advgan_without_path():
    x, y = toy_data(16)
    gen = train_attack_generator("advgan", toy_classifier(), x, y, eps=0.3, epochs=1,
                                 batch_size=16, seed=0, width=0.5, progress=None)
    assert gen.name == "advgan_generator"
    assert advgan_attack(gen, x, eps=0.3).shape == x.shape


def test_train_attack_generator_rejects_a_bad_kind():
    x, y = toy_data(8)
    with pytest.raises(UserError) as err:
        train_attack_generator("pgd", toy_classifier(), x, y, eps=0.3, epochs=1,
                               batch_size=8, seed=0)
    message = str(err.value)
    assert "\n" not in message and "'pgd'" in message and "advgan, gap" in message
