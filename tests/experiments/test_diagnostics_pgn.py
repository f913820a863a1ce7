"""PGN's discriminating runs (`tf_advnet.papers.pgn.diagnostics`): the arms differ in one
setting each, FGM at a chosen L2 by hand, the generator snapshots are the study's own
Fig. 3 generator, the verdict rules by hand and the Markdown of hand-made docs."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from tests.trainers._toy import toy_classifier, toy_data

PROV = {"command": "x", "commit": "c", "seed": 0, "preset": "cpu", "wall_time_s": 1.0,
        "versions": {}}


def test_arms_differ_in_one_setting_each():
    from tf_advnet.papers.pgn.diagnostics import arms
    from tf_advnet.papers.pgn.pipeline import model_config
    from tf_advnet.papers.pgn.study import study

    s = study("cpu")
    a = arms()
    assert s.dataset == "fashion_mnist" and a["classifier"].data.dataset == s.dataset
    # Part A's classifier is the study's Fig. 3 FGM-AT model, as the study trains it.
    assert a["classifier"] == model_config(s, "fgm_at", s.fig3_eps)
    assert a["classifier"].train.attack_steps == 1 and not a["classifier"].train.random_start
    gens = list(a["generators"].values())
    assert [g["epochs"] for g in gens] == [2, 8, 20]
    for g in gens[1:]:
        assert {k for k in g if g[k] != gens[0][k]} == {"epochs"}
    assert gens[0]["c_l"] == 0.2 and gens[0]["c_l"] in s.fig3_c_l
    assert gens[0]["width"] == s.generator_width and gens[0]["seed"] == s.seed
    fgm, restricted = a["attacks"]["fgm"], a["attacks"]["fgm_restricted"]
    assert {k for k in fgm if fgm[k] != restricted[k]} == {"mask"}

    curves = a["curves"]
    assert set(curves) == {"pgn", "fgm_at", "pgd_at"}
    for m, cfg in curves.items():
        base = curves["fgm_at"]
        for field in ("data", "model", "eval", "seed", "preset"):
            assert getattr(cfg, field) == getattr(base, field), (m, field)
        for field in ("epochs", "optimizer", "learning_rate", "lr_boundaries"):
            assert getattr(cfg.train, field) == getattr(base.train, field), (m, field)
        assert cfg.train.epochs == 12
        # Epoch 3 of the 12-epoch run is the study's 3-epoch model (constant rate).
        value = cfg.train.trainer.c_l if m == "pgn" else cfg.train.eps
        assert dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=3)) \
            == model_config(s, m, value)
    assert curves["pgn"].train.method == "pgn" and curves["pgn"].train.trainer.c_l == 0.25
    f, p = curves["fgm_at"].train, curves["pgd_at"].train
    assert f.eps == p.eps == 0.5
    diff = {x.name for x in dataclasses.fields(f) if getattr(f, x.name) != getattr(p, x.name)}
    assert diff == {"attack_steps", "step_size", "random_start"}  # FGM vs PGD recipe


def test_step_to_l2_by_hand():
    from tf_advnet.papers.pgn.diagnostics import step_to_l2

    x = np.array([[0.5, 0.5], [0.9, 0.5], [0.9, 1.0]])
    u = np.array([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0]])
    out = step_to_l2(x, u, np.array([0.3, 0.5, 0.5]))
    # No clipping: x + 0.3 u.
    np.testing.assert_allclose(out[0], [0.8, 0.5], atol=1e-6)
    # The first pixel clips at 1 (0.1), so 0.1^2 + (0.8 t)^2 = 0.5^2.
    t = np.sqrt((0.25 - 0.01) / 0.64)
    np.testing.assert_allclose(out[1], [1.0, 0.5 + 0.8 * t], atol=1e-6)
    # Only 0.1 is reachable along u: the largest reachable step.
    np.testing.assert_allclose(out[2], [1.0, 1.0], atol=1e-6)


def test_restricted_fgm_keeps_saturated_pixels_at_the_same_l2():
    from tf_advnet.papers.pgn.diagnostics import interior_mask, step_to_l2, unit_direction

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 8, 8, 1))
    x[rng.uniform(size=x.shape) < 0.5] = 0.0
    x[rng.uniform(size=x.shape) < 0.1] = 1.0
    g = rng.normal(size=x.shape)
    target = rng.uniform(0.2, 1.5, size=20)
    u = unit_direction(g, interior_mask(x))
    np.testing.assert_allclose(np.linalg.norm(u.reshape(20, -1), axis=1), 1.0)
    out = step_to_l2(x, u, target)
    sat = interior_mask(x) == 0
    np.testing.assert_array_equal(out[sat], x[sat].astype(np.float32))
    l2 = np.linalg.norm((out - x).reshape(20, -1), axis=1)
    np.testing.assert_allclose(l2, target, atol=1e-5)
    full = step_to_l2(x, unit_direction(g), target)
    np.testing.assert_allclose(np.linalg.norm((full - x).reshape(20, -1), axis=1), target,
                               atol=1e-5)
    assert np.abs(full - x)[sat].max() > 0  # unrestricted FGM moves saturated pixels


def test_fgm_direction_is_the_normalised_ce_gradient_of_a_linear_model():
    from tf_advnet.papers.pgn.diagnostics import fgm_direction

    rng = np.random.default_rng(1)
    w = rng.normal(size=(12, 3)).astype(np.float32)
    x = rng.uniform(size=(5, 12)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])

    def fn(v):
        import tensorflow as tf

        return tf.matmul(v, w)

    z = x @ w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[y]) @ w.T  # d CE / dx of softmax(x W)
    want = g / np.linalg.norm(g, axis=1, keepdims=True)
    np.testing.assert_allclose(fgm_direction(fn, x, y, batch_size=5), want, atol=1e-5)


def test_generator_snapshots_are_the_studys_fig3_generator(tmp_path):
    """The epoch-1 snapshot of a 2-epoch run equals `pipeline.train_attack_generator`
    trained 1 epoch; attacked at its L2, both FGMs spend exactly that L2."""
    from tf_advnet.eval.robustness import as_model_fn
    from tf_advnet.papers.pgn.diagnostics import (attack_at_equal_l2, fgm_direction,
                                                  interior_mask,
                                                  train_generator_snapshots,
                                                  unit_direction)
    from tf_advnet.papers.pgn.pipeline import train_attack_generator
    from tf_advnet.papers.pgn.study import study
    from tf_advnet.store import Store

    x, y = toy_data(32)
    x[:, :2] = 0.0  # saturated rows
    clf = toy_classifier(0)
    clf.trainable = False
    s = dataclasses.replace(study("cpu", "synthetic"), generator_width=4, batch_size=16,
                            fig3_epochs=1, learning_rate=1e-2)
    recipe = {"c_l": 0.2, "width": 4, "learning_rate": 1e-2, "batch_size": 16,
              "seed": s.seed}
    store = Store(str(tmp_path / "store"))
    gens, logs = train_generator_snapshots(
        clf, {"e1": dict(recipe, epochs=1), "e2": dict(recipe, epochs=2)}, x, y, store,
        progress=lambda *_: None)
    assert set(logs) == {"e1", "e2"} and "adv_acc" in logs["e1"]
    ref = train_attack_generator(clf, 0.2, x, y, s, store, progress=lambda *_: None)
    for a, b in zip(gens["e1"].get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(np.abs(a - b).max() > 0 for a, b in
               zip(gens["e2"].get_weights(), ref.get_weights()))
    fn = as_model_fn(clf)
    u = fgm_direction(fn, x, y, batch_size=16)
    r = attack_at_equal_l2(fn, gens["e2"], x, y, unit_direction(u),
                           unit_direction(u, interior_mask(x)), grad_batch_size=16,
                           batch_size=16)
    for name in ("pgn", "fgm", "fgm_restricted"):
        assert r[name]["mean_l2"] == pytest.approx(r["mean_l2"], rel=1e-4)
    assert 0.0 <= r["pgn"]["saturated_l2_share"] < 1e-3  # Eq. 5 barely moves 0-pixels
    assert r["fgm_restricted"]["saturated_l2_share"] == 0.0


def _part_a(rows):
    return {f"pgn_e{e}": {"epochs": e, "c_l": 0.2, "mean_l2": l2,
                          "pgn": {"acc": pgn, "mean_l2": l2, "saturated_l2_share": 0.01},
                          "fgm": {"acc": fgm, "mean_l2": l2, "saturated_l2_share": 0.2},
                          "fgm_restricted": {"acc": fr, "mean_l2": l2,
                                             "saturated_l2_share": 0.0},
                          "train_logs": {"adv_acc": 0.5}}
            for e, l2, pgn, fgm, fr in rows}


@pytest.mark.parametrize("rows,expected,phrase", [
    # Beats restricted FGM after 20 epochs, not after 2.
    ([(2, 0.5, 0.75, 0.70, 0.74), (8, 0.5, 0.73, 0.70, 0.735), (20, 0.5, 0.72, 0.70, 0.73)],
     "budget", "-1.0 -> +0.5 -> +1.0"),
    # Loses throughout, but its gain still grows by 3 points from 8 to 20 epochs.
    ([(2, 0.5, 0.80, 0.70, 0.72), (8, 0.5, 0.79, 0.70, 0.72), (20, 0.5, 0.76, 0.70, 0.72)],
     "budget", "-7.0 -> -4.0"),
    # Restricted FGM no better than the generator: the saturated pixels.
    ([(2, 0.5, 0.74, 0.70, 0.75), (8, 0.5, 0.74, 0.70, 0.75), (20, 0.5, 0.74, 0.70, 0.75)],
     "design", "no better"),
    # Weaker even on the movable pixels, not improving.
    ([(2, 0.5, 0.80, 0.70, 0.72), (8, 0.5, 0.79, 0.70, 0.72), (20, 0.5, 0.785, 0.70, 0.72)],
     "design", "6.5 points weaker"),
])
def test_verdict_a_by_hand(rows, expected, phrase):
    from tf_advnet.papers.pgn.diagnostics import verdict_a

    v, reason = verdict_a(_part_a(rows))
    assert v == expected and phrase in reason, reason
    assert "20 epochs: L2 0.50" in reason


def _curve(rho, acc=(0.8, 0.85, 0.86), value=0.5):
    return {"epoch": [3, 10, 12], "acc": list(acc), "rho_cw": list(rho), "value": value,
            "train_images_per_second": 500.0}


@pytest.mark.parametrize("pgn,expected,phrase", [
    ((0.70, 0.95, 0.96), "budget", "rank improves"),     # 3rd -> 1st
    ((0.70, 0.76, 0.80), "budget", "still rises"),       # 3rd -> 3rd, +5% in 2 epochs
    ((0.70, 0.80, 0.81), "design", "not rising"),        # 3rd -> 3rd, +1.25%
])
def test_verdict_b_by_hand(pgn, expected, phrase):
    from tf_advnet.papers.pgn.diagnostics import verdict_b

    res = {"pgn": _curve(pgn, value=0.25), "fgm_at": _curve((0.80, 0.85, 0.86)),
           "pgd_at": _curve((0.85, 0.90, 0.92))}
    v, reason = verdict_b(res)
    assert v == expected and phrase in reason, reason
    assert "PGN ranks 3 of 3 at epoch 3" in reason


def test_render_both_parts_from_hand_made_docs(tmp_path):
    from tf_advnet.papers._diagnostics import write
    from tf_advnet.papers.pgn.diagnostics import render

    a = _part_a([(2, 0.5, 0.75, 0.70, 0.74), (20, 0.45, 0.72, 0.70, 0.73)])
    write(a, str(tmp_path), "a", title="A", question="Q?", verdict="budget", reason="R.",
          prov=PROV, render_fn=render)
    md = (tmp_path / "a.md").read_text()
    assert md == render(json.loads((tmp_path / "a.json").read_text()))
    assert "| pgn_e20 | 20 | 0.450 | 72.0 | 70.0 | 73.0 | 1.0 / 20.0 | 50.0 |" in md
    assert "**Verdict: budget.** R." in md
    b = {"pgn": _curve((0.7, 0.75, 0.8), value=0.25), "pgd_at": _curve((0.8, 0.9, 0.9))}
    md = render({"title": "B", "question": "Q", "arms": b, "verdict": "design",
                 "reason": "R.", "provenance": PROV})
    assert "| method | eps or c_L | acc / rho_cw, epoch 3 | acc / rho_cw, epoch 10 | " \
           "acc / rho_cw, epoch 12 | train img/s |" in md
    assert "| pgn | 0.25 | 80.0 / 0.700 | 85.0 / 0.750 | 86.0 / 0.800 | 500 |" in md


def test_rho_cw_only_after_the_chosen_epochs(tmp_path):
    """The study's RhoCWPerEpoch, limited to epochs {1, 3}: the curve's last point is
    the study's evaluate_model of the trained classifier."""
    from tf_advnet.papers.pgn.diagnostics import _rho_cw_at_epochs
    from tf_advnet.papers.pgn.pipeline import evaluate_model
    from tf_advnet.papers.pgn.study import study
    from tf_advnet.trainers.standard import StandardTrainer

    x, y = toy_data(32)
    s = dataclasses.replace(study("cpu", "synthetic"), cw_iterations=5, cw_binary_steps=1,
                            eval_batch_size=16)
    clf = toy_classifier(0)
    trainer = StandardTrainer(clf)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    path = str(tmp_path / "curve.json")
    trainer.fit(x, y, batch_size=16, epochs=3, verbose=0,
                callbacks=[_rho_cw_at_epochs(x[:16], y[:16], s, path, {1, 3})])
    with open(path) as f:
        curve = json.load(f)
    assert curve["epoch"] == [1, 3]
    want = evaluate_model(clf, x[:16], y[:16], s)
    assert curve["acc"][-1] == want["acc"]
    assert curve["rho_cw"][-1] == pytest.approx(want["rho_cw"], rel=1e-5)
