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
    assert f"{noise['noise_acc']:.3f}" in checks[4].reason


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
    assert check.fired and v["noise_acc"] < v["pgd_acc"] - v["tolerance"]
    assert f"{v['noise_acc']:.3f}" in check.reason and f"{v['pgd_acc']:.3f}" in check.reason


def test_shattered_gradients_fire_steps_check():
    # A fast, small ripple on the logit (Athalye et al.'s shattered gradients):
    # PGD-100's small steps get caught in the nearest ripple, PGD-10's large ones
    # jump about and find the boundary for some points.
    x, y = _data(120, 0.05, 0.095, 0.0, seed=3)

    def shattered(v):
        m = tf.reduce_mean(v, axis=[1, 2, 3]) - 0.5
        z = 40.0 * m + tf.sin(300.0 * m)
        return tf.stack([-z, z], axis=-1)

    check = masking.steps_check(shattered, x, y, EPS, pgd_steps=(10, 100))
    few, many = check.values["acc"]
    assert check.fired and many > few + check.values["tolerance"]
    assert f"{few:.3f} with 10 steps" in check.reason and f"{many:.3f} with 100" in check.reason


def test_eps_monotone_check_fires_when_accuracy_rises(test_data):
    x, y = test_data
    # Pre-filled accuracies stand in for a model whose PGD gets worse at 2 eps.
    memo = {("pgd", e, 10, "inf"): a for e, a in
            ((0.05, 0.6), (0.1, 0.3), (0.2, 0.5), (0.5, 0.0))}
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
