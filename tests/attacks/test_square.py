"""Tests for `tf_advnet.attacks.square`: contract, random search, queries."""

import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks import losses
from tf_advnet.attacks.pgd import pgd
from tf_advnet.attacks.registry import parse_attack
from tf_advnet.attacks.square import (
    HALVING_POINTS,
    _eta_grid,
    _inv_square_cumsum,
    _side,
    _square_graph,
    p_schedule,
    square,
)


def _margin(model_fn, x, y):
    """`z_y - max_{j != y} z_j` per example (negative iff fooled)."""
    return -np.asarray(losses.cw_margin(model_fn(x), y))


def _success(model_fn, x_adv, y):
    return float(np.mean(np.asarray(model_fn(x_adv)).argmax(axis=1) != y))


def _norms(delta, norm):
    flat = np.asarray(delta, np.float64).reshape(len(delta), -1)
    if norm == "inf":
        return np.abs(flat).max(axis=1)
    return np.sqrt((flat ** 2).sum(axis=1))


# Common attack contract ------------------------------------------------------


class TestSquareLinf(_models.AttackProperties):
    norm = "inf"
    eps = 0.05
    success_eps = 0.2
    randomized = True
    graph = _square_graph

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        assert not targeted  # The targeted tests are skipped below.
        return square(model_fn, x, y, eps=eps, max_queries=200,
                      norm=self.norm, seed=seed, clip_min=clip_min,
                      clip_max=clip_max)

    def test_targeted_decreases_target_loss(self):
        pytest.skip("square is untargeted")

    def test_targeted_success_rate_on_linear_model(self):
        pytest.skip("square is untargeted")

    def test_bad_arguments_raise(self):
        model_fn, x, y = self._data()
        with pytest.raises(ValueError, match="eps"):
            self.attack(model_fn, x, y, eps=-0.1)
        with pytest.raises(ValueError, match="clip_min"):
            self.attack(model_fn, x, y, eps=self.eps, clip_min=1.0,
                        clip_max=0.0)


class TestSquareL2(TestSquareLinf):
    norm = "2"
    eps = 0.5
    success_eps = 1.5


# Success, including without gradients ---------------------------------------


PAPER = {"inf": dict(p_init=0.05, rescale_schedule=True),
         "2": dict(p_init=0.1, rescale_schedule=True)}


@pytest.mark.parametrize("norm,eps,rule,least", [
    ("inf", 0.03, "autoattack", 0.7), ("inf", 0.03, "paper", 0.85),
    ("2", 1.0, "autoattack", 0.85), ("2", 1.0, "paper", 0.9)])
def test_fools_undefended_cnn(norm, eps, rule, least):
    # A 16x16 RGB CNN: several channels and square sides > 1 are exercised.
    # Observed over seeds 0-3 with 500 queries: AutoAttack's settings (the
    # defaults: p_init 0.8, fixed halving points) 0.77-0.80 (L-inf, ~190
    # queries on average) and 0.91-0.92 (L2, ~105); the paper's rule
    # (p_init 0.05 / 0.1 rescaled to the budget) 0.91-0.95 and 0.94-0.97.
    # At 500 queries the fixed schedule is still at squares of p >= 0.05:
    # it is tuned for AutoAttack's 5,000. PGD-20 reaches 0.97 / 1.0.
    model_fn = _models.logits_fn(_models.tiny_cnn((16, 16, 3)))
    x = _models.images(64, (16, 16, 3), seed=0)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    kwargs = PAPER[norm] if rule == "paper" else {}
    x_adv, queries = square(model_fn, x, y, eps=eps, norm=norm,
                            max_queries=500, seed=0, return_queries=True,
                            **kwargs)
    assert _success(model_fn, x_adv, y) >= least
    assert np.all(_norms(np.asarray(x_adv) - x, norm) <= eps + 1e-5)
    assert np.asarray(queries).max() <= 500


@pytest.mark.parametrize("norm,eps", [("inf", 0.15), ("2", 1.5)])
def test_needs_no_gradient(norm, eps):
    # The input is quantised to 1/8 steps inside stop_gradient: the model is
    # piecewise constant and its gradient is exactly zero (connected through
    # `0 * x`, so PGD runs but cannot move). PGD only keeps what its random
    # start fools (observed ~0.3); Square reaches 1.0 from logits alone.
    base = _models.logits_fn(_models.shared("linear_model"))

    def quantised(x):
        return base(tf.stop_gradient(tf.round(x * 8.0) / 8.0) + 0.0 * x)

    x = _models.images(64, seed=1)
    y = np.asarray(quantised(x)).argmax(axis=1)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        obj = tf.reduce_sum(losses.cross_entropy(quantised(x_t), y))
    assert np.all(tape.gradient(obj, x_t).numpy() == 0.0)

    x_pgd = pgd(quantised, x, y, eps=eps, step_size=eps / 4, num_steps=20,
                norm=norm, seed=0)
    x_sq = square(quantised, x, y, eps=eps, norm=norm, max_queries=300,
                  seed=0)
    assert _success(quantised, x_pgd, y) <= 0.5
    assert _success(quantised, x_sq, y) >= 0.95


def test_ce_loss_option():
    model_fn = _models.logits_fn(_models.shared("linear_model"))
    x = _models.images(32, seed=2)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    x_adv = square(model_fn, x, y, eps=0.2, loss="ce", max_queries=200,
                   seed=0)
    assert _success(model_fn, x_adv, y) >= 0.9


# Random search: initialisation, monotone loss, updates -----------------------


def test_one_query_returns_the_linf_stripes():
    # With clipping disabled every column of delta is one +-eps value per
    # channel (the paper's vertical-stripe init), and the budget allows only
    # the init.
    model_fn = _models.logits_fn(_models.tiny_cnn((8, 8, 3)))
    x = _models.images(16, (8, 8, 3), seed=3)
    x_init, queries = square(model_fn, x, eps=0.1, max_queries=1, seed=0,
                             clip_min=None, clip_max=None,
                             return_queries=True)
    delta = np.asarray(x_init) - x
    np.testing.assert_allclose(np.abs(delta), 0.1, atol=1e-6)
    np.testing.assert_allclose(delta, np.broadcast_to(delta[:, :1],
                                                      delta.shape), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(queries), 1)


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_final_loss_never_above_init_loss(norm, eps):
    # The init is the same draw for every budget (it only depends on the
    # seed), and random search only accepts improvements.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=4)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    kwargs = dict(eps=eps, norm=norm, seed=5)
    x_init = square(model_fn, x, y, max_queries=1, **kwargs)
    x_final = square(model_fn, x, y, max_queries=100, **kwargs)
    before, after = _margin(model_fn, x_init, y), _margin(model_fn, x_final, y)
    assert np.all(after <= before + 1e-6)
    assert np.mean(after < before) >= 0.5


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_loss_history_is_non_increasing(norm, eps):
    # The private `record` mode returns the best margin after each query.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=6)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    x_adv, queries, history = _square_graph(
        model_fn, tf.constant(x), tf.constant(y, tf.int64), tf.constant(eps),
        tf.constant(60), tf.constant(0.8, tf.float64), tf.constant(False),
        tf.constant(0.0), tf.constant(1.0), tf.constant(7, tf.int64),
        norm=norm, loss="margin", use_predictions=False, record=True)
    history = np.asarray(history)
    assert history.shape == (60, 32)
    assert np.all(np.diff(history, axis=0) <= 0.0)
    assert np.any(np.diff(history, axis=0) < 0.0)
    np.testing.assert_allclose(history[-1], _margin(model_fn, x_adv, y),
                               rtol=1e-5, atol=1e-5)
    # An example stops being queried at its first negative margin.
    first_fooled = np.argmax(history < 0, axis=0) + 1
    fooled = history[-1] < 0
    np.testing.assert_array_equal(np.asarray(queries)[fooled],
                                  first_fooled[fooled])
    np.testing.assert_array_equal(np.asarray(queries)[~fooled], 60)


def test_l2_keeps_the_full_budget_without_box():
    # Algorithm 3 moves mass between windows and hands out the unused budget,
    # so without the box clip every iterate lies on the sphere ||delta|| = eps.
    model_fn = _models.logits_fn(_models.tiny_cnn((12, 12, 3)))
    x = _models.images(16, (12, 12, 3), seed=8)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    for budget in (1, 40):
        x_adv = square(model_fn, x, y, eps=0.7, norm=2, max_queries=budget,
                       clip_min=None, clip_max=None, seed=0)
        np.testing.assert_allclose(_norms(np.asarray(x_adv) - x, "2"), 0.7,
                                   rtol=1e-4)


def test_linf_iterates_are_vertices_without_box():
    # L-inf Square only ever writes +-eps, so without the box every
    # coordinate of delta is exactly at the boundary of the ball.
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(16, seed=9)
    x_adv = square(model_fn, x, eps=0.03, max_queries=50, clip_min=None,
                   clip_max=None, seed=0)
    np.testing.assert_allclose(np.abs(np.asarray(x_adv) - x), 0.03,
                               atol=1e-6)


# Queries -------------------------------------------------------------------


class _CountingModel:
    """A logits callable that counts the images it is asked to classify."""

    def __init__(self, model_fn):
        self.model_fn = model_fn
        self.rows = tf.Variable(0, dtype=tf.int64)

    def __call__(self, x):
        self.rows.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return self.model_fn(x)


@pytest.mark.parametrize("norm,eps", [("inf", 0.05), ("2", 0.5)])
def test_query_counts_and_model_calls(norm, eps):
    base = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=10)
    y = np.asarray(base(x)).argmax(axis=1)
    budget = 40
    counting = _CountingModel(base)
    x_adv, queries = square(counting, x, y, eps=eps, norm=norm,
                            max_queries=budget, seed=1, return_queries=True)
    queries = np.asarray(queries)
    # Only the queries are model evaluations: one per example and query.
    assert int(counting.rows.numpy()) == queries.sum()
    assert queries.min() >= 1 and queries.max() <= budget
    fooled = _margin(base, x_adv, y) < 0
    assert np.all(queries[~fooled] == budget)
    # Examples fooled by the init are returned as the init after 1 query.
    x_init = np.asarray(square(base, x, y, eps=eps, norm=norm,
                               max_queries=1, seed=1))
    at_init = _margin(base, x_init, y) < 0
    assert at_init.any() and not at_init.all()
    np.testing.assert_array_equal(queries[at_init], 1)
    np.testing.assert_array_equal(np.asarray(x_adv)[at_init],
                                  x_init[at_init])
    assert np.all(queries[~at_init] >= 2)
    # With y=None one more (uncounted) pass computes the labels.
    counting.rows.assign(0)
    _, queries_none = square(counting, x, eps=eps, norm=norm,
                             max_queries=budget, seed=1, return_queries=True)
    np.testing.assert_array_equal(np.asarray(queries_none), queries)
    assert int(counting.rows.numpy()) == queries.sum() + len(x)


# p schedule ----------------------------------------------------------------


def _reference_halvings(it):
    """The if-chain of the reference's `p_selection`, by hand: p_init is
    divided by 2 for 10 < it <= 50, 4 for 50 < it <= 200, ..., 512 for
    8000 < it (fra31/auto-attack, autoattack/square.py)."""
    bounds = [(10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32),
              (4000, 64), (6000, 128), (8000, 256)]
    for upper, div in bounds:
        if it <= upper:
            return div
    return 512


def test_p_schedule_fixed_halving_points_as_autoattack():
    # AutoAttack calls Square with resc_schedule=False: p depends on the
    # iteration only, whatever the budget.
    assert HALVING_POINTS == (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
    expected = {0: 1, 10: 1, 11: 2, 50: 2, 51: 4, 200: 4, 201: 8, 500: 8,
                501: 16, 1000: 16, 1001: 32, 2000: 32, 2001: 64, 4000: 64,
                4001: 128, 6000: 128, 6001: 256, 8000: 256, 8001: 512,
                9998: 512}
    for it, div in expected.items():
        assert _reference_halvings(it) == div
        for budget in (300, 1000, 5000, 10000):
            assert float(p_schedule(it, budget, 0.8)) == 0.8 / div
    # 0.8 is float64's 0.8, as in the reference (not float32's).
    assert float(p_schedule(0, 5000, 0.8)) == 0.8


def test_p_schedule_rescaled_is_the_papers_rule():
    # rescale: iteration i acts as iteration int(i / N * 10000) (the
    # reference's float expression), e.g. N = 1000: i = 1 -> 10 (not > 10),
    # i = 2 -> 20; N = 300: i = 6 -> 200 (not > 200), i = 7 -> 233.
    for budget, hand in ((1000, {1: 1, 2: 2, 5: 2, 6: 4, 20: 4, 21: 8,
                                 801: 512}),
                         (300, {0: 1, 1: 2, 2: 4, 6: 4, 7: 8, 15: 8, 16: 16})):
        for it, div in hand.items():
            assert float(p_schedule(it, budget, 0.05, rescale=True)) == \
                0.05 / div
        for it in range(budget):
            div = _reference_halvings(int(it / budget * 10000))
            assert float(p_schedule(it, budget, 0.05, rescale=True)) == \
                0.05 / div, it
    # At 10,000 queries both rules are the same schedule.
    for it in (0, 11, 51, 4001, 9999):
        assert float(p_schedule(it, 10000, 0.8, rescale=True)) == \
            float(p_schedule(it, 10000, 0.8))


def test_square_side():
    # s = round(sqrt(p * h * w)) (half to even), L-inf >= 1, L2 >= 3 and
    # odd, then at most min(h, w).
    assert int(_side(0.05, 32, 32, 3)) == 7            # sqrt(51.2) = 7.16
    assert int(_side(0.8, 28, 28)) == 25               # sqrt(627.2) = 25.04
    assert int(_side(0.4, 28, 28)) == 18               # sqrt(313.6) = 17.71
    assert int(_side(0.4, 28, 28, norm="2")) == 19     # 18 -> odd
    assert int(_side(0.05, 28, 28, norm="2")) == 7     # sqrt(39.2) = 6.26
    assert int(_side(0.001, 8, 8)) == 1
    assert int(_side(0.001, 8, 8, norm="2")) == 3
    assert int(_side(1.0, 6, 10)) == 6
    assert int(_side(1.0, 6, 10, norm="2")) == 6       # 8 -> 9, capped at 6
    assert int(_side(0.5 * 0.8 / 64, 20, 20)) == 2     # sqrt(2.5) = 1.58
    assert int(_side(0.125, 2, 2)) == 1                # sqrt(0.5), half to even


def test_l2_sides_are_odd_and_at_least_3_over_autoattacks_schedule():
    sides = {int(_side(p_schedule(it, 5000, 0.8), 28, 28, 1, "2"))
             for it in range(0, 5000, 7)}
    assert sides == {25, 19, 13, 9, 7, 5, 3}
    linf = {int(_side(p_schedule(it, 5000, 0.8), 28, 28)) for it in range(0, 5000, 7)}
    assert linf == {25, 18, 13, 9, 6, 4, 3, 2}


def test_eta_is_the_dipole_with_halves_normalised_separately():
    # eta(3) by hand: eta_rectangles(1, 3) = [1/4, 1 + 1/4, 1/4] (centre ring
    # gets 1 + 1/4, the outer ring 1/4), eta_rectangles(2, 3) has the centre
    # (1, 1) at 5/4 and 1/4 elsewhere; each is normalised, the lower one
    # negated, and the whole normalised again.
    table = _inv_square_cumsum(30)  # covers windows up to side 29
    top = np.array([[1, 5, 1]]) / np.sqrt(27)
    bottom = np.array([[1, 1, 1], [1, 5, 1]]) / np.sqrt(30)
    expected = np.concatenate([top, -bottom]) / np.sqrt(2)
    np.testing.assert_allclose(_eta_grid(3, table).numpy(), expected,
                               rtol=1e-6)
    for s in (3, 5, 7, 25):
        eta = _eta_grid(s, table).numpy()
        assert np.isclose(np.sum(eta ** 2), 1.0)
        # Each half carries half the energy, whatever its size.
        np.testing.assert_allclose(np.sum(eta[:s // 2] ** 2), 0.5, rtol=1e-5)
        assert np.all(eta[:s // 2] > 0) and np.all(eta[s // 2:] < 0)


def test_l2_init_is_a_grid_of_dipole_tiles():
    # 12x12: tiles of side t = 12 // 5 = 2 from offset (12 - 10) // 2 = 1,
    # 5 x 5 of them; eta(2) is [[1, 5], [-1, -5]] / sqrt(52) (each row
    # eta_rectangles(1, 2) = [1/4, 5/4] normalised), transposed or not, with
    # a sign per tile and channel. Without the box clip delta = eps * tiles /
    # ||tiles||_2, and every tile has unit norm: eps / sqrt(25 c) each.
    model_fn = _models.logits_fn(_models.tiny_cnn((12, 12, 2)))
    x = _models.images(8, (12, 12, 2), seed=3)
    eps = 0.7
    x_init, queries = square(model_fn, x, eps=eps, norm=2, max_queries=1,
                             seed=0, clip_min=None, clip_max=None,
                             return_queries=True)
    delta = np.asarray(x_init) - x
    np.testing.assert_array_equal(np.asarray(queries), 1)
    np.testing.assert_allclose(_norms(delta, "2"), eps, rtol=1e-5)
    np.testing.assert_array_equal(delta[:, [0, 11]], 0.0)
    np.testing.assert_array_equal(delta[:, :, [0, 11]], 0.0)
    eta = np.array([[1.0, 5.0], [-1.0, -5.0]]) / np.sqrt(52)
    unit = eps / np.sqrt(25 * 2)
    shapes = [eta, -eta, eta.T, -eta.T]
    seen = set()
    for n in range(8):
        for ch in range(2):
            for i in range(5):
                for j in range(5):
                    tile = delta[n, 1 + 2 * i:3 + 2 * i, 1 + 2 * j:3 + 2 * j, ch]
                    match = [k for k, shape in enumerate(shapes)
                             if np.allclose(tile, unit * shape, atol=1e-6)]
                    assert len(match) == 1, (n, ch, i, j, tile)
                    seen.add(match[0])
    assert seen == {0, 1, 2, 3}  # both signs, both orientations


def test_schedule_option_reaches_the_random_search():
    # Rescaled and fixed schedules coincide at a 10,000-query budget and
    # differ at 100 (iteration 1 acts as 100 > 50: p_init / 4). The linear
    # model is fooled within a few hundred queries, so the long budget is
    # cheap.
    model_fn = _models.logits_fn(_models.shared("linear_model"))
    x = _models.images(16, seed=12)
    y = np.asarray(model_fn(x)).argmax(axis=1)

    def run(budget, rescale):
        out, q = square(model_fn, x, y, eps=0.1, max_queries=budget, seed=2,
                        rescale_schedule=rescale, return_queries=True)
        return np.asarray(out), np.asarray(q)

    fixed, q_fixed = run(10000, False)
    assert _success(model_fn, fixed, y) == 1.0 and q_fixed.max() > 12
    rescaled, _ = run(10000, True)
    np.testing.assert_array_equal(fixed, rescaled)
    assert not np.array_equal(run(100, False)[0], run(100, True)[0])


@pytest.mark.parametrize("spec,kwargs", [
    ("square5", dict(p_init=0.8, rescale_schedule=False)),
    ("square5_l2:eps=0.5", dict(norm="2", eps=0.5, p_init=0.8,
                                rescale_schedule=False)),
    ("square5:p=0.05,resc=1", dict(p_init=0.05, rescale_schedule=True)),
])
def test_registry_square_is_autoattacks_call(spec, kwargs):
    # `square<K>` is AutoAttack's Square(p_init=.8, n_queries=K,
    # resc_schedule=False); `p` and `resc=1` give the paper's rule.
    model_fn = _models.logits_fn(_models.tiny_cnn())
    x = _models.images(8, seed=4)
    y = np.asarray(model_fn(x)).argmax(axis=1)
    args = dict(eps=0.1, max_queries=5, seed=0)
    args.update(kwargs)
    expected = square(model_fn, x, y, **args)
    out = parse_attack(spec, eps=0.1)(model_fn, x, y, seed=0)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    assert parse_attack("square5000", eps=0.1).num_steps == 5000


# Seeds and arguments -----------------------------------------------------------


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_seed_reproducible_and_distinct_queries(norm):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(32, seed=11)
    kwargs = dict(eps=0.05 if norm == "inf" else 0.5, norm=norm,
                  max_queries=50, return_queries=True)
    a, qa = square(model_fn, x, seed=3, **kwargs)
    b, qb = square(model_fn, x, seed=3, **kwargs)
    c, _ = square(model_fn, x, seed=4, **kwargs)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(qa), np.asarray(qb))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(eps=-0.1), "eps"),
        (dict(max_queries=0), "max_queries"),
        (dict(max_queries=2.5), "max_queries"),
        (dict(p_init=0.0), "p_init"),
        (dict(p_init=1.5), "p_init"),
        (dict(rescale_schedule="no"), "rescale_schedule"),
        (dict(norm=1), "norm"),
        (dict(loss="cw"), "loss"),
        (dict(clip_min=1.0, clip_max=0.0), "clip_min"),
        (dict(seed=1.5), "seed"),
        (dict(return_queries="yes"), "return_queries"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(4)
    args = dict(eps=0.1, max_queries=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        square(model_fn, x, **args)


def test_bad_inputs_raise():
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    with pytest.raises(ValueError, match="model_fn"):
        square("model", _models.images(4), eps=0.1)
    with pytest.raises(ValueError, match="x"):
        square(model_fn, np.zeros((4, 64), "float32"), eps=0.1)
