"""DeepDefense reproduction pieces: the DeepFool-AT training set, the fine-tuning
schedule and Table 1's metrics on a tiny model."""

import keras
import numpy as np
import pytest

from tf_advnet.errors import UserError
from tf_advnet.runs.deepdefense import (evaluate_model, finetune_optimizer,
                                        finetune_schedule, make_deepfool_training_set)


def _trained_model():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(96, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 1.0).astype("int64") + 2 * (x[:, 2] > 0.5)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(4)])
    model.compile(keras.optimizers.Adam(2e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    return model, x, y


def test_deepfool_training_set():
    model, x, y = _trained_model()
    pred = np.argmax(model(x), 1)
    x_adv, y_adv = make_deepfool_training_set(model, x, y, batch_size=40)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    np.testing.assert_array_equal(y_adv, y)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    wrong = pred != y
    assert wrong.sum() < len(y) / 2
    np.testing.assert_array_equal(x_adv[wrong], x[wrong])  # already fooled: kept
    adv_pred = np.argmax(model(x_adv), 1)
    assert np.mean(adv_pred[~wrong] != y[~wrong]) > 0.9
    with pytest.raises(UserError, match="make_deepfool_training_set"):
        make_deepfool_training_set(model, x, y[:-1])


def test_finetune_schedule_halves_at_eighty_percent():
    sched = finetune_schedule(5, 10)  # 5 epochs of 10 steps: halved from epoch 4
    assert float(sched(39)) == pytest.approx(5e-4)
    assert float(sched(40)) == pytest.approx(2.5e-4)
    assert float(sched(49)) == pytest.approx(2.5e-4)
    opt = finetune_optimizer(5, 10)
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9
    with pytest.raises(UserError, match="--epochs"):
        finetune_optimizer(0, 10)


def test_evaluate_model_columns():
    model, x, y = _trained_model()
    res = evaluate_model(model, x, y, rho_iters=20, batch_size=48)
    assert res["acc"] == pytest.approx(float(np.mean(np.argmax(model(x), 1) == y)))
    assert res["rho_2"] > 0 and res["rho_inf"] > 0
    assert res["eps_ref"] == res["eps"]
    # At its own eps_ref the FGS error is >= 50% (bisection from above).
    assert res["acc_at_eps_ref"]["1"] <= 0.5
    assert res["acc_at_eps_ref"]["0.2"] >= res["acc_at_eps_ref"]["1"]
