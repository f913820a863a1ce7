"""The weights' exponential moving average every trainer can keep
(`ClassifierTrainer.enable_ema`, `TrainConfig.ema_decay`): the average by hand over
several steps, the swap, the config route, the per-epoch curve on the EMA weights,
and keys of runs without it unchanged."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._toy import assert_ema_step_and_swap, toy_classifier, toy_data
from tf_advnet.errors import UserError


def _standard(decay):
    from tf_advnet.trainers import StandardTrainer

    trainer = StandardTrainer(toy_classifier()).enable_ema(decay)
    trainer.compile(optimizer=keras.optimizers.SGD(0.5))
    return trainer


def test_average_over_three_steps_by_hand_and_swap():
    x, y = toy_data(32)
    trainer = _standard(0.8)
    live = [[w.numpy().copy() for w in trainer.ema_variables()]]
    for i in range(3):
        trainer.train_step((tf.constant(x[8 * i:8 * i + 8]), tf.constant(y[8 * i:8 * i + 8])))
        live.append([w.numpy().copy() for w in trainer.ema_variables()])
    # shadow_3 = 0.8^3 w0 + 0.2 (0.8^2 w1 + 0.8 w2 + w3)
    for k, shadow in enumerate(trainer.ema_weights):
        want = (0.8 ** 3 * live[0][k]
                + 0.2 * (0.8 ** 2 * live[1][k] + 0.8 * live[2][k] + live[3][k]))
        np.testing.assert_allclose(shadow.numpy(), want, rtol=1e-5, atol=1e-7)


def test_swap_exchanges_live_and_average():
    x, y = toy_data(16)
    assert_ema_step_and_swap(_standard(0.5), x, y, 0.5)


def test_config_route_every_method_and_one_line_errors():
    from tf_advnet.configs import override, preset
    from tf_advnet.trainers import build_from_config

    for method in ("standard", "pgd_at", "bat"):
        cfg = override(preset("cpu", "synthetic", method), ema_decay=0.99)
        trainer = build_from_config(cfg.validate().train, toy_classifier())
        assert trainer.ema_decay == 0.99 and len(trainer.ema_weights) == 4
    cfg = override(preset("cpu", "synthetic", "pgn"), ema_decay=0.99,
                   trainer={"ema_decay": 0.9})
    with pytest.raises(UserError, match="ema_decay is set twice"):
        build_from_config(cfg.validate().train, toy_classifier())
    for bad, msg in ((1.0, "--ema_decay=1 is out of range"),
                     (1.5, "--ema_decay=1.5 is out of range")):
        with pytest.raises(UserError, match=msg):
            override(preset("cpu", "synthetic", "standard"), ema_decay=bad).validate()
    with pytest.raises(UserError, match="keeps no EMA"):
        _standard(0.5).__class__(toy_classifier()).swap_ema_weights()


def test_curve_is_measured_on_the_ema_weights_and_leaves_the_live_ones():
    from tf_advnet.attacks.registry import parse_attack
    from tf_advnet.eval.robustness import predict, run_attack
    from tf_advnet.trainers.callbacks import RobustAccuracy

    x, y = toy_data(48)
    trainer = _standard(0.9)
    trainer.fit(x, y, batch_size=16, epochs=1, verbose=0)
    attack = parse_attack("pgd2", eps=0.1)
    cb = RobustAccuracy(x, y, attack, name="val_pgd2_acc", batch_size=48)
    cb.set_model(trainer)
    live = [w.numpy().copy() for w in trainer.ema_variables()]
    logs = {}
    cb.on_epoch_end(0, logs)
    for w, b in zip(trainer.ema_variables(), live):
        np.testing.assert_array_equal(w.numpy(), b)
    trainer.swap_ema_weights()
    fn = trainer.classifier_fn
    want = np.mean(predict(fn, run_attack(attack, fn, x, y, batch_size=48, seed=0), 48) == y)
    assert logs["val_pgd2_acc"] == pytest.approx(want)


def test_keys_of_runs_without_an_ema_are_unchanged():
    """ema_decay was added after runs were stored: at its default it stays out of
    every key, so they are reused; set, it changes the key."""
    from tf_advnet.configs import key_dict, preset, to_dict
    from tf_advnet.store import KEY_NEUTRAL, fingerprint

    cfg = preset("cpu", "fashion_mnist", "pgd_at")
    before = to_dict(cfg)
    assert before["train"].pop("ema_decay") is None
    assert key_dict(cfg) == before

    def made(with_field):  # one dataclass "C", before and after a field was added
        fields = [("x", int)] + ([("new", object, dataclasses.field(
            default=None, metadata={KEY_NEUTRAL: True}))] if with_field else [])
        return dataclasses.make_dataclass("C", fields)

    assert fingerprint(made(False)(1)) == fingerprint(made(True)(1))
    assert fingerprint(made(True)(1, 0.5)) != fingerprint(made(False)(1))
    ema = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ema_decay=0.99))
    assert fingerprint(key_dict(ema)) != fingerprint(key_dict(cfg))
    assert fingerprint(ema) != fingerprint(cfg)


def test_average_survives_a_backup(tmp_path):
    """BackupAndRestore saves and loads the trainer's weights: the average with
    them, so a resumed run goes on averaging where it stopped."""
    x, y = toy_data(16)
    first = _standard(0.5)
    first.fit(x, y, batch_size=8, epochs=1, verbose=0)
    first(x[:1])
    first.save_weights(str(tmp_path / "backup.weights.h5"))
    again = _standard(0.5)
    again(x[:1])
    again.load_weights(str(tmp_path / "backup.weights.h5"))
    for a, b in zip(first.ema_weights + first.ema_variables(),
                    again.ema_weights + again.ema_variables()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(first.ema_weights[0].numpy(), first.ema_variables()[0].numpy())


def test_averaged_puts_the_ema_live_for_the_block_only():
    from tf_advnet.trainers import StandardTrainer

    x, y = toy_data(16)
    trainer = _standard(0.5)
    trainer.train_step((tf.constant(x), tf.constant(y)))
    live = [w.numpy().copy() for w in trainer.ema_variables()]
    shadows = [s.numpy().copy() for s in trainer.ema_weights]
    with trainer.averaged():
        for w, s in zip(trainer.ema_variables(), shadows):
            np.testing.assert_array_equal(w.numpy(), s)
    for w, b in zip(trainer.ema_variables(), live):
        np.testing.assert_array_equal(w.numpy(), b)
    plain = StandardTrainer(toy_classifier())  # no EMA: the live weights stay
    before = [w.numpy().copy() for w in plain.ema_variables()]
    with plain.averaged():
        for w, b in zip(plain.ema_variables(), before):
            np.testing.assert_array_equal(w.numpy(), b)
