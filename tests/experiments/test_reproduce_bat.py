"""BAT reproduction: the library call end to end at a tiny size, the binary's one-line
errors, and the paper preset (WRN, SGD schedule, eps 8/255, beta 9) starting on a few
synthetic batches."""

import json
import os

import numpy as np
import pytest

from tests.experiments._run import assert_one_line_error, run_binary
from tf_advnet.errors import UserError
from tf_advnet.papers.bat import pipeline as bat_run
from tf_advnet.pipelines.train import build_classifier, build_trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = dict(train_limit=256, test_limit=64, epochs=1, batch_size=64)


# The tests that use this fixture are marked slow: it alone takes about 17 s
# on 2 CPU cores (CI, commit e91f0ad).
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bat")
    names = ["undefended", "Madry", "R-MC-LA", "FGSM", "R-MC-LA_seed1"]
    lines = []
    res = bat_run.reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                            results_dir=str(tmp / "results"), models=names,
                            overrides=TINY, progress=lines.append)
    return tmp, names, res, lines


@pytest.mark.slow
def test_reproduce_writes_json_markdown_plot(study):
    tmp, names, res, _ = study
    out = tmp / "results"
    saved = json.loads((out / "bat.json").read_text())
    assert list(saved["models"]) == names
    assert saved["provenance"]["preset"] == "cpu" and saved["eps"] == pytest.approx(0.1)
    main = saved["models"]["R-MC-LA"]["eval"]["attacks"]
    assert set(bat_run.MAIN_ATTACKS) <= set(main)
    assert set(saved["models"]["FGSM"]["eval"]["attacks"]) == set(bat_run.LEAK_ATTACKS)
    for name in names:
        ev = saved["models"][name]["eval"]
        assert all(0.0 <= a["acc"] <= ev["clean_acc"] for a in ev["attacks"].values())
        assert saved["models"][name]["training"]["train_images_per_second"] > 0
    assert saved["models"]["R-MC-LA"]["training"]["config"]["train"]["trainer"]["variant"] == \
        "R-MC-LA"
    assert saved["models"]["R-MC-LA_seed1"]["seed"] == saved["models"]["R-MC-LA"]["seed"] + 1
    bb = saved["black_box"]["transfer"]["R-MC-LA"]
    assert set(bb) == {f"{s}/{a}" for s in ("undefended", "R-MC-LA_seed1")
                       for a in ("FGSM", "CE20")}
    assert len(saved["acc_vs_steps"]["ce"]["R-MC-LA"]) == len(bat_run.STEPS_GRID)
    md = (out / "bat.md").read_text()
    assert "R-MC-LA (ours)" in md and "R-MC-LA (paper, CIFAR-10)" in md
    ours = 100 * saved["models"]["R-MC-LA"]["eval"]["clean_acc"]
    assert f"| R-MC-LA (ours) | {ours:.1f} |" in md
    assert (out / "acc_vs_steps.png").stat().st_size > 0
    claims = {c["id"]: c for c in saved["claims"]}
    # The cost comparison: both trainers timed back to back, one step vs PGD's seven.
    assert set(saved["speed"]) == {"Madry", "R-MC-LA"}
    ratio = saved["speed"]["R-MC-LA"] / saved["speed"]["Madry"]
    assert ratio > 1.5, saved["speed"]
    assert f"training speed {ratio:.2f}x Madry's" in claims["r_mc_la_beats_madry"]["ours"]
    # Answered from the models that ran; not run where a pair is missing (no R-FGSM).
    assert claims["cw_stronger_than_ce_on_bat"]["verdict"] in ("held", "not held")
    assert claims["random_start_prevents_label_leaking"]["verdict"] == "not run"
    assert "## Claims" in md
    grads = saved["gradient_magnitude"]
    assert set(grads) == {"undefended", "Madry", "R-MC-LA"}
    assert grads["R-MC-LA"]["all"]["n"] == saved["n"]
    assert "(Table 2)" in md


@pytest.mark.slow
def test_reproduce_again_reuses_trained_models(study):
    tmp, names, _, _ = study
    lines = []
    bat_run.reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                      results_dir=str(tmp / "again"), models=["R-MC-LA"],
                      overrides=TINY, progress=lines.append)
    assert any("already trained" in line for line in lines)


def test_bad_names_are_user_errors():
    with pytest.raises(UserError, match="--models='R-MOSA'"):
        bat_run.model_specs(["R-MOSA"])
    with pytest.raises(UserError, match="--dataset='cifar10'"):
        bat_run.bat_config("cpu", "cifar10", bat_run.model_specs(["R-MC-LA"])[0])
    with pytest.raises(UserError, match="--dataset='mnist'"):
        bat_run.bat_config("paper", "mnist", bat_run.model_specs(["R-MC-LA"])[0])


def test_binary_bad_model_is_one_line():
    proc = run_binary("reproduce_bat.py", "--dataset=synthetic", "--models=R-X",
                      timeout=120)
    assert_one_line_error(proc.returncode, proc.stderr, "--models='R-X' is not valid")
    assert not proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("dataset", ["cifar10", "svhn"])
def test_paper_preset_matches_the_paper(dataset):
    spec = bat_run.model_specs(["R-MC-LA"])[0]
    cfg = bat_run.bat_config("paper", dataset, spec)
    t = cfg.train
    assert (cfg.model.name, cfg.model.variant, cfg.data.batch_size) == (
        "wide_resnet", None, 128)
    assert (t.optimizer, t.momentum, t.weight_decay, t.lr_boundaries, t.epochs) == (
        "sgd", 0.9, 2e-4, (60, 90), 100)
    assert t.learning_rate == (0.1 if dataset == "cifar10" else 0.01)
    assert (t.eps, cfg.eval.eps, t.trainer.beta, t.trainer.variant) == (
        pytest.approx(8 / 255), pytest.approx(8 / 255), 9.0, "R-MC-LA")
    assert cfg.data.augment == ("crop_flip" if dataset == "cifar10" else None)
    madry = bat_run.bat_config("paper", dataset, bat_run.model_specs(["Madry"])[0])
    assert (madry.train.method, madry.train.attack_steps,
            madry.train.step_size) == ("pgd_at", 7, pytest.approx(2 / 255))


def test_paper_preset_starts_on_synthetic_batches():
    """The paper recipe (WRN, SGD + schedule + wd, R-MC-LA at 8/255) trains a few
    steps; only the width and the data are shrunk."""
    from tf_advnet.pipelines.train import _optimizer

    spec = bat_run.model_specs(["R-MC-LA"])[0]
    cfg = bat_run.bat_config("paper", "cifar10", spec, overrides=dict(width=1))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=8).astype("int64")
    clf = build_classifier(cfg, (32, 32, 3), 10)
    assert clf.name == "wide_resnet"
    trainer = build_trainer(cfg, clf)
    assert (trainer.variant, trainer.eps, trainer.num_steps, trainer.step_size,
            trainer.beta, trainer.weight_decay) == (
        "R-MC-LA", pytest.approx(8 / 255), 1, pytest.approx(8 / 255), 9.0, 2e-4)
    opt = _optimizer(cfg.train, steps_per_epoch=2)
    trainer.compile(optimizer=opt)
    before = [w.numpy().copy() for w in clf.trainable_weights]
    hist = trainer.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in hist.history.values())
    assert int(opt.iterations) == 2
    assert float(opt.learning_rate) == pytest.approx(0.1)
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, clf.trainable_weights))


@pytest.mark.parametrize("preset_name,dataset", [("cpu", "fashion_mnist"), ("paper", "cifar10")])
def test_table1_models_train_with_their_attacks(preset_name, dataset):
    """Table 1: Madry's PGD7-2 (7 steps of eps/4) vs PGD2-8 (2 steps of eps)."""
    pgd7, pgd2 = (bat_run.bat_config(preset_name, dataset, s)
                  for s in bat_run.model_specs(["Madry", "Madry-PGD2-8"]))
    eps = pgd7.train.eps
    assert pgd7.train.attack_steps == 7
    # None means the trainer's default eps / 4.
    assert pgd7.train.step_size is None or pgd7.train.step_size == pytest.approx(eps / 4)
    assert pgd2.train.attack_steps == 2 and pgd2.train.step_size == pytest.approx(eps)
    assert pgd2.train.method == "pgd_at" and pgd2.train.eps == eps


def test_extra_steps_add_long_ce_and_cw_attacks_to_main_models():
    """CE/CW at 200 and 1000 steps "on request" (Sec. 5), main models only."""
    main, leak = bat_run.model_specs(["R-MC-LA", "FGSM"])
    specs = bat_run._attacks("cpu", main, (200, 1000))
    assert {"pgd1000:step=eps/4", "cwpgd1000:kappa=50,step=eps/4",
            "pgd200:step=eps/4", "cwpgd200:kappa=50,step=eps/4"} <= set(specs)
    assert len(specs) == len(set(specs))
    assert not any("1000" in s for s in bat_run._attacks("cpu", leak, (1000,)))
    paper = bat_run._attacks("paper", main, (200,))  # already in the paper preset
    assert paper.count(bat_run.CE200) == 1
