"""L2L-DA's budget-or-recipe diagnostic (`tf_advnet.papers.l2lda.diagnostics`): the arms
differ from their baselines in one setting each, the verdict follows its rule by hand
for every verdict it gives, and the Markdown renders from a hand-made doc."""

import dataclasses
import math

import pytest


def _flat(cfg):
    from tf_advnet.configs import to_dict

    out = {}

    def walk(d, prefix):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            else:
                out[prefix + k] = v
    walk(to_dict(cfg), "")
    return out


def _diff(a, b):
    fa, fb = _flat(a), _flat(b)
    return {k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}


def test_arms_differ_from_their_baselines_in_one_setting_each():
    from tf_advnet.papers.l2lda.diagnostics import ARMS, arms
    from tf_advnet.papers.report_card.pipeline import card, row_config

    cfgs = arms("mnist_5k", init_model="std.keras")
    assert tuple(cfgs) == ARMS
    card_row = row_config(card("cpu", "mnist_5k"), "l2lda", init_model="std.keras")
    # card_1ep is the card's row; only the test images grow by the curve's 200
    assert _diff(cfgs["card_1ep"], card_row) == {"data.test_limit"}
    assert (card_row.data.test_limit, cfgs["card_1ep"].data.test_limit) == (500, 700)
    assert _diff(cfgs["card_4ep"], cfgs["card_1ep"]) == {"train.epochs"}
    assert (cfgs["card_1ep"].train.epochs, cfgs["card_4ep"].train.epochs) == (1, 4)
    # official: the code's classifier optimiser and sum over T, nothing else
    assert _diff(cfgs["official"], cfgs["card_4ep"]) == {
        "train.optimizer", "train.learning_rate", "train.trainer.step_reduction"}
    t = cfgs["official"].train
    assert (t.optimizer, t.learning_rate, t.momentum, t.clipnorm) == ("sgd", 0.01, 0.9, 1.0)
    assert (t.trainer.step_reduction, t.trainer.g_optimizer, t.trainer.g_learning_rate) == (
        "sum", "sgd", 0.01)
    assert t.eps == 0.3 and t.init_model == "std.keras" and t.method == "l2lda"


def test_official_recipe_is_the_l2lda_paper_preset():
    from tf_advnet.papers.l2lda.diagnostics import official_recipe
    from tf_advnet.papers.l2lda.study import study

    train, own = official_recipe()
    s = study("paper", "mnist")
    assert train == {"optimizer": s.optimizer, "learning_rate": s.learning_rate,
                     "momentum": 0.9, "clipnorm": s.clipnorm}
    assert own == {"step_reduction": s.step_reduction, "g_optimizer": "sgd",
                   "g_learning_rate": s.g_learning_rate}


def test_arms_sizes_and_selection():
    from tf_advnet.papers.l2lda.diagnostics import arms

    cfgs = arms("mnist_5k", epochs=6, curve_limit=100, test_limit=300,
                names=("card_4ep", "official"))
    assert tuple(cfgs) == ("card_4ep", "official")
    assert cfgs["official"].train.epochs == 6 and cfgs["card_4ep"].data.test_limit == 400


def _arm(worst, curve, loss=0.5):
    return {"worst_case": worst, "curve": curve, "history_last": {"loss": loss}}


@pytest.mark.parametrize("results,expected,phrase", [
    # official 6 points above card_4ep
    ({"card_4ep": _arm(0.10, [0.1, 0.1, 0.1, 0.1]),
      "official": _arm(0.16, [0.1, 0.1, 0.1, 0.1]),
      "card_1ep": _arm(0.10, [0.1])}, "our deviation", "+6.0 points"),
    # gap 4 points; the better arm (official) rises 0.10 -> 0.13 over the last epoch
    ({"card_4ep": _arm(0.10, [0.1, 0.1, 0.1, 0.1]),
      "official": _arm(0.14, [0.05, 0.08, 0.10, 0.13]),
      "card_1ep": _arm(0.10, [0.05])}, "budget", "13.0% at the last epoch, 10.0% before"),
    # flat curves, but card_4ep's worst case is 5 points above card_1ep's
    ({"card_4ep": _arm(0.05, [0.1, 0.2, 0.2, 0.2]),
      "official": _arm(0.02, [0.1, 0.1, 0.1, 0.1]),
      "card_1ep": _arm(0.00, [0.1])}, "budget", "+5.0 points of worst case"),
    # without card_1ep: card_4ep's PGD-10 from its first epoch, 10% -> 20%
    ({"card_4ep": _arm(0.03, [0.1, 0.2, 0.2, 0.2]),
      "official": _arm(0.02, [0.1, 0.1, 0.1, 0.1])}, "budget",
     "+10.0 points of PGD-10 over its first epoch"),
    # nothing moves: design
    ({"card_4ep": _arm(0.0, [0.0, 0.01, 0.02, 0.02]),
      "official": _arm(0.02, [0.0, 0.0, 0.01, 0.02]),
      "card_1ep": _arm(0.0, [0.0])}, "design", "card_4ep gains +0.0 points"),
    # the same, but official's generator still gains on its classifier at the end
    ({"card_4ep": _arm(0.0, [0.0, 0.01, 0.02, 0.02]),
      "official": dict(_arm(0.02, [0.0, 0.0, 0.01, 0.02]),
                       epochs={"adv_acc": [0.97, 0.90, 0.85, 0.54]}),
      "card_1ep": _arm(0.0, [0.0])}, "budget", "official 85.0% -> 54.0%"),
    # a NaN loss makes every number meaningless
    ({"card_4ep": _arm(0.0, [0.0] * 4, loss=math.nan),
      "official": _arm(0.5, [0.5] * 4)}, "inconclusive", "card_4ep"),
])
def test_verdict_rule_by_hand(results, expected, phrase):
    from tf_advnet.papers.l2lda.diagnostics import verdict

    v, reason = verdict(results)
    assert v == expected and phrase in reason, reason


def test_rising_looks_back_20_percent_of_the_epochs_at_least_one():
    from tf_advnet.papers.l2lda.diagnostics import rising

    assert rising([0.1, 0.2, 0.3, 0.33])[0]  # 4 epochs: one back, +3 points
    assert not rising([0.1, 0.2, 0.3, 0.31])[0]
    ten = [0.1] * 8 + [0.11, 0.13]  # 10 epochs: two back, 0.1 -> 0.13
    assert rising(ten) == (True, pytest.approx(13.0), pytest.approx(10.0))
    assert not rising([0.5])[0]


def test_render_of_a_hand_made_doc():
    from tf_advnet.papers.l2lda.diagnostics import render

    def arm(epochs, adv, norm, pgd):
        return {"clean": 0.95, "attacks": {"pgd40": 0.1, "cw": 0.05}, "worst_case": 0.04,
                "train_images_per_second": 80.0, "config": {"train": {"epochs": epochs}},
                "epochs": {"adv_acc": adv, "g_grad_norm": norm, "pgd10": pgd}}
    doc = {"title": "T", "question": "Q?", "verdict": "budget", "reason": "R.",
           "arms": {"card_4ep": arm(2, [0.1, 0.2], [3.5, 1.25], [0.0, 0.05]),
                    "card_1ep": arm(1, [0.1], None, [0.0])},
           "provenance": {"command": "x", "commit": "c", "seed": 0, "preset": "cpu",
                          "wall_time_s": 1.0, "versions": {}}}
    md = render(doc)
    assert "| card_4ep | 2 | 95.0 | 10.0 | 5.0 | 4.0 | 80 |" in md
    assert "| card_1ep | 1 | 95.0 | 10.0 | 5.0 | 4.0 | 80 |" in md
    assert ("| epoch | card_4ep adv_acc | card_4ep g_grad_norm | card_4ep PGD-10 | "
            "card_1ep adv_acc | card_1ep g_grad_norm | card_1ep PGD-10 |") in md
    assert "| 1 | 10.0 | 3.5 | 0.0 | 10.0 | — | 0.0 |" in md
    assert "| 2 | 20.0 | 1.25 | 5.0 | — | — | — |" in md
    assert "**Verdict: budget.** R." in md


def test_add_epochs_reads_each_arms_history(tmp_path):
    import json

    from tf_advnet.papers.l2lda.diagnostics import add_epochs

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "train_results.json").write_text(json.dumps(
        {"history": {"adv_acc": [0.1, 0.2], "g_grad_norm": [2.0, 1.0], "loss": [1, 1]}}))
    res = add_epochs({"a": {"curve": [0.0, 0.1]}}, str(tmp_path))
    assert res["a"]["epochs"] == {"adv_acc": [0.1, 0.2], "g_grad_norm": [2.0, 1.0],
                                  "pgd10": [0.0, 0.1]}


def test_main_refuses_an_unknown_or_missing_arm():
    from tf_advnet.errors import UserError
    from tf_advnet.papers.l2lda.diagnostics import main

    with pytest.raises(UserError, match="arms"):
        main(["--arms=card_4ep,bogus"])
    with pytest.raises(UserError, match="card_4ep and official"):
        main(["--arms=card_4ep,card_1ep"])


def test_card_1ep_is_the_card_row_at_any_size():
    """The arms follow the card's own sizing flags (a smoke run's train_limit, T)."""
    from tf_advnet.papers.l2lda.diagnostics import arms

    ov = {"train_limit": 256, "l2lda_steps": 2}
    cfgs = arms("synthetic", overrides=ov, test_limit=50, curve_limit=50)
    c = cfgs["card_1ep"]
    assert c.data.train_limit == 256 and c.train.trainer.num_steps == 2
    assert c.data.test_limit == 100
    assert dataclasses.replace(cfgs["card_4ep"].train, epochs=1) == c.train
