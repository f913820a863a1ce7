"""Gradient-masking checks: each fires on a model built to trip it, and none fires
on a small trained model.

The data are two classes of 8x8 images around mid-grey: class 1 is brighter by a
per-example offset b, class 0 darker, so a budget eps breaks exactly the points
with b < eps for a model that reads the mean brightness. The masked models are
plain logits callables on that brightness.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.errors import NonFiniteInputError
from tf_advnet.eval import masking

EPS = 0.1


def _data(n, lo, hi, noise, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    b = rng.uniform(lo, hi, n)
    x = 0.5 + np.where(y == 1, b, -b)[:, None, None, None]
    x = x + rng.normal(0.0, noise, (n, 8, 8, 1))
    return np.clip(x, 0.0, 1.0).astype("float32"), y.astype("int64")


def _brightness_logits(x, scale=40.0):
    z = scale * (tf.reduce_mean(x, axis=[1, 2, 3]) - 0.5)
    return tf.stack([-z, z], axis=-1)


@tf.custom_gradient
def _reverse_gradient(x):
    return tf.identity(x), lambda dy: -dy


@tf.custom_gradient
def _nan_gradient(x):
    return tf.identity(x), lambda dy: dy * float("nan")


@pytest.fixture(scope="module")
def test_data():
    return _data(120, 0.05, 0.3, 0.05, seed=1)


@pytest.fixture(scope="module")
def trained():
    x, y = _data(400, 0.05, 0.3, 0.05, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    return model


def test_no_check_fires_on_a_trained_model(trained, test_data):
    x, y = test_data
    lines = []
    checks = masking.run_checks(trained, x, y, eps=EPS, progress=lines.append,
                                accs={"white_box": 0.40, "square1000": 0.45})
    assert [c.name for c in checks] == ["logits", "gradient", "eps_monotone", "steps",
                                        "noise", "blackbox"]
    assert [c.name for c in checks if c.fired] == [], lines
    assert len(lines) == 6 and all(line.startswith("  [ok] ") for line in lines)
    sweep = checks[2].values
    assert sweep["eps"] == [0.05, 0.1, 0.2, 0.5] and sweep["acc"][-1] <= 0.02
    assert sweep["acc"][0] > 0.5  # the model is accurate and not trivially broken
    assert f"{sweep['acc'][-1]:.3f}" in checks[2].reason
    noise = checks[4].values
    assert noise["noise_acc"] > noise["pgd_acc"]
    assert noise["noise_only"] <= masking.TOL_EXAMPLES
    assert f"breaks {noise['noise_only']}/120 examples" in checks[4].reason
    steps = checks[3].values
    assert steps["step_size"] == pytest.approx(EPS / 4) and steps["steps"] == [10, 100]


def test_logits_check_fires_on_softmax_outputs(trained, test_data):
    x, _ = test_data
    probs = keras.Sequential([trained, keras.layers.Softmax()])
    check = masking.logits_check(probs, x)
    assert check.fired and "all 120 output rows" in check.reason
    assert f"{check.values['max_row_sum_deviation']:.2g}" in check.reason
    assert not masking.logits_check(trained, x).fired


def test_logits_check_fires_on_nan_outputs(test_data):
    """A diverged model outputs NaN: no attack can change its (constant) prediction,
    which must not pass for robustness."""
    x, _ = test_data

    def diverged(v):
        return _brightness_logits(v) * np.nan

    check = masking.logits_check(diverged, x)
    assert check.fired and "NaN or inf for 120/120" in check.reason


def test_quantised_input_fires_gradient_and_eps_checks(test_data):
    x, y = test_data

    def quantised(v):  # tf.round cuts the graph: no gradient reaches the input
        return _brightness_logits(tf.round(v))

    grad = masking.gradient_check(quantised, x, y)
    assert grad.fired and "zero" in grad.reason and "120/120" in grad.reason
    sweep = masking.eps_monotone_check(quantised, x, y, EPS)
    large_acc = sweep.values["acc"][-1]
    assert sweep.fired and large_acc > 0.9
    assert f"still {large_acc:.3f}" in sweep.reason and "eps 0.5" in sweep.reason


def test_nan_gradient_fires_gradient_check(test_data):
    x, y = test_data
    check = masking.gradient_check(lambda v: _brightness_logits(_nan_gradient(v)), x, y)
    assert check.fired and "NaN or inf for 120/120" in check.reason


def test_noise_beating_pgd_fires_noise_check():
    # Points right at the boundary; the reversed gradient walks PGD away from it.
    x, y = _data(120, 0.0, 0.02, 0.0, seed=2)
    check = masking.noise_check(lambda v: _brightness_logits(_reverse_gradient(v)), x, y,
                                EPS, steps=10)
    v = check.values
    assert check.fired and v["noise_only"] > masking.TOL_EXAMPLES
    assert v["noise_acc"] < v["pgd_acc"]
    assert f"breaks {v['noise_only']}/120 examples that PGD-10 keeps" in check.reason


def test_noise_check_is_per_example():
    # Two groups, told apart by a marker row that eps cannot change: near the
    # boundary with a reversed gradient (noise breaks about half of them, PGD
    # only what its random start breaks), and far from it with a true gradient
    # (PGD breaks all, noise none). PGD's accuracy is LOWER than noise's, yet
    # noise breaks points that PGD keeps: the per-example check fires.
    near_x, near_y = _data(60, 0.0, 0.02, 0.0, seed=4)
    far_x, far_y = _data(60, 0.05, 0.09, 0.0, seed=5)
    near_x[:, 0], far_x[:, 0] = 1.0, 0.0
    x, y = np.concatenate([near_x, far_x]), np.concatenate([near_y, far_y])

    def model(v):
        m = tf.reduce_mean(v[:, 1:], axis=[1, 2, 3]) - 0.5
        reverse = tf.reduce_mean(v[:, 0], axis=[1, 2]) > 0.5
        m = tf.where(reverse, _reverse_gradient(m), m)
        return tf.stack([-40.0 * m, 40.0 * m], axis=-1)

    check = masking.noise_check(model, x, y, EPS, steps=10)
    v = check.values
    assert v["pgd_acc"] < 0.6 < v["noise_acc"]
    assert check.fired and v["noise_only"] >= 20


@tf.custom_gradient
def _climb_once_left_is_down(v, u):
    # The right half's brightness v gets its true gradient while the left
    # half's u is above -0.045, and the reversed one after: PGD first darkens
    # both halves (fooling the model), then, once u sits at the edge of the
    # ball, brightens v back until the model is right again.
    flip = tf.where(u > -0.045, 1.0, -1.0)
    return tf.identity(v), lambda dy: (dy * flip, tf.zeros_like(u))


def _trap_logits(x):
    u = tf.reduce_mean(x[:, :, :4], axis=[1, 2, 3]) - 0.5
    v = tf.reduce_mean(x[:, :, 4:], axis=[1, 2, 3]) - 0.5
    z = 40.0 * (u + 0.5 * _climb_once_left_is_down(v, u))
    return tf.stack([-z, z], axis=-1)


def test_steps_check_fires_when_more_steps_undo_successes():
    # Class 1 images at 0.55 (u = v = 0.05, z = 40 * 0.075). With eps 0.1 and the
    # common step eps/4, u reaches -0.05 by step ~7 and v -0.05, so the model is
    # fooled (u + v/2 < 0) at step 10 while v is still climbing; by step 100 v
    # sits at 0.15 and u + v/2 = 0.025 > 0: every point is correct again.
    x = np.full((40, 8, 8, 1), 0.55, "float32")
    y = np.ones(40, "int64")
    check = masking.steps_check(_trap_logits, x, y, EPS, pgd_steps=(10, 100))
    few, many = check.values["acc"]
    assert check.values["step_size"] == pytest.approx(EPS / 4)
    assert few <= 0.1 and many == 1.0 and check.fired
    assert f"rises from {few:.3f} with 10 steps to {many:.3f} with 100" in check.reason
    # At eps/40 (PGD-100's own default step) the trap has not closed by step 100:
    # 10 steps fool nothing, 100 fool everything. So comparing PGD-10 at eps/4
    # with PGD-100 at eps/40, step count and step size mixed, sees 0.0 vs 0.0 and
    # misses what the fixed step size shows.
    small = masking.steps_check(_trap_logits, x, y, EPS, pgd_steps=(10, 100),
                                step_size=EPS / 40)
    assert small.values["acc"] == [1.0, 0.0] and not small.fired


def test_eps_monotone_check_fires_when_accuracy_rises(test_data):
    x, y = test_data
    # Pre-filled runs stand in for a model whose PGD gets worse at 2 eps.
    memo = {("pgd", e, 10, "inf", None, True): np.arange(len(x)) < a * len(x)
            for e, a in ((0.05, 0.6), (0.1, 0.3), (0.2, 0.5), (0.5, 0.0))}
    check = masking.eps_monotone_check(None, x, y, EPS, memo=memo)
    assert check.fired and "from 0.300 at eps 0.1 to 0.500 at eps 0.2" in check.reason


def test_blackbox_check():
    fired = masking.blackbox_check({"white_box": 0.40, "square": 0.30, "transfer": 0.5})
    assert fired.fired
    assert "square leaves accuracy 0.300" in fired.reason
    assert "below the white-box accuracy 0.400" in fired.reason
    ok = masking.blackbox_check({"white_box": 0.40, "square": 0.395})  # within 0.01
    assert not ok.fired and "0.395" in ok.reason
    # Specs are classified by family; the white-box reference is the lowest one.
    by_spec = masking.blackbox_check(masking.accs_from_results(
        {"attacks": {"apgd100": {"acc": 0.50}, "pgd10": {"acc": 0.45},
                     "noise": {"acc": 0.10}, "square1000": {"acc": 0.42}}}))
    assert by_spec.fired and "white-box pgd10 accuracy 0.450" in by_spec.reason
    for accs, why in ((None, "no attack accuracies"), ({"square": 0.3}, "no white-box"),
                      ({"pgd100": 0.3, "square": None}, "no black-box")):
        check = masking.blackbox_check(accs)
        assert not check.fired and check.reason.startswith("not run:") and why in check.reason


def test_run_checks_arguments(trained, test_data):
    x, y = test_data
    with pytest.raises(ValueError, match="eps"):
        masking.run_checks(trained, x, y, eps=0.0)
    with pytest.raises(ValueError, match="pgd_steps"):
        masking.run_checks(trained, x, y, eps=EPS, pgd_steps=(100, 10))
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteInputError):
        masking.run_checks(trained, bad, y, eps=EPS)
    big = np.repeat(x, 2, axis=0)
    xs, ys = masking._subset(big, np.repeat(y, 2), seed=0)
    assert len(xs) == masking.MAX_EXAMPLES == len(ys)
