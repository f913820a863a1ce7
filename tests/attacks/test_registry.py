"""Attack specs resolve to the right attack, and bad specs give one clear line."""

import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks.registry import parse_attack, parse_attacks, split_specs
from tf_advnet.errors import UserError


def test_split_specs_keeps_options_together():
    assert split_specs("fgsm,pgd10:step=eps/4,restarts=2,cw100") == [
        "fgsm", "pgd10:step=eps/4,restarts=2", "cw100"]


@pytest.mark.parametrize("spec,family,norm,steps,bounded", [
    ("fgsm", "fgsm", "inf", 1, True),
    ("pgd10", "pgd", "inf", 10, True),
    ("pgd20_l2:eps=1.5", "pgd", "2", 20, True),
    ("cwpgd100:kappa=50", "cwpgd", "inf", 100, True),
    ("mim10", "mim", "inf", 10, True),
    ("cw100", "cw", "2", 100, False),
    ("cw100_inf", "cw", "inf", 100, True),
    ("cw1000_inf:bs=1,tau=eps/10", "cw", "inf", 1000, True),
    ("deepfool", "deepfool", "2", 50, False),
    ("deepfool_inf:max_iter=5", "deepfool", "inf", 5, False),
    ("noise", "noise", "inf", 0, True),
])
def test_parse(spec, family, norm, steps, bounded):
    a = parse_attack(spec, eps=0.1)
    assert (a.family, a.norm, a.num_steps, a.bounded) == (family, norm, steps, bounded)


def test_step_expression_and_default_rule():
    # Default PGD step is Madry's 2.5 * eps / K, i.e. eps/4 at K = 10.
    model_fn = _models.logits_fn(_models.trivial_model())
    x = tf.constant(_models.images(8, seed=3))
    y = tf.argmax(model_fn(x), -1)
    a = parse_attack("pgd1:random_start=0", eps=0.1)
    # One step of 2.5 * eps, projected, moves pixels by exactly eps (or to a bound).
    delta = np.abs(a(model_fn, x, y).numpy() - x.numpy())
    assert np.isclose(delta.max(), 0.1, atol=1e-6)
    b = parse_attack("pgd1:random_start=0,step=eps/100", eps=0.1)
    delta_b = np.abs(b(model_fn, x, y).numpy() - x.numpy())
    assert delta_b.max() <= 0.001 + 1e-6


def test_bounded_attacks_stay_in_ball():
    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = tf.constant(_models.images(16, seed=1))
    y = tf.argmax(model_fn(x), -1)
    for a in parse_attacks("fgsm,pgd5,cwpgd5,mim5,noise", eps=0.05):
        d = a(model_fn, x, y, seed=0).numpy() - x.numpy()
        assert np.abs(d).max() <= 0.05 + 1e-6, a.spec


def test_cw_inf_spec_is_carlini_wagner_linf():
    from tf_advnet.attacks.cw_linf import carlini_wagner_linf

    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = tf.constant(_models.images(8, seed=2))
    y = tf.argmax(model_fn(x), -1)
    a = parse_attack("cw20_inf:bs=2,lr=0.01,const=0.5,tau=eps/4,max_const=64,"
                     "conf=0.1", eps=0.04)
    assert a.eps == 0.04 and a.bounded
    expected = carlini_wagner_linf(
        model_fn, x, y, eps=0.04, max_iterations=20, binary_search_steps=2,
        learning_rate=0.01, initial_const=0.5, tau=0.01, max_const=64.0,
        confidence=0.1)
    np.testing.assert_array_equal(a(model_fn, x, y).numpy(), expected.numpy())
    assert np.abs(expected.numpy() - x.numpy()).max() <= 0.04 + 1e-6


@pytest.mark.parametrize("spec,needle", [
    ("bogus", "unknown attack"),
    ("cw100_l2", "cw<K>_inf is L-inf"),
    ("cw100:tau=0.1", "option 'tau' is not valid"),
    ("pgd", "needs a step count"),
    ("fgsm3", "takes no step count"),
    ("pgd10:foo=1", "option 'foo' is not valid"),
    ("pgd10:step=abc", "not a number"),
    ("pgd10_l2", "needs a budget"),
])
def test_bad_specs(spec, needle):
    with pytest.raises(UserError, match=needle):
        parse_attack(spec, eps=0.1)


@pytest.mark.parametrize("spec,norm,queries,p_init,eps", [
    ("square1000", "inf", 1000, None, 0.1),
    ("square500_l2:eps=1.0,p=0.2", "2", 500, 0.2, 1.0),
    ("square50:p=eps/2", "inf", 50, 0.05, 0.1),
])
def test_square_spec(spec, norm, queries, p_init, eps):
    from tf_advnet.attacks.square import square

    a = parse_attack(spec, eps=0.1)
    assert (a.family, a.norm, a.num_steps, a.bounded, a.eps) == (
        "square", norm, queries, True, eps)
    # The spec is `square(eps, max_queries=K, norm, p_init=p)`, checked on a
    # cheap budget with the same options.
    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = tf.constant(_models.images(8, seed=4))
    y = tf.argmax(model_fn(x), -1)
    small = parse_attack(spec.replace(str(queries), "5", 1), eps=0.1)
    expected = square(model_fn, x, y, eps=eps, max_queries=5, norm=norm,
                      p_init=p_init, seed=0)
    out = small(model_fn, x, y, seed=0).numpy()
    np.testing.assert_array_equal(out, expected.numpy())
    assert np.abs(out - x.numpy()).max() <= eps + 1e-6


@pytest.mark.parametrize("spec,needle", [
    ("square", "needs a step count"),
    ("square100:p=0", "0 < p <= 1"),
    ("square100:p=2", "0 < p <= 1"),
    ("square100:step=0.1", "option 'step' is not valid"),
    ("square100_l2", "needs a budget"),
])
def test_bad_square_specs(spec, needle):
    with pytest.raises(UserError, match=needle):
        parse_attack(spec, eps=0.1)


@pytest.mark.parametrize("spec,family,norm,steps", [
    ("apgd100", "apgd", "inf", 100),
    ("apgddlr20_l2:eps=0.5", "apgddlr", "2", 20),
    ("apgdt10:targets=3,restarts=2,rho=0.5", "apgdt", "inf", 10),
])
def test_parse_apgd(spec, family, norm, steps):
    a = parse_attack(spec, eps=0.1)
    assert (a.family, a.norm, a.num_steps, a.bounded) == (family, norm, steps, True)


def test_apgdt_spec_is_apgd_targeted_dlr():
    from tf_advnet.attacks.apgd import apgd

    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = tf.constant(_models.images(8, seed=2))
    y = tf.argmax(model_fn(x), -1)
    a = parse_attack("apgdt5_l2:targets=2,restarts=2,rho=0.5", eps=0.1, eps_l2=0.5)
    assert a.eps == 0.5
    expected = apgd(model_fn, x, y, eps=0.5, num_steps=5, norm="2", loss="dlr",
                    targeted=True, num_targets=2, restarts=2, rho=0.5, seed=3)
    out = a(model_fn, x, y, seed=3).numpy()
    np.testing.assert_array_equal(out, expected.numpy())
    assert np.sqrt(((out - x.numpy()) ** 2).sum(axis=(1, 2, 3))).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("spec,needle", [
    ("apgd", "needs a step count"),
    ("apgd10:targets=3", "option 'targets' is not valid"),
    ("apgddlr10:step=0.1", "option 'step' is not valid"),
    ("apgdt10:rho=2", "rho"),
    ("apgd10:restarts=0", "restarts"),
    ("apgdt10_l2", "needs a budget"),
])
def test_bad_apgd_specs(spec, needle):
    with pytest.raises(UserError, match=needle):
        parse_attack(spec, eps=0.1)


def test_strong_alias_is_autoattacks_standard_version():
    # autoattack/autoattack.py, set_version('standard'): apgd-ce, apgd-t, fab-t,
    # square, in that order, 9 target classes each, 5,000 Square queries.
    attacks = parse_attacks("fgsm,strong", eps=0.1)
    assert [a.spec for a in attacks] == ["fgsm", "apgd100", "apgdt100:targets=9",
                                         "fabt100:targets=9", "square5000"]
    assert [a.family for a in attacks[1:]] == ["apgd", "apgdt", "fabt", "square"]
    assert all(a.bounded and a.eps == 0.1 for a in attacks)


def test_plus_alias_is_autoattacks_plus_version():
    # set_version('plus'): apgd-ce, apgd-dlr, fab (5 restarts each), square,
    # apgd-t, fab-t.
    attacks = parse_attacks("plus", eps=0.1)
    assert [a.family for a in attacks] == ["apgd", "apgddlr", "fab", "square", "apgdt",
                                           "fabt"]
    assert [a.num_steps for a in attacks] == [100, 100, 100, 5000, 100, 100]
    assert [a.spec for a in attacks][:3] == ["apgd100:restarts=5", "apgddlr100:restarts=5",
                                             "fab100:restarts=5"]
    assert all(a.bounded and a.eps == 0.1 for a in attacks)
    l2 = parse_attacks("strong", eps=0.1, eps_l2=0.5)
    assert all(a.eps == 0.1 and a.norm == "inf" for a in l2)


@pytest.mark.parametrize("spec,family,norm,steps", [
    ("fab100", "fab", "inf", 100),
    ("fab20_l2:eps=0.5,restarts=3", "fab", "2", 20),
    ("fabt10:targets=3", "fabt", "inf", 10),
])
def test_parse_fab(spec, family, norm, steps):
    a = parse_attack(spec, eps=0.1)
    assert (a.family, a.norm, a.num_steps, a.bounded) == (family, norm, steps, True)


def test_fabt_spec_is_fab_targeted():
    from tf_advnet.attacks.fab import fab

    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = tf.constant(_models.images(8, seed=2))
    y = tf.argmax(model_fn(x), -1)
    a = parse_attack("fabt5_l2:targets=2,restarts=2", eps=0.1, eps_l2=0.3)
    assert a.eps == 0.3
    expected = fab(model_fn, x, y, eps=0.3, num_steps=5, norm="2", targeted=True,
                   num_targets=2, restarts=2, seed=3)
    out = a(model_fn, x, y, seed=3).numpy()
    np.testing.assert_array_equal(out, expected.numpy())
    assert np.sqrt(((out - x.numpy()) ** 2).sum(axis=(1, 2, 3))).max() <= 0.3 + 1e-5


@pytest.mark.parametrize("spec,needle", [
    ("fab", "needs a step count"),
    ("fab10:targets=3", "option 'targets' is not valid"),
    ("fabt10:step=0.1", "option 'step' is not valid"),
    ("fabt10:targets=0", "targets"),
    ("fab10:restarts=0", "restarts"),
    ("fab10_l2", "needs a budget"),
])
def test_bad_fab_specs(spec, needle):
    with pytest.raises(UserError, match=needle):
        parse_attack(spec, eps=0.1)
