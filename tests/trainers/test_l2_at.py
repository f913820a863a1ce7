"""L2 baselines of the PGN paper (`ATPGN/ATPGN`, `main.py`): PGD-AT and FGM-AT in the L2 norm."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.trainers._mirrored import assert_mirrored_matches_single
from tests.trainers._toy import assert_step_descends_ce_at, toy_classifier, toy_data
from tf_advnet.attacks.fgsm import fgm
from tf_advnet.attacks.pgd import pgd
from tf_advnet.errors import UserError
from tf_advnet.trainers import PGDATTrainer, build_trainer
from tf_advnet.trainers.pgd_at import fgm_at_trainer


def _classifier(seed=0):
    return toy_classifier(seed, activation='relu')


def _data(n=16, seed=0):
    return toy_data(n, seed)


def _l2(d):
    return np.sqrt((d.reshape(len(d), -1) ** 2).sum(1))


def test_defaults_keep_linf_and_l2_step_is_eps_over_6():
    assert PGDATTrainer(_classifier(), eps=0.3).step_size == pytest.approx(0.075)
    assert PGDATTrainer(_classifier(), eps=0.3).norm == "inf"
    l2 = PGDATTrainer(_classifier(), eps=0.6, norm="2")
    assert (l2.norm, l2.step_size) == ("2", pytest.approx(0.1))
    assert PGDATTrainer(_classifier(), eps=0.6, norm=2).norm == "2"
    assert PGDATTrainer(_classifier(), eps=2.0, norm="l2").eps == 2.0  # L2 may exceed 1


def test_l2_pgd_craft_is_l2_pgd():
    x, y = _data()
    clf = _classifier()
    trainer = PGDATTrainer(clf, eps=0.5, num_steps=10, norm="2", random_start=False)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    fn = lambda v: clf(v, training=False)  # noqa: E731
    expected = pgd(fn, x, y, eps=0.5, step_size=0.5 / 6, num_steps=10, norm="2",
                   random_start=False).numpy()
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)
    norms = _l2(x_adv - x)
    assert np.all(norms <= 0.5 + 1e-5) and norms.max() > 0.4
    assert np.abs(x_adv - x).max() < 0.5  # not an L-inf box of radius eps
    # With a random start the budget still holds.
    rand = PGDATTrainer(clf, eps=0.5, num_steps=2, norm="2")
    rand.compile(optimizer=keras.optimizers.SGD(0.1))
    assert np.all(_l2(rand.craft(tf.constant(x), tf.constant(y)).numpy() - x) <= 0.5 + 1e-5)


def test_fgm_at_trains_on_one_l2_gradient_step():
    x, y = _data()
    clf = _classifier()
    trainer = fgm_at_trainer(clf, eps=0.5)
    trainer.compile(optimizer=keras.optimizers.SGD(1.0))
    assert (trainer.num_steps, trainer.step_size, trainer.random_start) == (1, 0.5, False)
    x_adv = trainer.craft(tf.constant(x), tf.constant(y)).numpy()
    fn = lambda v: clf(v, training=False)  # noqa: E731
    np.testing.assert_allclose(x_adv, fgm(fn, x, y, eps=0.5, norm=2).numpy(), atol=1e-6)
    assert_step_descends_ce_at(trainer, clf, x, y, x_adv)


def test_bad_norm_and_budget_are_one_line_user_errors():
    with pytest.raises(UserError, match="^norm must be one of inf, 2; got '1'$") as err:
        PGDATTrainer(_classifier(), eps=0.1, norm="1")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=r"^eps must be in \[0, 1\], got 1.5$"):
        PGDATTrainer(_classifier(), eps=1.5)
    with pytest.raises(UserError, match="^eps must be >= 0, got -0.1$"):
        PGDATTrainer(_classifier(), eps=-0.1, norm="2")


def test_build_trainer_passes_norm():
    trainer = build_trainer("pgd_at", _classifier(), eps=0.2, norm="2")
    assert trainer.norm == "2" and trainer.step_size == pytest.approx(0.2 / 6)


def test_mirrored_two_cpus_equals_one_device(two_cpu_strategy):
    x, y = _data(32)

    def make():
        clf = _classifier(1)
        trainer = PGDATTrainer(clf, eps=0.5, num_steps=2, norm="2", random_start=False,
                               weight_decay=1e-3)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return trainer, clf

    assert_mirrored_matches_single(two_cpu_strategy, make, x, y, batch_size=16, epochs=1)
