"""Ensemble evaluator: survivors-only worst case, standalone accuracies, resuming."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests.attacks import _models
from tf_advnet.attacks.registry import parse_attacks
from tf_advnet.errors import NonFiniteInputError, UserError
from tf_advnet.eval.ensemble import counts_any_iterate, evaluate_ensemble
from tf_advnet.eval.robustness import evaluate_attacks, predict

EPS = 0.05
DETERMINISTIC = "fgsm,pgd5:random_start=0"
RANDOM = "fgsm,pgd5"  # pgd5 has a random start: seeds must survive a resume


@pytest.fixture(scope="module")
def setup():
    model = _models.shared("tiny_cnn")
    model_fn = _models.logits_fn(model)
    x = _models.images(48, seed=5)
    y = predict(model_fn, x)
    y[:6] = (y[:6] + 1) % 10  # a few clean errors
    return model, x, y


class _Interrupted(Exception):
    pass


def _counted(attacks, calls, fail_after=None):
    """The attacks, each counting its batch calls in `calls` (and raising after
    `fail_after` calls in all, as a killed job would stop)."""
    def wrap(attack):
        def fn(model_fn, x, y, seed):
            if fail_after is not None and len(calls) >= fail_after:
                raise _Interrupted
            calls.append((attack.spec, len(x), seed))
            return attack.fn(model_fn, x, y, seed)
        return dataclasses.replace(attack, fn=fn)
    return [wrap(a) for a in attacks]


def _strip_seconds(res):
    return {s: {k: v for k, v in r.items() if k != "seconds"}
            for s, r in res["attacks"].items()}


def test_survivors_only_equals_per_example_and(setup):
    model, x, y = setup
    attacks = parse_attacks(DETERMINISTIC, eps=EPS)
    surv = evaluate_ensemble(model, x, y, attacks, batch_size=16)
    alone = evaluate_ensemble(model, x, y, attacks, batch_size=16, standalone=True)
    ref = evaluate_attacks(model, x, y, attacks, batch_size=16)
    np.testing.assert_array_equal(surv["robust"], alone["robust"])
    assert surv["robust_acc"] == alone["robust_acc"] == ref["worst_case_acc"]
    assert 0 < surv["robust_acc"] < surv["clean_acc"] == ref["clean_acc"] == 42 / 48
    assert surv["order"] == ["fgsm", "pgd5:random_start=0"]
    # Standalone accuracies are evaluate_attacks' columns; survivors-only has none.
    for spec in surv["order"]:
        assert alone["attacks"][spec]["acc"] == ref["attacks"][spec]["acc"]
        assert surv["attacks"][spec]["acc"] is None
    # Each attack is run on the survivors of the earlier ones only.
    fgsm, pgd = (surv["attacks"][s] for s in surv["order"])
    assert fgsm["evaluated"] == 42
    assert pgd["evaluated"] == round(fgsm["robust_after"] * 48) < 42
    assert fgsm["robust_after"] >= pgd["robust_after"] == surv["robust_acc"]
    assert fgsm["newly_broken"] + pgd["newly_broken"] == 42 - surv["robust"].sum()
    assert alone["attacks"]["pgd5:random_start=0"]["evaluated"] == 42


def test_random_starts_are_reproducible(setup):
    model, x, y = setup
    attacks = parse_attacks(RANDOM, eps=EPS)
    a = evaluate_ensemble(model, x, y, attacks, batch_size=16, seed=3)
    b = evaluate_ensemble(model, x, y, attacks, batch_size=16, seed=3)
    np.testing.assert_array_equal(a["robust"], b["robust"])
    calls = []
    evaluate_ensemble(model, x, y, _counted(attacks, calls), batch_size=16, seed=3)
    seeds = [s for _, _, s in calls]
    assert len(set(seeds)) == len(seeds)  # every batch its own random start


def test_resume_after_interruption_matches_uninterrupted_run(setup, tmp_path):
    model, x, y = setup
    attacks = parse_attacks(RANDOM, eps=EPS)
    full_calls = []
    full = evaluate_ensemble(model, x, y, _counted(attacks, full_calls), batch_size=8)
    assert len(full_calls) == 8  # 6 fgsm batches (42 points), 2 pgd5 batches
    state = str(tmp_path / "state.npz")
    first = []
    with pytest.raises(_Interrupted):  # killed in pgd5's batches
        evaluate_ensemble(model, x, y, _counted(attacks, first, fail_after=7),
                          batch_size=8, state_path=state)
    assert len(first) == 7
    lines, rest = [], []
    resumed = evaluate_ensemble(model, x, y, _counted(attacks, rest), batch_size=8,
                                state_path=state, progress=lines.append)
    assert "resuming" in lines[0] and "attack 2/2 (pgd5) at batch 1" in lines[0]
    assert first + rest == full_calls  # finished batches were not run again
    np.testing.assert_array_equal(resumed["robust"], full["robust"])
    assert resumed["robust_acc"] == full["robust_acc"]
    assert _strip_seconds(resumed) == _strip_seconds(full)
    # A finished state is reused as it is.
    again = []
    done = evaluate_ensemble(model, x, y, _counted(attacks, again), batch_size=8,
                             state_path=state)
    assert again == [] and done["robust_acc"] == full["robust_acc"]


def test_state_of_another_evaluation_is_ignored(setup, tmp_path):
    model, x, y = setup
    attacks = parse_attacks(DETERMINISTIC, eps=EPS)
    state = str(tmp_path / "state.npz")
    evaluate_ensemble(model, x, y, attacks, batch_size=16, state_path=state)
    calls, lines = [], []
    res = evaluate_ensemble(model, x, y, _counted(attacks, calls), batch_size=16,
                            state_path=state, seed=1, progress=lines.append)
    assert "differs in: seed" in lines[0] and "starting over" in lines[0]
    assert len(calls) == 3 + -(-res["attacks"]["pgd5:random_start=0"]["evaluated"] // 16)
    calls.clear()
    evaluate_ensemble(model, x[:40], y[:40], _counted(attacks, calls), batch_size=16,
                      state_path=state, seed=1)
    assert calls  # other data: recomputed


def test_corrupt_state_is_a_one_line_user_error(setup, tmp_path):
    model, x, y = setup
    state = tmp_path / "state.npz"
    state.write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="corrupt") as info:
        evaluate_ensemble(model, x, y, parse_attacks("fgsm", eps=EPS), batch_size=16,
                          state_path=str(state))
    assert str(state) in str(info.value) and "\n" not in str(info.value)


def test_bad_arguments(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="deepfool"):
        evaluate_ensemble(model, x, y, parse_attacks("fgsm,deepfool", eps=EPS))
    with pytest.raises(ValueError, match="repeated: fgsm"):
        evaluate_ensemble(model, x, y, parse_attacks("fgsm,fgsm", eps=EPS))
    bad = x.copy()
    bad[1, 2, 3, 0] = np.inf
    with pytest.raises(NonFiniteInputError):
        evaluate_ensemble(model, bad, y, parse_attacks("fgsm", eps=EPS))


@tf.custom_gradient
def _always_darker(m):
    return tf.identity(m), lambda dy: -tf.abs(dy)


def _band_model(x):
    """Class 1 while the mean brightness offset lies in (-0.05, 0.05), class 0
    outside; its gradient always says "darker", so PGD crosses the band."""
    m = _always_darker(tf.reduce_mean(x, axis=[1, 2, 3]) - 0.5)
    z = 10.0 * (0.05 - tf.abs(m))
    return tf.stack([tf.zeros_like(z), z], axis=-1)


def test_a_point_fooled_at_any_iterate_counts_as_broken():
    # From m ~ 0.12, ten steps of 0.04 cross the band (fooled mid-run) and stop
    # at m ~ -0.18 (correct again): the default any-iterate PGD breaks every
    # point, the last-iterate rule (any=0) none.
    rng = np.random.default_rng(0)
    x = (0.62 + rng.uniform(-0.02, 0.02, (24, 8, 8, 1))).astype("float32")
    y = np.zeros(24, "int64")
    attacks = parse_attacks("pgd10:step=0.04,pgd10:step=0.04,any=0", eps=0.3)
    assert [counts_any_iterate(a) for a in attacks] == [True, False]
    res = evaluate_ensemble(_band_model, x, y, attacks, batch_size=8,
                            standalone=True)
    first, last = (res["attacks"][a.spec] for a in attacks)
    assert res["clean_acc"] == 1.0
    assert first["acc"] == 0.0 and first["any_iterate"] is True
    assert last["acc"] == 1.0 and last["any_iterate"] is False
    assert res["robust_acc"] == 0.0
    apgd, fgsm = parse_attacks("apgd5,fgsm", eps=0.3)
    assert counts_any_iterate(apgd) and counts_any_iterate(fgsm)
