"""Wang & Yu (ICLR 2019) reproduction: Tables 1-4 (white/black box), 5/10/11, 6.

What `reproduce` trains (each with `tf_advnet.pipelines.train.train` under
`<work_dir>/<dataset>/<name>`, so every model resumes after an interruption and is
reused when its config matches):

- A `standard`, B `pgd_at` (Eq. 11: random start, 10 steps of eps/4, adversarial
  examples only, as the code) and C `advnet` (Eq. 4 with gradient regularisation,
  Eqs. 8-9), and their surrogates A' B' C' (`*_s2`: the same recipes, another seed);
- `ensemble_at` (Table 4): clean data plus FGS (most likely label), PGD and
  least-likely-class examples crafted on A;
- Table 6: C trained with each generator of `table6_generators`;
- with `gr_ablation`, C trained again without the gradient regulariser (gamma = 0,
  row `C[gamma=0]`), the same recipe otherwise;
- Tables 5, 10, 11: a generator of each kind in `attack_generators` trained alone
  against the fixed A, B and C (Sec. 4.5), evaluated on that model and transferred
  to A', B' and C'.

With `hvp_timing_steps`, C's training step is timed with each Hessian-vector product
of Eq. (8) (double back-propagation, "exact", and the finite difference of Eq. 9), in
interleaved rounds in one process (`hvp_step_throughput`).

Evaluation (Tables 1-4, 6): clean accuracy, white-box FGS (Eq. 10, true label) and
PGD (Eq. 11, one random start), and black-box FGS / PGD crafted on A', B' and C'
(the 9 columns). Every attack clips to [0, 1]; classifiers run in inference mode
(the code keeps BN in training mode at test time: see
`tf_advnet.models.wang_yu`). D1 has no BN. The generators run their BN on the
statistics of the evaluation batch (`eval_batch_size` images), as the official code
always does: after a short training run BN's moving averages (momentum 0.99) still
hold much of their initial values and would understate the generator.

Generators are named by spec "<kind>:<k>" (e.g. "g0:8" is the narrow
encoder-decoder, "g2:16" the Gaussian decoder with k = 16; "g0" alone has the
default width).

Presets:
- `cpu` (mnist_5k: 4,000 training images, 10 epochs, eps 0.3; fashion_mnist: first
  6,000 training images, 4 epochs (A: 6), eps 0.1 — the budget the suite uses for Fashion-MNIST, which is
  not in the paper). D1, batch 64, Adam 1e-3 for D (200k SGD iterations do not fit
  on a CPU; Adam converges in the few thousand steps we can afford), G0 with
  k = 32 and the paper's SGD 0.01 / momentum 0.9, 5 G steps per batch and a D step
  on every batch (`d_every` 1; the MNIST code's 5 costs 5x the G steps per D step:
  `--set d_every=5`),
  gamma = 0.01 by finite difference, weight decay 1e-5 (advnet) / 1e-4 (A, B),
  B's budget ramped up over half of its epochs (PGD-AT from scratch at eps 0.3
  stalls otherwise; see PGDATTrainer). 1,000 test images. C trains with
  x + eps G(x) clipped to [0, 1] (`clip`, a deviation: the official code never clips,
  and the clip passes no gradient to G on saturated pixels; `--set clip=false`).
- `paper`: Sec. 4 and the appendix, with the official `*/run_gan_*.py` defaults, per
  data set (MNIST D1 + G0 k 64, D on every 5th batch; SVHN and
  CIFAR D2 + G1 k 64; SGD with lr / 10 at 100k of 200k iterations, batch 64; the
  CIFAR generator Adam 0.002, beta_1 0.5; weight decay per data set; Table 5's
  generators trained for the same number of iterations; C trains unclipped and, on
  MNIST, G takes 5 steps on every batch and D one on every 5th (`d_every`), as the
  official code). Remaining deviation: gamma's sign follows the paper's Eq. (8) (the
  code's is opposite; its first-order effect is about one G step).
  Attack generators (Tables 5, 10, 11) always clip: an attack's images are images.
Every field can be overridden (`overrides`: flat names of `Study`).
"""

import dataclasses
import os

import numpy as np

from tf_advnet.papers.advnet.study import (  # noqa: F401  (re-exported)
    GR_ABLATION, PRESETS, CPU, DATASETS, Study, parse_generator, study)
from tf_advnet.store import Store

ROWS = ("A", "B", "C")
SURROGATES = ("A'", "B'", "C'")
METHOD_OF = {"A": "standard", "B": "pgd_at", "C": "advnet"}
DIR_OF = {"A": "standard", "B": "pgd_at", "C": "advnet", "A'": "standard_s2",
          "B'": "pgd_at_s2", "C'": "advnet_s2", "EAT": "ensemble_at",
          GR_ABLATION: "advnet_gamma0"}
HVP_TIMED = ("exact", "finite_difference")


def model_config(s, role, *, generator=None, seed_offset=0, sources=(), gamma=None,
                 hvp=None):
    """The ExperimentConfig of one model of the study (validated).

    Args:
      s: the Study.
      role: "A", "B", "C" (standard, PGD-AT, adversarial network) or "EAT".
      generator: C's generator spec (default `s.generator`).
      seed_offset: 1 for the surrogates A', B', C'.
      sources: EAT's static models (.keras paths).
      gamma, hvp: C's regulariser weight and Hessian-vector product (default
        `s.gamma`, `s.hvp`).
    """
    from tf_advnet.configs import ExperimentConfig, replace_trainer
    from tf_advnet.configs.base import DataConfig, EvalConfig, ModelConfig, TrainConfig

    method = {"A": "standard", "B": "pgd_at", "C": "advnet", "EAT": "ensemble_at"}[role]
    epochs = {"A": s.epochs, "B": s.at_epochs, "C": s.advnet_epochs,
              "EAT": s.eat_epochs}[role]
    wd = {"A": s.weight_decay, "B": s.at_weight_decay, "C": s.advnet_weight_decay,
          "EAT": s.weight_decay}[role]
    train = dict(method=method, epochs=epochs, optimizer=s.optimizer,
                 learning_rate=s.learning_rate, momentum=0.9, weight_decay=wd,
                 lr_boundaries=(epochs // 2,) if s.lr_decay and epochs > 1 else (),
                 eps=s.eps, attack_steps=s.pgd_steps, step_size=s.eps / 4.0)
    if role == "B":
        train.update(eps_warmup_epochs=s.eps_warmup_epochs)
    own = {}  # the role's trainer config (tf_advnet.trainers.<method>.Config)
    if role == "C":
        kind, k = parse_generator(generator or s.generator)
        own.update(generator=kind, k=k, gamma=s.gamma if gamma is None else gamma,
                   hvp=hvp or s.hvp, clip=s.clip,
                   d_every=s.d_every, g_steps=s.g_steps, g_updates=s.g_updates, g_optimizer=s.g_optimizer,
                   g_learning_rate=s.g_learning_rate)
    if role == "EAT":
        own.update(sources=tuple(sources))
    cfg = ExperimentConfig(
        data=DataConfig(dataset=s.dataset, train_limit=s.train_limit,
                        test_limit=s.test_limit, batch_size=s.batch_size,
                        augment=s.augment, svhn_extra=s.svhn_extra, data_dir=s.data_dir),
        model=ModelConfig(name=s.model, variant=s.variant),
        train=replace_trainer(TrainConfig(**train), own),
        eval=EvalConfig(attacks="fgsm", eps=s.eps, batch_size=s.eval_batch_size),
        seed=s.seed + seed_offset, preset=s.preset)
    return cfg.validate()


def _train(s, root, name, role, *, progress, argv, **kw):
    from tf_advnet.pipelines.train import curve_callbacks, train

    cfg = model_config(s, role, **kw)
    return train(cfg, os.path.join(root, name), argv=argv, progress=progress, verbose=2,
                 callbacks=curve_callbacks(cfg, s.curve_attack))


def hvp_step_throughput(s, x, y):
    """C's training images/s with each Hessian-vector product of `HVP_TIMED`, timed
    in `s.hvp_timing_rounds` interleaved rounds of `s.hvp_timing_steps` warm steps
    (`pipelines.train.interleaved_images_per_second`)."""
    from tf_advnet.pipelines.train import interleaved_images_per_second

    return interleaved_images_per_second(
        {hvp: model_config(s, "C", hvp=hvp) for hvp in HVP_TIMED}, x, y,
        steps=s.hvp_timing_steps, rounds=s.hvp_timing_rounds)


# -------------------------------------------------------------------- evaluation

def attacks(s):
    """FGS (Eq. 10) and PGD (Eq. 11) at the study's eps, as attack callables."""
    from tf_advnet.attacks.fgsm import fgm
    from tf_advnet.attacks.pgd import pgd

    e = s.eps
    return {
        "fgs": lambda fn, xb, yb: fgm(fn, xb, yb, eps=e, norm="inf"),
        "pgd": lambda fn, xb, yb: pgd(fn, xb, yb, eps=e, step_size=e / 4,
                                      num_steps=s.pgd_steps, random_start=True,
                                      seed=s.seed),
    }


def table(models, surrogates, x, y, s):
    """The 9-column table: {row: {"clean", "fgs", "pgd", "fgs(A')", ...}}.

    White-box columns attack the row's model; black-box ones are crafted once on
    each surrogate and fed to every row.
    """
    from tf_advnet.attacks.transfer import craft, transfer_matrix
    from tf_advnet.eval.robustness import as_model_fn, predict

    fns = {k: as_model_fn(m) for k, m in models.items()}
    sur = {k: as_model_fn(m) for k, m in surrogates.items()}
    black = transfer_matrix(sur, attacks(s), fns, x, y, batch_size=s.eval_batch_size)
    out = {}
    for name, fn in fns.items():
        row = {"clean": black["clean"][name]}
        for a, attack in attacks(s).items():
            x_adv = craft(fn, attack, x, y, batch_size=s.eval_batch_size)
            row[a] = float((predict(fn, x_adv, s.eval_batch_size) == y).mean())
        for sname in surrogates:
            for a in ("fgs", "pgd"):
                row[f"{a}({sname})"] = black["transfer"][name][f"{sname}/{a}"]
        out[name] = row
    return out


def train_attack_generator(clf, spec, x, y, s, store, *, progress=print):
    """Sec. 4.5: generator `spec` trained alone against the frozen classifier `clf`
    (one G step per batch, the study's G optimiser); kept in `store` under clf's
    weights, the data and the recipe, so a retrained classifier gets a new one."""
    from tf_advnet import data as data_lib
    from tf_advnet.models.advnet_generators import build_generator
    from tf_advnet.pipelines import common
    from tf_advnet.trainers.advnet import AdvNetTrainer

    cfg = model_config(s, "C", generator=spec)  # C's recipe for G's optimiser
    entry = store.entry("advnet_attack_generator", classifier=clf, data=(x, y),
                        spec=spec, train=cfg.train, eps=s.eps, clip=True,
                        weight_decay=s.advnet_weight_decay, epochs=s.attack_epochs,
                        batch_size=s.batch_size, seed=s.seed)

    def make():
        common.set_seed(s.seed)
        kind, k = parse_generator(spec)
        gen = build_generator(kind, tuple(x.shape[1:]), int(clf.output_shape[-1]),
                              **({} if k is None else {"k": k}))
        clf.trainable = False
        # An attack: its images stay in [0, 1] whether or not C trains with the clip.
        trainer = AdvNetTrainer(clf, gen, eps=s.eps, g_steps=1, hvp="none", clip=True,
                                g_weight_decay=s.advnet_weight_decay)
        trainer.compile(g_optimizer=cfg.train.trainer.generator_optimizer(cfg.train))
        progress(f"[advnet] training generator {spec} against a fixed classifier -> "
                 f"{entry.dir}")
        trainer.fit(data_lib.make_dataset(x, y, s.batch_size, training=True, seed=s.seed),
                    epochs=s.attack_epochs, verbose=2, shuffle=False)
        return gen

    return entry.model("generator.keras", make, common.load_keras_model)


def generator_attack_table(targets, others, x, y, x_train, y_train, s, store, *,
                           progress=print):
    """Tables 5, 10, 11: {target: {spec: {target: acc, "A'": acc, ...}}} plus the
    clean accuracies under "original"."""
    from tf_advnet.attacks.generator import generator_attack
    from tf_advnet.eval.batching import map_batches
    from tf_advnet.eval.robustness import as_model_fn, predict

    def acc(model, xs):
        return float((predict(as_model_fn(model), xs, s.eval_batch_size) == y).mean())

    out = {}
    for tname, target in targets.items():
        rows = {"original": {tname: acc(target, x),
                             **{o: acc(m, x) for o, m in others.items()}}}
        for spec in s.attack_generators:
            gen = train_attack_generator(target, spec, x_train, y_train, s, store,
                                         progress=progress)
            x_adv = map_batches(lambda xb, yb: generator_attack(
                gen, xb, yb, eps=s.eps, clip=True, training=True, seed=s.seed), x, y,
                batch_size=s.eval_batch_size)
            rows[spec] = {tname: acc(target, x_adv),
                          **{o: acc(m, x_adv) for o, m in others.items()}}
        out[tname] = rows
    return out


def perturbation_examples(generator, x, y, s, n=8):
    """(x, delta, x_adv) of the first n test images, for the figure."""
    from tf_advnet.attacks.generator import generator_attack

    xa = np.asarray(generator_attack(generator, x[:s.eval_batch_size],
                                     y[:s.eval_batch_size], eps=s.eps, clip=s.clip,
                                     training=True, seed=s.seed))[:n]
    return x[:n], xa - x[:n], xa


# ---------------------------------------------------------------------- driver

def reproduce(preset_name="cpu", dataset=None, *, work_dir="runs/advnet", results_dir=None,
              overrides=None, argv=None, progress=print):
    """Trains and evaluates everything of the module docstring; writes the report.

    Returns the results dict (also written to results_dir/advnet.json).
    """
    import time

    from tf_advnet.pipelines import common
    from tf_advnet.papers._study import finish
    from tf_advnet.pipelines.train import curve_of
    from tf_advnet.papers import advnet as study_module
    from tf_advnet.utils.provenance import Provenance

    s = study(preset_name, dataset, overrides)
    prov = Provenance(seed=s.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, s.dataset)
    results_dir = results_dir or os.path.join("results", "advnet", s.dataset)
    base = model_config(s, "A")
    x_train, y_train = common.load_split(base.data, "train")
    x_test, y_test = common.load_split(base.data, "test")  # int64 labels

    runs, seconds = {}, {}

    def trained(label, role, **kw):
        t0 = time.time()
        runs[label] = _train(s, root, DIR_OF.get(label, label), role, progress=progress,
                             argv=argv, **kw)
        seconds[label] = round(time.time() - t0, 1)
        return runs[label]

    for label in ROWS:
        trained(label, label)
        trained(label + "'", label, seed_offset=1)
    trained("EAT", "EAT", sources=(runs["A"]["model_path"],))
    table6 = [g for g in s.table6_generators if g != s.generator]  # C has s.generator
    for spec in table6:
        trained(f"C[{spec}]", "C", generator=spec)
    if s.gr_ablation:
        trained(GR_ABLATION, "C", gamma=0.0)

    def load(label):
        return common.load_keras_model(runs[label]["model_path"])

    models = {label: load(label) for label in runs}
    surrogates = {k: models[k] for k in SURROGATES}
    progress("[advnet] white- and black-box evaluation (Tables 1-4, 6)")
    rows = (("A", "B", "C", "EAT") + tuple(f"C[{g}]" for g in table6)
            + ((GR_ABLATION,) if s.gr_ablation else ()))
    tab = table({r: models[r] for r in rows}, surrogates, x_test, y_test, s)
    progress("[advnet] generator attacks (Tables 5, 10, 11)")
    store = Store(os.path.join(root, "store"))
    gen_tab = generator_attack_table({r: models[r] for r in ROWS}, surrogates, x_test,
                                     y_test, x_train, y_train, s, store, progress=progress)
    timing = {"images_per_second": {}, "rounds": {}}
    if s.hvp_timing_steps:
        progress("[advnet] timing C's training step with each Hessian-vector product")
        # Timed once per study config and data: a resumed run reports the timing of
        # the run that trained its models.
        timing = store.entry("advnet_hvp_timing", study=dataclasses.asdict(s),
                             data=(x_train, y_train)).json(
            "timing.json", lambda: hvp_step_throughput(s, x_train, y_train))
    c_gen = common.load_keras_model(os.path.join(root, DIR_OF["C"], "generator.keras"))
    ex = perturbation_examples(c_gen, x_test, y_test, s)
    results = {
        "study": dataclasses.asdict(s), "n_train": int(len(x_train)),
        "n_test": int(len(x_test)), "table": tab, "generator_attacks": gen_tab,
        "hvp_images_per_second": timing["images_per_second"],
        "hvp_timing_rounds": timing["rounds"],
        "train": {k: {"model_path": v["model_path"], "test_clean_acc": v["test_clean_acc"],
                      "train_images_per_second": v["train_images_per_second"],
                      "epochs": v["config"]["train"]["epochs"],
                      "history_last": {m: h[-1] for m, h in v["history"].items() if h},
                      "curve": curve_of(v, s.curve_attack),
                      "seconds_this_invocation": seconds[k]}
                  for k, v in runs.items()},
    }
    results["provenance"] = prov.finish()
    return finish(study_module, results, results_dir, examples=ex)

