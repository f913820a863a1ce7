"""Tests for `tf_advnet.attacks.transfer` (black-box transfer evaluation)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks import transfer
from tf_advnet.attacks.deepfool import deepfool

_N = 20
_BATCH = 8  # 3 batches: 8, 8, 4


def _fgsm(model_fn, x, y, eps=0.1):
    """A one-step L-inf FGSM on the true labels (a local, tiny attack)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=model_fn(x))
    grad = tape.gradient(loss, x)
    return tf.clip_by_value(x + eps * tf.sign(grad), 0.0, 1.0)


def _deepfool_adv(model_fn, x, y):
    return deepfool(model_fn, x, y, max_iter=10).x_adv


class _Counting:
    """Wraps an attack and counts its calls."""

    def __init__(self, attack):
        self.attack = attack
        self.calls = 0

    def __call__(self, model_fn, x, y):
        self.calls += 1
        return self.attack(model_fn, x, y)


@pytest.fixture(scope="module")
def setup():
    mlp = _models.tiny_mlp(seed=0)
    mlp2 = _models.tiny_mlp(seed=1)
    cnn = _models.tiny_cnn(seed=0)
    fns = {
        "mlp": _models.logits_fn(mlp),
        "mlp2": _models.logits_fn(mlp2),
        "cnn": _models.logits_fn(cnn),
    }
    x = _models.images(_N, seed=0)
    # Labels: mostly the first model's predictions, a few flipped, so the
    # clean accuracies are neither 0 nor 1.
    y = np.argmax(fns["mlp"](x), axis=-1)
    y[:4] = (y[:4] + 1) % _models.NUM_CLASSES
    return fns, x, y


def _acc(model_fn, x, y):
    return float(np.mean(np.argmax(model_fn(x), axis=-1) == y))


def test_matrix_keys_values_and_json(setup):
    fns, x, y = setup
    surrogates = {"mlp2": fns["mlp2"], "cnn": fns["cnn"]}
    attacks = {"fgsm": _fgsm, "deepfool": _deepfool_adv}
    targets = {"mlp": fns["mlp"], "mlp2": fns["mlp2"], "cnn": fns["cnn"]}
    res = transfer.transfer_matrix(surrogates, attacks, targets, x, y,
                                   batch_size=_BATCH)
    assert set(res) == {"clean", "transfer"}
    assert set(res["clean"]) == set(targets)
    assert set(res["transfer"]) == set(targets)
    pairs = {"mlp2/fgsm", "mlp2/deepfool", "cnn/fgsm", "cnn/deepfool"}
    for t in targets:
        assert set(res["transfer"][t]) == pairs
        for acc in res["transfer"][t].values():
            assert isinstance(acc, float) and 0.0 <= acc <= 1.0
    assert json.loads(json.dumps(res)) == res


def test_clean_accuracy(setup):
    fns, x, y = setup
    res = transfer.transfer_matrix({"mlp": fns["mlp"]}, {"fgsm": _fgsm}, fns,
                                   x, y, batch_size=_BATCH)
    for name, fn in fns.items():
        assert res["clean"][name] == pytest.approx(_acc(fn, x, y))
    assert res["clean"]["mlp"] == pytest.approx((_N - 4) / _N)


@pytest.mark.parametrize("attack", [_fgsm, _deepfool_adv])
def test_self_transfer_equals_white_box(setup, attack):
    """Crafting on a model and evaluating it on itself is white-box."""
    fns, x, y = setup
    white_box = _acc(fns["mlp"], attack(fns["mlp"], tf.constant(x),
                                        tf.constant(y)), y)
    res = transfer.transfer_matrix({"mlp": fns["mlp"]}, {"a": attack},
                                   {"mlp": fns["mlp"], "cnn": fns["cnn"]},
                                   x, y, batch_size=_BATCH)
    assert res["transfer"]["mlp"]["mlp/a"] == pytest.approx(white_box)
    assert white_box < res["clean"]["mlp"]


def test_transfer_accuracy_matches_direct_evaluation(setup):
    fns, x, y = setup
    x_adv = np.asarray(_fgsm(fns["mlp2"], tf.constant(x), tf.constant(y)))
    res = transfer.transfer_matrix({"mlp2": fns["mlp2"]}, {"fgsm": _fgsm},
                                   {"cnn": fns["cnn"]}, x, y,
                                   batch_size=_BATCH)
    assert res["transfer"]["cnn"]["mlp2/fgsm"] == pytest.approx(
        _acc(fns["cnn"], x_adv, y))


def test_crafts_once_per_pair(setup):
    fns, x, y = setup
    a1, a2 = _Counting(_fgsm), _Counting(_fgsm)
    targets = dict(fns)
    transfer.transfer_matrix({"mlp": fns["mlp"], "cnn": fns["cnn"]},
                             {"a1": a1, "a2": a2}, targets, x, y,
                             batch_size=_BATCH)
    num_batches = -(-_N // _BATCH)
    # Two surrogates per attack, one pass over the data each, whatever the
    # number of targets.
    assert a1.calls == 2 * num_batches
    assert a2.calls == 2 * num_batches


def test_craft_batches_and_returns_numpy(setup):
    fns, x, y = setup
    seen = []

    def attack(model_fn, xb, yb):
        assert model_fn is fns["cnn"]
        seen.append((xb.shape[0], yb.shape[0]))
        return _fgsm(model_fn, xb, yb)

    x_adv = transfer.craft(fns["cnn"], attack, x, y, batch_size=_BATCH)
    assert isinstance(x_adv, np.ndarray) and x_adv.dtype == np.float32
    assert x_adv.shape == x.shape
    assert seen == [(8, 8), (8, 8), (4, 4)]
    whole = np.asarray(_fgsm(fns["cnn"], tf.constant(x), tf.constant(y)))
    np.testing.assert_allclose(x_adv, whole, atol=1e-6)
    # y=None reaches the attack as None.
    nones = []
    transfer.craft(fns["cnn"], lambda m, xb, yb: nones.append(yb) or xb, x,
                   None, batch_size=_BATCH)
    assert nones == [None, None, None]


@pytest.mark.parametrize("kwargs, name", [
    (dict(surrogates={}), "surrogates"),
    (dict(surrogates={"a/b": None}), "surrogates"),
    (dict(attacks={"x": 3}), "attacks"),
    (dict(targets=[]), "targets"),
    (dict(batch_size=0), "batch_size"),
    (dict(y=np.zeros(3, np.int64)), "y"),
])
def test_invalid_arguments(setup, kwargs, name):
    fns, x, y = setup
    args = dict(surrogates={"mlp": fns["mlp"]}, attacks={"fgsm": _fgsm},
                targets={"mlp": fns["mlp"]}, x=x, y=y, batch_size=_BATCH)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        transfer.transfer_matrix(**args)


def test_craft_rejects_bad_attack_output(setup):
    fns, x, y = setup
    with pytest.raises(ValueError, match="`attack`"):
        transfer.craft(fns["mlp"], lambda m, xb, yb: xb[:, :4], x, y)
    with pytest.raises(ValueError, match="`attack`"):
        transfer.craft(fns["mlp"], None, x, y)
