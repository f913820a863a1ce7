"""DeepDefense reproduction pieces: the DeepFool-AT training set, the fine-tuning
schedule and Table 1's metrics on a tiny model."""

import os

import keras
import numpy as np
import pytest

from tf_advnet.errors import UserError
from tf_advnet.papers.deepdefense.pipeline import (evaluate_model, finetune_optimizer,
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
    sched = finetune_schedule(5, 10, learning_rate=5e-4)  # halved from epoch 4
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


# ------------------------------------------------------------------ reproduce()

TINY = dict(train_limit=256, test_limit=48, epochs=1, trainer={"num_iter": 2})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    tmp = tmp_path_factory.mktemp("deepdefense")
    lines = []
    res = dd_run.reproduce("cpu", "synthetic", "mlp", work_dir=str(tmp / "runs"),
                           results_dir=str(tmp / "results"), overrides=TINY,
                           argv=["reproduce_deepdefense.py", "--dataset=synthetic"],
                           progress=lines.append)
    return tmp, res, lines


def test_reproduce_writes_json_and_markdown(study):
    import json

    from tf_advnet.papers.deepdefense import pipeline as dd_run

    tmp, res, _ = study
    out = tmp / "results"
    saved = json.loads((out / "deepdefense.json").read_text())
    assert list(saved["models"]) == list(dd_run.METHODS)
    eps_ref = saved["eps_ref"]
    assert eps_ref == saved["models"]["deepdefense"]["metrics"]["eps"]
    for m in dd_run.METHODS:
        met = saved["models"][m]["metrics"]
        assert met["eps_ref"] == eps_ref  # shared
        assert 0.0 <= met["acc"] <= 1.0 and met["rho_2"] > 0
        assert os.path.exists(saved["models"][m]["model_path"])
    cfgs = saved["configs"]
    assert cfgs["reference"]["train"]["method"] == "standard"
    assert cfgs["deepdefense"]["train"]["method"] == "deepdefense"
    dd_own = cfgs["deepdefense"]["train"]["trainer"]
    assert (dd_own["lam"], dd_own["c"], dd_own["d"]) == (15.0, 25.0, 5.0)
    assert cfgs["parseval"]["train"]["trainer"]["beta"] == pytest.approx(1e-4)
    assert cfgs["deepfool_at"]["train"]["method"] == "standard"
    ft = cfgs["deepdefense"]["train"]
    assert (ft["optimizer"], ft["learning_rate"], ft["momentum"],
            cfgs["deepdefense"]["data"]["batch_size"]) == ("sgd", 2e-2, 0.9, 100)
    prov = saved["provenance"]
    assert prov["preset"] == "cpu" and "commit" in prov and "versions" in prov
    assert "--dataset=synthetic" in prov["command"]
    st = saved["step_throughput"]
    assert st["deepdefense_images_per_second"] > 0 and st["plain_images_per_second"] > 0
    claims = {c["id"]: c for c in saved["claims"]}
    assert {"rho2_raised", "clean_accuracy_kept", "beats_baselines"} <= set(claims)
    md = (out / "deepdefense.md").read_text()
    assert "DeepDefense (ours)" in md and "DeepDefense (paper, MNIST)" in md
    assert "Adv. Train (DeepFool) (ours)" in md and "## Claims" in md
    acc = 100 * saved["models"]["reference"]["metrics"]["acc"]
    assert f"| Reference (ours) | {acc:.2f} |" in md


def test_reproduce_records_convergence_curves(study):
    """Figs. 2 / 6: every fine-tuning's curve starts at the reference (epoch 0) and
    ends at the saved model; the clean control and curves.png are written."""
    import json

    from tf_advnet.eval.robustness import as_model_fn, predict
    from tf_advnet.pipelines import common
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    tmp, res, _ = study
    saved = json.loads((tmp / "results" / "deepdefense.json").read_text())
    curves = saved["curves"]
    assert set(curves["methods"]) == set(dd_run.FINETUNE_METHODS)
    assert curves["n_test"] == TINY["test_limit"]
    x, y = common.load_split(dd_run.reference_config("synthetic", "mlp", "cpu",
                                                     TINY).data, "test")
    x, y = x[:curves["n_test"]], y[:curves["n_test"]]
    firsts = {(c["acc"][0], round(c["rho_2"][0], 5)) for c in curves["methods"].values()}
    assert len(firsts) == 1  # one starting point: the reference
    ref = common.load_keras_model(saved["models"]["reference"]["model_path"])
    assert curves["methods"]["deepdefense"]["acc"][0] == pytest.approx(
        float(np.mean(predict(as_model_fn(ref), x, 64) == y)))
    for method, curve in curves["methods"].items():
        assert curve["epoch"] == list(range(TINY["epochs"] + 1))
        model = common.load_keras_model(saved["model_paths"][method])
        assert curve["acc"][-1] == pytest.approx(
            float(np.mean(predict(as_model_fn(model), x, 64) == y)))
    assert saved["configs"]["clean"]["train"]["method"] == "standard"
    assert (tmp / "results" / "curves.png").stat().st_size > 5000
    assert "## Convergence (Figs. 2 and 6)" in (tmp / "results" / "deepdefense.md").read_text()


def _finished_setting(study):
    from tf_advnet.pipelines import common
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    tmp, res, _ = study
    root = tmp / "runs" / "synthetic" / "mlp"
    ref_cfg = dd_run.reference_config("synthetic", "mlp", "cpu", TINY)
    x, y = common.load_split(ref_cfg.data, "train")
    x_test, y_test = common.load_split(ref_cfg.data, "test")
    curve = dd_run.curve_subset("cpu", x_test, y_test, TINY)
    return root, ref_cfg, x, y, curve


def test_reproduce_reuses_finished_models(study):
    """A rerun finds the reference (train()) and each fine-tuned model finished."""
    from tf_advnet.papers.deepdefense import pipeline as dd_run
    from tf_advnet.pipelines.train import train

    _, res, lines = study
    assert not any("reusing" in line for line in lines)
    root, ref_cfg, x, y, curve = _finished_setting(study)
    again = []
    ref = train(ref_cfg, str(root / "reference"), progress=again.append)
    assert ref["model_path"] == res["models"]["reference"]["model_path"]
    for method in dd_run.FINETUNE_METHODS:
        cfg = dd_run.finetune_config(ref_cfg, "synthetic", method, TINY)
        key = dd_run._finetune_key(cfg, ref["model_path"], x, y, curve)
        assert dd_run._finished_run(str(root / method), key) is not None
        run = dd_run.finetune(cfg, ref["model_path"], x, y, str(root / method),
                              curve_data=curve, progress=again.append)
        assert run["model_path"] == res["model_paths"][method]
    assert sum("reusing" in line for line in again) == 1 + len(dd_run.FINETUNE_METHODS)
    other = dd_run.finetune_config(ref_cfg, "synthetic", "deepdefense",
                                   dict(TINY, trainer={"num_iter": 3}))
    key = dd_run._finetune_key(other, ref["model_path"], x, y, curve)
    assert dd_run._finished_run(str(root / "deepdefense"), key) is None


def test_finetune_stale_after_the_reference_is_retrained(study, tmp_path):
    """A fine-tuned model is tied to the reference's weights and the data, not only
    to its config: a retrained reference (or other data) is not served the old one."""
    from tf_advnet.pipelines import common
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    _, res, _ = study
    root, ref_cfg, x, y, curve = _finished_setting(study)
    cfg = dd_run.finetune_config(ref_cfg, "synthetic", "deepdefense", TINY)
    ref_path = res["models"]["reference"]["model_path"]
    assert dd_run._finished_run(str(root / "deepdefense"),
                                dd_run._finetune_key(cfg, ref_path, x, y, curve))
    retrained = common.load_keras_model(ref_path)
    retrained.set_weights([w * 1.01 for w in retrained.get_weights()])
    retrained.save(tmp_path / "reference.keras")
    key = dd_run._finetune_key(cfg, str(tmp_path / "reference.keras"), x, y, curve)
    assert dd_run._finished_run(str(root / "deepdefense"), key) is None
    key = dd_run._finetune_key(cfg, ref_path, x[1:], y[1:], curve)
    assert dd_run._finished_run(str(root / "deepdefense"), key) is None


def test_bad_combinations_are_one_line_errors():
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    with pytest.raises(UserError, match="--model='nin'"):
        dd_run.reference_config("mnist_5k", "nin", "cpu")
    with pytest.raises(UserError, match="--dataset='cifar10'"):
        dd_run.reference_config("cifar10", "convnet", "cpu")
    cfg = dd_run.reference_config("cifar10", "convnet", "paper")
    ft = dd_run.finetune_config(cfg, "cifar10", "parseval")
    assert (ft.train.epochs, ft.train.lr_boundaries, ft.train.trainer.beta) == (
        50, (40,), pytest.approx(3e-4))
    assert cfg.model.name == "deepdefense_convnet" and cfg.data.train_limit is None


def _run_binary(*flags):
    from tests.experiments._run import run_binary

    return run_binary("reproduce_deepdefense.py", *flags, timeout=120)


def test_binary_bad_model_is_one_line(cli):
    from tests.experiments._run import assert_one_line_error

    status, _, err = cli("reproduce", "deepdefense", "--dataset=synthetic", "--model=vgg")
    assert_one_line_error(status, err, "--model='vgg' is not valid")


def test_sweep_fine_tunes_each_lambda_c_from_the_shared_reference(study):
    """Fig. 4: one DeepDefense fine-tuning per (lambda, c), from Table 1's reference."""
    import json

    from tf_advnet.papers.deepdefense.sweep import sweep

    tmp, res, _ = study
    lines = []
    out = tmp / "sweep_results"
    kw = dict(cs=(5, 45), lambdas=(15,), work_dir=str(tmp / "runs"),
              results_dir=str(out), overrides=TINY, progress=lines.append)
    got = sweep("cpu", "synthetic", "mlp", **kw)
    assert any("already trained" in line for line in lines)  # reference reused
    ref = res["models"]["reference"]["metrics"]
    assert got["points"][0]["acc"] == pytest.approx(ref["acc"])
    assert got["points"][0]["rho_2"] == pytest.approx(ref["rho_2"], rel=1e-5)
    assert [(p["lambda"], p["c"]) for p in got["points"][1:]] == [(15.0, 5.0), (15.0, 45.0)]
    for lam, c in ((15, 5), (15, 45)):
        meta = json.loads((tmp / "runs" / "synthetic" / "mlp" / "sweep" /
                           f"lambda{lam}_c{c}" / "finetune.json").read_text())
        train = meta["config"]["train"]
        assert (train["trainer"]["lam"], train["trainer"]["c"], train["epochs"]) == (lam, c, 1)
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["points"] == json.loads(json.dumps(got["points"]))
    assert "provenance" in saved and (out / "sweep.png").stat().st_size > 5000
    assert "| 15 | 45 |" in (out / "sweep.md").read_text()
    again = []
    sweep("cpu", "synthetic", "mlp", **dict(kw, progress=again.append))
    assert sum("already fine-tuned" in line for line in again) == 2


def test_binary_bad_sweep_values_are_one_line():
    """The binary itself, after TensorFlow's start-up: one line, nothing on stdout."""
    from tests.experiments._run import assert_one_line_error

    proc = _run_binary("--dataset=synthetic", "--sweep", "--sweep_c=5,x")
    assert_one_line_error(proc.returncode, proc.stderr, "--sweep_c=5,x: give positive numbers")
    assert not proc.stdout, proc.stdout[-2000:]


def test_finetune_stops_and_flags_a_diverged_run(study, tmp_path):
    """A NaN loss stops the fine-tuning (TerminateOnNaN) and marks it diverged."""
    from tf_advnet.pipelines import common
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    _, res, _ = study
    ref_cfg = dd_run.reference_config("synthetic", "mlp", "cpu", TINY)
    cfg = dd_run.finetune_config(ref_cfg, "synthetic", "deepdefense",
                                 dict(TINY, epochs=3, learning_rate=1e12))
    x, y = common.load_split(ref_cfg.data, "train")
    run = dd_run.finetune(cfg, res["model_paths"]["reference"], x, y, str(tmp_path),
                          progress=lambda s: None)
    assert run["diverged"] is True
    assert len(run["history"]["loss"]) < 3


def test_paper_preset_uses_the_codes_mnist_units_and_lr():
    """MNIST at the paper preset: 0-255 pixels minus the training mean inside the model
    and the paper's fine-tuning lr 5e-4, which belongs to those units; cpu keeps [0, 1]
    and 2e-2 unless the units are asked for."""
    from tf_advnet.papers.deepdefense import pipeline as dd_run

    ref = dd_run.reference_config("mnist", "lenet", "paper")
    assert ref.model.input_units == "pixel_mean_255"
    ft = dd_run.finetune_config(ref, "mnist", "deepdefense")
    assert ft.train.learning_rate == dd_run.PAPER_FINETUNE_LR == 5e-4
    assert ft.model.input_units == "pixel_mean_255"
    cpu = dd_run.reference_config("mnist_5k", "lenet", "cpu")
    assert cpu.model.input_units is None
    assert dd_run.finetune_config(cpu, "mnist_5k", "deepdefense").train.learning_rate == 2e-2
    units = dd_run.reference_config("mnist_5k", "lenet", "cpu",
                                    {"input_units": "pixel_mean_255"})
    assert dd_run.finetune_config(units, "mnist_5k",
                                  "parseval").train.learning_rate == 5e-4


def test_sweep_tradeoff_claim_by_hand():
    """Fig. 4: at each lambda rho_2 never rises with c and the largest c is more
    accurate than the smallest; at each c rho_2 never falls with lambda."""
    from tf_advnet.papers.deepdefense.claims import sweep_claims

    def pt(lam, c, acc, rho):
        return {"lambda": lam, "c": c, "acc": acc, "rho_2": rho}

    res = {"lambdas": [5, 15], "points": [
        pt(None, None, 0.95, 0.1),
        pt(5, 5, 0.96, 0.20), pt(5, 45, 0.97, 0.15),
        pt(15, 5, 0.95, 0.22), pt(15, 45, 0.965, 0.16)]}
    c = {x.id: x for x in sweep_claims(res)}["sweep_c_tradeoff"]
    assert c.verdict == "held"
    assert c.margins == pytest.approx({
        "-(largest rise of rho_2 with c), lambda 5": 0.05,
        "accuracy at c 45 - at c 5 (points), lambda 5": 1.0,
        "-(largest rise of rho_2 with c), lambda 15": 0.06,
        "accuracy at c 45 - at c 5 (points), lambda 15": 1.5,
        "-(largest fall of rho_2 with lambda), c 5": 0.02,
        "-(largest fall of rho_2 with lambda), c 45": 0.01})
    res["points"][4] = pt(15, 45, 0.94, 0.14)  # less accurate at c 45; below lambda 5's
    c = {x.id: x for x in sweep_claims(res)}["sweep_c_tradeoff"]
    assert c.verdict == "not held"
    assert c.margins["accuracy at c 45 - at c 5 (points), lambda 15"] == pytest.approx(-1.0)
    assert c.margins["-(largest fall of rho_2 with lambda), c 45"] == pytest.approx(-0.01)
