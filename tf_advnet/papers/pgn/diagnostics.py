"""PGN at a longer budget: are the study's "not held" verdicts on Fig. 3 (the PGN attack
is not stronger than FGM at equal L2) and Fig. 5 (PGN's robustness curve is not outside
FGM-AT's and PGD-AT's) the cpu preset's short training, or PGN's design?

Part A, the attack generator (Fig. 3). Does the generator lose to FGM at equal L2
because it is under-trained, or because the tanh change of variables (Eq. 5) cannot
move the pixels that are exactly 0 or 1? (x_adv = sigmoid(2 atanh(0.999999 (2x - 1))
+ 2w): at x in {0, 1} and small w, d x_adv / d w is ~1e-6, so the generator's
training signal barely reaches those pixels until its outputs grow large; FGM moves
them inwards at once. Half of Fashion-MNIST's test pixels are 0 or 1.) The study's Fig. 3 FGM-AT classifier (L2 eps `fig3_eps`, trained
once by the pipeline's own `_train`) is attacked on the same held-out test images by

  pgn_e2, pgn_e8, pgn_e20   the study's Fig. 3 attack generator (c_L 0.2, the middle of
                            `fig3_c_l`) trained 2 (the study's budget), 8 and 20 epochs:
                            snapshots of one 20-epoch run (Adam at a constant rate over
                            the same shuffled batches, so its epoch-2 state is the
                            2-epoch generator); the arms differ in the epochs only;
  fgm                       the study's L2 FGM direction, step length chosen per image so
                            that its clipped perturbation has the L2 of that image's
                            generator perturbation (equal L2 image by image);
  fgm_restricted            the same, its direction masked to the pixels 0 < x < 1 and
                            renormalised to unit L2 before the same per-image scaling:
                            differs from `fgm` in the mask only.

Measured per generator: accuracy under each attack at that generator's L2, the mean L2,
and the share of the generator's squared L2 that lands on saturated pixels. Verdict A,
with "beats" = lower accuracy than fgm_restricted at equal L2 and "gain" = fgm_restricted
minus generator accuracy: "budget" if the last generator beats fgm_restricted where the
first did not, or its gain grew by more than 2 points from the middle to the last
generator (still improving); else "design" (restricted FGM is no better than the
generator: the saturated pixels explain the gap to FGM; or it is better, and more
epochs do not close the gap: the generator is the weaker attack at this recipe).

Part B, the robustness curve (Fig. 5). Does PGN's rho_cw lose to FGM-AT's and PGD-AT's
only at the study's 3 epochs? One 12-epoch run per method, each the study's own recipe
(`pipeline.model_config`) at the point Table 2 matched on Fashion-MNIST (FGM-AT and
PGD-AT at L2 eps 0.5, PGN at c_L 0.25): the arms differ in the training method only.
Benign accuracy and rho_cw (Eq. 6, the study's C&W-L2: 100 iterations, 5 binary steps)
on 500 test images after epochs 3 (the study's budget), 10 and 12, by the study's
`RhoCWPerEpoch` limited to those epochs. Verdict B: "budget" if PGN's rank by rho_cw
among the three (1 = largest) is better at epoch 12 than at 3, or PGN's rho_cw still
rises (epoch 12 more than 2% above epoch 10, the value 20% of the epochs earlier); else
"design".

Data and size: the study's cpu data set (Fashion-MNIST, its first 10,000 training
images, so the 2-epoch generator and the epoch-3 classifiers are the study's own
models) and the first 500 test images for both parts; C&W at the study's 100
iterations and 5 binary steps (not reduced). The cost: one 20-epoch generator run,
three 12-epoch classifiers (PGN, PGD-10-AT, FGM-AT) and nine C&W evaluations of 500
images; ~12-17 minutes on 2 quiet cores, estimated from per-epoch times measured
under load (`--gen_epochs=1,2 --curve_epochs=2`).

    python -m tf_advnet.papers.pgn.diagnostics [--dataset=fashion_mnist]
"""

import argparse
import json
import os
import sys

import keras
import numpy as np

GEN_EPOCHS = (2, 8, 20)
GEN_C_L = 0.2
CURVE_EPOCHS = 12
MEASURE_EPOCHS = (3, 10, 12)
# Table 2's matched models of the committed cpu study (results/pgn/fashion_mnist).
CURVE_POINTS = {"pgn": 0.25, "fgm_at": 0.5, "pgd_at": 0.5}
TEST_IMAGES = 500
GAIN_POINTS = 2.0
RISE_FRACTION = 0.02
ATTACKS = ("pgn", "fgm", "fgm_restricted")


def _study(dataset=None, overrides=None):
    from tf_advnet.papers._study import given
    from tf_advnet.papers.pgn.study import study

    return study("cpu", dataset, given(overrides))


def arms(dataset=None, overrides=None, *, gen_epochs=GEN_EPOCHS, gen_c_l=GEN_C_L,
         curve_epochs=CURVE_EPOCHS, points=None):
    """Both parts' arms on the study's cpu recipe for `dataset` (default the study's).

    Returns {"classifier": the Fig. 3 FGM-AT ExperimentConfig,
    "generators": {arm: generator recipe dict}, "attacks": {arm: {"mask": ...}},
    "curves": {method: ExperimentConfig}}.
    """
    from tf_advnet.papers.pgn.pipeline import model_config

    s = _study(dataset, overrides)
    points = dict(CURVE_POINTS, **(points or {}))
    gens = {f"pgn_e{e}": {"c_l": float(gen_c_l), "epochs": int(e),
                          "width": s.generator_width, "learning_rate": s.learning_rate,
                          "batch_size": s.batch_size, "seed": s.seed}
            for e in gen_epochs}
    return {"classifier": model_config(s, "fgm_at", s.fig3_eps),
            "generators": gens,
            "attacks": {"fgm": {"mask": "all"}, "fgm_restricted": {"mask": "interior"}},
            "curves": {m: model_config(s, m, points[m], epochs=curve_epochs)
                       for m in ("pgn", "fgm_at", "pgd_at")}}


# ----------------------------------------------------------------- equal-L2 FGM

def interior_mask(x):
    """1 where 0 < x < 1 (the pixels Eq. 5 can move), else 0."""
    return ((x > 0.0) & (x < 1.0)).astype(np.float32)


def unit_direction(u, mask=None):
    """Each example's direction `u` (times `mask`), renormalised to unit L2 (a zero
    direction stays zero)."""
    u = np.asarray(u, np.float64) * (1.0 if mask is None else mask)
    n = np.linalg.norm(u.reshape(len(u), -1), axis=1).reshape((-1,) + (1,) * (u.ndim - 1))
    return np.where(n > 0, u / np.where(n > 0, n, 1.0), 0.0)


def step_to_l2(x, u, l2, *, steps=50):
    """clip(x + t u, 0, 1) with, per example, the t >= 0 whose perturbation has L2
    norm `l2` (FGM's step at a chosen budget: ||clip(x + t u) - x|| is continuous and
    non-decreasing in t, so bisection finds it; where the clipped ray cannot reach
    `l2`, its largest reachable norm is taken).

    Args:
      x: images (N, ...) in [0, 1].
      u: unit-L2 directions like x.
      l2: (N,) target norms.
    """
    x = np.asarray(x, np.float64)
    u = np.asarray(u, np.float64)
    l2 = np.asarray(l2, np.float64)
    shape = (-1,) + (1,) * (x.ndim - 1)

    def norm(t):
        d = np.clip(x + t.reshape(shape) * u, 0.0, 1.0) - x
        return np.linalg.norm(d.reshape(len(x), -1), axis=1)

    # Without clipping t = l2; clipping only shortens, so the answer is >= l2.
    lo, hi = np.zeros_like(l2), np.maximum(l2, 1e-12)
    for _ in range(40):
        short = norm(hi) < l2
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi, hi)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        short = norm(mid) < l2
        lo, hi = np.where(short, mid, lo), np.where(short, hi, mid)
    return np.clip(x + hi.reshape(shape) * u, 0.0, 1.0).astype(np.float32)


def fgm_direction(model_fn, x, y, *, batch_size=250):
    """The L2 FGM direction grad CE / ||grad CE|| of each image (the suite's `fgm`
    at eps 1, unclipped)."""
    from tf_advnet.attacks.fgsm import fgm
    from tf_advnet.eval.batching import map_batches

    x_step = map_batches(lambda xb, yb: fgm(model_fn, xb, yb, eps=1.0, norm="2",
                                            clip_min=None, clip_max=None),
                         x, y, batch_size=batch_size)
    return np.asarray(x_step, np.float64) - x


# ------------------------------------------------------------------------ part A

def _snapshot_callback(trainer, epochs, save):
    class Snapshots(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in epochs:
                save(epoch + 1, trainer.generator, dict(logs or {}))
    return Snapshots()


def train_generator_snapshots(clf, recipes, x, y, store, *, progress=print):
    """The generators of `recipes` ({arm: recipe}, equal but for "epochs"), as
    snapshots of one run of the study's Fig. 3 recipe (`pipeline.train_attack_generator`)
    for the largest epochs, kept in `store`. Returns ({arm: generator},
    {arm: the epoch's training logs})."""
    from tf_advnet import data as data_lib
    from tf_advnet.pipelines import common
    from tf_advnet.trainers.pgn import PGNTrainer

    base = {k: v for k, v in next(iter(recipes.values())).items() if k != "epochs"}
    by_epoch = {r["epochs"]: arm for arm, r in recipes.items()}
    entry = store.entry("pgn_attack_generator_snapshots", classifier=clf, data=(x, y),
                        epochs=sorted(by_epoch), **base)
    names = {e: f"generator_e{e}.keras" for e in by_epoch}
    if not all(entry.done(n) for n in names.values()) or not entry.done("logs.json"):
        logs = {}

        def save(epoch, gen, epoch_logs):
            from tf_advnet.store import save_model_atomic

            save_model_atomic(gen, entry.path(names[epoch]))
            logs[by_epoch[epoch]] = {k: float(v) for k, v in epoch_logs.items()}

        common.set_seed(base["seed"])
        trainer = PGNTrainer(clf, c_l=base["c_l"], generator_width=base["width"])
        trainer.compile(optimizer=keras.optimizers.Adam(base["learning_rate"]),
                        g_optimizer=keras.optimizers.Adam(base["learning_rate"]))
        progress(f"[pgn diagnostics] training an attack generator (c_L = {base['c_l']:g}) "
                 f"for {max(by_epoch)} epochs -> {entry.dir}")
        trainer.fit(data_lib.make_dataset(x, y, base["batch_size"], training=True,
                                          seed=base["seed"]),
                    epochs=max(by_epoch), verbose=2, shuffle=False,
                    callbacks=[_snapshot_callback(trainer, set(by_epoch), save)])
        entry.json("logs.json", lambda: logs)
    with open(os.path.join(entry.dir, "logs.json")) as f:
        logs = json.load(f)
    return ({by_epoch[e]: common.load_keras_model(os.path.join(entry.dir, n))
             for e, n in names.items()}, logs)


def attack_at_equal_l2(fn, gen, x, y, u, u_restricted, *, grad_batch_size, batch_size):
    """One generator's attack and both FGMs at its per-image L2, on (x, y)."""
    from tf_advnet.attacks.pgn import pgn_attack
    from tf_advnet.eval.batching import map_batches
    from tf_advnet.eval.robustness import per_example_norms, predict

    x_pgn = np.asarray(map_batches(
        lambda xb, yb: pgn_attack(fn, gen, xb, yb, grad_batch_size=grad_batch_size),
        x, y, batch_size=batch_size))
    l2, _ = per_example_norms(x_pgn.astype(np.float64) - x)
    saturated = 1.0 - interior_mask(x)
    out = {"mean_l2": float(l2.mean())}
    for name, x_adv in (("pgn", x_pgn), ("fgm", step_to_l2(x, u, l2)),
                        ("fgm_restricted", step_to_l2(x, u_restricted, l2))):
        delta = np.asarray(x_adv, np.float64) - x
        a_l2, _ = per_example_norms(delta)
        sq = float((delta ** 2).sum())
        out[name] = {"acc": float((predict(fn, x_adv, batch_size) == y).mean()),
                     "mean_l2": float(a_l2.mean()),
                     "saturated_l2_share":
                         float((saturated * delta ** 2).sum() / sq) if sq else 0.0}
    return out


def run_part_a(a, s, x_test, y_test, *, work_root, store, argv, progress=print):
    """Part A: {arm: {"mean_l2", "pgn"/"fgm"/"fgm_restricted": {"acc", "mean_l2",
    "saturated_l2_share"}, "train_logs", "epochs", "c_l"}} on (x_test, y_test)."""
    from tf_advnet.eval.robustness import as_model_fn
    from tf_advnet.papers.pgn.pipeline import _train
    from tf_advnet.pipelines import common

    name, run = _train(s, work_root, "fgm_at", s.fig3_eps, progress=progress, argv=argv)
    clf = common.load_keras_model(run["model_path"])
    clf.trainable = False
    x_train, y_train = common.load_split(a["classifier"].data, "train")
    gens, logs = train_generator_snapshots(clf, a["generators"], x_train, y_train, store,
                                           progress=progress)
    fn = as_model_fn(clf)
    u = fgm_direction(fn, x_test, y_test, batch_size=s.eval_batch_size)
    u_all = unit_direction(u)
    u_in = unit_direction(u, interior_mask(x_test))
    out = {}
    for arm, gen in gens.items():
        progress(f"[pgn diagnostics] Part A: {arm} against {name}, FGM at equal L2")
        r = a["generators"][arm]
        out[arm] = {"epochs": r["epochs"], "c_l": r["c_l"], "classifier": name,
                    **attack_at_equal_l2(fn, gen, x_test, y_test, u_all, u_in,
                                         grad_batch_size=r["batch_size"],
                                         batch_size=s.eval_batch_size),
                    "train_logs": logs.get(arm, {}), "n_test": int(len(x_test))}
    return out


def verdict_a(results):
    """(verdict, reason) of Part A by the module docstring's rule; `results` is
    run_part_a's, its arms in increasing epochs."""
    arms_ = sorted(results.values(), key=lambda r: r["epochs"])
    first, mid, last = arms_[0], arms_[-2] if len(arms_) > 1 else arms_[0], arms_[-1]

    def gain(r):
        return 100 * (r["fgm_restricted"]["acc"] - r["pgn"]["acc"])

    text = "; ".join(
        f"{r['epochs']} epochs: L2 {r['mean_l2']:.2f}, PGN {100 * r['pgn']['acc']:.1f}%, "
        f"FGM {100 * r['fgm']['acc']:.1f}%, FGM(0<x<1) "
        f"{100 * r['fgm_restricted']['acc']:.1f}% "
        f"(saturated pixels hold {100 * r['pgn']['saturated_l2_share']:.0f}% of PGN's "
        f"L2^2, {100 * r['fgm']['saturated_l2_share']:.0f}% of FGM's)"
        for r in arms_) + "."
    if (gain(last) > 0 >= gain(first)) or gain(last) - gain(mid) > GAIN_POINTS:
        return "budget", (text + f" The generator's gain over restricted FGM goes "
                          f"{gain(first):+.1f} -> {gain(mid):+.1f} -> {gain(last):+.1f} "
                          "points: more training makes it the stronger attack at equal "
                          "L2, or is still making it stronger.")
    if gain(last) >= 0:
        return "design", (text + f" Restricted to the pixels Eq. 5 can move, FGM is no "
                          f"better than the {last['epochs']}-epoch generator "
                          f"({gain(last):+.1f} points): the saturated pixels FGM alone "
                          "moves explain its lead.")
    return "design", (text + f" The generator stays {-gain(last):.1f} points weaker "
                      "than FGM even on the movable pixels and more epochs do not close "
                      f"it ({gain(first):+.1f} -> {gain(mid):+.1f} -> "
                      f"{gain(last):+.1f}): the weaker attack at this recipe.")


# ------------------------------------------------------------------------ part B

def _rho_cw_at_epochs(x, y, s, path, epochs):
    from tf_advnet.papers.pgn.pipeline import RhoCWPerEpoch

    class RhoCWAtEpochs(RhoCWPerEpoch):
        """The study's per-epoch rho_cw, after the epochs of `epochs` only."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in epochs:
                super().on_epoch_end(epoch, logs)

    return RhoCWAtEpochs(x, y, s, path)


def run_part_b(a, s, x_test, y_test, *, measure_epochs, work_root, store, argv,
               progress=print):
    """Part B: {method: {"epoch": [...], "acc": [...], "rho_cw": [...], "value",
    "train_images_per_second", "config"}} on (x_test, y_test)."""
    from tf_advnet.papers.pgn.pipeline import _train

    out = {}
    for method, cfg in a["curves"].items():
        value = cfg.train.trainer.c_l if method == "pgn" else cfg.train.eps
        path = store.entry("pgn_diagnostics_curve", config=cfg, data=(x_test, y_test),
                           cw_iterations=s.cw_iterations,
                           cw_binary_steps=s.cw_binary_steps,
                           epochs=list(measure_epochs)).path("rho_cw.json")
        cb = _rho_cw_at_epochs(x_test, y_test, s, path, set(measure_epochs))
        _, run = _train(s, work_root, method, value, epochs=cfg.train.epochs,
                        name=f"{method}_{value:g}_e{cfg.train.epochs}", callbacks=(cb,),
                        progress=progress, argv=argv)
        with open(path) as f:
            curve = json.load(f)
        out[method] = {**curve, "value": value, "n_test": int(len(x_test)),
                       "train_images_per_second": run["train_images_per_second"],
                       "config": run["config"]}
    return out


def _rank(curves, i):
    """Each method's rank by rho_cw at position i of the curves (1 = largest)."""
    order = sorted(curves, key=lambda m: -curves[m]["rho_cw"][i])
    return {m: order.index(m) + 1 for m in curves}


def verdict_b(results):
    """(verdict, reason) of Part B by the module docstring's rule."""
    pgn = results["pgn"]
    first, last = _rank(results, 0), _rank(results, -1)
    e0, e1 = pgn["epoch"][0], pgn["epoch"][-1]
    prev = pgn["rho_cw"][-2] if len(pgn["epoch"]) > 2 else pgn["rho_cw"][0]
    e_prev = pgn["epoch"][-2] if len(pgn["epoch"]) > 2 else e0
    text = "; ".join(
        f"{m}: rho_cw " + " -> ".join(f"{v:.3f}" for v in r["rho_cw"])
        + f" (epochs {', '.join(str(e) for e in r['epoch'])}; acc "
        + " -> ".join(f"{100 * v:.1f}%" for v in r["acc"]) + ")"
        for m, r in results.items()) + "."
    text += f" PGN ranks {first['pgn']} of 3 at epoch {e0}, {last['pgn']} at epoch {e1}."
    rising = pgn["rho_cw"][-1] > (1.0 + RISE_FRACTION) * prev
    if last["pgn"] < first["pgn"] or rising:
        why = ("its rank improves with training" if last["pgn"] < first["pgn"] else
               f"its rho_cw still rises ({prev:.3f} at epoch {e_prev} -> "
               f"{pgn['rho_cw'][-1]:.3f} at epoch {e1})")
        return "budget", text + f" PGN gains with the budget: {why}."
    return "design", (text + f" More epochs do not move PGN up the ranking and its "
                      f"rho_cw is not rising by more than {100 * RISE_FRACTION:.0f}% "
                      f"from epoch {e_prev} to {e1}.")


# ------------------------------------------------------------------------ report

def render(doc):
    """Part A's or Part B's Markdown, from its JSON."""
    from tf_advnet.papers._diagnostics import closing

    arms_ = doc["arms"]
    lines = [f"# {doc['title']}", "", doc["question"], ""]
    if "fgm_restricted" in next(iter(arms_.values())):
        lines += ["Accuracy (%) on the same test images; both FGMs take, image by image, "
                  "the generator's L2 (FGM(0<x<1): FGM's direction masked to the pixels "
                  "0 < x < 1 and renormalised to the same L2).", "",
                  "| generator | epochs | mean L2 | PGN | FGM | FGM(0<x<1) | "
                  "L2^2 on saturated pixels (%), PGN / FGM | train adv_acc (%) |",
                  "|---|---|---|---|---|---|---|---|"]
        for arm, r in arms_.items():
            adv = r["train_logs"].get("adv_acc")
            lines.append(f"| {arm} | {r['epochs']} | {r['mean_l2']:.3f} | "
                         f"{100 * r['pgn']['acc']:.1f} | {100 * r['fgm']['acc']:.1f} | "
                         f"{100 * r['fgm_restricted']['acc']:.1f} | "
                         f"{100 * r['pgn']['saturated_l2_share']:.1f} / "
                         f"{100 * r['fgm']['saturated_l2_share']:.1f} | "
                         + ("—" if adv is None else f"{100 * adv:.1f}") + " |")
    else:
        epochs = next(iter(arms_.values()))["epoch"]
        lines += ["| method | eps or c_L | " + " | ".join(
                      f"acc / rho_cw, epoch {e}" for e in epochs) + " | train img/s |",
                  "|---" * (len(epochs) + 3) + "|"]
        for m, r in arms_.items():
            lines.append(f"| {m} | {r['value']:g} | " + " | ".join(
                f"{100 * a:.1f} / {c:.3f}" for a, c in zip(r["acc"], r["rho_cw"]))
                + f" | {r['train_images_per_second']:.0f} |")
    return "\n".join(lines + closing(doc))


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def main(argv=None):
    from tf_advnet import data as data_lib
    from tf_advnet.papers._diagnostics import write
    from tf_advnet.store import Store
    from tf_advnet.utils.cli import quiet_tensorflow
    from tf_advnet.utils.provenance import Provenance

    quiet_tensorflow()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default=None, help="default: the study's cpu data set")
    p.add_argument("--parts", default="A,B", help="A, B or A,B")
    p.add_argument("--test_images", type=int, default=TEST_IMAGES)
    p.add_argument("--train_limit", type=int, default=None,
                   help="training images (default: the study's)")
    p.add_argument("--gen_epochs", default=",".join(map(str, GEN_EPOCHS)))
    p.add_argument("--gen_c_l", type=float, default=GEN_C_L)
    p.add_argument("--curve_epochs", type=int, default=CURVE_EPOCHS)
    p.add_argument("--measure_epochs", default=",".join(map(str, MEASURE_EPOCHS)))
    p.add_argument("--eps", type=float, default=CURVE_POINTS["fgm_at"],
                   help="FGM-AT's and PGD-AT's L2 eps in Part B")
    p.add_argument("--c_l", type=float, default=CURVE_POINTS["pgn"],
                   help="PGN's c_L in Part B")
    p.add_argument("--cw_iterations", type=int, default=None)
    p.add_argument("--cw_binary_steps", type=int, default=None)
    p.add_argument("--work_dir", default="runs/diagnostics/pgn")
    p.add_argument("--results_dir", default="results/pgn/diagnostics")
    args = p.parse_args(argv)
    argv = ["-m", "tf_advnet.papers.pgn.diagnostics"] + list(
        sys.argv[1:] if argv is None else argv)
    parts = set(args.parts.upper().split(","))
    overrides = {"train_limit": args.train_limit, "cw_iterations": args.cw_iterations,
                 "cw_binary_steps": args.cw_binary_steps}
    s = _study(args.dataset, overrides)
    measure = _ints(args.measure_epochs)
    a = arms(args.dataset, overrides, gen_epochs=_ints(args.gen_epochs),
             gen_c_l=args.gen_c_l, curve_epochs=args.curve_epochs,
             points={"pgn": args.c_l, "fgm_at": args.eps, "pgd_at": args.eps})
    root = os.path.join(args.work_dir, s.dataset)
    store = Store(os.path.join(root, "store"))
    x_test, y_test = data_lib.load(s.dataset, "test", data_dir=s.data_dir,
                                   limit=args.test_images)
    x_test = np.asarray(x_test, np.float32)
    y_test = np.asarray(y_test, np.int64)
    question = __doc__.split("\n\n")[0].replace("\n", " ")
    n = len(x_test)
    if "A" in parts:
        prov = Provenance(seed=s.seed, preset="cpu", argv=argv)
        res = run_part_a(a, s, x_test, y_test, work_root=root, store=store, argv=argv)
        v, reason = verdict_a(res)
        write(res, args.results_dir, f"attack_generator_{s.dataset}",
              title=f"PGN's attack generator against FGM-AT (L2 eps {s.fig3_eps:g}) at "
                    f"equal L2, {s.dataset}, {n} test images",
              question=question + " Part A: the attack generator (Fig. 3).", verdict=v,
              reason=reason, prov=prov.finish(), render_fn=render)
        print(f"[pgn diagnostics] A: {v}: {reason}")
    if "B" in parts:
        prov = Provenance(seed=s.seed, preset="cpu", argv=argv)
        res = run_part_b(a, s, x_test, y_test, measure_epochs=measure, work_root=root,
                         store=store, argv=argv)
        v, reason = verdict_b(res)
        write(res, args.results_dir, f"robustness_curve_{s.dataset}",
              title=f"PGN, FGM-AT and PGD-AT over {args.curve_epochs} epochs, rho_cw "
                    f"(C&W-L2 {s.cw_iterations} iterations, {s.cw_binary_steps} binary "
                    f"steps) on {n} test images, {s.dataset}",
              question=question + " Part B: the robustness curve (Fig. 5).", verdict=v,
              reason=reason, prov=prov.finish(), render_fn=render)
        print(f"[pgn diagnostics] B: {v}: {reason}")


if __name__ == "__main__":
    main()
