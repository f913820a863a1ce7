"""Tests for `tf_advnet.attacks.fgsm`: contract, variants, cleverhans."""

import numpy as np
import pytest

from cleverhans.tf2.attacks.fast_gradient_method import (
    fast_gradient_method as ch_fgm,
)
from tests.attacks import _models
from tf_advnet.attacks import targets
from tf_advnet.attacks.fgsm import fgm
from tf_advnet.attacks.fgsm import fgsm
from tf_advnet.attacks._common import attack_graph
from tf_advnet.attacks.pgd import pgd


class TestFGSM(_models.AttackProperties):
    norm = "inf"
    eps = 0.05
    targeted_threshold = 0.9
    graph = attack_graph

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        del seed  # Deterministic attack.
        return fgsm(model_fn, x, y, eps=eps, targeted=targeted,
                    clip_min=clip_min, clip_max=clip_max)


class TestFGML2(TestFGSM):
    norm = "2"
    eps = 0.5
    success_eps = 1.5

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        del seed  # Deterministic attack.
        return fgm(model_fn, x, y, eps=eps, norm=self.norm,
                   targeted=targeted, clip_min=clip_min, clip_max=clip_max)


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.05), (2, 0.5)])
@pytest.mark.parametrize("use_labels", [True, False])
@pytest.mark.parametrize("targeted", [False, True])
def test_matches_cleverhans(norm, eps, use_labels, targeted):
    # Exact up to 1e-6 (observed: 0 for L-inf, <= 6e-8 for L2, where our
    # projection back onto the ball adds one rounding).
    if targeted and not use_labels:
        pytest.skip("targeted attacks need labels")
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(128, seed=2)
    y = None
    if use_labels:
        y = np.asarray(model_fn(x)).argmax(axis=1)
        if targeted:
            y = np.asarray(targets.least_likely(model_fn(x)))
    ours = fgm(model_fn, x, y, eps=eps, norm=norm, targeted=targeted)
    ref = ch_fgm(model_fn, x, eps, norm, clip_min=0.0, clip_max=1.0, y=y,
                 targeted=targeted)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0,
                               atol=1e-6)


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_equals_one_step_pgd_without_random_start(norm, eps):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=3)
    a = fgm(model_fn, x, eps=eps, norm=norm)
    b = pgd(model_fn, x, eps=eps, step_size=eps, num_steps=1, norm=norm,
            random_start=False)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fgsm_is_fgm_with_inf_norm():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(16, seed=4)
    np.testing.assert_array_equal(
        np.asarray(fgsm(model_fn, x, eps=0.1)),
        np.asarray(fgm(model_fn, x, eps=0.1, norm=np.inf)),
    )


def test_least_likely_step_moves_towards_least_likely_class():
    # EAT step-LL example (Wang & Yu Sec. 4.4): x - eps sign(grad CE(f(x), y_LL)).
    model_fn = _models.logits_fn(_models.shared("linear_model"))
    x = _models.images(32, seed=5)
    logits = model_fn(x)
    y_ll = np.asarray(targets.least_likely(logits))
    out = fgsm(model_fn, x, y_ll, eps=0.2, targeted=True)
    before = np.asarray(logits)[np.arange(32), y_ll]
    after = np.asarray(model_fn(out))[np.arange(32), y_ll]
    assert np.all(after > before)


def test_most_confusing_targeted_step_leaves_true_class():
    # BAT's MC-targeted step (Eq. 24) on the fixed linear model.
    model_fn = _models.logits_fn(_models.shared("linear_model"))
    x = _models.images(32, seed=6)
    logits = model_fn(x)
    y = np.asarray(logits).argmax(axis=1)
    t = targets.most_confusing(logits, y)
    out = fgsm(model_fn, x, t, eps=0.2, targeted=True)
    assert np.mean(np.asarray(model_fn(out)).argmax(axis=1) != y) >= 0.9


def test_trivial_model_step_is_known_in_closed_form():
    # z_0 - z_1 = 2 (sum x - d/2): the CE gradient of class 0 is negative in
    # every pixel, so FGSM subtracts eps everywhere (then clips).
    model_fn = _models.logits_fn(_models.shared("trivial_model"))
    x = _models.images(8, seed=7)
    out = fgsm(model_fn, x, np.zeros(8, "int64"), eps=0.1)
    np.testing.assert_allclose(np.asarray(out), np.clip(x - 0.1, 0, 1),
                               atol=1e-7)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(eps=-1.0), "eps"),
        (dict(eps=float("nan")), "eps"),
        (dict(eps=0.1, norm=1), "norm"),
        (dict(eps=0.1, loss="hinge"), "loss"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    with pytest.raises(ValueError, match=name):
        fgm(model_fn, _models.images(4), **kwargs)
