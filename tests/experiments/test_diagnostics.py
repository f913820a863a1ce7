"""Discriminating runs (`tf_advnet.papers._diagnostics`): BAT's large-budget arms differ
from the card's recipe in one setting each, the verdict follows its rule by hand, and
the report renders from the JSON."""

import json

import pytest


def test_bat_arms_differ_in_one_setting_each():
    from tf_advnet.papers.bat.diagnostics import ARMS, arms

    cfgs = arms("mnist_5k")
    assert tuple(cfgs) == ARMS
    one = cfgs["one_step"].train
    assert one.method == "bat" and one.trainer.num_steps is None and one.eps == 0.3
    assert one.eps_warmup_epochs == 0
    assert cfgs["ramp"].train.eps_warmup_epochs == cfgs["ramp"].train.epochs / 2
    assert cfgs["two_steps"].train.trainer.num_steps == 2
    assert cfgs["half_eps"].train.eps == 0.15 and cfgs["half_eps"].eval.eps == 0.3
    assert cfgs["pgd_at"].train.method == "pgd_at"
    for name in ("ramp", "two_steps", "half_eps"):  # all else equal to one_step's
        a, b = cfgs[name].train, one
        diff = {f for f in ("eps", "eps_warmup_epochs", "epochs", "learning_rate",
                            "optimizer") if getattr(a, f) != getattr(b, f)}
        diff |= {"trainer"} if a.trainer != b.trainer else set()
        assert len(diff) == 1, (name, diff)


@pytest.mark.parametrize("best,expected", [(0.40, "our deviation"), (0.33, "design")])
def test_bat_verdict_rule_by_hand(best, expected):
    from tf_advnet.papers.bat.diagnostics import verdict

    res = {"one_step": {"worst_case": 0.30}, "ramp": {"worst_case": best},
           "two_steps": {"worst_case": 0.31}, "half_eps": {"worst_case": 0.2},
           "pgd_at": {"worst_case": 0.6}}
    v, reason = verdict(res)
    assert v == expected and "PGD-AT 60.0%" in reason


def test_write_renders_the_table_and_verdict(tmp_path):
    from tf_advnet.papers._diagnostics import render, write

    arm = {"clean": 0.9, "attacks": {"pgd40": 0.5, "apgdt": 0.4}, "worst_case": 0.4,
           "train_images_per_second": 1000.0}
    prov = {"command": "x", "commit": "abc", "seed": 0, "preset": "cpu",
            "wall_time_s": 1.0, "versions": {}}
    write({"a": arm, "b": dict(arm, worst_case=None)}, str(tmp_path), "d", title="T",
          question="Q?", verdict="design", reason="R.", prov=prov)
    doc = json.loads((tmp_path / "d.json").read_text())
    md = (tmp_path / "d.md").read_text()
    assert md == render(doc)
    assert "| a | 90.0 | 50.0 | 40.0 | 40.0 | 1000 |" in md
    assert "| b | 90.0 | 50.0 | 40.0 | — | 1000 |" in md
    assert "**Verdict: design.** R." in md
    from tf_advnet.errors import UserError

    with pytest.raises(UserError, match="verdict"):
        write({"a": arm}, str(tmp_path), "e", title="T", question="Q", verdict="maybe",
              reason="", prov=prov)


def test_deepdefense_units_arms_and_verdict_by_hand():
    from tf_advnet.papers.deepdefense.diagnostics import arms, render, verdict

    a = arms("mnist_5k", "lenet")
    (ref_o, ft_o), (ref_p, ft_p) = a["ours"], a["paper_units"]
    assert ref_o.model.input_units is None and ft_o.train.learning_rate == 2e-2
    assert ref_p.model.input_units == "pixel_mean_255" and ft_p.train.learning_rate == 5e-4
    assert ft_o.train.trainer == ft_p.train.trainer  # the same regulariser
    arm = {"reference": {"acc": 0.99, "rho_2": 0.2}, "deepdefense": {"acc": 0.99,
           "rho_2": 0.3}, "rho_2_ratio": 1.5, "train_images_per_second": 100.0}
    v, _ = verdict({"ours": arm, "paper_units": dict(arm, rho_2_ratio=2.0)})
    assert v == "our deviation"
    v, reason = verdict({"ours": arm, "paper_units": dict(arm, rho_2_ratio=1.6)})
    assert v == "design" and "paper units 1.60x" in reason
    weak = dict(arm, reference={"acc": 0.95, "rho_2": 0.05}, rho_2_ratio=3.0)
    v2, why = verdict({"ours": arm, "paper_units": weak})
    assert v2 == "inconclusive" and "-4.0 points" in why and "rho_2 0.3 in our units" in why
    prov = {"command": "x", "commit": "c", "seed": 0, "preset": "cpu", "wall_time_s": 1,
            "versions": {}}
    md = render({"title": "T", "question": "Q", "arms": {"ours": arm}, "verdict": v,
                 "reason": reason, "provenance": prov})
    assert "| ours | 99.00 | 0.2 | 99.00 | 0.3 | 1.50 | 100 |" in md


def test_committed_diagnostics_rerender_byte_for_byte():
    """Every committed diagnostic, by its study's `render` (default `_diagnostics.render`)."""
    import glob
    import importlib
    import os

    from tf_advnet.papers import _diagnostics

    root = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "results")
    paths = glob.glob(os.path.join(root, "*", "diagnostics", "*.json"))
    assert paths
    for p in paths:
        study = os.path.basename(os.path.dirname(os.path.dirname(p)))
        mod = importlib.import_module(f"tf_advnet.papers.{study}.diagnostics")
        with open(p) as f, open(p[:-len(".json")] + ".md") as g:
            assert getattr(mod, "render", _diagnostics.render)(json.load(f)) == g.read(), p


def test_robust_accuracy_callback_logs_the_attacked_accuracy(tmp_path):
    """The per-epoch curve equals the accuracy under the same attack computed apart."""
    import keras
    import numpy as np

    from tf_advnet.attacks.registry import parse_attack
    from tf_advnet.eval.robustness import predict, run_attack
    from tf_advnet.trainers.standard import StandardTrainer
    from tf_advnet.trainers.callbacks import RobustAccuracy

    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    clf = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(2)])
    trainer = StandardTrainer(clf)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    attack = parse_attack("fgsm", eps=0.05)
    cb = RobustAccuracy(x[:32], y[:32], attack, name="val_fgsm_acc", batch_size=16)
    hist = trainer.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    fn = trainer.classifier_fn
    want = np.mean(predict(fn, run_attack(attack, fn, x[:32], y[:32], batch_size=16),
                           16) == y[:32])
    assert len(hist.history["val_fgsm_acc"]) == 2
    assert hist.history["val_fgsm_acc"][-1] == float(want)


def test_index_lists_every_committed_diagnostic_and_rerenders(tmp_path):
    """results/diagnostics.md is `index` of the committed JSON, byte for byte; and
    `tf-advnet render --results_dir=<root>` rewrites each diagnostic and the index."""
    import glob
    import os
    import shutil

    from tf_advnet.papers import _diagnostics, _study

    root = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "results")
    with open(os.path.join(root, "diagnostics.md")) as f:
        assert _diagnostics.index(root) == f.read()
    docs = glob.glob(os.path.join(root, "*", "diagnostics", "*.json"))
    text = _diagnostics.index(root)
    for p in docs:
        with open(p) as f:
            doc = json.load(f)
        assert f"[{doc['title']}]" in text and f"**{doc['verdict']}**" in text
    for p in docs:
        dst = tmp_path / os.path.relpath(p, root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    written = _study.rerender(str(tmp_path))
    assert len(written) == len(docs) + 1
    for p in docs:
        md = os.path.relpath(p, root)[:-len(".json")] + ".md"
        with open(os.path.join(root, md)) as f:
            assert (tmp_path / md).read_text() == f.read()
    assert (tmp_path / "diagnostics.md").read_text() == text
