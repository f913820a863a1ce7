"""Tests for `tf_advnet.attacks.mim`: contract and cleverhans agreement."""

import numpy as np
import pytest

from cleverhans.tf2.attacks.momentum_iterative_method import (
    momentum_iterative_method as ch_mim,
)
from tests.attacks import _models
from tf_advnet.attacks.mim import mim
from tf_advnet.attacks._common import attack_graph
from tf_advnet.attacks.pgd import pgd


class TestMIMLinf(_models.AttackProperties):
    norm = "inf"
    eps = 0.05
    graph = attack_graph

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        return mim(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=5,
                   norm=self.norm, targeted=targeted, seed=seed,
                   clip_min=clip_min, clip_max=clip_max)


class TestMIML2(TestMIMLinf):
    norm = "2"
    eps = 0.5
    success_eps = 1.5


class TestMIMRandomStart(TestMIMLinf):
    randomized = True

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        return mim(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=5,
                   norm=self.norm, targeted=targeted, random_start=True,
                   seed=seed, clip_min=clip_min, clip_max=clip_max)


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.05), (2, 0.5)])
@pytest.mark.parametrize("use_labels", [True, False])
@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_matches_cleverhans(norm, eps, use_labels, decay):
    # Same iterates up to round-off (observed: 0 for L-inf, <= 2.4e-7 for
    # L2): gradient / mean|gradient| accumulation, step, L2 projection, clip.
    # Cleverhans' MIM keeps sanity_checks=True by default; with both clip
    # bounds given its asserts are two same-shape tensors, which NumPy >= 1.24
    # still accepts, so no override is needed here (unlike PGD/BIM/Madry).
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(128, seed=9)
    y = np.asarray(model_fn(x)).argmax(axis=1) if use_labels else None
    ours = mim(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=10,
               decay=decay, norm=norm)
    ref = ch_mim(model_fn, x, eps, eps / 4, 10, norm, clip_min=0.0,
                 clip_max=1.0, y=y, decay_factor=decay)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0,
                               atol=1e-6)


def test_zero_decay_linf_is_pgd_without_random_start():
    # With decay 0 the momentum is the normalised gradient, whose sign is the
    # gradient's: MIM(L-inf) is then PGD(L-inf) from x.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=10)
    a = mim(model_fn, x, eps=0.05, step_size=0.01, num_steps=4, decay=0.0)
    b = pgd(model_fn, x, eps=0.05, step_size=0.01, num_steps=4,
            random_start=False)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-7)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(decay=-0.5), "decay"),
        (dict(num_steps=-2), "num_steps"),
        (dict(step_size=-1.0), "step_size"),
        (dict(norm="1"), "norm"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    args = dict(eps=0.1, step_size=0.01, num_steps=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        mim(model_fn, _models.images(4), **args)
