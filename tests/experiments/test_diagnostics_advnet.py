"""Wang & Yu's discriminating runs (`tf_advnet.papers.advnet.diagnostics`): the arms
differ from their baseline in one setting each (Part B's official arm in the official
recipe's settings only), the measurements and verdict rules by hand, the Markdown from
hand-made docs."""

import dataclasses

import numpy as np
import pytest

PROV = {"command": "x", "commit": "c", "seed": 0, "preset": "cpu", "wall_time_s": 1.0,
        "versions": {}}


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def test_generator_arms_differ_in_one_setting_each():
    from tf_advnet.papers.advnet.diagnostics import G_ARMS, cpu_study, generator_arms

    s = cpu_study("mnist_5k")
    arms = generator_arms(s)
    assert tuple(arms) == G_ARMS
    cpu = arms["cpu"]
    assert (cpu.clip, cpu.g_optimizer, cpu.g_learning_rate, cpu.output) == (
        s.clip, s.g_optimizer, s.g_learning_rate, "tanh") == (True, "sgd", 0.01, "tanh")

    def settings(a):  # the optimiser and its learning rate are one setting
        return {"clip": a.clip, "optimiser": (a.g_optimizer, a.g_learning_rate),
                "output": a.output}

    def diff(a, b):
        return {k for k, v in settings(a).items() if settings(b)[k] != v}

    assert diff(arms["no_clip"], cpu) == {"clip"} and not arms["no_clip"].clip
    assert diff(arms["adam"], cpu) == {"optimiser"}
    assert arms["adam"].g_optimizer == "adam" and arms["adam"].g_learning_rate == 1e-3
    assert diff(arms["unsaturated"], cpu) == {"output"}
    assert arms["unsaturated"].output == "linear"
    # the 2x2's last cell: one step from no_clip and from adam
    assert diff(arms["no_clip_adam"], arms["no_clip"]) == {"optimiser"}
    assert diff(arms["no_clip_adam"], arms["adam"]) == {"clip"}


def test_recipe_arms_differ_only_in_the_official_recipe():
    from tf_advnet.configs import to_dict
    from tf_advnet.papers.advnet.diagnostics import RECIPE_ARMS, recipe_arms
    from tf_advnet.papers.advnet.pipeline import model_config
    from tf_advnet.papers.advnet.study import study

    arms = recipe_arms("mnist_5k")
    assert tuple(arms) == RECIPE_ARMS
    assert arms["cpu"] == model_config(study("cpu", "mnist_5k"), "C")
    cpu, off = _flat(to_dict(arms["cpu"])), _flat(to_dict(arms["official"]))
    changed = {k for k in cpu if cpu[k] != off[k]}
    assert changed == {"train.optimizer", "train.learning_rate", "train.trainer.clip",
                       "train.trainer.d_every"}
    paper = model_config(study("paper", "mnist"), "C").train
    assert (off["train.optimizer"], off["train.learning_rate"], off["train.momentum"]) == (
        "sgd", 0.01, 0.9) == (paper.optimizer, paper.learning_rate, paper.momentum)
    assert (off["train.trainer.clip"], off["train.trainer.d_every"]) == (False, 5) == (
        paper.trainer.clip, paper.trainer.d_every)
    assert (cpu["train.optimizer"], cpu["train.trainer.clip"],
            cpu["train.trainer.d_every"]) == ("adam", True, 1)
    # the cpu size stays: the epochs and G's width
    assert off["train.epochs"] == 10 and off["train.trainer.k"] == 32
    # a size override reaches both arms
    small = recipe_arms("mnist_5k", {"advnet_epochs": 3, "train_limit": 500})
    assert {a.train.epochs for a in small.values()} == {3}
    assert {a.data.train_limit for a in small.values()} == {500}


def test_straight_through_output_clips_forward_and_passes_the_identity_gradient():
    import keras
    import tensorflow as tf

    from tf_advnet.models.advnet_generators import StraightThroughClip, advnet_g0

    u = tf.constant([-3.0, -1.0, -0.2, 0.0, 0.7, 2.5])
    with tf.GradientTape() as tape:
        tape.watch(u)
        out = StraightThroughClip()(u)
        loss = tf.reduce_sum(out * tf.range(1.0, 7.0))
    np.testing.assert_allclose(out.numpy(), [-1, -1, -0.2, 0, 0.7, 1], atol=1e-7)
    # d/du sum(c * clip(u)) = c everywhere with the straight-through rule (tanh's or
    # a plain clip's would vanish at -3 and 2.5)
    np.testing.assert_allclose(tape.gradient(loss, u).numpy(), np.arange(1.0, 7.0))
    keras.utils.set_random_seed(0)
    g = advnet_g0((8, 8, 1), k=2, output="linear")
    x = np.random.default_rng(0).random((4, 8, 8, 1), np.float32)
    y = g(x, training=True).numpy()
    assert y.shape == x.shape and np.abs(y).max() <= 1.0
    assert np.isclose(np.abs(y).max(), 1.0)  # He-initialised pre-activations exceed 1


def test_pixel_fractions_by_hand():
    from tf_advnet.papers.advnet.diagnostics import clipped_fraction, saturated_fraction

    x = np.array([0.0, 0.0, 0.5, 1.0, 1.0, 0.9, 0.1, 0.3])
    d = np.array([-0.3, 0.3, 0.3, 0.3, -0.3, 0.3, -0.2, 0.0])
    assert clipped_fraction(x, d) == 4 / 8  # 0-0.3, 1+0.3, 0.9+0.3, 0.1-0.2
    assert saturated_fraction([0.995, -1.0, 0.98, 0.0, -0.99]) == 3 / 5


def _linear_classifier():
    """Logits (mean(x) - 0.5, 0): class 0 iff the image's mean exceeds 0.5."""
    import keras

    clf = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(2)])
    clf.layers[-1].set_weights([np.stack([np.full(4, 0.25), np.zeros(4)], 1),
                                np.array([-0.5, 0.0])])
    return clf


def test_measure_generator_by_hand():
    """G = +1 everywhere: x_adv = min(x + eps, 1); A's accuracy counted by hand."""
    from tf_advnet.papers.advnet.diagnostics import measure_generator

    x = np.array([[0.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2], [1.0, 1.0, 0.3, 0.3],
                  [0.5, 0.5, 0.5, 0.5]], np.float32).reshape(4, 2, 2, 1)
    y = np.array([1, 0, 1, 0])

    def gen(xb, training):
        assert training  # batch statistics, as the official code
        return np.ones_like(xb)

    m = measure_generator(gen, _linear_classifier(), x, y, eps=0.25, batch_size=3)
    # means after the clipped step: 0.25, 0.45, (1 + 1 + .55 + .55)/4 = 0.775, 0.75
    # -> classes 1, 1, 0, 0 against labels 1, 0, 1, 0
    assert m["acc"] == 0.5
    assert m["clipped"] == 2 / 16 and m["saturated"] == 1.0


def test_generator_grad_norm_matches_a_finite_difference():
    import keras

    from tf_advnet.papers.advnet.diagnostics import generator_grad_norm

    gen = keras.Sequential([keras.Input((2, 2, 1)),
                            keras.layers.Conv2D(1, 1, use_bias=False)])
    gen.layers[0].set_weights([np.array([[[[0.6]]]])])
    clf = _linear_classifier()
    x = np.array([[0.1, 0.4, 0.3, 0.2], [0.7, 0.6, 0.8, 0.9]], np.float32).reshape(2, 2, 2, 1)
    y = np.array([1, 0])

    def objective(w, clip):
        xa = x.astype(np.float64) * (1 + 0.3 * w)  # G(x) = w x
        xa = np.clip(xa, 0, 1) if clip else xa
        z = np.stack([xa.reshape(2, -1).mean(1) - 0.5, np.zeros(2)], 1)
        ce = np.log(np.exp(z).sum(1)) - z[np.arange(2), y]
        return -ce.mean()

    for clip in (True, False):  # the 0.9 pixel leaves [0, 1] only without the clip
        h = 1e-4
        fd = abs(objective(0.6 + h, clip) - objective(0.6 - h, clip)) / (2 * h)
        got = generator_grad_norm(gen, clf, x, y, eps=0.3, clip=clip)
        np.testing.assert_allclose(got, fd, rtol=1e-3)
    assert not np.isclose(generator_grad_norm(gen, clf, x, y, eps=0.3, clip=True),
                          generator_grad_norm(gen, clf, x, y, eps=0.3, clip=False))


def _g_arm(acc, **settings):
    st = {"clip": True, "g_optimizer": "sgd", "g_learning_rate": 0.01, "output": "tanh",
          **settings}
    return {"settings": st, "g_steps": 504, "acc_under_g": acc, "acc_under_g_init": 0.97,
            "clipped_init": 0.25, "clipped_end": 0.5, "saturated_init": 0.4,
            "saturated_end": 0.9, "grad_norm_init": 0.125, "grad_norm_end": 0.0031,
            "classifier": {"clean": 0.98, "pgd10": 0.01}}


@pytest.mark.parametrize("best,expected", [(0.60, "our deviation"), (0.61, "design")])
def test_generator_verdict_rule_by_hand(best, expected):
    from tf_advnet.papers.advnet.diagnostics import verdict_generators

    res = {"cpu": _g_arm(0.70), "no_clip": _g_arm(0.75), "adam": _g_arm(0.9),
           "no_clip_adam": _g_arm(0.8), "unsaturated": _g_arm(best)}
    v, reason = verdict_generators(res)
    assert v == expected and f"best other arm unsaturated {100 * best:.1f}%" in reason
    assert "after 504 G steps: cpu 70.0%" in reason
    assert "A clean 98.0%, PGD-10 1.0%" in reason
    # an arm weaker than cpu never counts
    res = {k: _g_arm(0.9) for k in res}
    res["cpu"] = _g_arm(0.5)
    assert verdict_generators(res)[0] == "design"


def _c_arm(pgd10, worst, curve):
    return {"clean": 0.95, "attacks": {"pgd10": pgd10, "pgd40": worst + 0.01,
                                       "cwpgd100:kappa=50": worst},
            "worst_case": worst, "train_images_per_second": 123.4, "curve": curve}


FLAT = [0.02, 0.03, 0.05, 0.05, 0.06, 0.07, 0.07, 0.08, 0.08, 0.09]  # +1 over 2 epochs
RISING = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.10, 0.12]  # +5


def test_curve_rise_by_hand():
    from tf_advnet.papers.advnet.diagnostics import curve_rise

    assert curve_rise(RISING) == pytest.approx(5.0)  # 10 epochs: epoch 10 vs epoch 8
    assert curve_rise([0.1, 0.3, 0.2]) == pytest.approx(-10.0)  # 3 epochs: lag 1
    assert curve_rise([0.1]) is None and curve_rise(None) is None


@pytest.mark.parametrize("cpu,official,expected", [
    (_c_arm(0.10, 0.05, FLAT), _c_arm(0.16, 0.11, FLAT), "our deviation"),
    (_c_arm(0.10, 0.05, FLAT), _c_arm(0.16, 0.09, FLAT), "design"),  # worst case +4
    (_c_arm(0.10, 0.05, FLAT), _c_arm(0.12, 0.11, FLAT), "design"),  # PGD-10 +2
    (_c_arm(0.10, 0.05, RISING), _c_arm(0.12, 0.04, FLAT), "budget"),
    (_c_arm(0.10, 0.05, FLAT), _c_arm(0.12, 0.06, RISING), "budget"),
    (_c_arm(0.10, 0.05, [0.1]), _c_arm(0.12, 0.06, [0.1]), "inconclusive"),
])
def test_recipe_verdict_rule_by_hand(cpu, official, expected):
    from tf_advnet.papers.advnet.diagnostics import verdict_recipe

    v, reason = verdict_recipe({"cpu": cpu, "official": official})
    assert v == expected, reason
    assert "PGD-10: cpu 10.0%" in reason


def test_recipe_verdict_budget_follows_the_better_arm():
    """The better arm by worst case decides "budget": official here, flat."""
    from tf_advnet.papers.advnet.diagnostics import verdict_recipe

    v, reason = verdict_recipe({"cpu": _c_arm(0.10, 0.05, RISING),
                                "official": _c_arm(0.13, 0.08, FLAT)})
    assert v == "design" and "better arm (official)" in reason and "+1.0 points" in reason


def test_render_hand_made_docs(tmp_path):
    import json

    from tf_advnet.papers._diagnostics import write
    from tf_advnet.papers.advnet.diagnostics import render

    a = write({"cpu": _g_arm(0.7), "unsaturated": _g_arm(0.6, output="linear")},
              str(tmp_path), "generator", title="TA", question="QA?", verdict="design",
              reason="RA.", prov=PROV, render_fn=render)
    md = (tmp_path / "generator.md").read_text()
    assert md == render(json.loads((tmp_path / "generator.json").read_text()))
    assert md == render(a)
    assert ("| cpu | yes | sgd 0.01 | tanh | 504 | 97.0 | 70.0 | 25.0 | 50.0 | 40.0 | 90.0 "
            "| 0.125 | 0.0031 |") in md
    assert "| unsaturated | yes | sgd 0.01 | linear | 504 | 97.0 | 60.0 |" in md
    assert "**Verdict: design.** RA." in md and "## Provenance" in md

    b = {"title": "TB", "question": "QB?", "verdict": "budget", "reason": "RB.",
         "provenance": PROV,
         "arms": {"cpu": _c_arm(0.1, 0.05, [0.02, 0.1]),
                  "official": dict(_c_arm(0.2, 0.15, [0.03]), worst_case=None)}}
    md = render(b)
    assert ("| arm | clean | pgd10 | pgd40 | cwpgd100:kappa=50 | worst case | train img/s |"
            in md)
    assert "| cpu | 95.0 | 10.0 | 6.0 | 5.0 | 5.0 | 123 |" in md
    assert "| official | 95.0 | 20.0 | 16.0 | 15.0 | — | 123 |" in md
    assert "| arm | 1 | 2 |" in md and "| cpu | 2.0 | 10.0 |" in md
    assert "| official | 3.0 | — |" in md
    assert "**Verdict: budget.** RB." in md


def test_generator_arm_is_plain_data():
    from tf_advnet.papers.advnet.diagnostics import GeneratorArm

    arm = GeneratorArm(clip=False, g_optimizer="adam", g_learning_rate=1e-3)
    assert dataclasses.asdict(arm) == {"clip": False, "g_optimizer": "adam",
                                       "g_learning_rate": 1e-3, "output": "tanh"}


def test_recipe_deviation_says_when_the_official_curve_still_rises():
    from tf_advnet.papers.advnet.diagnostics import verdict_recipe

    v, reason = verdict_recipe({"cpu": _c_arm(0.10, 0.05, FLAT),
                                "official": _c_arm(0.16, 0.11, RISING)})
    assert v == "our deviation" and "still gained +5.0 points" in reason
    v, reason = verdict_recipe({"cpu": _c_arm(0.10, 0.05, FLAT),
                                "official": _c_arm(0.16, 0.11, FLAT)})
    assert v == "our deviation" and "still gained" not in reason
