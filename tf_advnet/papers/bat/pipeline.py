"""Reproduce Bilateral Adversarial Training (Wang & Zhang, ICCV 2019): train, attack,
tabulate next to the paper.

`reproduce(preset_name, dataset)` is what `experiments/reproduce_bat.py` calls. It
trains every model with `tf_advnet.pipelines.train.train` (work dirs
`<work_dir>/<dataset>/<model>`, so an interrupted run resumes and finished models
are reused), evaluates them with `tf_advnet.eval.robustness`, and writes
`<results_dir>/bat.json` (all numbers, training cost, provenance), `bat.md` (the
tables, generated from the JSON) and `acc_vs_steps.png` (Fig. 1).

Models (`MODELS`; `--models` picks a subset):
- `undefended`: standard training (the black-box surrogate of Tables 3 and 7);
- `Madry`: PGD-AT baseline (7 steps of eps/4, random start: the paper's "Madry*");
- `R-MC-LA`, `R-MC-LS`, `Madry-LA`: Table 5;
- `FGSM`, `R-FGSM`, `LL`, `R-LL`, `MC`, `R-MC`: the label-leaking study of Table 3;
- `R-MC-LA_seed1`: an independently seeded R-MC-LA, the second surrogate of Table 7;
- `R-MC-LA_eps<e>`: R-MC-LA trained at other budgets, for Fig. 1.

Also the input-gradient magnitudes of Table 2 (`tf_advnet.eval.gradients`) for the
undefended, Madry and R-MC-LA models.

Evaluation (Sec. 5; official `eval.py`, `eval.sh`): white-box, untargeted, at the
preset's eps; FGSM without random start (step eps); multi-step PGD with a random start and step eps/4
(2/255 at 8/255) on the CE loss ("CE-k") and the CW margin with kappa = 50 ("CW-k");
Table 3's extra columns FGSM with random start and CE7 without.

Presets:
- `cpu` (Fashion-MNIST, eps = 0.1, the suite's Fashion-MNIST budget; the paper does
  not use MNIST-like data): small_cnn, the full training set, Adam 1e-3, batch 128,
  `CPU_EPOCHS` epochs, 1000 test images.
- `paper` (CIFAR-10, SVHN): WRN-28-10 (`wide_resnet`, 5 units per stage), batch 128,
  SGD momentum 0.9, weight decay 2e-4, lr 0.1 (SVHN 0.01) x0.1 at epochs 60 and 90
  of 100, eps_x = 8/255, beta = 9, gamma = 0.01, pad-4 crop + flip on CIFAR-10.
"""

import dataclasses
import os
import time
from typing import Optional

from tf_advnet.attacks.registry import parse_attacks
from tf_advnet.configs import override, preset
from tf_advnet.errors import UserError, check_choice
from tf_advnet.papers._study import given
from tf_advnet.papers.bat.study import LONG, LONG_CURVE, LONG_MODELS, PRESETS
from tf_advnet.pipelines import common
from tf_advnet.pipelines.train import train
from tf_advnet.utils.provenance import Provenance

CPU_DATASETS = ("fashion_mnist", "mnist", "synthetic")
PAPER_DATASETS = ("cifar10", "svhn")
CPU_EPOCHS = 3
FIG1_EPS_FACTORS = (0.5, 1.5)  # extra R-MC-LA training budgets, x the eval eps

# Attack columns (specs resolved at the eval eps).
FGSM = "fgsm"
FGSM_RS = "pgd1:step=eps/1"
CE2_8 = "pgd2:step=eps/1"  # Table 1's PGD2-8: 2 steps of 8 px at eps = 8 px
CE7 = "pgd7:step=eps/4"
CE7_NORS = "pgd7:step=eps/4,random_start=0"
CE20 = "pgd20:step=eps/4"
CE100 = "pgd100:step=eps/4"
CW20 = "cwpgd20:kappa=50,step=eps/4"
CW100 = "cwpgd100:kappa=50,step=eps/4"
CE200 = "pgd200:step=eps/4"
CW200 = "cwpgd200:kappa=50,step=eps/4"
LEAK_ATTACKS = (FGSM, FGSM_RS, CE7_NORS, CE7, CE20)
MAIN_ATTACKS = (FGSM, FGSM_RS, CE2_8, CE7_NORS, CE7, CE20, CW20, CE100, CW100)
PAPER_EXTRA_ATTACKS = (CE200, CW200)
STEPS_GRID = (1, 2, 5, 10, 20, 50, 100)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of the study: its training method and what it is evaluated with."""

    name: str
    method: str  # "standard" | "pgd_at" | "bat"
    variant: Optional[str] = None
    seed_offset: int = 0
    eps_factor: float = 1.0  # training eps = eval eps * eps_factor
    main: bool = False  # full attack list and accuracy-vs-steps curve
    attack_steps: Optional[int] = None  # PGD-AT training steps (None = the preset's 7)
    step_factor: Optional[float] = None  # PGD-AT step = eps * step_factor (None = 1/4)


def model_specs(include=None):
    """The study's models, in training order; `include` is a list of names."""
    specs = [
        ModelSpec("undefended", "standard"),
        ModelSpec("Madry", "pgd_at", main=True),  # Table 1's PGD7-2
        ModelSpec("Madry-PGD2-8", "pgd_at", main=True, attack_steps=2, step_factor=1.0),
        ModelSpec("R-MC-LA", "bat", "R-MC-LA", main=True),
        ModelSpec("R-MC-LS", "bat", "R-MC-LS", main=True),
    ] + [ModelSpec(v, "bat", v) for v in ("FGSM", "R-FGSM", "LL", "R-LL", "MC", "R-MC")]
    specs += [
        ModelSpec("Madry-LA", "bat", "Madry-LA", main=True),
        ModelSpec("R-MC-LA_seed1", "bat", "R-MC-LA", seed_offset=1),
    ]
    specs += [ModelSpec(f"R-MC-LA_eps{f:g}x", "bat", "R-MC-LA", eps_factor=f, main=True)
              for f in FIG1_EPS_FACTORS]
    if include is None:
        return specs
    names = [s.name for s in specs]
    for name in include:
        check_choice("models", name, names)
    return [s for s in specs if s.name in include]


def bat_config(preset_name, dataset, spec, overrides=None):
    """The ExperimentConfig of one model at a preset (validated)."""
    check_choice("preset", preset_name, PRESETS)
    if preset_name == "cpu":
        check_choice("dataset", dataset, CPU_DATASETS)
        cfg = preset("cpu", dataset, spec.method)
        cfg = override(cfg, train_limit=None, test_limit=1000, epochs=CPU_EPOCHS,
                       attack_steps=7)
    elif preset_name == "long":
        check_choice("dataset", dataset, ("fashion_mnist",))
        cfg = override(preset("cpu", dataset, spec.method), preset="long", **LONG)
    else:
        check_choice("dataset", dataset, PAPER_DATASETS)
        cfg = preset("paper", dataset, spec.method)
        cfg = override(
            cfg, name="wide_resnet", variant=None, batch_size=128, train_limit=None,
            svhn_extra=0, augment="crop_flip" if dataset == "cifar10" else None,
            optimizer="sgd", learning_rate=0.1 if dataset == "cifar10" else 0.01,
            momentum=0.9, weight_decay=2e-4, lr_boundaries=(60, 90), lr_factor=0.1,
            epochs=100, eps=8 / 255, eval_eps=8 / 255, attack_steps=7,
            step_size=2 / 255, eval_batch_size=100, seed=0)
    eps = cfg.eval.eps
    fields = dict(seed=cfg.seed + spec.seed_offset,
                  eps=eps if spec.eps_factor == 1 else round(eps * spec.eps_factor, 6))
    if spec.method == "bat":
        fields.update(trainer={"variant": spec.variant, "beta": 9.0})
    if spec.attack_steps is not None:
        fields["attack_steps"] = spec.attack_steps
    if spec.step_factor is not None:
        fields["step_size"] = fields["eps"] * spec.step_factor
    cfg = override(cfg, **fields)
    # One set of overrides for the models of every method: a trainer key applies
    # where the method has it.
    cfg = override(cfg, trainer_subset=True, **given(overrides))
    if spec.seed_offset and "seed" in given(overrides):
        # A seed override moves every model; the independently seeded one keeps its
        # offset from the others.
        cfg = override(cfg, seed=cfg.seed + spec.seed_offset)
    return cfg.validate()


def long_attacks(steps):
    """CE-k and CW-k specs (step eps/4, kappa 50) for extra step counts, e.g. 1000."""
    out = []
    for k in steps:
        out += [f"pgd{k}:step=eps/4", f"cwpgd{k}:kappa=50,step=eps/4"]
    return out


def _attacks(preset_name, spec, extra_steps=()):
    specs = list(MAIN_ATTACKS if spec.main else LEAK_ATTACKS)
    if preset_name == "paper" and spec.main:
        specs += PAPER_EXTRA_ATTACKS
    if spec.main:
        specs += [a for a in long_attacks(extra_steps) if a not in specs]
    return specs


def reproduce(preset_name="cpu", dataset="fashion_mnist", *, work_dir="runs/bat",
              results_dir=None, models=None, overrides=None, strategy="default",
              extra_steps=(),
              argv=None, progress=print):
    """Trains and evaluates the study; returns the results dict (also bat.json).

    Args:
      preset_name: "cpu" or "paper".
      dataset: "fashion_mnist" (cpu) or "cifar10" / "svhn" (paper).
      work_dir: root of the per-model training dirs.
      results_dir: output dir (default results/bat/<dataset>).
      models: names from `model_specs()` to run (default all; at the long preset
        `LONG_MODELS`).
      overrides: flat config overrides applied to every model (e.g. epochs=1).
      strategy: "default" or "mirrored".
      extra_steps: further CE-k / CW-k step counts for the main models, e.g.
        (200, 1000) (the paper's CE/CW-200 and "1000 on request").
    """
    from tf_advnet.attacks.transfer import transfer_matrix
    from tf_advnet.papers import bat as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.pipelines.train import curve_callbacks, curve_of
    from tf_advnet.papers.bat.report import PAPER
    from tf_advnet.eval.robustness import (accuracy_vs_steps, as_model_fn,
                                           evaluate_attacks)
    from tf_advnet.utils.compiled import Twins

    # Each model records its own seed; a seed override (the claims ledger's) is the run's.
    prov = Provenance(seed=given(overrides).get("seed"), preset=preset_name, argv=argv)
    results_dir = results_dir or os.path.join("results", "bat", dataset)
    if models is None and preset_name == "long":
        models = LONG_MODELS
    specs = model_specs(models)
    if not specs:
        raise UserError("--models is empty; name at least one model")
    trained, configs = {}, {}
    curve_attack = LONG_CURVE if preset_name == "long" else None
    for spec in specs:
        cfg = bat_config(preset_name, dataset, spec, overrides)
        configs[spec.name] = cfg
        run = train(cfg, os.path.join(work_dir, dataset, spec.name), strategy=strategy,
                    argv=argv, progress=progress, verbose=2,
                    callbacks=curve_callbacks(cfg, curve_attack))
        trained[spec.name] = run

    ref = next(iter(configs.values()))
    eps = ref.eval.eps
    x, y = common.load_split(ref.data, "test")
    bs = ref.eval.batch_size
    out = {"dataset": dataset, "preset": preset_name, "eps": eps, "n": int(len(x)),
           "attack_columns": {"FGSM": FGSM, "FGSM_RS": FGSM_RS, "CE2_8": CE2_8, "CE7": CE7,
                              "CE7_noRS": CE7_NORS, "CE20": CE20, "CW20": CW20,
                              "CE100": CE100, "CW100": CW100, "CE200": CE200,
                              "CW200": CW200},
           "models": {}, "acc_vs_steps": {"steps": list(STEPS_GRID), "step_size": "eps/4",
                                          "ce": {}, "cw": {}},
           "paper": PAPER}
    loaded, twins = {}, Twins()
    for spec in specs:
        run = trained[spec.name]
        loaded[spec.name] = common.load_keras_model(run["model_path"])
        # Attacked through its twin: the models share the compiled attacks.
        model = twins(loaded[spec.name])
        progress(f"[bat] evaluating {spec.name}")
        t0 = time.time()
        attacks = parse_attacks(_attacks(preset_name, spec, extra_steps), eps=eps)
        ev = evaluate_attacks(model, x, y, attacks, batch_size=bs, seed=0,
                              progress=progress)
        if spec.main:
            out["acc_vs_steps"]["ce"][spec.name] = accuracy_vs_steps(
                model, x, y, "pgd", STEPS_GRID, eps=eps, step_size=eps / 4,
                batch_size=bs, seed=0)
        cfg = configs[spec.name]
        out["models"][spec.name] = {
            "method": spec.method, "variant": spec.variant, "train_eps": cfg.train.eps,
            "seed": cfg.seed, "eval": ev, "eval_seconds": round(time.time() - t0, 1),
            "training": {
                "train_images_per_second": run["train_images_per_second"],
                "wall_time_s": run["provenance"]["wall_time_s"],
                "epochs": cfg.train.epochs, "commit": run["provenance"]["commit"],
                "curve": curve_of(run, curve_attack),
                "config": run["config"]}}

    surrogates = {n: as_model_fn(loaded[n]) for n in ("undefended", "R-MC-LA_seed1")
                  if n in loaded}
    if surrogates:
        progress(f"[bat] black-box from {', '.join(surrogates)}")
        bb_attacks = {col: (lambda a: lambda f, xb, yb: a(f, xb, yb, 0))(a)
                      for col, a in zip(("FGSM", "CE20"), parse_attacks([FGSM, CE20],
                                                                        eps=eps))}
        out["black_box"] = transfer_matrix(
            surrogates, bb_attacks, {n: as_model_fn(m) for n, m in loaded.items()},
            x, y, batch_size=bs)
    from tf_advnet.eval.gradients import gradient_magnitude_stats

    out["gradient_magnitude"] = {  # Table 2
        n: gradient_magnitude_stats(loaded[n], x, y, batch_size=bs)
        for n in ("undefended", "Madry", "R-MC-LA") if n in loaded}
    out["speed"] = step_throughput(preset_name, dataset, overrides, x, y,
                                   [s for s in specs if s.name in SPEED_MODELS])
    out["provenance"] = prov.finish()
    return finish(study_module, out, results_dir)


SPEED_MODELS = ("Madry", "Madry-PGD2-8", "R-MC-LA")


def step_throughput(preset_name, dataset, overrides, x, y, specs, *, steps=20):
    """Training images/s of each model's trainer, timed back to back in one process
    (`pipelines.train.step_images_per_second`), so the cost comparison does not
    depend on what else the machine ran during each training."""
    from tf_advnet.pipelines.train import step_images_per_second

    return {spec.name: step_images_per_second(
                bat_config(preset_name, dataset, spec, overrides), x, y, steps=steps)
            for spec in specs}
