"""Wang & Yu: is the cpu study's generator a weak adversary, and is its adversarial
network C weak under PGD, because of our recipe or because of the method?

Part A, "is G a weak adversary because of our choices?" (`generator_<dataset>`): the
cpu preset's generator (G0, k = 32) trained alone against a fixed undefended classifier
A (D1 on the cpu recipe of the study's standard model, `pipeline.model_config(s, "A")`,
trained once), one G step per batch (Sec. 4.5's attack generators), the same number of
G steps in every arm. Arms:

  cpu            x + eps G(x) clipped to [0, 1] in training, SGD 0.01 momentum 0.9
                 (the official G optimiser), tanh output: the cpu recipe
  no_clip        cpu without the clip (the official code never clips)
  adam           cpu with Adam 1e-3 (beta_1 0.5, the trainer's) for G
  no_clip_adam   no_clip with Adam 1e-3 (adam without the clip): the 2x2's last cell
  unsaturated    cpu with G's last layer linear and clipped to [-1, 1] in the forward
                 pass only (`advnet_g0(output="linear")`, straight-through gradient):
                 the official G0 ends in a tanh (`simple_cnn_mnist.py`), like ours

Measured per arm, on held-out test images: A's accuracy under x + eps G(x), always
clipped to [0, 1] at evaluation (an attack's images are images), at G's init and at the
end; the fraction of pixels of x + eps G(x) outside [0, 1] (the pixels the clip passes
no gradient through in training, and clips at evaluation in every arm) and of G's outputs with |G| >= 0.99 (a saturated tanh), at init and
at the end; the L2 norm of G's gradient of its objective -CE(A(x + eps G(x)), y) on one
training batch (the official code's `g_reg`, without weight decay), at init and at the
end. A's clean and PGD-10 accuracy are the reference. Verdict rule: "our deviation" when
the best arm other than cpu lowers A's accuracy under G by >= 10 points below the cpu
arm's, else "design".

Part B, "does C's low PGD robustness come from our recipe?" (`recipe_<dataset>`): C
(trainer advnet, G0 k = 32) trained `--epochs` epochs on the cpu recipe and on the
official-like one, PGD-10 accuracy on held-out images after every epoch
(`_diagnostics.run_arms(curve="pgd10")`). Arms:

  cpu        the cpu study's C: x + eps G clipped, D (Adam 1e-3) on every batch
  official   the paper preset's MNIST trainer at cpu size: no clip, G's 5 steps on
             every batch and D's step on every 5th (`d_every` 5), D by SGD 0.01
             momentum 0.9 (the official schedule); G, lambda, gamma, h, the weight
             decay, the data and the epochs are the cpu arm's. The official lr decay
             (/10 at 100k of 200k iterations, after 20k D steps) is left out: 10 epochs
             of mnist_5k give D ~130 steps.

The official arm differs from cpu in the three settings of the official recipe the issue
names (clip, schedule, D's optimiser), together. Both are attacked at the end on the
same test images by PGD-10, PGD-40 and CW-loss PGD-100 (kappa 50). Verdict rule: "our
deviation" when the official arm's PGD-10 and its worst case over the three are both
>= 5 points above the cpu arm's; else "budget" when the better arm's (by worst case)
PGD-10 curve is still rising, its last epoch more than 2 points above the value 20% of
the epochs earlier; else "design" ("inconclusive" with too few epochs for the rule).

Sizes (the full run, both parts on mnist_5k, fits ~15 minutes on 2 quiet cores): Part
A's G takes 8 epochs of the 4,000 training images, 504 steps, four times the study's
attack generators (2 epochs); Part B trains the issue's 10 epochs (C costs the same per
batch under both recipes: G's 5 steps dominate); 500 test images attacked at the end,
the last 200 of the preset's 1,000 for the curves.

    python -m tf_advnet.papers.advnet.diagnostics [--part=both] [--dataset=mnist_5k]
    python -m tf_advnet.papers.advnet.diagnostics --part=a --dataset=fashion_mnist \
        --eps=0.03137   # the report card's scale, 8/255
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from tf_advnet.papers._diagnostics import look_back, pct as _pct

G_ARMS = ("cpu", "no_clip", "adam", "no_clip_adam", "unsaturated")
RECIPE_ARMS = ("cpu", "official")
ATTACKS = ("pgd10", "pgd40", "cwpgd100:kappa=50")
ADAM_LR = 1e-3
G_DROP_POINTS = 10.0  # Part A: "our deviation" at this drop of A's accuracy under G
GAP_POINTS = 5.0  # Part B: "our deviation" at this PGD-10 and worst-case gain
RISE_POINTS = 2.0  # Part B: "budget" when the curve still rises by more
SATURATED = 0.99  # |G| at or above counts as a saturated tanh

QUESTION_A = ("Is the cpu study's generator a weak adversary because of our choices? "
              "G0 (k 32) trained alone for the same number of G steps against a fixed "
              "undefended D1, with and without the [0, 1] clip, with SGD (official) or "
              "Adam, and with an unsaturated last layer.")
QUESTION_B = ("Does C's low PGD robustness come from our recipe? C trained on the cpu "
              "recipe and on the official-like one (no clip, D on every 5th batch, SGD "
              "for D), PGD-10 after every epoch.")


@dataclasses.dataclass(frozen=True)
class GeneratorArm:
    """One Part A arm: how G is trained against the fixed classifier."""

    clip: bool
    g_optimizer: str
    g_learning_rate: float
    output: str = "tanh"


def cpu_study(dataset="mnist_5k", overrides=None):
    from tf_advnet.papers.advnet.study import study

    return study("cpu", dataset, overrides)


def generator_arms(s):
    """{arm: GeneratorArm} of Part A; cpu is the study `s`'s recipe."""
    cpu = GeneratorArm(clip=s.clip, g_optimizer=s.g_optimizer,
                       g_learning_rate=s.g_learning_rate)
    no_clip = dataclasses.replace(cpu, clip=False)
    return {"cpu": cpu, "no_clip": no_clip,
            "adam": dataclasses.replace(cpu, g_optimizer="adam", g_learning_rate=ADAM_LR),
            "no_clip_adam": dataclasses.replace(no_clip, g_optimizer="adam",
                                                g_learning_rate=ADAM_LR),
            "unsaturated": dataclasses.replace(cpu, output="linear")}


def recipe_arms(dataset="mnist_5k", overrides=None):
    """{arm: ExperimentConfig} of Part B: the cpu study's C and the official-like C."""
    from tf_advnet.configs import replace_trainer
    from tf_advnet.papers.advnet.pipeline import model_config
    from tf_advnet.papers.advnet.study import study

    cpu = model_config(cpu_study(dataset, overrides), "C")
    paper = model_config(study("paper", "mnist"), "C").train
    train = replace_trainer(cpu.train, {"clip": paper.trainer.clip,
                                        "d_every": paper.trainer.d_every})
    train = dataclasses.replace(train, optimizer=paper.optimizer,
                                learning_rate=paper.learning_rate, momentum=paper.momentum)
    return {"cpu": cpu, "official": dataclasses.replace(cpu, train=train).validate()}


# ------------------------------------------------------------------ Part A pieces

def clipped_fraction(x, delta):
    """Fraction of the pixels of x + delta outside [0, 1]."""
    xa = np.asarray(x) + np.asarray(delta)
    return float(np.mean((xa < 0.0) | (xa > 1.0)))


def saturated_fraction(g):
    """Fraction of the generator's outputs with |G| >= SATURATED."""
    return float(np.mean(np.abs(np.asarray(g)) >= SATURATED))


def measure_generator(gen, clf, x, y, *, eps, batch_size):
    """A's accuracy under clip(x + eps G(x)) and the pixel fractions of G's output.

    G runs its BN on the batch's statistics (`training=True`), as the official code
    and the study's generator attacks do.
    """
    from tf_advnet.eval.robustness import as_model_fn, predict

    g = np.concatenate([np.asarray(gen(x[i:i + batch_size], training=True))
                        for i in range(0, len(x), batch_size)])
    x_adv = np.clip(x + eps * g, 0.0, 1.0).astype(np.float32)
    acc = float(np.mean(predict(as_model_fn(clf), x_adv, batch_size) == y))
    return {"acc": acc, "clipped": clipped_fraction(x, eps * g),
            "saturated": saturated_fraction(g)}


def generator_grad_norm(gen, clf, x, y, *, eps, clip):
    """L2 norm of the gradient of G's objective -CE(A(x + eps G(x)), y) (the arm's
    clip; no weight decay) over G's trainable weights, on the batch (x, y)."""
    import keras
    import tensorflow as tf

    from tf_advnet.attacks.generator import perturb

    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        logits = clf(perturb(x, eps * gen(x, training=True), clip), training=False)
        loss = -tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True))
    grads = tape.gradient(loss, gen.trainable_weights)
    return float(tf.linalg.global_norm([g for g in grads if g is not None]))


def train_generator(arm, clf, s, x, y, x_test, y_test, *, epochs, name="",
                    progress=print):
    """Part A's arm: G trained alone against the frozen `clf`; its measurements."""
    from tf_advnet import data as data_lib
    from tf_advnet.configs import replace_trainer
    from tf_advnet.models.advnet_generators import build_generator
    from tf_advnet.papers.advnet.pipeline import model_config
    from tf_advnet.papers.advnet.study import parse_generator
    from tf_advnet.pipelines import common
    from tf_advnet.trainers.advnet import AdvNetTrainer

    common.set_seed(s.seed)
    kind, k = parse_generator(s.generator)
    gen = build_generator(kind, tuple(x.shape[1:]), int(clf.output_shape[-1]),
                          output=arm.output, **({} if k is None else {"k": k}))
    clf.trainable = False
    # G's optimiser as C's trainer builds it (momentum 0.9, Adam's beta_1 0.5).
    train = replace_trainer(model_config(s, "C").train,
                            {"g_optimizer": arm.g_optimizer,
                             "g_learning_rate": arm.g_learning_rate})
    trainer = AdvNetTrainer(clf, gen, eps=s.eps, g_steps=1, hvp="none", clip=arm.clip,
                            g_weight_decay=s.advnet_weight_decay)
    trainer.compile(g_optimizer=train.trainer.generator_optimizer(train))
    bs, xb, yb = s.eval_batch_size, x[:s.eval_batch_size], y[:s.eval_batch_size]

    def snapshot():
        m = measure_generator(gen, clf, x_test, y_test, eps=s.eps, batch_size=bs)
        m["grad_norm"] = generator_grad_norm(gen, clf, xb, yb, eps=s.eps, clip=arm.clip)
        return m

    init = snapshot()
    t0 = time.time()
    trainer.fit(data_lib.make_dataset(x, y, s.batch_size, training=True, seed=s.seed),
                epochs=epochs, verbose=2, shuffle=False)
    seconds = time.time() - t0
    end = snapshot()
    progress(f"[advnet diagnostics] {name or arm}: A's accuracy under G {100 * init['acc']:.1f}% "
             f"-> {100 * end['acc']:.1f}%")
    return {"settings": dataclasses.asdict(arm),
            "g_steps": int(trainer.g_optimizer.iterations.numpy()),
            "acc_under_g": end["acc"], "acc_under_g_init": init["acc"],
            "clipped_init": init["clipped"], "clipped_end": end["clipped"],
            "saturated_init": init["saturated"], "saturated_end": end["saturated"],
            "grad_norm_init": init["grad_norm"], "grad_norm_end": end["grad_norm"],
            "train_seconds": seconds}


def run_generators(s, *, work_dir, g_epochs, test_limit, progress=print, argv=None):
    """Part A: trains A once, then every arm's G; {arm: {...}} (each arm kept in
    `work_dir/generators/<arm>.json` and reused while A, the arm and the sizes match)."""
    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.eval.robustness import evaluate_attacks
    from tf_advnet.papers.advnet.pipeline import model_config
    from tf_advnet.pipelines import common
    from tf_advnet.pipelines.train import train

    a_cfg = model_config(s, "A")
    run = train(a_cfg, os.path.join(work_dir, "A"), argv=argv, progress=progress,
                verbose=2)
    clf = common.load_keras_model(run["model_path"])
    x, y = common.load_split(a_cfg.data, "train")
    xt, yt = common.load_split(a_cfg.data, "test")
    xt, yt = xt[:test_limit], yt[:test_limit]
    ev = evaluate_attacks(clf, xt, yt, parse_attacks(["pgd10"], eps=s.eps),
                          batch_size=s.eval_batch_size, seed=0, progress=progress)
    ref = {"clean": ev["clean_acc"], "pgd10": ev["attacks"]["pgd10"]["acc"]}
    out = {}
    for name, arm in generator_arms(s).items():
        path = os.path.join(work_dir, "generators", f"{name}.json")
        key = {"classifier": run["run_key"], "arm": dataclasses.asdict(arm),
               "g_epochs": g_epochs, "n_test": int(len(xt)), "generator": s.generator,
               "seed": s.seed}
        if os.path.exists(path):
            with open(path) as f:
                done = json.load(f)
            if done.get("key") == key:
                progress(f"[advnet diagnostics] {name}: reusing {path}")
                out[name] = done["result"]
                continue
        res = train_generator(arm, clf, s, x, y, xt, yt, epochs=g_epochs, name=name,
                              progress=progress)
        res.update(classifier=ref, n_test=int(len(xt)))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"key": key, "result": res}, f, indent=1)
        out[name] = res
    return out


# ---------------------------------------------------------------------- verdicts

CHANGES = {"no_clip": "dropping the [0, 1] clip in training (the official code's)",
           "adam": "Adam for G instead of the official SGD 0.01 (our few hundred G steps "
                   "against the official 200k iterations)",
           "no_clip_adam": "no clip and Adam for G",
           "unsaturated": "a last layer without the tanh's saturation"}


def verdict_generators(results):
    """(verdict, reason) of Part A (module docstring's rule)."""
    acc = {k: 100 * v["acc_under_g"] for k, v in results.items()}
    others = {k: v for k, v in acc.items() if k != "cpu"}
    best = min(others, key=others.get)
    drop = acc["cpu"] - acc[best]
    ref = results["cpu"].get("classifier")
    text = (f"A's accuracy under G after {results['cpu'].get('g_steps', '?')} G steps: "
            f"cpu {acc['cpu']:.1f}%, best other arm {best} {acc[best]:.1f}% "
            f"({drop:+.1f} points lower)"
            + (f"; A clean {100 * ref['clean']:.1f}%, PGD-10 {100 * ref['pgd10']:.1f}%."
               if ref else "."))
    if drop >= G_DROP_POINTS:
        return "our deviation", (text + f" {CHANGES.get(best, best)} makes G a stronger "
                                 f"adversary by {G_DROP_POINTS:g} points or more: the "
                                 "cpu recipe, not the generator, makes G weak.")
    return "design", (text + f" No arm lowers A's accuracy by {G_DROP_POINTS:g} points: "
                      "G's strength is the generator's own at this budget, not our clip, "
                      "optimiser or tanh.")


def curve_rise(curve):
    """Points the curve gained over its last 20% of epochs (at least one epoch); None
    with fewer than two epochs."""
    ends = look_back(curve)
    return None if ends is None else ends[0] - ends[1]


def verdict_recipe(results):
    """(verdict, reason) of Part B (module docstring's rule)."""
    cpu, off = results["cpu"], results["official"]
    p_cpu, p_off = 100 * cpu["attacks"]["pgd10"], 100 * off["attacks"]["pgd10"]
    w_cpu, w_off = 100 * cpu["worst_case"], 100 * off["worst_case"]
    better = max(RECIPE_ARMS, key=lambda k: (results[k]["worst_case"],
                                             results[k]["attacks"]["pgd10"]))
    rise = curve_rise(results[better]["curve"])
    text = (f"PGD-10: cpu {p_cpu:.1f}%, official {p_off:.1f}% ({p_off - p_cpu:+.1f}); "
            f"worst case: cpu {w_cpu:.1f}%, official {w_off:.1f}% ({w_off - w_cpu:+.1f}); "
            f"clean: cpu {100 * cpu['clean']:.1f}%, official {100 * off['clean']:.1f}%.")
    if p_off - p_cpu >= GAP_POINTS and w_off - w_cpu >= GAP_POINTS:
        still = ("" if rise is None or rise <= RISE_POINTS else
                 f" Its PGD-10 curve still gained {rise:+.1f} points over the last 20% of "
                 "the epochs: the official recipe's number is a lower bound at this "
                 "budget.")
        return "our deviation", (text + " The official recipe lifts C's robustness by "
                                 f"{GAP_POINTS:g} points or more: the cpu recipe decides "
                                 "the low PGD robustness." + still)
    if rise is None:
        return "inconclusive", (text + " Too few epochs to tell whether the curve still "
                                "rises.")
    rising = f" The better arm ({better})'s PGD-10 curve gained {rise:+.1f} points over "
    if rise > RISE_POINTS:
        return "budget", (text + rising + "its last 20% of epochs: still rising, so C "
                          "needs more training than this budget.")
    return "design", (text + rising + "its last 20% of epochs: it has levelled off, and "
                      "the official recipe does not lift it: C's low PGD robustness is the "
                      "method's under either recipe.")


# ------------------------------------------------------------------------ report



def render_generators(doc):
    """Part A's Markdown: per arm A's accuracy under G, clipped / saturated pixels and
    G's gradient norm, at init and at the end."""
    from tf_advnet.papers._diagnostics import closing

    lines = [f"# {doc['title']}", "", doc["question"], "",
             "| arm | clip | G optimiser | output | G steps | A acc under G: init | end "
             "| clipped px %: init | end | saturated %: init | end | grad norm: init "
             "| end |", "|---" * 13 + "|"]
    for name, a in doc["arms"].items():
        st = a["settings"]
        lines.append(
            f"| {name} | {'yes' if st['clip'] else 'no'} | {st['g_optimizer']} "
            f"{st['g_learning_rate']:g} | {st['output']} | {a['g_steps']} | "
            f"{_pct(a['acc_under_g_init'])} | {_pct(a['acc_under_g'])} | "
            f"{_pct(a['clipped_init'])} | {_pct(a['clipped_end'])} | "
            f"{_pct(a['saturated_init'])} | {_pct(a['saturated_end'])} | "
            f"{a['grad_norm_init']:.3g} | {a['grad_norm_end']:.3g} |")
    return "\n".join(lines + closing(doc))


def render_recipe(doc):
    """Part B's Markdown: the arms under each attack, then the PGD-10 curves."""
    from tf_advnet.papers._diagnostics import attack_table, closing

    arms = doc["arms"]
    lines = attack_table(doc)
    n = max(len(a["curve"] or ()) for a in arms.values())
    if n:
        lines += ["", "PGD-10 accuracy (%) on held-out images after each epoch:", "",
                  "| arm | " + " | ".join(str(e) for e in range(1, n + 1)) + " |",
                  "|---" * (n + 1) + "|"]
        for name, a in arms.items():
            c = list(a["curve"] or ())
            lines.append(f"| {name} | " + " | ".join(_pct(v) for v in c + [None] * (n - len(c)))
                         + " |")
    return "\n".join(lines + closing(doc))


def render(doc):
    """The Markdown of either part's JSON (Part A's arms carry `acc_under_g`)."""
    first = next(iter(doc["arms"].values()))
    return (render_generators if "acc_under_g" in first else render_recipe)(doc)


# -------------------------------------------------------------------------- main

def main(argv=None):
    from tf_advnet.papers._diagnostics import run_arms, write
    from tf_advnet.utils.cli import quiet_tensorflow
    from tf_advnet.utils.provenance import Provenance

    quiet_tensorflow()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", default="both", choices=("a", "b", "both"))
    p.add_argument("--dataset", default="mnist_5k")
    p.add_argument("--test_limit", type=int, default=500,
                   help="held-out images attacked at the end (the curve's are the last "
                        "--curve_limit of the preset's test images)")
    p.add_argument("--g_epochs", type=int, default=8,
                   help="Part A: epochs of G alone (one G step per batch)")
    p.add_argument("--epochs", type=int, default=10, help="Part B: C's epochs")
    p.add_argument("--curve_limit", type=int, default=200)
    p.add_argument("--train_limit", type=int, default=None,
                   help="training images (default: the cpu preset's)")
    p.add_argument("--eps", type=float, default=None,
                   help="the perturbation budget (default: the cpu preset's); results "
                        "then go to <part>_<dataset>_eps<eps>")
    p.add_argument("--a_epochs", type=int, default=None,
                   help="Part A: A's epochs (default: the cpu preset's)")
    p.add_argument("--work_dir", default="runs/diagnostics/advnet")
    p.add_argument("--results_dir", default="results/advnet/diagnostics")
    args = p.parse_args(argv)
    argv = ["-m", "tf_advnet.papers.advnet.diagnostics"] + list(
        sys.argv[1:] if argv is None else argv)
    ov = {k: v for k, v in (("train_limit", args.train_limit), ("epochs", args.a_epochs),
                            ("advnet_epochs", args.epochs), ("eps", args.eps))
          if v is not None}
    s = cpu_study(args.dataset, ov)
    name = args.dataset + ("" if args.eps is None else f"_eps{args.eps:.4g}")
    root = os.path.join(args.work_dir, name)
    size = f"{s.dataset}, eps {s.eps:g}"
    if args.part in ("a", "both"):
        prov = Provenance(seed=s.seed, preset="cpu", argv=argv)
        res = run_generators(s, work_dir=os.path.join(root, "generator"), g_epochs=args.g_epochs,
                             test_limit=args.test_limit, argv=argv)
        v, reason = verdict_generators(res)
        write(res, args.results_dir, f"generator_{name}",
              title=f"Wang & Yu: G0 alone against a fixed D1 ({size})",
              question=QUESTION_A, verdict=v, reason=reason, prov=prov.finish(),
              render_fn=render)
        print(f"[advnet diagnostics, part A] {v}: {reason}")
    if args.part in ("b", "both"):
        prov = Provenance(seed=s.seed, preset="cpu", argv=argv)
        res = run_arms(recipe_arms(args.dataset, ov), ATTACKS,
                       work_dir=os.path.join(root, "recipe"),
                       test_limit=args.test_limit, curve="pgd10",
                       curve_limit=args.curve_limit, argv=argv)
        v, reason = verdict_recipe(res)
        write(res, args.results_dir, f"recipe_{name}",
              title=f"Wang & Yu: C on the cpu vs the official-like recipe ({size}, "
                    f"{s.advnet_epochs} epochs)",
              question=QUESTION_B, verdict=v, reason=reason, prov=prov.finish(),
              render_fn=render)
        print(f"[advnet diagnostics, part B] {v}: {reason}")


if __name__ == "__main__":
    main()
