"""Evaluation: accuracies are right, the worst case is a per-example AND, rho."""

import keras
import numpy as np
import pytest

from tests.attacks import _models
from tf_advnet.attacks.registry import parse_attacks
from tf_advnet.errors import NonFiniteInputError
from tf_advnet.eval import metrics, report
from tf_advnet.eval.robustness import evaluate_attacks, accuracy_vs_eps, predict


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    model = _models.tiny_cnn()
    x = _models.images(64, seed=5)
    y = predict(lambda v: model(v, training=False), x)
    y[:8] = (y[:8] + 1) % 10  # a few clean errors
    return model, x, y


def test_evaluate_attacks(setup):
    model, x, y = setup
    attacks = parse_attacks("fgsm,pgd10,noise,deepfool", eps=0.05)
    res = evaluate_attacks(model, x, y, attacks, batch_size=16, seed=0)
    assert res["n"] == 64 and np.isclose(res["clean_acc"], 56 / 64)
    accs = {s: r["acc"] for s, r in res["attacks"].items()}
    assert all(a <= res["clean_acc"] + 1e-9 for a in accs.values())
    assert accs["pgd10"] <= accs["noise"]
    # Worst case is a per-example AND over bounded attacks: <= each bounded column.
    assert res["worst_case_over"] == ["fgsm", "pgd10", "noise"]
    assert res["worst_case_acc"] <= min(accs[s] for s in res["worst_case_over"]) + 1e-9
    df = res["attacks"]["deepfool"]
    assert not df["bounded"] and df["success_rate"] > 0.9 and df["rho_mean_l2"] > 0
    assert res["attacks"]["pgd10"]["max_linf"] <= 0.05 + 1e-6


def test_budgeted_minimal_attack_counts_large_successes_as_robust(setup):
    model, x, y = setup
    (unbounded,), (tiny,) = (parse_attacks(s, eps=0.05) for s in
                             ("deepfool", "deepfool:eps=0.0001"))
    r = evaluate_attacks(model, x, y, [unbounded, tiny], batch_size=32)
    assert r["attacks"]["deepfool:eps=0.0001"]["acc"] > r["attacks"]["deepfool"]["acc"]
    assert r["worst_case_over"] == ["deepfool:eps=0.0001"]


def test_nan_input_rejected(setup):
    model, x, y = setup
    bad = x.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteInputError):
        evaluate_attacks(model, bad, y, parse_attacks("fgsm", eps=0.1))


def test_accuracy_vs_eps_decreases(setup):
    model, x, y = setup
    accs = accuracy_vs_eps(model, x, y, "pgd10", [0.0, 0.02, 0.1, 0.5], batch_size=64)
    assert accs[0] == pytest.approx(56 / 64)
    assert accs == sorted(accs, reverse=True) and accs[-1] < 0.1


def test_fgs_eps_search_hits_target(setup):
    model, x, y = setup
    eps = metrics.fgs_eps_at_error(model, x, y, target=0.5, batch_size=64)
    assert eps is not None and 0 < eps < 1
    assert metrics.fgs_error_rate(model, x, y, eps, batch_size=64) >= 0.5
    r = metrics.rho_inf(model, x, y, batch_size=64)
    x_inf = np.abs(x.reshape(64, -1)).max(1)
    assert np.isclose(r["rho_inf"], np.mean(r["eps"] / x_inf))
    acc = metrics.accuracy_at_eps_ref(model, x, y, eps, batch_size=64)
    assert acc["1"] <= 0.5 + 1e-9 and acc["0.2"] >= acc["0.5"] >= acc["1"]


def test_rho2_on_linear_model_matches_closed_form():
    """For an affine 2-class model DeepFool's Delta is the distance to the boundary."""
    model = _models.trivial_model()
    x = _models.images(16, seed=2)
    r = metrics.rho_2(model, x, batch_size=16, overshoot=0.02)
    d = x[0].size
    margin = np.abs(2 * (x.reshape(16, -1).sum(1) - d / 2))
    dist = margin / np.linalg.norm(np.full(d, 2.0))  # |f| / ||w0 - w1||
    expected = np.mean(1.02 * dist / np.linalg.norm(x.reshape(16, -1), axis=1))
    assert r["rho_2"] == pytest.approx(expected, rel=1e-3)
    assert r["fooled_rate"] == 1.0


def test_markdown_table(setup):
    model, x, y = setup
    res = evaluate_attacks(model, x, y, parse_attacks("fgsm", eps=0.05), batch_size=64)
    md = report.robustness_table({"m": res}, paper={"m": {"clean": 99.0}})
    assert "| model | n | clean | fgsm | worst case |" in md
    assert f"{100 * res['clean_acc']:.2f}" in md and "m (paper)" in md and "99.00" in md
