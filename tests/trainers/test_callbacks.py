"""TensorBoard callbacks: the learning rate each epoch used, and the generator's
perturbations as images, read back from the event files."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import toy_classifier, toy_data
from tf_advnet.trainers.callbacks import (LearningRates, PerturbationImages,
                                          perturbation_image)

SHAPE = (8, 8, 1)
EPS = 0.1


def _events(log_dir):
    """{tag: {step: summary value}} of every event file directly in log_dir."""
    out = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.setdefault(value.tag, {})[event.step] = value
    return out


def _scalar(value):
    return float(tf.make_ndarray(value.tensor))


def _images(value):
    """The PNGs of an image summary as float arrays in [0, 1]."""
    blobs = tf.make_ndarray(value.tensor)[2:]  # [width, height, png, png, ...]
    return np.stack([tf.io.decode_png(b).numpy() for b in blobs]).astype(np.float32) / 255


def test_learning_rate_of_each_epoch_in_logs_and_tensorboard(tmp_path):
    from tf_advnet.trainers import StandardTrainer

    x, y = toy_data(32)
    trainer = StandardTrainer(toy_classifier())
    # Two steps per epoch; the rate drops after step 1, so epoch 1 runs at 0.01.
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    trainer.compile(optimizer=keras.optimizers.SGD(schedule))
    hist = trainer.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[
        LearningRates(), keras.callbacks.TensorBoard(str(tmp_path))])
    np.testing.assert_allclose(hist.history["lr"], [0.1, 0.01], rtol=1e-6)
    events = _events(str(tmp_path / "train"))
    written = {step: _scalar(v) for step, v in events["epoch_lr"].items()}
    assert written.keys() == {0, 1}
    np.testing.assert_allclose([written[0], written[1]], [0.1, 0.01], rtol=1e-6)
    # Keras's own scalar is read after the epoch: already the next epoch's rate.
    assert _scalar(events["epoch_learning_rate"][0]) == pytest.approx(0.01)


def _generator_trainer(kind):
    """A tiny trainer of each generator-based kind, compiled; and its perturbation
    kwargs."""
    from tf_advnet.models.attack_generators import (advgan_discriminator,
                                                    advgan_generator, gap_generator)
    from tf_advnet.trainers import AdvNetTrainer, L2LDATrainer, PGNTrainer
    from tf_advnet.trainers.attack_generators import AdvGANTrainer, GAPTrainer

    clf = toy_classifier(seed=1)
    keras.utils.set_random_seed(2)
    sgd = keras.optimizers.SGD
    if kind == "advnet":
        from tf_advnet.models.advnet_generators import advnet_g0

        t = AdvNetTrainer(clf, advnet_g0(SHAPE, k=4), eps=EPS, g_steps=1)
        t.compile(optimizer=sgd(0.1), g_optimizer=sgd(0.05))
    elif kind == "l2lda":
        from tf_advnet.models.l2lda_generator import l2lda_generator

        t = L2LDATrainer(clf, l2lda_generator(SHAPE, 3, width=4), eps=EPS, num_steps=2)
        t.compile(optimizer=sgd(0.1), g_optimizer=sgd(0.05))
    elif kind == "pgn":
        t = PGNTrainer(clf, generator_width=4, generator_units=16)
        t.compile(optimizer=sgd(0.1), g_optimizer=sgd(0.05))
        return t, {"grad_batch_size": 16}
    elif kind == "advgan":
        t = AdvGANTrainer(clf, advgan_generator(SHAPE, width=0.5),
                          advgan_discriminator(SHAPE, width=0.5), eps=EPS)
        t.compile(g_optimizer=sgd(0.05), d_optimizer=sgd(0.02))
    else:
        t = GAPTrainer(clf, gap_generator(SHAPE, width=4, res_blocks=1, norm="instance"),
                       eps=EPS)
        t.compile(g_optimizer=sgd(0.05))
    return t, {}


@pytest.mark.parametrize("kind", ["advnet", "l2lda", "pgn", "advgan", "gap"])
def test_generator_perturbations_written_as_images(kind, tmp_path):
    x, y = toy_data(32)
    trainer, kw = _generator_trainer(kind)
    xs, ys = x[:4], y[:4]
    trainer.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[
        LearningRates(), PerturbationImages(xs, ys, str(tmp_path), **kw),
        keras.callbacks.TensorBoard(str(tmp_path))])

    train_events = _events(str(tmp_path / "train"))
    assert "epoch_lr" in train_events
    g_opt = trainer.g_optimizer
    g_key = "epoch_lr" if trainer.optimizer is g_opt else "epoch_g_lr"
    assert _scalar(train_events[g_key][0]) == pytest.approx(
        float(g_opt.learning_rate), rel=1e-6)
    if kind == "advgan":
        assert _scalar(train_events["epoch_d_lr"][0]) == pytest.approx(0.02, rel=1e-6)

    events = _events(str(tmp_path / "generator"))
    for tag in ("perturbation", "adversarial", "perturbation_linf", "perturbation_l2"):
        assert set(events[tag]) == {0, 1}, tag  # before training and after epoch 1
    # Step 1 shows the generator as trained: its perturbation on the fixed batch.
    delta = np.asarray(trainer.generated_perturbation(xs, ys, **kw))
    linf = np.abs(delta.reshape(4, -1)).max(1)
    scale = getattr(trainer, "eps", None) or linf.max()
    level = 1 / 255 + 1e-6  # 8-bit PNG (tf.summary.image truncates v * 255.5)
    np.testing.assert_allclose(_images(events["perturbation"][1]),
                               perturbation_image(delta, scale).numpy(), atol=level)
    np.testing.assert_allclose(_images(events["adversarial"][1]),
                               np.clip(xs + delta, 0, 1), atol=level)
    assert _scalar(events["perturbation_linf"][1]) == pytest.approx(linf.mean(), rel=1e-5)
    assert linf.max() > 0
    if kind != "pgn":  # budgeted generators
        assert linf.max() <= EPS + 1e-6
    # The generator changed during the epoch, and the images show it.
    assert not np.array_equal(_images(events["adversarial"][0]),
                              _images(events["adversarial"][1]))


def test_perturbation_images_needs_a_generator(tmp_path):
    from tf_advnet.trainers import StandardTrainer

    x, y = toy_data(16)
    trainer = StandardTrainer(toy_classifier())
    trainer.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="StandardTrainer has none"):
        trainer.fit(x, y, epochs=1, verbose=0,
                    callbacks=[PerturbationImages(x[:2], y[:2], str(tmp_path))])
    with pytest.raises(ValueError, match="scale"):
        PerturbationImages(x[:2], y[:2], str(tmp_path), scale=0.0)
