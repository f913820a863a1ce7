"""Reproduce Bilateral Adversarial Training (Wang & Zhang, ICCV 2019): train, attack,
tabulate next to the paper.

`reproduce(dataset, preset_name)` is what `experiments/reproduce_bat.py` calls. It
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
from tf_advnet.pipelines import common
from tf_advnet.pipelines.train import train
from tf_advnet.utils.provenance import Provenance, write_json

PRESETS = ("cpu", "paper")
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
    cfg = override(cfg, trainer_subset=True, **common.given(overrides))
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


def reproduce(dataset="fashion_mnist", preset_name="cpu", *, work_dir="runs/bat",
              results_dir=None, models=None, overrides=None, strategy="default",
              extra_steps=(),
              argv=None, progress=print):
    """Trains and evaluates the study; returns the results dict (also bat.json).

    Args:
      dataset: "fashion_mnist" (cpu) or "cifar10" / "svhn" (paper).
      preset_name: "cpu" or "paper".
      work_dir: root of the per-model training dirs.
      results_dir: output dir (default results/bat/<dataset>).
      models: names from `model_specs()` to run (default all).
      overrides: flat config overrides applied to every model (e.g. epochs=1).
      strategy: "default" or "mirrored".
      extra_steps: further CE-k / CW-k step counts for the main models, e.g.
        (200, 1000) (the paper's CE/CW-200 and "1000 on request").
    """
    from tf_advnet.attacks.transfer import transfer_matrix
    from tf_advnet.eval.robustness import (accuracy_vs_steps, as_model_fn,
                                           evaluate_attacks)

    prov = Provenance(seed=None, preset=preset_name, argv=argv)
    results_dir = results_dir or os.path.join("results", "bat", dataset)
    specs = model_specs(models)
    if not specs:
        raise UserError("--models is empty; name at least one model")
    trained, configs = {}, {}
    for spec in specs:
        cfg = bat_config(preset_name, dataset, spec, overrides)
        configs[spec.name] = cfg
        run = train(cfg, os.path.join(work_dir, dataset, spec.name), strategy=strategy,
                    argv=argv, progress=progress, verbose=2)
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
    loaded = {}
    for spec in specs:
        run = trained[spec.name]
        model = common.load_keras_model(run["model_path"])
        loaded[spec.name] = model
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
    out["provenance"] = prov.finish()
    write_report(out, results_dir)
    return out


# ----------------------------------------------------------------------------- report

# The paper's CIFAR-10 numbers (accuracy %, eps = 8/255), keyed by our model names
# and column names (see `attack_columns`).
PAPER = {
    "table1": {  # Madry's PGD7-2 vs the weaker PGD2-8 in training
        "columns": ["clean", "FGSM", "CE2_8", "CE7", "CE20", "CE100"],
        "rows": {"Madry": [88.0, 57.0, 53.0, 51.2, 47.6, 47.2],
                 "Madry-PGD2-8": [88.2, 56.9, 53.2, 50.5, 46.7, 46.2]}},
    "table3": {  # one-step adversarial training, eps_x = 8
        "columns": ["clean", "FGSM", "FGSM_RS", "CE7_noRS", "CE7", "black"],
        "rows": {"FGSM": [55.2, 99.1, 68.6, 0.0, 0.0, 56.2],
                 "R-FGSM": [89.8, 55.8, 63.6, 46.4, 48.0, 88.0],
                 "LL": [92.6, 97.9, 86.2, 0.0, 0.0, 80.9],
                 "R-LL": [91.4, 46.6, 56.6, 34.1, 36.0, 88.2],
                 "MC": [86.4, 70.7, 73.0, 37.6, 40.3, 84.3],
                 "R-MC": [89.9, 62.6, 70.2, 46.8, 48.4, 87.1]}},
    "table5": {
        "columns": ["clean", "FGSM", "CE7", "CE20"],
        "rows": {"R-MC": [89.9, 62.6, 48.4, 43.4],
                 "R-MC-LS": [91.1, 70.6, 59.2, 53.3],
                 "R-MC-LA": [90.7, 69.6, 59.9, 55.3],
                 "Madry": [88.0, 57.0, 51.2, 47.6],
                 "Madry-LA": [86.8, 63.4, 57.8, 53.2]}},
    "table6": {  # mean of 3 runs; eps_x = 8 unless named
        "columns": ["clean", "CE20", "CW20", "CE100", "CW100", "CW200"],
        "rows": {"R-MC-LA": [90.8, 54.6, 53.7, 52.9, 51.9, 51.7],
                 "R-MC-LA (eps_x = 4)": [93.0, 63.1, 61.5, 60.1, 58.0, 57.6],
                 "Madry": [88.0, 47.6, 48.6, 47.2, 48.1, 48.1]}},
    "table7": {
        "columns": ["clean", "undefended/FGSM", "undefended/CE20",
                    "R-MC-LA_seed1/FGSM", "R-MC-LA_seed1/CE20"],
        "rows": {"R-MC-LA": [90.7, 87.8, 88.8, 74.4, 71.0]}},
}


def _ours(results, name, column):
    """Our accuracy (%) of model `name` in a paper column, or None."""
    m = results["models"].get(name)
    if m is None:
        return None
    ev = m["eval"]
    if column == "clean":
        return 100 * ev["clean_acc"]
    bb = results.get("black_box", {}).get("transfer", {}).get(name, {})
    if column == "black":
        column = "undefended/FGSM"
    if "/" in column:
        sur, col = column.split("/")
        v = bb.get(f"{sur}/{col}")
        return None if v is None else 100 * v
    rec = ev["attacks"].get(results["attack_columns"][column])
    return None if rec is None else 100 * rec["acc"]


def _fmt(v):
    return "—" if v is None else f"{v:.1f}"


def _table(results, key, names):
    t = results["paper"][key]
    cols = t["columns"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in names:
        if name in results["models"]:
            lines.append(f"| {name} (ours) | "
                         + " | ".join(_fmt(_ours(results, name, c)) for c in cols) + " |")
        paper_name = name if name in t["rows"] else None
        if paper_name:
            lines.append(f"| {name} (paper, CIFAR-10) | "
                         + " | ".join(_fmt(v) for v in t["rows"][paper_name]) + " |")
    for name, row in t["rows"].items():
        if name not in names:
            lines.append(f"| {name} (paper, CIFAR-10) | "
                         + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _findings(results):
    """The paper's three claims (Tables 2-4: BAT against Madry, the one-step
    variants, the label adversary), answered from the numbers (None = not run)."""
    def acc(name, col):
        return _ours(results, name, col)

    out = {}
    leak = [(a, b) for a, b in (("R-FGSM", "FGSM"), ("R-MC", "LL"), ("R-LL", "LL"))
            if acc(a, "CE7") is not None and acc(b, "CE7") is not None]
    if leak:
        out["random start / MC prevent label leaking (CE7 of R-variant > plain)"] = all(
            acc(a, "CE7") > acc(b, "CE7") for a, b in leak)
    if acc("R-MC-LA", "CE100") is not None and acc("Madry", "CE100") is not None:
        ra = results["models"]["R-MC-LA"]["training"]["train_images_per_second"]
        ma = results["models"]["Madry"]["training"]["train_images_per_second"]
        out["R-MC-LA beats Madry under CE100 and CW100"] = (
            acc("R-MC-LA", "CE100") > acc("Madry", "CE100")
            and acc("R-MC-LA", "CW100") > acc("Madry", "CW100"))
        out["R-MC-LA training speed / Madry"] = round(ra / ma, 2)
    if acc("Madry", "CE100") is not None and acc("Madry-PGD2-8", "CE100") is not None:
        out["PGD2-8 training within 2 points of PGD7-2 under CE100 (Table 1)"] = (
            abs(acc("Madry", "CE100") - acc("Madry-PGD2-8", "CE100")) <= 2.0)
    if acc("R-MC-LA", "CW100") is not None:
        out["CW100 stronger than CE100 on R-MC-LA"] = (
            acc("R-MC-LA", "CW100") < acc("R-MC-LA", "CE100"))
    return out


def write_report(results, out_dir):
    """Writes bat.json, bat.md and acc_vs_steps.png from a results dict."""
    from tf_advnet.eval import plots, report

    os.makedirs(out_dir, exist_ok=True)
    results["findings"] = _findings(results)
    write_json(os.path.join(out_dir, "bat.json"), results)
    ds, eps = results["dataset"], results["eps"]
    md = [f"# Bilateral Adversarial Training on {ds} ({results['preset']} preset)", "",
          f"Accuracy (%) on {results['n']} {ds} test images, white-box, untargeted, "
          f"L-inf eps = {eps:.4g}. FGSM: no random start, step eps; CE-k / CW-k: k "
          "PGD steps of eps/4 from a random start on the cross-entropy / the CW margin "
          "(kappa = 50). Paper rows are the paper's CIFAR-10 numbers (eps = 8/255), "
          "for reference. Generated from bat.json by tf_advnet.papers.bat.pipeline; do not edit.",
          "", "## Stronger training attacks (Table 1): PGD7-2 (Madry) vs PGD2-8", "",
          _table(results, "table1", ["Madry", "Madry-PGD2-8"]),
          "## Label leaking, one-step training (Table 3)", "",
          _table(results, "table3", ["FGSM", "R-FGSM", "LL", "R-LL", "MC", "R-MC"]),
          "## Label smoothing and label adversary (Table 5)", "",
          _table(results, "table5", ["R-MC", "R-MC-LS", "R-MC-LA", "Madry", "Madry-LA"]),
          "## CE and CW attacks (Table 6)", "",
          _table(results, "table6", ["R-MC-LA", "R-MC-LS", "Madry", "Madry-LA"]
                 + [n for n in results["models"] if n.startswith("R-MC-LA_eps")]),
          "## Black-box (Table 7): FGSM / CE20 crafted on another model", "",
          _table(results, "table7", ["R-MC-LA", "R-MC-LS", "Madry"]),
          "## Gradient magnitude ||grad_x CE||_2^2 on the test images (Table 2)", "",
          "Pixels in [0, 1] (the paper's [-1, 1] scale gives 1/4 of these values).", "",
          "| model | set | n | min | mean | max |", "|---|---|---|---|---|---|"]
    for name, g in results.get("gradient_magnitude", {}).items():
        for subset, st in g.items():
            md.append(f"| {name} | {subset} | {st['n']} | " + " | ".join(
                "—" if st[k] is None else f"{st[k]:.3g}" for k in ("min", "mean", "max"))
                + " |")
    md += ["", "## Training cost", "",
          "| model | train eps | epochs | images/s | wall time (s) |", "|---|---|---|---|---|"]
    for name, m in results["models"].items():
        t = m["training"]
        md.append(f"| {name} | {m['train_eps']:.4g} | {t['epochs']} | "
                  f"{t['train_images_per_second']:.0f} | {t['wall_time_s']} |")
    md += report.findings_and_provenance(results)
    with open(os.path.join(out_dir, "bat.md"), "w") as f:
        f.write("\n".join(md))
    avs = results["acc_vs_steps"]
    if avs["ce"]:
        curves = {}
        for name, accs in avs["ce"].items():
            label = name
            if name.startswith("R-MC-LA") or name == "R-MC-LA":
                label = f"{name} (eps_x={results['models'][name]['train_eps']:.3g})"
            curves[label] = accs
        plots.plot_curves(os.path.join(out_dir, "acc_vs_steps.png"), avs["steps"],
                          curves, logx=True,
                          xlabel=f"PGD steps (CE, eps={eps:.3g}, step eps/4)",
                          title=f"{ds}: accuracy vs attack steps (BAT Fig. 1)")
    return out_dir
