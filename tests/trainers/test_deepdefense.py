"""DeepDefense trainer (Yan et al. 2018): the step against a hand-computed update,
the direction of the regulariser, layer-restricted regularisation, MirroredStrategy,
fit, and the config plumbing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tf_advnet.attacks.deepfool_diff import differentiable_deepfool
from tf_advnet.configs import override, preset
from tf_advnet.errors import UserError
from tf_advnet.trainers.deepdefense import DeepDefenseTrainer, regulariser_terms

N_CLASSES = 3


def _classifier(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)),
                             keras.layers.Dense(12, activation="relu", name="h1"),
                             keras.layers.Dense(N_CLASSES, name="out")])


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 6)).astype("float32")
    y = rng.integers(0, N_CLASSES, size=n).astype("int64")
    return x, y


def _hand_grads(clf, x, y, lam, c, d, weights=None):
    """Gradients of mean CE + lam * mean R, written out from Eqs. 3 and 6."""
    fn = lambda v: clf(v, training=False)  # noqa: E731
    weights = clf.trainable_weights if weights is None else weights
    with tf.GradientTape(persistent=True) as tape:
        logits = clf(x, training=True)
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        delta = differentiable_deepfool(fn, x, y, num_iter=5, overshoot=0.02,
                                        linearize_at="sum")  # the trainer default
        r = tf.norm(tf.reshape(delta, [len(x), -1]), axis=1) / tf.norm(x, axis=1)
        correct = tf.argmax(fn(x), 1, output_type=tf.int32) == y
        reg = tf.reduce_mean(tf.where(correct, tf.exp(-c * r), tf.exp(d * r)))
        lam_reg = lam * reg
    g_ce = tape.gradient(ce, clf.trainable_weights)
    g_reg = tape.gradient(lam_reg, weights)
    return g_ce, g_reg, float(ce), float(reg), r.numpy(), correct.numpy()


def test_step_matches_hand_computed_update():
    x, y = _data()
    y = tf.constant(y, tf.int32)
    clf = _classifier()
    lam, c, d = 2.0, 3.0, 1.0
    trainer = DeepDefenseTrainer(clf, lam=lam, c=c, d=d)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    g_ce, g_reg, ce, reg, r, correct = _hand_grads(clf, x, y, lam, c, d)
    assert 0 < correct.mean() < 1  # both branches of Eq. 6 are exercised
    before = [w.numpy().copy() for w in clf.trainable_weights]
    expected = [w - 0.1 * (a + b).numpy() for w, a, b in zip(before, g_ce, g_reg)]
    logs = trainer.train_step((tf.constant(x), y))
    for w, e, b in zip(clf.trainable_weights, expected, before):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-6)
        assert not np.allclose(w.numpy(), b)
    assert set(logs) == {"loss", "ce", "reg", "rho2", "clean_acc"}
    assert float(logs["ce"]) == pytest.approx(ce, rel=1e-5)
    assert float(logs["reg"]) == pytest.approx(reg, rel=1e-5)
    assert float(logs["rho2"]) == pytest.approx(r.mean(), rel=1e-5)
    assert float(logs["loss"]) == pytest.approx(ce + lam * reg, rel=1e-5)


def test_linearize_at_reaches_deepfool():
    """The trainer's r is ||Delta|| / ||x|| of the DeepFool run it is configured for."""
    x, y = _data(16, seed=5)
    clf = _classifier(seed=3)
    fn = lambda v: clf(v, training=False)  # noqa: E731
    for linearize_at in ("overshoot", "sum"):
        trainer = DeepDefenseTrainer(clf, linearize_at=linearize_at)
        delta = differentiable_deepfool(fn, x, y, num_iter=5, overshoot=0.02,
                                        linearize_at=linearize_at)
        expected = np.linalg.norm(delta.numpy(), axis=1) / np.linalg.norm(x, axis=1)
        np.testing.assert_allclose(trainer.ratio(tf.constant(x), y).numpy(), expected,
                                   rtol=1e-5)


def test_regulariser_terms():
    r = tf.constant([0.0, 0.1, 0.2, 0.3])
    correct = tf.constant([True, True, False, False])
    np.testing.assert_allclose(regulariser_terms(r, correct, c=25.0, d=5.0).numpy(),
                               [1.0, np.exp(-2.5), np.exp(1.0), np.exp(1.5)], rtol=1e-6)


@pytest.mark.parametrize("all_correct", [True, False])
def test_regulariser_step_moves_r_the_right_way(all_correct):
    """A small descent step on lambda * reg alone raises r where the samples are
    classified correctly and lowers it where they are not."""
    x, _ = _data(32, seed=3)
    clf = _classifier(seed=2)
    pred = tf.argmax(clf(x), 1, output_type=tf.int32)
    y = pred if all_correct else (pred + 1) % N_CLASSES
    trainer = DeepDefenseTrainer(clf, lam=1.0, c=5.0, d=5.0)
    with tf.GradientTape() as tape:
        _, reg, r0, _ = trainer.losses_on(tf.constant(x), y)
    grads = tape.gradient(reg, clf.trainable_weights)
    for w, g in zip(clf.trainable_weights, grads):
        w.assign(w - 1e-3 * g)
    _, reg1, r1, _ = trainer.losses_on(tf.constant(x), y)
    assert float(reg1) < float(reg)
    if all_correct:
        assert float(tf.reduce_mean(r1)) > float(tf.reduce_mean(r0))
    else:
        assert float(tf.reduce_mean(r1)) < float(tf.reduce_mean(r0))


def test_regularized_layers_restricts_the_regulariser_gradient():
    x, y = _data()
    y = tf.constant(y, tf.int32)
    clf = _classifier()
    lam, c, d = 2.0, 3.0, 1.0
    trainer = DeepDefenseTrainer(clf, lam=lam, c=c, d=d, regularized_layers="h1")
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    h1 = clf.get_layer("h1").trainable_weights
    g_ce, g_reg_h1, *_ = _hand_grads(clf, x, y, lam, c, d, weights=h1)
    before = [w.numpy().copy() for w in clf.trainable_weights]
    trainer.train_step((tf.constant(x), y))
    reg_by_id = {id(v): g for v, g in zip(h1, g_reg_h1)}
    for w, b, g in zip(clf.trainable_weights, before, g_ce):
        expected = b - 0.1 * (g.numpy() + (reg_by_id[id(w)].numpy()
                                           if id(w) in reg_by_id else 0.0))
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(UserError, match="^regularized_layers: 'nope' is not a layer"):
        DeepDefenseTrainer(clf, regularized_layers=["nope"])


def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy):
    def make():
        clf = _classifier(seed=1)
        trainer = DeepDefenseTrainer(clf, lam=2.0, c=5.0, d=5.0, weight_decay=1e-3)
        trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        return trainer, clf

    assert_mirrored_matches_single(two_cpu_strategy, make, *_data(32, seed=4))


def test_fit_logs_finite_metrics():
    x, y = _data(64)
    trainer = DeepDefenseTrainer(_classifier(), lam=1.0, c=5.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    hist = trainer.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    assert {"loss", "ce", "reg", "rho2", "clean_acc", "val_clean_acc"} <= set(hist.history)
    assert all(np.all(np.isfinite(v)) for v in hist.history.values())
    assert all(v > 0 for v in hist.history["rho2"])


@pytest.mark.parametrize("kwargs,message", [
    ({"lam": -1.0}, "lam must be >= 0, got -1"),
    ({"c": 0.0}, "c must be > 0, got 0"),
    ({"num_iter": 0}, "num_iter must be >= 1, got 0"),
    ({"linearize_at": "x"}, "linearize_at must be one of overshoot, sum; got 'x'")])
def test_bad_hyper_parameters(kwargs, message):
    with pytest.raises(UserError) as err:
        DeepDefenseTrainer(_classifier(), **kwargs)
    assert str(err.value) == message


def test_config_builds_the_trainer():
    from tf_advnet.pipelines.train import build_trainer

    cfg = override(preset("cpu", "synthetic", "deepdefense"), trainer=dict(
        lam=5.0, c=10.0, d=2.0, num_iter=3)).validate()
    trainer = build_trainer(cfg, _classifier())
    assert isinstance(trainer, DeepDefenseTrainer)
    assert (trainer.lam, trainer.c, trainer.d, trainer.num_iter) == (5.0, 10.0, 2.0, 3)
    with pytest.raises(UserError, match=r"^trainer\.c must be > 0, got -1$"):
        override(cfg, trainer={"c": -1.0}).validate()


def test_default_linearises_at_the_sum_of_the_steps_like_the_reference():
    """The official code linearises at x + sum(r) (`inputs_perturbed`), the overshoot
    entering only the stop test and Delta: the trainer's and its config's default."""
    from tf_advnet.configs import TrainConfig
    from tf_advnet.trainers.deepdefense import Config

    assert DeepDefenseTrainer(_classifier()).linearize_at == "sum"
    assert Config().linearize_at == "sum"
    trainer = Config(linearize_at="overshoot").build(
        _classifier(), TrainConfig(method="deepdefense"), seed=0, steps_per_epoch=1)
    assert trainer.linearize_at == "overshoot"


def test_input_units_put_the_training_mean_and_0_255_scale_inside_the_model():
    """model.input_units="pixel_mean_255": the network sees (x - mean_train) * 255 (the
    code's MNIST units) while the model still takes [0, 1] pixels; the regulariser's
    ||x|| then subtracts the same mean (its `input_mean`)."""
    from tf_advnet.configs import ExperimentConfig
    from tf_advnet.configs.base import ModelConfig, TrainConfig
    from tf_advnet.errors import UserError
    from tf_advnet.pipelines.train import build_classifier

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 28, 28, 1)).astype("float32")
    cfg = ExperimentConfig(model=ModelConfig(name="deepdefense_mlp",
                                             input_units="pixel_mean_255"),
                           train=TrainConfig(method="deepdefense")).validate()
    clf = build_classifier(cfg, (28, 28, 1), 10, x)
    pre = keras.Model(clf.inputs, clf.get_layer("preprocess").output)
    np.testing.assert_allclose(pre(x[:3]).numpy(), (x[:3] - x.mean(0)) * 255,
                               rtol=1e-5, atol=1e-3)
    trainer = cfg.train.trainer.build(clf, cfg.train, seed=0, steps_per_epoch=1)
    np.testing.assert_allclose(np.asarray(trainer.input_mean), x.mean(0), rtol=1e-6)
    with pytest.raises(UserError, match="needs the training images"):
        build_classifier(cfg, (28, 28, 1), 10)
    other = ExperimentConfig(model=ModelConfig(name="small_cnn",
                                               input_units="pixel_mean_255"))
    with pytest.raises(UserError, match="--input_units: model 'small_cnn' takes"):
        build_classifier(other, (28, 28, 1), 10, x)
    plain = build_classifier(ExperimentConfig(model=ModelConfig(name="deepdefense_mlp")),
                             (28, 28, 1), 10, x)
    assert cfg.train.trainer.build(plain, cfg.train, seed=0,
                                   steps_per_epoch=1).input_mean is None
