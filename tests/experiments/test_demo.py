"""The README's main job (`experiments/demo.py`) end to end on a tiny synthetic run."""

import json

TINY = dict(train_limit=200, test_limit=40, epochs=1, attacks="fgsm,pgd10")


def test_demo_trains_attacks_and_runs_deepdefense(tmp_path):
    from tf_advnet.runs import deepdefense as dd
    from tf_advnet.runs.demo import METHODS, demo

    lines = []
    md = demo("synthetic", "cpu", work_dir=str(tmp_path / "runs"),
              results_dir=str(tmp_path / "results"), overrides=TINY,
              argv=["demo.py", "--dataset=synthetic"], progress=lines.append)
    out = tmp_path / "results"
    ev = json.loads((out / "eval.json").read_text())
    assert set(ev["models"]) == set(METHODS)
    for m in METHODS:
        assert set(ev["models"][m]["attacks"]) >= {"fgsm", "pgd10"}
    summary = json.loads((out / "demo.json").read_text())
    assert "--dataset=synthetic" in summary["provenance"]["command"]
    saved = json.loads((out / "deepdefense" / "deepdefense.json").read_text())
    assert list(saved["models"]) == list(dd.METHODS)
    assert summary["deepdefense"]["findings"] == saved["findings"]
    # The tiny overrides reach DeepDefense's runs too (its test set and fine-tuning).
    assert saved["n_test"] == TINY["test_limit"]
    assert saved["configs"]["deepdefense"]["train"]["epochs"] == TINY["epochs"]
    assert any(line.startswith("[demo] DeepDefense (MLP): rho_2") for line in lines)
    assert md.endswith("eval.md")


def test_demo_skips_deepdefense_off_its_data_sets(tmp_path):
    from tf_advnet.runs.demo import _deepdefense

    lines = []
    assert _deepdefense("cifar10", "cpu", str(tmp_path), str(tmp_path), {}, None,
                        lines.append) is None
    assert "DeepDefense skipped" in lines[0] and "reproduce_deepdefense.py" in lines[0]
