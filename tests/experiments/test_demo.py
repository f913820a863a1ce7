"""The README's main job (`experiments/demo.py`) end to end on a tiny synthetic run."""

import json

TINY = dict(train_limit=200, test_limit=40, epochs=1, attacks="fgsm,pgd10")
TINY_PGN = dict(generator_width=4, cw_iterations=5, cw_binary_steps=1, fig2_epochs=1,
                fig2_test_images=12)
TINY_ADVNET = dict(generator="g0:4", attack_generators=("g0:4",), g_steps=1, pgd_steps=2)
TINY_L2LDA = dict(g_width=4, num_steps=2, attack_samples=1, attack_train_limit=32)


def test_demo_trains_attacks_and_runs_deepdefense_pgn_advnet_and_l2lda(tmp_path):
    from tf_advnet.runs import deepdefense as dd
    from tf_advnet.runs.demo import METHODS, demo

    lines = []
    md = demo("synthetic", "cpu", work_dir=str(tmp_path / "runs"),
              results_dir=str(tmp_path / "results"), overrides=TINY,
              pgn_overrides=TINY_PGN, advnet_overrides=TINY_ADVNET,
              l2lda_overrides=TINY_L2LDA, argv=["demo.py", "--dataset=synthetic"],
              progress=lines.append)
    out = tmp_path / "results"
    ev = json.loads((out / "eval.json").read_text())
    assert set(ev["models"]) == set(METHODS)
    for m in METHODS:
        assert set(ev["models"][m]["attacks"]) >= {"fgsm", "pgd10"}
    summary = json.loads((out / "demo.json").read_text())
    assert "--dataset=synthetic" in summary["provenance"]["command"]
    # Every part is timed, and the job's wall time covers them all.
    parts = summary["part_wall_time_s"]
    assert set(parts) == {"standard_pgd_at_bat", "deepdefense", "pgn", "advnet", "l2lda"}
    assert summary["provenance"]["wall_time_s"] >= sum(parts.values()) - 1.0
    saved = json.loads((out / "deepdefense" / "deepdefense.json").read_text())
    assert list(saved["models"]) == list(dd.METHODS)
    assert summary["deepdefense"]["findings"] == saved["findings"]
    # The tiny overrides reach DeepDefense's runs too (its test set and fine-tuning).
    assert saved["n_test"] == TINY["test_limit"]
    assert saved["configs"]["deepdefense"]["train"]["epochs"] == TINY["epochs"]
    assert any(line.startswith("[demo] DeepDefense (MLP): rho_2") for line in lines)
    pgn = json.loads((out / "pgn" / "pgn.json").read_text())
    assert set(pgn["table2"]) == {"standard", "fgm_at", "pgd_at", "pgn"}
    assert pgn["study"]["c_l_grid"] == [0.1] and pgn["n_test"] == TINY["test_limit"]
    assert summary["pgn"]["findings"] == pgn["findings"]
    assert any(line.startswith("[demo] PGN (L2, matched") for line in lines)
    adv = json.loads((out / "advnet" / "advnet.json").read_text())
    assert set(adv["table"]) == {"A", "B", "C", "EAT"}  # no Table 6 in the demo
    assert adv["n_test"] == TINY["test_limit"]
    assert adv["study"]["advnet_epochs"] == TINY["epochs"]
    assert summary["advnet"]["findings"] == adv["findings"]
    assert any(line.startswith("[demo] adversarial networks (eps") for line in lines)
    l2l = json.loads((out / "l2lda" / "l2lda.json").read_text())
    assert set(l2l["tables"]) == {"table2", "table3"}  # no Table 1 in the demo
    assert l2l["n_test"] == TINY["test_limit"] and l2l["study"]["epochs"] == TINY["epochs"]
    assert summary["l2lda"]["findings"] == l2l["findings"]
    assert any(line.startswith("[demo] L2L-DA (eps") for line in lines)
    assert md.endswith("eval.md")


def test_demo_skips_studies_off_their_data_sets(tmp_path):
    from tf_advnet.runs.demo import _advnet, _deepdefense, _l2lda, _pgn

    lines = []
    assert _deepdefense("cifar10", "cpu", str(tmp_path), str(tmp_path), {}, None,
                        lines.append) is None
    assert "DeepDefense skipped" in lines[0] and "reproduce_deepdefense.py" in lines[0]
    assert _pgn("svhn", "cpu", str(tmp_path), str(tmp_path), {}, None, None,
                lines.append) is None
    assert "PGN skipped" in lines[1] and "reproduce_pgn.py" in lines[1]
    assert _advnet("cifar10", "cpu", str(tmp_path), str(tmp_path), {}, None, None,
                   lines.append) is None
    assert "adversarial networks skipped" in lines[2] and "reproduce_advnet.py" in lines[2]
    assert _l2lda("cifar10", "cpu", str(tmp_path), str(tmp_path), {}, None, None,
                  lines.append) is None
    assert "L2L-DA skipped" in lines[3] and "reproduce_l2lda.py" in lines[3]
