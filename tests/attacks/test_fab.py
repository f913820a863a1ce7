"""Tests for `tf_advnet.attacks.fab`: the exact projection, minimal distances
on affine models (closed form), FAB-T, AutoAttack's eps check, batching, seeds."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import linprog, minimize

from tests.attacks import _models
from tf_advnet.attacks.fab import _fab_graph, _project, fab

# FAB overshoots by eta = 1.05 and steps back by beta = 0.9, so on an affine
# model its smallest adversarial lands just past the boundary: measured
# 0.5-0.6% above the exact distance after 100 iterations.
REL_TOL = 0.01


def _pred(model_fn, x):
    return np.asarray(model_fn(x)).argmax(axis=1)


def _lp_norm(delta, norm):
    flat = np.asarray(delta, np.float64).reshape(len(delta), -1)
    p = {"inf": np.inf, "2": 2, "1": 1}[norm]
    return np.linalg.norm(flat, p, axis=1)


class TestFABLinf(_models.AttackProperties):
    norm = "inf"
    eps = 0.05
    success_eps = 0.2
    randomized = False  # One run starts at x; restarts are random (below).
    graph = _fab_graph

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0, **kwargs):
        kwargs.setdefault("num_steps", 10)
        return fab(model_fn, x, y, eps=eps, norm=self.norm, targeted=targeted,
                   seed=seed, clip_min=clip_min, clip_max=clip_max, **kwargs)

    # FAB-T takes the true labels and picks its own targets (AutoAttack), so
    # the mixin's targeted tests, which pass targets as `y`, are restated.

    def test_targeted_decreases_target_loss(self):
        model_fn, x, y = self._data()
        t = np.argsort(-np.asarray(model_fn(x)), axis=1)[:, 1]
        out = self.attack(model_fn, x, y, eps=self.eps, targeted=True,
                          num_targets=1)
        before = _models._ce(model_fn(x), t)
        after = _models._ce(model_fn(out), t)
        assert after.mean() < before.mean()
        assert np.mean(after <= before + 1e-6) >= 0.9

    def test_targeted_success_rate_on_linear_model(self):
        model_fn, x, y = self._data("linear_model")
        out = self.attack(model_fn, x, y, eps=self.success_eps,
                          targeted=True)
        assert np.mean(_pred(model_fn, out) != y) >= self.targeted_threshold

    def test_restarts_differ_by_seed(self):
        model_fn, x, y = self._data()
        kw = dict(eps=self.eps, restarts=3, minimal=True, num_steps=30)
        a = self.attack(model_fn, x, y, seed=1, **kw)
        b = self.attack(model_fn, x, y, seed=1, **kw)
        c = self.attack(model_fn, x, y, seed=2, **kw)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert not np.array_equal(np.asarray(a), np.asarray(c))

    @pytest.mark.parametrize("kwargs,name", [
        (dict(eps=-0.1), "eps"),
        (dict(num_steps=-1), "num_steps"),
        (dict(restarts=0), "restarts"),
        (dict(num_targets=0), "num_targets"),
        (dict(alpha_max=1.5), "alpha_max"),
        (dict(beta=-0.1), "beta"),
        (dict(eta=-1.0), "eta"),
        (dict(norm="3"), "norm"),
        (dict(targeted=1), "targeted"),
        (dict(minimal="yes"), "minimal"),
        (dict(seed=1.5), "seed"),
        (dict(clip_min=1.0, clip_max=0.0), "clip_min"),
    ])
    def test_bad_arguments_raise(self, kwargs, name):
        model_fn, x, y = self._data()
        kwargs = {"eps": self.eps, "norm": self.norm, **kwargs}
        with pytest.raises(ValueError, match=name):
            fab(model_fn, x, y, **kwargs)


class TestFABL2(TestFABLinf):
    norm = "2"
    eps = 0.5
    success_eps = 1.5


# The projection onto hyperplane ∩ box ---------------------------------------


def _reference_projection(v, w, c, norm):
    """min ||d||_p s.t. <w, d> = -c, 0 <= v + d <= 1, by scipy (LP / SLSQP)."""
    n = len(v)
    bounds = list(zip(-v, 1.0 - v))
    if norm == "2":
        res = minimize(lambda d: d @ d, np.zeros(n), jac=lambda d: 2 * d,
                       constraints=[{"type": "eq", "fun": lambda d: w @ d + c}],
                       bounds=bounds, method="SLSQP", options={"ftol": 1e-14})
        return np.sqrt(res.fun)
    # Variables (d, t): t bounds |d_i| (one t for L-inf, one per i for L1).
    k = 1 if norm == "inf" else n
    lift = np.ones((n, 1)) if norm == "inf" else np.eye(n)
    a_ub = np.block([[np.eye(n), -lift], [-np.eye(n), -lift]])
    res = linprog(np.r_[np.zeros(n), np.ones(k)], A_ub=a_ub,
                  b_ub=np.zeros(2 * n), A_eq=np.r_[w, np.zeros(k)][None],
                  b_eq=[-c], bounds=bounds + [(0, None)] * k)
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("norm", ["inf", "2", "1"])
def test_projection_is_the_exact_minimiser(norm):
    rng = np.random.default_rng(0)
    rows, n = 30, 12
    v = rng.uniform(0, 1, (rows, n))
    w = rng.normal(0, 1, (rows, n))
    w[:, 0] = 0.0  # A dead coordinate must not move.
    v[:, 1] = 0.0  # A coordinate at its bound.
    c = rng.normal(0, 1.5, rows)
    c[:4] = [40.0, -40.0, 40.0, -40.0]  # Beyond any corner: infeasible.
    d = _project(*(tf.constant(a, tf.float32) for a in (v, w, c)), 0.0, 1.0,
                 norm).numpy().astype(np.float64)
    lo = np.minimum(-v * w, (1 - v) * w).sum(axis=1)  # min <w, d> over the box
    hi = np.maximum(-v * w, (1 - v) * w).sum(axis=1)
    feasible = (lo <= -c) & (-c <= hi)
    assert 5 <= feasible.sum() < rows  # Both cases are exercised.
    assert np.all(v + d >= -1e-6) and np.all(v + d <= 1 + 1e-6)
    np.testing.assert_array_equal(d[:, 0], 0.0)
    for r in np.flatnonzero(feasible):
        np.testing.assert_allclose(w[r] @ d[r], -c[r], atol=1e-5)
        np.testing.assert_allclose(_lp_norm(d[r:r + 1], norm)[0],
                                   _reference_projection(v[r], w[r], c[r], norm),
                                   rtol=1e-5, atol=1e-6)
    for r in np.flatnonzero(~feasible):
        # As AutoAttack's projections: the box corner nearest the hyperplane.
        corner = np.where(np.sign(w[r]) == np.sign(c[r]), -v[r], 1 - v[r])
        corner[w[r] == 0] = 0.0
        np.testing.assert_allclose(d[r], corner, atol=1e-6)


def test_projection_without_a_box_is_the_closed_form():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(6, 10)).astype("float32")
    w = rng.normal(size=(6, 10)).astype("float32")
    c = rng.normal(size=6).astype("float32")
    inf = np.float32(np.inf)
    d2 = _project(v, w, c, -inf, inf, "2").numpy()
    np.testing.assert_allclose(d2, -c[:, None] * w / (w**2).sum(1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    dinf = _project(v, w, c, -inf, inf, "inf").numpy()
    np.testing.assert_allclose(
        dinf, -np.sign(w) * (c / np.abs(w).sum(1))[:, None], rtol=1e-5,
        atol=1e-6)


# Minimal distances on affine models (closed form) ----------------------------


def _affine_problem(n=24):
    """The shared 10-class linear model on images well inside the box."""
    model = _models.shared("linear_model")
    kernel, bias = (v.numpy() for v in model.layers[-1].weights)
    rng = np.random.default_rng(3)
    x = rng.uniform(0.3, 0.7, (n,) + _models.IMAGE_SHAPE).astype("float32")
    return _models.logits_fn(model), kernel, bias, x


def _boundary_distance(x, y, kernel, bias, cls, dual):
    """|f_y - f_k| / ||w_y - w_k||_q for class `cls` (per example)."""
    f = x.reshape(len(x), -1).astype(np.float64) @ kernel + bias
    rows = np.arange(len(x))
    g = kernel[:, cls].T - kernel[:, y].T
    with np.errstate(invalid="ignore"):  # cls == y: 0 / 0, masked by callers.
        return np.abs(f[rows, y] - f[rows, cls]) / np.linalg.norm(g, dual, axis=1)


def _exact_distance(x, y, kernel, bias, dual):
    others = [_boundary_distance(x, y, kernel, bias, np.full(len(x), k), dual)
              for k in range(kernel.shape[1])]
    others = np.stack(others, 1)
    others[np.arange(len(x)), y] = np.inf
    return others.min(axis=1)


@pytest.mark.parametrize("norm,dual", [("inf", 1), ("2", 2)])
def test_minimal_distance_on_affine_model(norm, dual):
    model_fn, kernel, bias, x = _affine_problem()
    y = _pred(model_fn, x)
    exact = _exact_distance(x, y, kernel, bias, dual)
    # The box stays inactive: the unconstrained minimiser moves every pixel
    # by at most 0.3 (L-inf: by the distance itself; L2: by less).
    assert exact.max() < 0.3
    out = fab(model_fn, x, y, eps=10.0, norm=norm, minimal=True).numpy()
    assert np.all(_pred(model_fn, out) != y)
    got = _lp_norm(out - x, norm)
    assert np.all(got >= exact * (1 - 1e-4))
    np.testing.assert_allclose(got, exact, rtol=REL_TOL)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_minimal_distance_with_the_box_active(norm):
    # Two classes, one hyperplane: the exact distance to it within [0, 1]^d is
    # the LP / QP of `_reference_projection`, far from the unconstrained one
    # because most pixels sit at a bound.
    model = _models.shared("trivial_model")
    model_fn = _models.logits_fn(model)
    rng = np.random.default_rng(4)
    x = (rng.uniform(0, 1, (6,) + _models.IMAGE_SHAPE) < 0.45).astype("float32")
    x[:, 0, 0, 0] = 0.3
    y = _pred(model_fn, x)
    kernel, bias = (v.numpy().astype(np.float64) for v in model.layers[-1].weights)
    w = kernel[:, 1 - y].T - kernel[:, y].T
    c = (x.reshape(6, -1) @ kernel + bias)[np.arange(6), 1 - y] \
        - (x.reshape(6, -1) @ kernel + bias)[np.arange(6), y]
    exact = [_reference_projection(x[i].ravel().astype(np.float64), w[i],
                                   c[i], norm) for i in range(6)]
    out = fab(model_fn, x, y, eps=100.0, norm=norm, minimal=True).numpy()
    assert np.all(_pred(model_fn, out) != y)
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(_lp_norm(out - x, norm), exact, rtol=REL_TOL)


@pytest.mark.parametrize("norm,dual", [("inf", 1), ("2", 2)])
def test_fab_t_reaches_the_target_boundary(norm, dual):
    model_fn, kernel, bias, x = _affine_problem()
    logits = np.asarray(model_fn(x))
    y = logits.argmax(1)
    t = np.argsort(-logits, axis=1)[:, 1]  # The first of AutoAttack's targets.
    to_target = _boundary_distance(x, y, kernel, bias, t, dual)
    out = fab(model_fn, x, y, eps=10.0, norm=norm, targeted=True,
              num_targets=1, minimal=True).numpy()
    got = _lp_norm(out - x, norm)
    pred = _pred(model_fn, out)
    assert np.all(pred != y)
    # Success is any misclassification (AutoAttack's FAB-T): on the way to
    # t's boundary another class may win first, and then the point is closer.
    assert np.all(got <= to_target * (1 + REL_TOL))
    hit = pred == t
    assert hit.mean() >= 0.5
    np.testing.assert_allclose(got[hit], to_target[hit], rtol=REL_TOL)


@pytest.mark.parametrize("norm,dual", [("inf", 1), ("2", 2)])
def test_eps_check_as_autoattack(norm, dual):
    model_fn, kernel, bias, x = _affine_problem()
    y = _pred(model_fn, x)
    exact = _exact_distance(x, y, kernel, bias, dual)
    eps = float(np.median(exact))
    out = fab(model_fn, x, y, eps=eps, norm=norm).numpy()
    size = _lp_norm(out - x, norm)
    changed = size > 0
    assert np.all(size <= eps + 1e-6)
    assert np.all(_pred(model_fn, out[changed]) != y[changed])
    # Beyond eps nothing is found; well inside it FAB always succeeds.
    assert not np.any(changed & (exact > eps))
    assert np.all(changed[exact < eps / (1 + REL_TOL)])
    np.testing.assert_array_equal(out[~changed], x[~changed])


def test_misclassified_inputs_are_returned_unchanged():
    model_fn, _, _, x = _affine_problem(8)
    y = (_pred(model_fn, x) + 1) % _models.NUM_CLASSES
    out = fab(model_fn, x, y, eps=1.0, num_steps=5).numpy()
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("targeted", [False, True])
def test_batched_equals_per_example(targeted):
    model_fn = _models.logits_fn(_models.shared("tiny_cnn"))
    x = _models.images(6, seed=5)
    y = _pred(model_fn, x)
    kw = dict(eps=0.1, num_steps=20, targeted=targeted, num_targets=2,
              minimal=True)
    batched = fab(model_fn, x, y, **kw).numpy()
    single = np.concatenate([fab(model_fn, x[i:i + 1], y[i:i + 1], **kw).numpy()
                             for i in range(len(x))])
    np.testing.assert_allclose(batched, single, atol=1e-5)
