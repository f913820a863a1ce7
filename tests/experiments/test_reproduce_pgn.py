"""PGN reproduction (`tf_advnet.papers.pgn.pipeline`): the pipeline end to end on a tiny synthetic
study, matching, the curve comparisons, and one-line errors."""

import json

import pytest

from tf_advnet.errors import UserError

TINY = dict(train_limit=64, test_limit=24, epochs=1, eps_grid=(0.5, 1.0),
            c_l_grid=(1.0, 5.0), capacity_widths=(), generator_width=4, fig3_eps=1.0,
            fig3_c_l=(1.0,), fig3_attack_eps=(0.5, 1.0), fig3_epochs=1, fig2_epochs=2,
            fig2_test_images=12, cw_iterations=5, cw_binary_steps=1, eval_batch_size=24,
            timing_steps=2, timing_rounds=3)


# The tests that use this fixture are marked slow: it alone takes about 26 s
# on 2 CPU cores (CI, commit e91f0ad).
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tf_advnet.papers.pgn.pipeline import reproduce

    tmp = tmp_path_factory.mktemp("pgn")
    lines = []
    res = reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                    results_dir=str(tmp / "results"), overrides=TINY,
                    argv=["reproduce_pgn.py", "--dataset=synthetic"], progress=lines.append)
    return tmp, res, lines


@pytest.mark.slow
def test_reproduce_trains_every_model_and_writes_the_report(tiny):
    tmp, res, _ = tiny
    out = tmp / "results"
    saved = json.loads((out / "pgn.json").read_text())
    assert set(saved["models"]) == {"standard", "fgm_at_0.5", "fgm_at_1", "pgd_at_0.5",
                                    "pgd_at_1", "pgn_1", "pgn_5"}
    for name, m in saved["models"].items():
        assert 0.0 <= m["acc"] <= 1.0 and m["train_images_per_second"] > 0
        assert m["rho_cw"] is None or m["rho_cw"] >= 0.0
        cfg = json.loads((tmp / "runs" / "synthetic" / name /
                          "train_results.json").read_text())["config"]["train"]
        if m["method"] in ("fgm_at", "pgd_at"):
            assert (cfg["method"], cfg["norm"], cfg["eps"]) == ("pgd_at", "2", m["value"])
            assert cfg["attack_steps"] == (1 if m["method"] == "fgm_at" else 10)
            assert cfg["random_start"] == (m["method"] == "pgd_at")
        elif m["method"] == "pgn":
            own = cfg["trainer"]
            assert (own["c_l"], own["generator_width"]) == (m["value"], 4)
            assert (tmp / "runs" / "synthetic" / name / "generator.keras").exists()
    for name in ("pgn.md", "robustness_curve.png", "attack_strength.png",
                 "fgm_overfitting.png"):
        assert (out / name).stat().st_size > 500
    assert "--dataset=synthetic" in saved["provenance"]["command"]
    md = (out / "pgn.md").read_text()
    assert "## Table 2 at matched benign accuracy" in md and "## Claims" in md
    assert set(saved["speed"]) == {"standard", "fgm_at", "pgd_at", "pgn"}
    assert all(v > 0 for v in saved["speed"].values())
    for method, ips in saved["speed"].items():  # the median of 3 rounds
        assert ips == sorted(saved["speed_rounds"][method])[1]


@pytest.mark.slow
def test_table2_uses_the_models_nearest_the_baselines_accuracy(tiny):
    from tf_advnet.eval.matching import match_benign_accuracy

    _, res, _ = tiny
    target = res["models"]["standard"]["acc"]
    assert res["matching"]["target_acc"] == target
    for method in ("fgm_at", "pgd_at", "pgn"):
        cands = {n: m["acc"] for n, m in res["models"].items() if m["method"] == method}
        assert res["matching"]["chosen"][method] == match_benign_accuracy(cands, target)
    for method, row in res["table2"].items():
        for key in ("white_fgm", "white_mim", "black_fgm", "black_mim"):
            assert 0.0 <= row[key] <= 1.0
        # White-box FGM at eps cannot leave more correct than the clean model has.
        assert row["white_fgm"] <= row["acc"] + 1e-9


@pytest.mark.slow
def test_fig2_and_fig3_records(tiny):
    _, res, _ = tiny
    assert res["fig2"]["epoch"] == [1, 2] and len(res["fig2"]["rho_cw"]) == 2
    for clf in ("fgm_at", "pgd_at"):
        f3 = res["fig3"][clf]
        assert [p["eps"] for p in f3["fgm"]] == [0.5, 1.0]
        for p in f3["fgm"] + f3["pgd"]:
            assert p["mean_l2"] <= p["eps"] + 1e-4  # bounded attacks stay in the ball
        assert [p["c_l"] for p in f3["pgn"]] == [1.0] and f3["pgn"][0]["mean_l2"] > 0


@pytest.mark.slow
def test_rerun_reuses_models_and_evaluations(tiny):
    from tf_advnet.papers.pgn.pipeline import reproduce

    tmp, res, _ = tiny
    lines = []
    again = reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                      results_dir=str(tmp / "results2"), overrides=TINY,
                      progress=lines.append)
    reused = sum("already trained" in line for line in lines)
    assert reused == len(res["models"]) + 2  # + standard_bb and fig2_fgm_at
    for name, m in res["models"].items():
        assert again["models"][name]["rho_cw"] == m["rho_cw"]
    # The step timing is stored with the study's config and data, not re-timed.
    assert again["speed"] == res["speed"]


def test_curve_comparisons_by_hand():
    from tf_advnet.papers.pgn.claims import attack_stronger, curve_outside

    other = [{"acc": 0.9, "rho_cw": 0.5}, {"acc": 0.7, "rho_cw": 1.5}]
    # At accuracy 0.8 the other curve has rho 1.0 (linear in accuracy).
    assert curve_outside([{"acc": 0.8, "rho_cw": 1.1}], other) == (1, 1)
    assert curve_outside([{"acc": 0.8, "rho_cw": 0.9}], other) == (0, 1)
    # Above the other's accuracy range a point must dominate its every point.
    assert curve_outside([{"acc": 0.95, "rho_cw": 1.6}], other) == (1, 1)
    assert curve_outside([{"acc": 0.95, "rho_cw": 1.4}], other) == (0, 1)
    assert curve_outside([{"acc": 0.6, "rho_cw": 9.0}], other) == (0, 0)  # below: unknown
    fgm = [{"mean_l2": 0.5, "acc": 0.8}, {"mean_l2": 1.5, "acc": 0.4}]
    assert attack_stronger([{"mean_l2": 1.0, "acc": 0.5}], fgm) == (1, 1)
    assert attack_stronger([{"mean_l2": 1.0, "acc": 0.7}], fgm) == (0, 1)
    assert attack_stronger([{"mean_l2": 2.0, "acc": 0.0}], fgm) == (0, 0)


def test_study_errors_are_one_line():
    from tf_advnet.papers.pgn.pipeline import study

    with pytest.raises(UserError, match="--fig3_eps=0.3 must be one of --eps_grid"):
        study("cpu", overrides={"fig3_eps": 0.3})
    with pytest.raises(UserError, match="--preset='gpu' is not valid"):
        study("gpu")
    with pytest.raises(UserError, match="--dataset='svhn' is not valid"):
        study("paper", "svhn")
    with pytest.raises(UserError, match="--c_l_grid: give positive numbers"):
        study("cpu", overrides={"c_l_grid": (0.0, 1.0)})
    s = study("paper")
    assert (s.dataset, s.model, s.ema_decay, s.generator_width) == (
        "cifar100", "convpool_cnn", 0.998, 128)


def test_binary_bad_grid_is_one_line():
    from tests.experiments._run import assert_one_line_error, run_binary

    proc = run_binary("reproduce_pgn.py", "--dataset=synthetic", "--eps_grid=1,x",
                      timeout=120)
    assert_one_line_error(proc.returncode, proc.stderr,
                          "--eps_grid=1,x: give positive numbers")
    assert not proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("dataset,classes", [("cifar100", 100), ("cifar10", 10)])
def test_paper_preset_starts_on_synthetic_batches(dataset, classes):
    """The paper recipe (ConvPool-CNN, Adam 5e-4, EMA 0.998, 128-channel generator,
    c_L = 50; L2 PGD-AT) trains a few steps on 32x32x3 batches; only the classifier
    width is shrunk."""
    import numpy as np

    from tf_advnet.papers.pgn.pipeline import model_config, study
    from tf_advnet.pipelines.train import build_classifier, build_trainer, compile_trainer

    s = study("paper", dataset, {"width": 0.25})
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, classes, size=8).astype("int64")
    for method, value in (("pgn", 50.0), ("pgd_at", 0.5)):
        cfg = model_config(s, method, value)
        assert (cfg.model.name, cfg.train.optimizer, cfg.train.learning_rate,
                cfg.data.augment, cfg.data.batch_size) == (
            "convpool_cnn", "adam", 5e-4, "crop_flip", 128)
        clf = build_classifier(cfg, (32, 32, 3), classes)
        trainer = build_trainer(cfg, clf)
        if method == "pgn":
            assert (trainer.c_l, trainer.ema_decay) == (50.0, 0.998)
            assert trainer.generator.get_layer(index=-1).filters == 3
        else:
            assert (trainer.norm, trainer.num_steps) == ("2", 10)
            assert trainer.step_size == pytest.approx(0.5 / 6)
        compile_trainer(trainer, cfg, 2)
        if method == "pgn":  # each player its own optimiser of the same recipe
            assert trainer.g_optimizer is not trainer.optimizer
            assert float(trainer.g_optimizer.learning_rate) == pytest.approx(5e-4)
        before = [w.numpy().copy() for w in clf.trainable_weights]
        hist = trainer.fit(x, y, batch_size=4, epochs=1, verbose=0)
        assert all(np.isfinite(v[-1]) for v in hist.history.values())
        assert any(not np.array_equal(a, w.numpy())
                   for a, w in zip(before, clf.trainable_weights))


def test_wider_claim_compares_curves_at_equal_accuracy_by_hand():
    """Fig. 5 (right): a wider model that trades accuracy for rho_cw along the curve
    still counts when it lies right of the narrower curve."""
    from tf_advnet.papers.pgn.claims import claims

    def model(method, value, acc, rho, width=None):
        return {"method": method, "value": value, "acc": acc, "rho_cw": rho,
                "width": width}

    narrow = {f"pgn_{v}": model("pgn", v, a, r)
              for v, a, r in ((0.1, 0.9, 0.5), (0.25, 0.7, 1.5))}
    res = {"study": {"width": None}, "speed": {}, "fig3": {},
           "fig2": {"epoch": [], "acc": [], "rho_cw": []},
           # Wider at c_L 0.1: less accurate (0.8 < 0.9) but at accuracy 0.8 the
           # narrower curve has rho_cw 1.0: 1.1 lies right of it.
           "models": {**narrow, "pgn_0.1_w2": model("pgn", 0.1, 0.8, 1.1, 2.0)}}
    c = {x.id: x for x in claims(res)}["wider_moves_curve_right"]
    assert c.verdict == "held"
    assert c.margins == {"wider - narrower curve's rho_cw, worst point":
                         pytest.approx(0.1)}
    res["models"]["pgn_0.1_w2"]["rho_cw"] = 0.9
    assert {x.id: x for x in claims(res)}["wider_moves_curve_right"].verdict == "not held"
    # Above the narrower curve's accuracy range: right of it only when it dominates
    # every narrower point (rho_cw > 1.5).
    res["models"]["pgn_0.1_w2"].update(acc=0.95, rho_cw=1.6)
    c = {x.id: x for x in claims(res)}["wider_moves_curve_right"]
    assert c.verdict == "held" and c.margins == {
        "wider - narrower curve's rho_cw, worst point": pytest.approx(0.1)}
    res["models"]["pgn_0.1_w2"]["rho_cw"] = 1.4
    assert {x.id: x for x in claims(res)}["wider_moves_curve_right"].verdict == "not held"
    res["models"]["pgn_0.1_w2"]["acc"] = 0.6  # below it: the narrower curve is unknown
    c = {x.id: x for x in claims(res)}["wider_moves_curve_right"]
    assert c.verdict == "not run" and c.ours.endswith("at 0 of 0 wider points in or above "
                                                      "its accuracy range")


def test_generator_claim_fails_where_one_classifier_fails_and_another_has_no_point():
    """Fig. 3 on two classifiers: a comparison without a point in FGM's L2 range leaves
    the claim untestable only while every other comparison holds."""
    from tf_advnet.papers.pgn.claims import claims

    fgm = [{"mean_l2": 0.5, "acc": 0.8}, {"mean_l2": 1.5, "acc": 0.4}]
    res = {"study": {"width": None}, "speed": {}, "models": {},
           "fig2": {"epoch": [], "acc": [], "rho_cw": []},
           "fig3": {"fgm_at": {"pgn": [{"mean_l2": 3.0, "acc": 0.0}], "fgm": fgm},
                    # at L2 1.0 FGM leaves 0.6: the PGN attack's 0.7 is weaker
                    "pgd_at": {"pgn": [{"mean_l2": 1.0, "acc": 0.7}], "fgm": fgm}}}
    c = {x.id: x for x in claims(res)}["generator_beats_fgm"]
    assert c.verdict == "not held"
    assert c.margins == {"FGM on pgd_at - PGN attack accuracy, worst point":
                         pytest.approx(-0.1)}
    res["fig3"]["pgd_at"]["pgn"][0]["acc"] = 0.5  # now stronger there: untestable
    assert {x.id: x for x in claims(res)}["generator_beats_fgm"].verdict == "not run"
