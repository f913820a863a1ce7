"""The `long` preset of every study the claims ledger runs: the recipe the
discriminating runs call for, and the per-epoch robust-accuracy curve attached."""

import dataclasses

from tf_advnet.papers import ledger


def test_every_ledger_study_has_long():
    from tf_advnet.papers import _study

    for src in ledger.SPEC:
        assert "long" in _study.load(src.study).PRESETS, src.study


def test_advnet_long_is_the_official_mnist_recipe():
    from tf_advnet.papers.advnet.study import study

    s = study("long", "mnist_5k")
    assert (s.optimizer, s.learning_rate, s.clip, s.d_every) == ("sgd", 0.01, False, 5)
    assert s.epochs == s.at_epochs == s.advnet_epochs == 20  # 2x the diagnostic's 10
    assert s.table6_generators == () and s.curve_attack == "pgd10"
    # The ledger's claims on Eqs. (8)-(9): C again with gamma = 0, trained alike, and
    # C's step timed with each Hessian-vector product.
    from tf_advnet.papers.advnet.pipeline import model_config

    assert s.gr_ablation and (s.hvp_timing_steps, s.hvp_timing_rounds) == (50, 7)
    assert s.attack_epochs == s.epochs  # Sec. 4.5: as long as the classifiers
    c, c0 = model_config(s, "C"), model_config(s, "C", gamma=0.0)
    assert (c.train.trainer.gamma, c0.train.trainer.gamma) == (0.01, 0.0)
    assert dataclasses.replace(c0.train.trainer, gamma=0.01) == c.train.trainer
    assert not study("cpu", "mnist_5k").gr_ablation  # the cpu study trains no extra C
    exact = model_config(s, "C", hvp="exact").train.trainer
    assert exact.hvp == "exact" and dataclasses.replace(exact, hvp=s.hvp) == c.train.trainer


def test_l2lda_long_is_the_code_recipe():
    from tf_advnet.papers.l2lda.pipeline import model_config, models_to_train
    from tf_advnet.papers.l2lda.study import study

    s = study("long", "mnist_5k")
    cfg = model_config(s, "l2lda")
    assert (cfg.train.optimizer, cfg.train.learning_rate, cfg.train.clipnorm) == (
        "sgd", 0.01, 1.0)
    assert cfg.train.trainer.step_reduction == "sum" and cfg.train.epochs == 6
    names = models_to_train(s)
    assert "ro_dx" in names and "pgd10_s2" in names and "dX_yX" not in names


def test_bat_long_is_8_over_255_same_epochs():
    from tf_advnet.papers.bat.pipeline import bat_config, model_specs

    cfgs = {sp.name: bat_config("long", "fashion_mnist", sp)
            for sp in model_specs(["Madry", "R-MC-LA"])}
    for cfg in cfgs.values():
        assert abs(cfg.eval.eps - 8 / 255) < 1e-9 and cfg.train.epochs == 10
    assert cfgs["Madry"].train.attack_steps == 7
    assert abs(cfgs["Madry"].train.step_size - 2 / 255) < 1e-9
    assert cfgs["R-MC-LA"].train.trainer.beta == 9.0


def test_deepdefense_long_keeps_unit_interval():
    from tf_advnet.papers.deepdefense.pipeline import finetune_config, reference_config

    ref = reference_config("mnist_5k", "mlp", "long")
    assert ref.model.input_units is None and ref.preset == "long"
    assert finetune_config(ref, "mnist_5k", "deepdefense").train.epochs == 30


def test_card_long_same_epochs_every_row():
    from tf_advnet.papers.report_card.pipeline import row_config
    from tf_advnet.papers.report_card.study import FINETUNED, LONG_EPOCHS, card

    c = card("long", "fashion_mnist")
    epochs = {r: row_config(c, r, init_model="x" if r in FINETUNED else None).train.epochs
              for r in c.rows}
    # Every row, the fine-tuned ones (L2L-DA, DeepDefense) too, as many epochs.
    assert set(epochs.values()) == {LONG_EPOCHS} and set(c.rows) >= set(FINETUNED)
    assert abs(c.eps - 8 / 255) < 1e-12 and c.curve_attack == "pgd10"


def test_pgn_long_keeps_the_ema_of_every_model_and_records_l2_curve():
    """The official code averages every model it trains (main.py: use_ema=True for
    every train_type), not only PGN's."""
    from tf_advnet.papers.pgn.pipeline import model_config
    from tf_advnet.papers.pgn.study import study

    s = study("long", "fashion_mnist")
    assert s.curve_attack == "pgd10_l2" and s.epochs == 18
    # The AT curves reach the high benign accuracy the EMA gives PGN (the paper's
    # CIFAR grid starts at 0.02, 0.1).
    assert min(s.eps_grid) <= 0.1 and s.fig3_eps in s.eps_grid
    for method, value in (("standard", None), ("fgm_at", 1.0), ("pgd_at", 1.0),
                          ("pgn", 0.1)):
        cfg = model_config(s, method, value)
        assert cfg.train.ema_decay == 0.998, method
        assert getattr(cfg.train.trainer, "ema_decay", None) is None  # set once
    assert model_config(study("cpu"), "pgd_at", 1.0).train.ema_decay is None
    # The speed claim's timing: interleaved rounds, the median reported.
    assert (s.timing_steps, s.timing_rounds) == (50, 7)


def test_curve_callback_built_from_config():
    from tf_advnet.pipelines.train import curve_callbacks
    from tf_advnet.papers.advnet.pipeline import model_config
    from tf_advnet.papers.advnet.study import study

    cfg = model_config(study("long", "mnist_5k"), "C")
    (cb,) = curve_callbacks(cfg, "pgd10", limit=20)
    assert cb.name == "val_pgd10_acc" and len(cb.x) == 20
    assert curve_callbacks(cfg, None) == ()


def test_bat_long_models_cover_every_ledger_claim():
    """Every model bat/claims.py reads at the long preset is trained there."""
    import re

    from tf_advnet.papers.bat import claims
    from tf_advnet.papers.bat.pipeline import model_specs
    from tf_advnet.papers.bat.study import LONG_MODELS

    source = open(claims.__file__).read()
    read = {n for n in re.findall(r'"([A-Za-z][\w-]*)"', source)
            if n in {s.name for s in model_specs()}}
    assert read and read <= set(LONG_MODELS)
    assert set(LONG_MODELS) <= {s.name for s in model_specs()}
