"""Tests for `tf_advnet.attacks.pgd`: contract, options, cleverhans."""

import numpy as np
import pytest
import tensorflow as tf

from cleverhans.tf2.attacks.projected_gradient_descent import (
    projected_gradient_descent as ch_pgd,
)
from tests.attacks import _models
from tf_advnet.attacks import losses
from tf_advnet.attacks._common import attack_graph
from tf_advnet.attacks.pgd import pgd


def _acc(model_fn, x, y):
    return float(np.mean(np.asarray(model_fn(x)).argmax(axis=1) == y))


class TestPGDLinf(_models.AttackProperties):
    norm = "inf"
    eps = 0.05
    success_eps = 0.2
    randomized = True
    graph = attack_graph

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        return pgd(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=5,
                   norm=self.norm, targeted=targeted, seed=seed,
                   clip_min=clip_min, clip_max=clip_max)


class TestPGDL2(TestPGDLinf):
    norm = "2"
    eps = 0.5
    success_eps = 1.5


class TestPGDRestartsKeepBest(TestPGDLinf):
    """The options keep the contract too."""

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        return pgd(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=5,
                   norm=self.norm, targeted=targeted, seed=seed, restarts=2,
                   keep_best=True, clip_min=clip_min, clip_max=clip_max)


class TestPGDMarginL2(TestPGDL2):
    """C&W margin loss (BAT's CW-k uses it with kappa = 50)."""

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        return pgd(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=5,
                   norm=self.norm, loss="cw", kappa=50.0, targeted=targeted,
                   seed=seed, clip_min=clip_min, clip_max=clip_max)


# Cleverhans 4.0.0 agreement --------------------------------------------------


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.05), (2, 0.5)])
@pytest.mark.parametrize("use_labels", [True, False])
def test_matches_cleverhans_without_random_start(norm, eps, use_labels):
    # Same iterates up to float round-off: our step mirrors cleverhans'
    # FGM-then-project-then-clip order, including its L2 formulas
    # sqrt(max(1e-12, sum g^2)). Observed max difference: 0 (L-inf),
    # <= 2.4e-7 (L2). Cleverhans asserts eps_iter <= eps.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(128, seed=1)
    y = np.asarray(model_fn(x)).argmax(axis=1) if use_labels else None
    ours = pgd(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=10,
               norm=norm, random_start=False)
    ref = ch_pgd(model_fn, x, eps, eps / 4, 10, norm, clip_min=0.0,
                 clip_max=1.0, y=y, rand_init=False)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0,
                               atol=1e-6)


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.03), (2, 0.2)])
def test_random_start_matches_cleverhans_accuracy(norm, eps):
    # Random starts differ (our stateless RNG vs cleverhans' global RNG) but
    # follow the same law: uniform in the L-inf box, uniform in the L2 ball
    # (cleverhans 4.0.0's random_lp_vector). Adversarial accuracy agrees
    # within 3 points on 400 images (observed <= 1 point; accuracy ~45-65%,
    # so the comparison is not trivially 0 or 100%).
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(400, seed=3)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    ours = pgd(model_fn, x, y, eps=eps, step_size=eps / 4, num_steps=10,
               norm=norm, seed=0)
    tf.random.set_seed(0)
    ref = ch_pgd(model_fn, x, eps, eps / 4, 10, norm, clip_min=0.0,
                 clip_max=1.0, y=y, rand_init=True)
    acc_ours, acc_ref = _acc(model_fn, ours, y), _acc(model_fn, ref, y)
    assert 0.2 < acc_ref < 0.8
    assert abs(acc_ours - acc_ref) <= 0.03, (acc_ours, acc_ref)


# Options ---------------------------------------------------------------------


def _objective(model_fn, x, y, **kwargs):
    return np.asarray(losses.objective(model_fn(x), y, **kwargs))


def test_keep_best_returns_highest_loss_iterate():
    # The k-step PGD with the same seed is the k-th iterate of the K-step run
    # (same random start, deterministic steps), so keep_best must return, per
    # example, the max of the loss over k = 0..K.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=4)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    kwargs = dict(eps=0.1, step_size=0.06, norm="inf", seed=7)
    per_k = np.stack([
        _objective(model_fn, pgd(model_fn, x, y, num_steps=k, **kwargs), y)
        for k in range(5)
    ])
    best = pgd(model_fn, x, y, num_steps=4, keep_best=True, **kwargs)
    np.testing.assert_allclose(_objective(model_fn, best, y),
                               per_k.max(axis=0), rtol=1e-5, atol=1e-6)
    assert np.all(_objective(model_fn, best, y) >= per_k[-1] - 1e-6)


def test_restarts_keep_first_fooling_restart():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(200, seed=5)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    kwargs = dict(eps=0.02, step_size=0.005, num_steps=5, seed=11)
    single = np.asarray(pgd(model_fn, x, y, **kwargs))
    multi = np.asarray(pgd(model_fn, x, y, restarts=4, **kwargs))
    fooled_single = np.asarray(model_fn(single)).argmax(axis=1) != y
    fooled_multi = np.asarray(model_fn(multi)).argmax(axis=1) != y
    # Restart 0 uses the stateless seed [seed, 0], as the single run does.
    np.testing.assert_array_equal(multi[fooled_single], single[fooled_single])
    assert np.all(fooled_multi[fooled_single])
    assert fooled_multi.sum() > fooled_single.sum()
    # Not fooled by any restart: the highest-loss restart, so >= restart 0.
    keep = ~fooled_multi
    assert np.all(_objective(model_fn, multi, y)[keep]
                  >= _objective(model_fn, single, y)[keep] - 1e-6)


def test_one_step_pgd_is_fgsm_shaped():
    # Without random start one step of size eps is x + eps * sign(grad).
    model_fn = _models.logits_fn(_models.shared("trivial_model"))
    x = _models.images(8, seed=6) * 0.5 + 0.25
    y = np.zeros(8, "int64")  # Class 0: the gradient is -1 everywhere.
    out = pgd(model_fn, x, y, eps=0.1, step_size=0.1, num_steps=1,
              random_start=False)
    np.testing.assert_allclose(np.asarray(out), x - 0.1, atol=1e-6)


def test_margin_loss_with_kappa_matches_bat_loss():
    # BAT's CW-k descends max(z_y - max_{j!=y} z_j + 50, 0), which is
    # 50 - cw_margin(z, y, kappa=50): the same ascent direction.
    logits = tf.constant([[1.0, 3.0, -2.0], [80.0, 0.0, 1.0],
                          [0.0, 90.0, 1.0]])
    y = tf.constant([0, 0, 0])
    z = logits.numpy()
    bat = np.maximum(z[:, 0] - np.max(z[:, 1:], axis=1) + 50.0, 0.0)
    np.testing.assert_allclose(50.0 - losses.cw_margin(logits, y, 50.0), bat)


def test_targeted_margin_with_kappa_reaches_far_target():
    # With a finite kappa the targeted margin is capped from below, so the
    # gradient is not zero while the target is far behind.
    model_fn = _models.logits_fn(_models.shared("linear_model"))
    x = _models.images(32, seed=8)
    t = np.asarray(model_fn(x)).argmin(axis=1)  # the least-likely class: far behind
    out = pgd(model_fn, x, t, eps=0.3, step_size=0.05, num_steps=20,
              loss="cw", kappa=5.0, targeted=True, seed=0)
    assert _acc(model_fn, out, t) >= 0.9


def test_norm_spellings_are_equivalent():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(8)
    for spellings, eps in (((np.inf, "inf", float("inf")), 0.05),
                           ((2, "2", 2.0), 0.5)):
        outs = [np.asarray(pgd(model_fn, x, eps=eps, step_size=eps / 4,
                               num_steps=2, norm=n, seed=0))
                for n in spellings]
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])


def test_works_inside_tf_function_with_global_rng():
    # As in a trainer's train_step: symbolic inputs, seed=None.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(8)

    @tf.function
    def step(x):
        return pgd(model_fn, x, eps=0.05, step_size=0.02, num_steps=2)

    a, b = np.asarray(step(x)), np.asarray(step(x))
    assert a.shape == x.shape
    assert np.abs(a - x).max() <= 0.05 + 1e-6
    assert not np.array_equal(a, b)  # A fresh random start per call.


def test_one_hot_labels_are_accepted():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(8)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    kwargs = dict(eps=0.05, step_size=0.02, num_steps=2, seed=0)
    a = pgd(model_fn, x, y, **kwargs)
    b = pgd(model_fn, x, np.eye(10, dtype="float32")[y], **kwargs)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(num_steps=-1), "num_steps"),
        (dict(num_steps=1.5), "num_steps"),
        (dict(step_size=-0.1), "step_size"),
        (dict(norm=1), "norm"),
        (dict(norm="l1"), "norm"),
        (dict(loss="kl"), "loss"),
        (dict(restarts=0), "restarts"),
        (dict(restarts=2, random_start=False), "restarts"),
        (dict(kappa=-1.0), "kappa"),
        (dict(seed=1.5), "seed"),
        (dict(targeted="yes"), "targeted"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(4)
    args = dict(eps=0.1, step_size=0.01, num_steps=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as info:
        pgd(model_fn, x, **args)
    assert repr(list(kwargs.values())[0]) in str(info.value)


def test_bad_label_shape_raises():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(4)
    with pytest.raises(ValueError, match="y"):
        pgd(model_fn, x, np.zeros(3, "int64"), eps=0.1, step_size=0.01,
            num_steps=1)


def test_bound_method_model_fn_does_not_retrace():
    # `trainer.classifier_fn` is a new bound-method object on every access.
    class Owner:
        def __init__(self, model):
            self.model = model

        def logits(self, x):
            return self.model(x, training=False)

    owner = Owner(_models.shared("tiny_cnn"))
    x = _models.images(8)
    kwargs = dict(eps=0.05, step_size=0.02, num_steps=2, seed=0)
    first = pgd(owner.logits, x, **kwargs)
    count = attack_graph.experimental_get_tracing_count()
    second = pgd(owner.logits, x, **kwargs)
    assert attack_graph.experimental_get_tracing_count() == count
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))


# Any-iterate success (AutoAttack's rule) --------------------------------------


@tf.custom_gradient
def _always_darker(m):
    # Whatever the loss, its gradient says "darker": PGD walks the mean
    # brightness down by one step per iteration until the eps-ball stops it.
    return tf.identity(m), lambda dy: -tf.abs(dy)


def _band_model(x):
    """Class 1 exactly while the mean brightness offset m lies in (-0.05,
    0.05), class 0 outside; a descent on m enters the band and leaves it."""
    m = _always_darker(tf.reduce_mean(x, axis=[1, 2, 3]) - 0.5)
    z = 10.0 * (0.05 - tf.abs(m))
    return tf.stack([tf.zeros_like(z), z], axis=-1)


def _band_data(n=16, offset=0.12):
    rng = np.random.default_rng(0)
    x = 0.5 + offset + rng.uniform(-0.02, 0.02, (n, 8, 8, 1))
    return x.astype("float32"), np.zeros(n, "int64")


@pytest.mark.parametrize("random_start", [False, True])
def test_any_iterate_counts_a_point_fooled_mid_run(random_start):
    # m starts near 0.12; steps of 0.04 take it through the band (fooled at
    # m ~ 0.04, 0.0, -0.04) to m ~ -0.18, where the ball stops it, so the
    # last iterate is classified correctly again.
    x, y = _band_data()
    kwargs = dict(eps=0.3, step_size=0.04, random_start=random_start, seed=3)
    assert _acc(_band_model, x, y) == 1.0
    last = np.asarray(pgd(_band_model, x, y, num_steps=10, **kwargs))
    assert _acc(_band_model, last, y) == 1.0  # last iterate: "robust"
    anyit = np.asarray(pgd(_band_model, x, y, num_steps=10, any_iterate=True,
                           **kwargs))
    assert _acc(_band_model, anyit, y) == 0.0  # any iterate: broken
    assert np.abs(anyit - x).max() <= 0.3 + 1e-6
    assert anyit.min() >= 0.0 and anyit.max() <= 1.0
    # It is the FIRST fooling iterate: the k-step run with the same seed is
    # the k-th iterate, so per example the smallest k that fools.
    per_k = np.stack([np.asarray(pgd(_band_model, x, y, num_steps=k,
                                     **kwargs)) for k in range(11)])
    fooled = np.stack([np.asarray(_band_model(p)).argmax(1) != y
                       for p in per_k])
    first = fooled.argmax(axis=0)
    assert fooled.any(axis=0).all() and np.all(first >= 1)
    np.testing.assert_array_equal(anyit, per_k[first, np.arange(len(x))])


def test_any_iterate_with_restarts_keep_best_and_mim():
    x, y = _band_data()
    kwargs = dict(eps=0.3, step_size=0.04, num_steps=10, seed=3)
    assert _acc(_band_model, pgd(_band_model, x, y, restarts=3, **kwargs),
                y) == 1.0
    for extra in (dict(restarts=3), dict(keep_best=True),
                  dict(restarts=2, keep_best=True)):
        out = pgd(_band_model, x, y, any_iterate=True, **kwargs, **extra)
        assert _acc(_band_model, out, y) == 0.0, extra
    from tf_advnet.attacks.mim import mim

    assert _acc(_band_model, mim(_band_model, x, y, **kwargs), y) == 1.0
    assert _acc(_band_model, mim(_band_model, x, y, any_iterate=True,
                                 **kwargs), y) == 0.0


def test_any_iterate_leaves_unfooled_points_at_the_last_iterate():
    # Nothing is fooled with one step of 0.04 from m ~ 0.12, so the output is
    # the plain last iterate; on the usual CNN any-iterate never fools fewer.
    x, y = _band_data()
    kwargs = dict(eps=0.3, step_size=0.04, num_steps=1, seed=3)
    np.testing.assert_array_equal(
        np.asarray(pgd(_band_model, x, y, any_iterate=True, **kwargs)),
        np.asarray(pgd(_band_model, x, y, **kwargs)))
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    xs = _models.images(64, seed=12)
    ys = np.asarray(model_fn(xs)).argmax(axis=1)
    kw = dict(eps=0.03, step_size=0.02, num_steps=8, seed=0)
    assert _acc(model_fn, pgd(model_fn, xs, ys, any_iterate=True, **kw), ys) \
        <= _acc(model_fn, pgd(model_fn, xs, ys, **kw), ys)


def test_registry_pgd_counts_any_iterate_by_default():
    from tf_advnet.attacks.registry import parse_attack

    x, y = _band_data()
    for spec in ("pgd10:step=0.04", "cwpgd10:step=0.04", "mim10:step=0.04"):
        out = parse_attack(spec, eps=0.3)(_band_model, x, y, seed=3)
        assert _acc(_band_model, out, y) == 0.0, spec
        last = parse_attack(spec + ",any=0", eps=0.3)(_band_model, x, y, seed=3)
        assert _acc(_band_model, last, y) == 1.0, spec
