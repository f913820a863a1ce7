"""One report card for every defence of the suite: its paper's protocol beside a strong one.

`reproduce(preset, dataset)` trains, on ONE architecture, ONE data set and ONE L-inf
budget eps, the rows

- `standard` (undefended), `pgd_at` (Madry et al.),
- `bat` (Wang & Zhang, ICCV 2019: R-MC-LA, beta 9),
- `advnet` (Wang & Yu, ICLR 2019: the adversarial network C, generator g0),
- `l2lda` (Jang et al., ICCV 2019: from the standard row, as the paper starts from a
  pre-trained plain model),
- `pgn` (ICLR 2020 submission: generator G(grad, x, y), c_L penalty; it has no eps),
- `deepdefense` (Yan et al., NeurIPS 2018: fine-tuned from the standard row, as the
  paper; its regulariser has no eps),

each with `tf_advnet.pipelines.train.train` under `<work_dir>/<dataset>/<row>` (kill and rerun
to resume: trained rows are reused, and each row's evaluation resumes from its saved
state). Every row is then evaluated on the same test images by

- its paper's own protocol (`PAPER_PROTOCOL`, the attacks its paper reports, put in the
  common L-inf threat model at eps) and its per-example worst case, where a point
  fooled at any iterate of an attack counts as broken (AutoAttack's rule; the papers'
  own code takes PGD's last iterate, which counts a point fooled mid-run as robust);
- a strong protocol, AutoAttack's standard version (Croce & Hein 2020) in its order:
  APGD-CE, APGD-T (targeted DLR, top-k targets), FAB-T (targeted minimal-distance,
  counted within eps) and Square (score-based, gradient-free);
- the worst case over both, per example (`tf_advnet.eval.ensemble`, each attack run on
  every clean-correct example so each column is that attack's own accuracy);
- the gradient-masking checks of `tf_advnet.eval.masking` (Athalye et al. 2018;
  Carlini et al. 2019), fed with the white-box, Square and transfer accuracies (the
  transfer attack: PGD crafted on the standard row; for the standard row itself, on
  the PGD-AT row).

The training budget of each row (images/s, wall time; the fine-tuned rows add the
standard row's) is in the card. `results_dir` gets report_card.json (with provenance)
and report_card.md, generated from it by `tf_advnet.papers.report_card.report`.
"""

import dataclasses
import math
import os
import time

from tf_advnet.papers.report_card.report import LABELS  # noqa: F401  (re-exported)
from tf_advnet.papers.report_card.study import (  # noqa: F401  (re-exported)
    FINETUNED, PRESETS, ROWS, CPU, DATASETS, Card, card, validate)


BAT_TWO_STEP_EPS = 16 / 255


def row_config(c, row, *, init_model=None):
    """The ExperimentConfig of one row (validated).

    From-scratch rows share the optimiser, epochs and data of `c`; L2L-DA fine-tunes
    the standard row with its code's recipe (generator SGD 0.01, global clip 1);
    DeepDefense fine-tunes it with the recipe of `tf_advnet.papers.deepdefense.pipeline`
    (SGD, momentum 0.9, batch 100, lr halved at 0.8 of the epochs) at
    `dd_learning_rate`: 5e-3, since the DeepDefense study's 2e-2 diverged on conv nets
    (Fashion-MNIST LeNet there; mnist_5k small CNN in this card's first run).
    """
    from tf_advnet.configs import ExperimentConfig, override, replace_trainer
    from tf_advnet.configs.base import DataConfig, EvalConfig, ModelConfig, TrainConfig

    train = dict(method=row, epochs=c.epochs, optimizer=c.optimizer,
                 learning_rate=c.learning_rate, momentum=0.9, eps=c.eps,
                 attack_steps=c.attack_steps)
    own = {}  # the row's trainer config (tf_advnet.trainers.<method>.Config)
    if row == "pgd_at":
        train.update(eps_warmup_epochs=c.eps_warmup_epochs)
    elif row == "bat":
        # BAT's best row. Its paper trains with one step at 8/255 and with two at
        # ImageNet's 16/255 (Sec. 4): one step at larger budgets leaks labels and
        # masks gradients, so budgets from 16/255 up take two steps of eps / 2.
        own.update(variant="R-MC-LA", beta=9.0,
                   num_steps=2 if c.eps >= BAT_TWO_STEP_EPS else None)
    elif row == "advnet":
        from tf_advnet.papers.advnet.pipeline import parse_generator

        kind, k = parse_generator(c.advnet_generator)
        own.update(generator=kind, k=k)
    elif row == "l2lda":
        train.update(epochs=c.finetune_epochs, init_model=init_model, clipnorm=1.0)
        own.update(g_width=c.l2lda_width, num_steps=c.l2lda_steps, g_optimizer="sgd",
                   g_learning_rate=0.01)
    elif row == "pgn":
        own.update(c_l=c.pgn_c_l, generator_width=c.pgn_width)
    cfg = ExperimentConfig(
        data=DataConfig(dataset=c.dataset, train_limit=c.train_limit,
                        test_limit=c.test_limit, batch_size=c.batch_size,
                        data_dir=c.data_dir),
        model=ModelConfig(name=c.model),
        train=replace_trainer(TrainConfig(**dict(
            train, method="standard" if row == "deepdefense" else row)), own),
        eval=EvalConfig(attacks="fgsm", eps=c.eps, batch_size=c.eval_batch_size),
        seed=c.seed, preset=c.preset)
    if row == "deepdefense":
        from tf_advnet.papers.deepdefense import pipeline as dd

        cfg = dd.finetune_config(cfg, c.dataset, "deepdefense", overrides=dict(
            epochs=c.finetune_epochs, trainer={"lam": c.dd_lambda}, init_model=init_model,
            learning_rate=c.dd_learning_rate))
        cfg = override(cfg, preset=c.preset)
    return cfg.validate()


def train_rows(c, root, *, argv=None, progress=print):
    """Trains (or reuses) every row of `c`; returns {row: train results}."""
    from tf_advnet.pipelines.train import curve_callbacks, train

    runs = {}
    for row in c.rows:
        init = runs["standard"]["model_path"] if row in FINETUNED else None
        cfg = row_config(c, row, init_model=init)
        runs[row] = train(cfg, os.path.join(root, row), argv=argv, progress=progress,
                          verbose=2, callbacks=curve_callbacks(cfg, c.curve_attack))
    return runs


def budget(runs, row, curve_attack=None):
    """Training cost of a row: images/s and wall time (fine-tuned rows add the
    standard row's time, since they cannot exist without it), its per-epoch
    accuracy under `curve_attack` where the training recorded it, and its last
    epoch's training accuracy on clean and (where it trains on them) adversarial
    inputs."""
    from tf_advnet.pipelines.train import curve_of

    r = runs[row]
    wall = r["provenance"]["wall_time_s"]
    out = {"images_per_second": round(r["train_images_per_second"], 1),
           "wall_time_s": round(wall, 1), "epochs": r["config"]["train"]["epochs"]}
    curve = curve_of(r, curve_attack)
    if curve is not None:
        out["curve"] = curve
    if row in FINETUNED:
        out["wall_time_s_with_standard"] = round(
            wall + runs["standard"]["provenance"]["wall_time_s"], 1)
    # The attack the row trains against, at its last epoch: a flat PGD-10 curve can
    # also mean an attack (a generator still at its start) that never bit.
    for k in ("clean_acc", "adv_acc"):
        if r["history"].get(k):
            out[f"train_{k}"] = round(float(r["history"][k][-1]), 4)
    losses = r["history"].get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        out["diverged"] = True  # NaN weights: its "robustness" means nothing
    return out


# ---------------------------------------------------------------------- protocols

# Each paper's own evaluation, in the common L-inf threat model (module docstring).
# Steps are eps-relative so one table serves every eps.
PAPER_PROTOCOL = {
    # Madry et al.: PGD from a random start (40 steps on MNIST).
    "standard": ("pgd40:step=eps/10",),
    "pgd_at": ("pgd40:step=eps/10",),
    # BAT Tables 2-3: PGD20 on CE and PGD100 on the CW margin (kappa 50), step eps/4.
    "bat": ("pgd20:step=eps/4", "cwpgd100:kappa=50,step=eps/4"),
    # Wang & Yu Tables 2-3: FGS and PGD (40 steps of eps/4 from a random start).
    "advnet": ("fgsm", "pgd40:step=eps/4"),
    # L2L-DA Table 2's gradient attacks (mister_ed's PGD keeps the best iterate; its
    # L-inf C&W); the generator attacks are in experiments/reproduce_l2lda.py.
    "l2lda": ("fgsm", "pgd10:step=eps/4", "pgd100:step=eps/12,keep_best=1", "cw100_inf",
              "cw1000_inf"),
    # PGN Table 2: white-box FGM and MIM (there in L2; here at the L-inf eps).
    "pgn": ("fgsm", "mim10"),
    # DeepDefense: DeepFool (there unbounded, rho_2; here counted within eps) and FGS.
    "deepdefense": ("fgsm", "deepfool_inf"),
}


def paper_specs(c, row):
    """Attack specs of the row's paper protocol (DeepFool bounded by eps; the L-inf
    C&W's binary search cut to `cw_binary_steps` when set)."""
    def spec(s):
        if s.startswith("deepfool"):
            return f"{s}:eps={c.eps}"
        if s.startswith("cw") and s.endswith("_inf") and c.cw_binary_steps is not None:
            return f"{s}:bs={c.cw_binary_steps}"
        return s
    return tuple(spec(s) for s in PAPER_PROTOCOL[row])


def strong_specs(c):
    """AutoAttack's standard version at the card's budgets: APGD-CE, APGD-T, FAB-T
    (targeted DLR / minimal distance over the top `apgd_targets` classes) and Square."""
    return (f"apgd{c.apgd_steps}:restarts={c.apgd_restarts}",
            f"apgdt{c.apgd_steps}:targets={c.apgd_targets},restarts={c.apgd_restarts}",
            f"fabt{c.apgd_steps}:targets={c.apgd_targets},restarts={c.apgd_restarts}",
            f"square{c.square_queries}")


def transfer_source(c, row):
    """The row whose PGD examples are transferred (another model of the card)."""
    if row != "standard":
        return "standard"
    return "pgd_at" if "pgd_at" in c.rows else None


# ----------------------------------------------------------------------- evaluation

def evaluate_row(c, row, model, surrogate, x, y, state_dir, *, progress=print):
    """Paper protocol, strong protocol, worst case, transfer and checks of one row."""
    import numpy as np

    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.attacks.pgd import pgd
    from tf_advnet.attacks.transfer import craft
    from tf_advnet.eval.ensemble import evaluate_ensemble
    from tf_advnet.eval.masking import run_checks
    from tf_advnet.eval.robustness import as_model_fn, predict

    fn = as_model_fn(model)
    paper = paper_specs(c, row)
    strong = strong_specs(c)
    parts = {}
    for name, specs in (("paper", paper), ("strong", strong)):
        parts[name] = evaluate_ensemble(
            model, x, y, parse_attacks(list(specs), eps=c.eps),
            state_path=os.path.join(state_dir, f"card_{name}_state.npz"), standalone=True,
            batch_size=c.eval_batch_size, seed=c.seed,
            progress=lambda line, r=row: progress(f"[card] {r}: {line}"))
    # The attacks' seconds are kept in their saved state across resumes; a resumed
    # row's wall time here would count only what this call ran.
    seconds = {k: {spec: parts[k]["attacks"][spec]["seconds"] for spec in specs}
               for k, specs in (("paper", paper), ("strong", strong))}
    t1 = time.time()
    robust = np.asarray(parts["paper"]["robust"], bool) & np.asarray(
        parts["strong"]["robust"], bool)
    columns = {spec: parts[k]["attacks"][spec]["acc"] for k, specs in
               (("paper", paper), ("strong", strong)) for spec in specs}
    square = [s for s in strong if s.startswith("square")]
    white_box = [columns[s] for s in paper + strong if s not in square]
    accs = {"white_box": float(min(white_box)), "square": min(columns[s] for s in square)}
    transfer = None
    if surrogate is not None:
        steps = 40
        x_t = craft(as_model_fn(surrogate), lambda f, xb, yb: pgd(
            f, xb, yb, eps=c.eps, step_size=c.eps / 10, num_steps=steps, seed=c.seed),
            x, y, batch_size=c.eval_batch_size)
        transfer = float((predict(fn, x_t, c.eval_batch_size) == y).mean())
        accs["transfer"] = transfer
    n = min(c.check_examples, len(x))
    checks = run_checks(model, x[:n], y[:n], eps=c.eps, accs=accs, seed=c.seed,
                        batch_size=c.eval_batch_size)
    return {
        "clean": parts["paper"]["clean_acc"],
        "paper_protocol": {"specs": list(paper),
                           "acc": {s: columns[s] for s in paper},
                           "worst_case": parts["paper"]["robust_acc"],
                           # AutoAttack's rule (a point fooled at any iterate is
                           # broken), the registry's default for PGD and MIM.
                           "any_iterate": all(parts["paper"]["attacks"][s]["any_iterate"]
                                              for s in paper),
                           "seconds": seconds["paper"]},
        "strong_protocol": {"specs": list(strong),
                            "acc": {s: columns[s] for s in strong},
                            "worst_case": parts["strong"]["robust_acc"],
                            "seconds": seconds["strong"]},
        "worst_case": float(robust.mean()),
        "transfer": transfer,
        "checks": [dataclasses.asdict(ch) for ch in checks],
        "fired": [ch.name for ch in checks if ch.fired],
        # Every attack's own seconds (over all the runs that resumed it), then the
        # transfer and the checks of this call.
        "eval_seconds": round(sum(sum(v.values()) for v in seconds.values())
                              + time.time() - t1, 1),
    }


def reproduce(preset_name="cpu", dataset=None, *, work_dir="runs/report_card",
              results_dir=None, overrides=None, argv=None, progress=print):
    """Trains every row, evaluates it under both protocols and writes the card.

    Returns the results dict (also written to results_dir/report_card.json).
    """
    from tf_advnet.pipelines import common
    from tf_advnet.papers import report_card as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.utils.compiled import Twins
    from tf_advnet.utils.provenance import Provenance

    c = card(preset_name, dataset, overrides)
    prov = Provenance(seed=c.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, c.dataset)
    results_dir = results_dir or os.path.join("results", "report_card", c.dataset)
    runs = train_rows(c, root, argv=argv, progress=progress)
    base = row_config(c, "standard")
    x, y = common.load_split(base.data, "test")
    models = {r: common.load_keras_model(run["model_path"]) for r, run in runs.items()}
    rows, twins = {}, Twins()
    for row in c.rows:
        src = transfer_source(c, row)
        progress(f"[card] evaluating {row}")
        # The row's twin: every row of one architecture shares the compiled attacks.
        rows[row] = evaluate_row(c, row, twins(models[row]), models.get(src), x, y,
                                 os.path.join(root, row), progress=progress)
        rows[row].update(budget=budget(runs, row, c.curve_attack), transfer_source=src)
    results = {"card": dataclasses.asdict(c), "n_test": int(len(x)), "rows": rows,
               "provenance": prov.finish()}
    return finish(study_module, results, results_dir)
