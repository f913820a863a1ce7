"""The README's main job (`experiments/demo.py`) on a tiny synthetic run: its own part
(standard / PGD-AT / BAT trained and attacked, the table, demo.json) for real, and its
wiring of the four paper studies. The studies themselves run end to end in their own
tests (tests/experiments/test_reproduce_*.py); here they are replaced by fakes that
check the demo's call against the real `reproduce` signature and build the real
study configs from the overrides the demo passes."""

import inspect
import json
import os

import pytest

TINY = dict(train_limit=200, test_limit=40, epochs=1, attacks="fgsm,pgd10")
TINY_PGN = dict(generator_width=4, cw_iterations=5, cw_binary_steps=1, fig2_epochs=1,
                fig2_test_images=12)
TINY_ADVNET = dict(generator="g0:4", attack_generators=("g0:4",), g_steps=1, pgd_steps=2)
TINY_L2LDA = dict(g_width=4, num_steps=2, attack_samples=1, attack_train_limit=32)
STUDIES = ("deepdefense", "pgn", "advnet", "l2lda")


@pytest.fixture
def fake_studies(monkeypatch):
    """Replaces each study's `reproduce` by a fake that records its arguments (bound to
    the real signature, so a wrong call fails), builds the real study config from its
    overrides (so an override the study does not know fails) and writes
    `<results_dir>/<study>.json` with its claims, as the real one does. Returns
    {study: (bound arguments, config, claims)}."""
    from tf_advnet.papers.advnet import pipeline as advnet
    from tf_advnet.papers.l2lda import pipeline as l2lda
    from tf_advnet.papers.pgn import pipeline as pgn
    from tf_advnet.papers.deepdefense import pipeline as dd

    calls = {}

    def deepdefense_result(a):
        ref = dd.reference_config(a["dataset"], a["model"], a["preset_name"],
                                  a["overrides"])
        cfg = {"reference": ref,
               "deepdefense": dd.finetune_config(ref, a["dataset"], "deepdefense",
                                                 a["overrides"])}
        models = {m: {"label": dd.METHOD_LABELS[m],
                      "metrics": {"rho_2": 0.01 * (i + 1), "acc": 0.5 + 0.1 * i}}
                  for i, m in enumerate(dd.METHODS)}
        return cfg, {"models": models}

    def pgn_result(a):
        s = pgn.study(a["preset_name"], a["dataset"], a["overrides"])
        t2 = {m: {"acc": 0.25, "rho_cw": None if m == "standard" else 0.125}
              for m in ("standard", "fgm_at", "pgd_at", "pgn")}
        return s, {"table2": t2}

    def advnet_result(a):
        s = advnet.study(a["preset_name"], a["dataset"], a["overrides"])
        row = {"clean": 0.5, "pgd": 0.25, "pgd(C')": 0.375}
        return s, {"table": {r: row for r in ("A", "B", "C", "EAT")},
                   "study": {"eps": s.eps}}

    def l2lda_result(a):
        s = l2lda.study(a["preset_name"], a["dataset"], a["overrides"])
        t2 = {r: {"clean": 0.5, "min": 0.25} for r in ("plain", "l2lda")}
        return s, {"tables": {"table2": t2}, "study": {"eps": s.eps}}

    def install(name, module, result):
        real = module.reproduce

        def fake(*args, **kwargs):
            bound = inspect.signature(real).bind(*args, **kwargs)
            bound.apply_defaults()
            config, res = result(bound.arguments)
            claims = [{"id": f"{name}_claim", "verdict": "held"}]
            calls[name] = (dict(bound.arguments), config, claims)
            os.makedirs(bound.arguments["results_dir"], exist_ok=True)
            with open(os.path.join(bound.arguments["results_dir"], f"{name}.json"),
                      "w") as f:
                json.dump({"claims": claims}, f)
            return dict(res, claims=claims)

        monkeypatch.setattr(module, "reproduce", fake)

    install("deepdefense", dd, deepdefense_result)
    install("pgn", pgn, pgn_result)
    install("advnet", advnet, advnet_result)
    install("l2lda", l2lda, l2lda_result)
    return calls


def test_demo_trains_attacks_and_runs_deepdefense_pgn_advnet_and_l2lda(tmp_path,
                                                                       fake_studies):
    from tf_advnet.papers.demo import pipeline as demo_mod
    from tf_advnet.papers.demo.pipeline import METHODS, demo

    lines = []
    argv = ["demo.py", "--dataset=synthetic"]
    md = demo("synthetic", "cpu", work_dir=str(tmp_path / "runs"),
              results_dir=str(tmp_path / "results"), overrides=TINY,
              pgn_overrides=TINY_PGN, advnet_overrides=TINY_ADVNET,
              l2lda_overrides=TINY_L2LDA, argv=argv, progress=lines.append)
    out = tmp_path / "results"
    ev = json.loads((out / "eval.json").read_text())
    assert set(ev["models"]) == set(METHODS)
    for m in METHODS:
        assert set(ev["models"][m]["attacks"]) >= {"fgsm", "pgd10"}
    summary = json.loads((out / "demo.json").read_text())
    assert "--dataset=synthetic" in summary["provenance"]["command"]
    # Every part is timed, and the job's wall time covers them all.
    parts = summary["part_wall_time_s"]
    assert set(parts) == {"standard_pgd_at_bat", *STUDIES}
    assert summary["provenance"]["wall_time_s"] >= sum(parts.values()) - 1.0
    assert md.endswith("eval.md") and os.path.exists(md)

    # Each study: called once on the demo's data set and preset, in its own work and
    # results folders, and demo.json points at the JSON it wrote there, with its
    # claims.
    assert set(fake_studies) == set(STUDIES)
    for name, (args, _, claims) in fake_studies.items():
        assert (args["dataset"], args["preset_name"]) == ("synthetic", "cpu"), name
        assert args["work_dir"] == str(tmp_path / "runs" / name)
        assert args["results_dir"] == str(out / name)
        assert args["argv"] == argv
        assert summary[name]["results"] == f"{name}/{name}.json"
        saved = json.loads((out / summary[name]["results"]).read_text())
        assert summary[name]["claims"] == saved["claims"] == claims

    # The tiny overrides reach DeepDefense's runs too (its test set and fine-tuning).
    args, cfg, _ = fake_studies["deepdefense"]
    assert args["model"] == "mlp"
    assert args["overrides"] == {k: TINY[k] for k in ("train_limit", "test_limit", "epochs")}
    assert cfg["reference"].data.test_limit == TINY["test_limit"]
    assert cfg["deepdefense"].data.test_limit == TINY["test_limit"]
    assert cfg["deepdefense"].train.epochs == TINY["epochs"]
    assert "[demo] DeepDefense (MLP): rho_2 Reference 0.01, Par. Train 0.02, " \
           "Adv. Train (DeepFool) 0.03, DeepDefense 0.04; clean accuracy reference " \
           "50.0%, DeepDefense 80.0%" in lines

    # PGN: DEMO_PGN (one eps, one c_L), then the demo's sizes, then pgn_overrides.
    args, s, _ = fake_studies["pgn"]
    assert args["overrides"] == dict(demo_mod.DEMO_PGN, train_limit=200, test_limit=40,
                                     epochs=1, **TINY_PGN)
    assert s.c_l_grid == (0.1,) and s.eps_grid == (1.0,)
    assert s.test_limit == TINY["test_limit"] and s.epochs == TINY["epochs"]
    assert s.generator_width == TINY_PGN["generator_width"]
    assert "[demo] PGN (L2, matched benign accuracy): standard acc 25.0% rho_cw —, " \
           "fgm_at acc 25.0% rho_cw 0.125, pgd_at acc 25.0% rho_cw 0.125, " \
           "pgn acc 25.0% rho_cw 0.125" in lines

    # Wang & Yu: no Table 6 in the demo, and one --epochs sizes every model.
    args, s, _ = fake_studies["advnet"]
    assert args["overrides"]["table6_generators"] == ()
    assert s.table6_generators == ()
    assert s.test_limit == TINY["test_limit"] and s.train_limit == TINY["train_limit"]
    assert s.epochs == s.at_epochs == s.advnet_epochs == s.eat_epochs == TINY["epochs"]
    assert (s.generator, s.attack_generators) == ("g0:4", ("g0:4",))
    assert any(line.startswith(f"[demo] adversarial networks (eps {s.eps:g}): A clean "
                               "50.0% PGD 25.0% black-box PGD(C') 37.5%, B clean")
               for line in lines)

    # L2L-DA: Tables 2 and 3 only (no Table 1), and --epochs sizes the plain model too.
    args, s, _ = fake_studies["l2lda"]
    assert s.table1 is False
    assert s.test_limit == TINY["test_limit"] and s.train_limit == TINY["train_limit"]
    assert s.epochs == s.plain_epochs == TINY["epochs"]
    assert s.g_width == TINY_L2LDA["g_width"]
    assert f"[demo] L2L-DA (eps {s.eps:g}, Table 2): Plain clean 50.0% Min 25.0%, " \
           "L2L-DA (full) clean 50.0% Min 25.0%" in lines


def test_demo_skips_studies_off_their_data_sets(tmp_path):
    from tf_advnet.papers.demo.pipeline import _advnet, _deepdefense, _l2lda, _pgn

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
