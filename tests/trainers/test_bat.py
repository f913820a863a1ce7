"""BAT (Wang & Zhang, ICCV 2019): the adversarial-label formula (Eq. 13-21), each
variant's adversarial image and target rule, the training step, MirroredStrategy and
the config plumbing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.configs import override, preset
from tf_advnet.errors import UserError
from tf_advnet.trainers.bat import (VARIANT_NAMES, BATTrainer, adversarial_labels,
                                    label_budget, parse_variant, smoothed_labels)

N_CLASSES = 10


def _random_logits(batch=64, n=N_CLASSES, seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, n)).astype("float32") * scale
    y = rng.integers(0, n, size=batch).astype("int64")
    return z, y


def _v(z):
    return -np.log(tf.nn.softmax(z).numpy() + 1e-8)


# ---------------------------------------------------------------- label formula


def test_equal_non_true_gradients_give_label_smoothing():
    """Eq. (15): equal v_k (k != c) -> y'_k = eps_y / (n - 1); LA's eps_y is Eq. (19)."""
    y = np.array([0, 3, 9], "int64")
    z = np.zeros((3, N_CLASSES), "float32")
    z[np.arange(3), y] = [2.0, 5.0, 0.5]  # true class apart, the rest equal
    for eps_y in (0.1, 0.5):
        yp = adversarial_labels(z, y, eps_y=eps_y).numpy()
        np.testing.assert_allclose(yp, smoothed_labels(y, N_CLASSES, eps_y).numpy(),
                                   atol=1e-6)
    beta = 9.0
    yp = adversarial_labels(z, y, beta=beta).numpy()
    eps19 = 1.0 / (1.0 + beta / (N_CLASSES - 1))  # 0.5 for n = 10, beta = 9
    np.testing.assert_allclose(yp[np.arange(3), y], 1.0 - eps19, rtol=1e-5)
    off = np.where(np.eye(N_CLASSES, dtype=bool)[y], np.nan, yp)
    np.testing.assert_allclose(np.nanmax(off, 1), eps19 / (N_CLASSES - 1), rtol=1e-5)
    np.testing.assert_allclose(np.nanmin(off, 1), eps19 / (N_CLASSES - 1), rtol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 9.0, 81.0])
def test_budget_within_eq21_bounds(beta):
    z, y = _random_logits(256, seed=int(beta))
    eps_y = label_budget(_v(z), y, beta=beta).numpy()
    assert np.all(eps_y > 1.0 / (1.0 + beta))
    assert np.all(eps_y <= 1.0 / (1.0 + beta / (N_CLASSES - 1)) + 1e-6)
    # The budget is the one y' carries: y'_c = 1 - eps_y.
    yp = adversarial_labels(z, y, beta=beta).numpy()
    np.testing.assert_allclose(yp[np.arange(len(y)), y], 1.0 - eps_y, rtol=1e-5,
                               atol=1e-6)


def test_budget_when_one_class_takes_all_non_true_mass():
    """Eq. (20): v_MC = 0 and v_LL = sum_{k != c} v_k."""
    beta, gamma, big = 9.0, 0.01, 7.0
    v = np.zeros((1, N_CLASSES), "float32")
    v[0, 4] = big
    eps_y = float(label_budget(v, np.array([0]), beta=beta, gamma=gamma)[0])
    expected = 1.0 / (1.0 + beta * (big + gamma) / (big + (N_CLASSES - 1) * gamma))
    assert eps_y == pytest.approx(expected, rel=1e-6)
    assert 1.0 / (1.0 + beta) < eps_y < 1.0 / (1.0 + beta) + 0.01


@pytest.mark.parametrize("eps_y", [None, 0.09, 0.9])
def test_labels_in_simplex_and_true_class_dominates(eps_y):
    beta = 9.0
    z, y = _random_logits(128, seed=3)
    yp = adversarial_labels(z, y, beta=beta, eps_y=eps_y).numpy()
    assert np.all(yp >= 0)
    np.testing.assert_allclose(yp.sum(-1), 1.0, rtol=1e-5)
    true = yp[np.arange(len(y)), y]
    others = np.where(np.eye(N_CLASSES, dtype=bool)[y], -1.0, yp).max(-1)
    if eps_y is None:  # Eq. (16) holds with equality at the budget of Eq. (18).
        np.testing.assert_allclose(true, beta * others, rtol=1e-4)
    elif eps_y < 1.0 / (1.0 + beta):  # below every budget (Eq. 21): (16) strictly
        assert np.all(true > beta * others)
    else:  # above every budget of Eq. (21): (16) fails for every example
        assert np.all(true < beta * others)


def test_shares_follow_label_gradients():
    """The MC class gets the smallest share and the LL class the largest (Eq. 14)."""
    z, y = _random_logits(64, seed=5)
    yp = adversarial_labels(z, y).numpy()
    masked_z = np.where(np.eye(N_CLASSES, dtype=bool)[y], np.inf, z)
    masked_y = np.where(np.eye(N_CLASSES, dtype=bool)[y], np.inf, yp)
    np.testing.assert_array_equal(np.argmin(masked_z, 1), np.argmax(
        np.where(np.isinf(masked_y), -1, yp), 1))
    mc = np.argmax(np.where(np.eye(N_CLASSES, dtype=bool)[y], -np.inf, z), 1)
    np.testing.assert_array_equal(np.argmin(masked_y, 1), mc)


def test_probability_input_and_infinite_beta():
    z, y = _random_logits(16, seed=7)
    probs = tf.nn.softmax(z).numpy()
    np.testing.assert_allclose(adversarial_labels(probs, y, from_logits=False).numpy(),
                               adversarial_labels(z, y).numpy(), atol=1e-6)
    np.testing.assert_allclose(adversarial_labels(z, y, beta=np.inf).numpy(),
                               np.eye(N_CLASSES)[y], atol=1e-7)


# ---------------------------------------------------------------- variants


def _classifier(seed=0, n_classes=3, sync_bn=False):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(synchronized=sync_bn),
        keras.layers.Flatten(),
        keras.layers.Dense(n_classes),
    ])


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    y = (x.reshape(n, -1).mean(1) * 3 > 1.5).astype("int64") + (x[:, 0, 0, 0] > 0.8)
    return x, y.astype("int64")


def test_parse_variant_names():
    assert len(VARIANT_NAMES) == 21
    v = parse_variant("r-mc-la")
    assert (v.name, v.target, v.random_start, v.label, v.multi_step) == (
        "R-MC-LA", "mc", True, "la", False)
    assert parse_variant("LL").target == "ll" and not parse_variant("LL").random_start
    assert parse_variant("FGSM").target == "none" and parse_variant("FGSM").label == "none"
    madry = parse_variant("Madry-LA")
    assert madry.multi_step and madry.random_start and madry.target == "none"
    with pytest.raises(UserError, match="^variant must be one of FGSM, R-FGSM"):
        parse_variant("R-MOSA-LA")
    with pytest.raises(UserError, match="; got 'TRADES'$"):
        BATTrainer(_classifier(), variant="TRADES")


def test_target_rules():
    z = tf.constant([[5.0, 3.0, -2.0, 1.0], [0.0, 9.0, 4.0, 8.0], [1.0, 2.0, -3.0, 0.5]])
    y = tf.constant([0, 1, 2], tf.int64)
    mc = BATTrainer(_classifier(), variant="MC").attack_target(z, y).numpy()
    ll = BATTrainer(_classifier(), variant="LL").attack_target(z, y).numpy()
    untargeted = BATTrainer(_classifier(), variant="FGSM").attack_target(z, y).numpy()
    np.testing.assert_array_equal(mc, [1, 3, 1])   # argmax over k != y (Eq. 24)
    # argmin over k != y (Eq. 23): the third example's label is its least likely class
    np.testing.assert_array_equal(ll, [2, 0, 3])
    np.testing.assert_array_equal(untargeted, [0, 1, 2])


def _hand_one_step(clf, x0, x, goal, alpha, eps, targeted):
    x0 = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x0)
        ce = keras.losses.sparse_categorical_crossentropy(
            goal, clf(x0, training=False), from_logits=True)
    g = np.sign(tape.gradient(ce, x0).numpy())
    x1 = x0.numpy() - alpha * g if targeted else x0.numpy() + alpha * g
    return np.clip(np.clip(x1, x - eps, x + eps), 0.0, 1.0)


@pytest.mark.parametrize("variant", ["FGSM", "R-FGSM", "LL", "R-LL", "MC", "R-MC-LS",
                                     "R-MC-LA"])
def test_one_step_image(variant):
    """x' = clip_S(x0 -/+ eps * sign grad CE(x0, t)), x0 = x (+ U[-eps, eps]), Eq. 3-4."""
    x, y = _data(32)
    eps = 0.1
    clf = _classifier()
    trainer = BATTrainer(clf, variant=variant, eps=eps, seed=3)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    v = parse_variant(variant)
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert np.abs(x_adv - x).max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    logits = clf(x, training=False)
    goal = trainer.attack_target(logits, tf.constant(y)).numpy()
    if v.target != "none":
        assert np.all(goal != y)  # MC and LL both exclude the label (Eq. 23-24)
    noise = trainer.random_start_noise(tf.constant(x)).numpy()
    if v.random_start:
        assert 0.5 * eps < np.abs(noise).max() <= eps
        x0 = x + noise  # not clipped to [0, 1] before the step
    else:
        x0 = x
    expected = _hand_one_step(clf, x0, x, goal, eps, eps, v.target != "none")
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)
    # A one-step attack of size eps from x itself moves (almost) every pixel by eps.
    if not v.random_start:
        assert np.mean(np.isclose(np.abs(x_adv - x), eps, atol=1e-6)
                       | (x_adv == 0) | (x_adv == 1)) > 0.99


def test_random_start_changes_with_the_step_and_replays():
    x, _ = _data(8)
    trainer = BATTrainer(_classifier(), variant="R-MC-LA", eps=0.1, seed=1)
    a = trainer.random_start_noise(tf.constant(x), step=0).numpy()
    b = trainer.random_start_noise(tf.constant(x), step=1).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, trainer.random_start_noise(tf.constant(x), step=0))


def test_madry_la_is_multi_step_untargeted_pgd():
    x, y = _data(32)
    clf = _classifier()
    trainer = BATTrainer(clf, variant="Madry-LA", eps=0.1, seed=0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    assert (trainer.num_steps, trainer.step_size, trainer.label) == (7, 0.025, "la")
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert np.abs(x_adv - x).max() <= 0.1 + 1e-6 and 0 <= x_adv.min() <= x_adv.max() <= 1
    ce = lambda v: float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        y, clf(v, training=False), from_logits=True)))
    one = BATTrainer(clf, variant="R-FGSM", eps=0.1, seed=0, num_steps=1,
                     step_size=0.025)
    one.compile(optimizer=keras.optimizers.SGD(0.1))
    assert ce(x_adv) > ce(one.craft(tf.constant(x), tf.constant(y)).numpy()) > ce(x)


# ---------------------------------------------------------------- training step


def test_step_descends_soft_label_ce_on_perturbed_batch():
    """The update is SGD on CE(f(x'), y') + weight decay, BN in training mode."""
    x, y = _data(16)
    clf = _classifier()
    wd = 1e-3
    trainer = BATTrainer(clf, variant="R-MC-LA", eps=0.1, beta=9.0, seed=2,
                         weight_decay=wd)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    trainer(x[:2])
    clean = clf(x, training=False)
    x_adv = trainer.craft(tf.constant(x), tf.constant(y), clean)  # step 0's noise
    y_adv = adversarial_labels(clean, y, beta=9.0)
    bn_stats = [w.numpy().copy() for w in clf.non_trainable_weights]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.categorical_crossentropy(
            y_adv, clf(x_adv, training=True), from_logits=True))
        loss += 0.5 * wd * tf.add_n([tf.reduce_sum(w ** 2) for w in clf.trainable_weights
                                     if w.path.endswith("kernel")])
    grads = tape.gradient(loss, clf.trainable_weights)
    for w, v in zip(clf.non_trainable_weights, bn_stats):  # undo this pass's BN update
        w.assign(v)
    before = [w.numpy().copy() for w in clf.trainable_weights]
    expected = [w - g.numpy() for w, g in zip(before, grads)]
    logs = trainer.train_step((tf.constant(x), tf.constant(y)))
    for w, e, b in zip(clf.trainable_weights, expected, before):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-5)
        assert not np.allclose(w.numpy(), b)
    assert set(logs) == {"loss", "adv_acc", "clean_acc"}
    assert float(logs["clean_acc"]) == pytest.approx(
        float(np.mean(np.argmax(clean, 1) == y)))


def _two_epochs(strategy, variant):
    x, y = _data(32)
    with strategy.scope():
        clf = _classifier(seed=1, sync_bn=True)  # BN statistics over the global batch
        trainer = BATTrainer(clf, variant=variant, eps=0.1, seed=5, weight_decay=1e-3)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    trainer.fit(ds, epochs=2, verbose=0)
    return [w.numpy() for w in clf.weights]


@pytest.mark.parametrize("variant", ["R-MC-LA", "LL-LS", "Madry-LA"])
def test_mirrored_two_cpus_equals_one_device(variant, two_cpu_strategy):
    """Random starts are seeded per global batch, so they need not be disabled."""
    single = _two_epochs(tf.distribute.get_strategy(), variant)
    mirrored = _two_epochs(two_cpu_strategy, variant)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["R-MC-LS", "FGSM", "Madry"])
def test_fit_logs_finite_metrics(variant):
    x, y = _data(64)
    trainer = BATTrainer(_classifier(), variant=variant, eps=0.1, num_steps=None)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    hist = trainer.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    assert {"loss", "adv_acc", "clean_acc", "val_loss", "val_clean_acc"} <= set(
        hist.history)
    assert all(np.all(np.isfinite(v)) for v in hist.history.values())
    assert hist.history["loss"][-1] < hist.history["loss"][0]


# ---------------------------------------------------------------- config plumbing


def test_config_builds_the_variant():
    from tf_advnet.pipelines.train import build_trainer

    cfg = override(preset("cpu", "synthetic", "bat"), eps=0.05, trainer=dict(
        variant="R-FGSM-LS", eps_y=0.3, num_steps=2)).validate()
    trainer = build_trainer(cfg, _classifier())
    assert isinstance(trainer, BATTrainer)
    assert (trainer.variant, trainer.label, trainer.eps_y, trainer.num_steps,
            trainer.step_size, trainer.seed) == ("R-FGSM-LS", "ls", 0.3, 2, 0.025,
                                                 cfg.seed)
    madry = build_trainer(override(cfg, trainer={"variant": "Madry-LA"}, attack_steps=3),
                          _classifier())
    assert madry.num_steps == 3 and madry.step_size == pytest.approx(0.05 / 4)
    with pytest.raises(UserError, match="trainer.variant='R-X'"):
        override(cfg, trainer={"variant": "R-X"}).validate()
    with pytest.raises(UserError, match=r"^trainer\.beta must be > 0, got 0$"):
        override(cfg, trainer={"beta": 0.0}).validate()


def test_eps_warmup_ramps_the_image_budget_like_pgd_at():
    """With eps_warmup_steps N, the first step's x' stays within eps/N of x (noise,
    step and ball all scaled); after N steps the full eps is back."""
    x, y = _data(32)
    eps, n = 0.2, 4
    trainer = BATTrainer(_classifier(), variant="R-MC-LA", eps=eps, seed=1,
                         eps_warmup_steps=n)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01))
    first = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert np.abs(first - x).max() <= eps / n + 1e-6
    assert np.abs(first - x).max() > 0.5 * eps / n
    for _ in range(n):
        trainer.train_step((tf.constant(x), tf.constant(y)))
    full = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    assert eps / n < np.abs(full - x).max() <= eps + 1e-6
    # The shared eps_warmup_epochs reaches it through the config.
    from tf_advnet.configs import TrainConfig
    from tf_advnet.trainers.bat import Config

    built = Config().build(_classifier(), TrainConfig(method="bat", eps=eps,
                                                      eps_warmup_epochs=2.0),
                           seed=0, steps_per_epoch=5)
    assert built.eps_warmup_steps == 10
