"""PGN reproduction (Lee, Han & Lee, ICLR 2020 submission): curves, Table 2, Figs. 2-5.

What `reproduce` trains (each with `tf_advnet.pipelines.train.train`, under
`<work_dir>/<dataset>/<name>`, so every model resumes after an interruption and is
reused when its config matches):

- `standard`: the undefended baseline; its clean accuracy is the matching target of
  Table 2 (Sec. 4.2: "benign accuracy of all defenses were balanced out with that of
  the baseline network"). `standard_bb`: the same recipe with another seed, the
  "independently trained network" whose FGM / MIM examples give Table 2's black-box
  columns.
- `fgm_at_<eps>` (Goodfellow: one L2 step of eps, no random start) and
  `pgd_at_<eps>` (Madry: 10 L2 steps of eps/6 from a random start), for every eps
  of the grid; `pgn_<c_L>` for every c_L of the grid (generator: Fig. 1; tanh change
  of variables, Eq. 5; penalty c_L ||x_adv - x||^2, Eq. 4), and the capacity study
  `pgn_<c_L>_w<k>` (classifier filters x k, Fig. 5 right).
- Fig. 2 right: `fig2_fgm_at` records clean accuracy and rho_cw after every epoch.
- Fig. 3: a generator trained alone against the fixed FGM-AT and PGD-AT classifiers
  (eps = `fig3_eps`; the paper: 0.5) for each c_L of `fig3_c_l` ("PGN was fully
  trained on the training dataset"), against FGM and PGD-10 over `fig3_attack_eps`.

Evaluation (`evaluate_model`): benign accuracy and rho_cw (Eq. 6: mean and median L2
over the images C&W-L2 misclassifies; cleverhans settings of the code: 100
iterations, 5 binary-search steps). Table 2 adds, for the matched models: white-box
FGM-L2 and MIM-L2 accuracy at `attack_eps`, black-box accuracy under the same attacks
crafted on `standard_bb`, and DeepFool-L2's mean / median L2 over its successes.

Unknowns and readings (see also results/README.md):
- Table 1 (architectures) and the eps of Table 2's FGM / MIM attacks are not in our
  copy of the paper. The cpu preset uses the suite's small CNN on Fashion-MNIST and
  evaluates FGM / MIM at L2 eps = 1.0; the paper preset uses the code's
  ConvPool-CNN on CIFAR-100 and eps = 0.5 (the Fig. 3 budget).
- Matching picks, per method, the grid value whose clean accuracy is nearest the
  baseline's (`tf_advnet.eval.matching`); the chosen values and accuracies are
  reported beside the table, since a coarse grid matches only roughly.
- "Outside" (Fig. 5) is judged where two curves overlap in accuracy: at each PGN
  point, the other curve's rho_cw is interpolated linearly in accuracy.
- "Stronger at equal L2" (Fig. 3): at each PGN-attack point, FGM's and PGD's
  accuracy is interpolated linearly in mean perturbation L2.
- Saturated pixels and Fig. 3: the generator writes x_adv = (tanh(w0 + w) + 1) / 2
  (Eq. 5) with w0 = atanh(0.999999 (2x - 1)) = +-7.25 where x is exactly 0 or 1, so
  it moves such a pixel only with a large w, while FGM / PGD move them inwards at
  once. On the test images 50.8% of Fashion-MNIST's pixels (32-70% per image, 10th-90th
  percentile) and 81.4% of MNIST's are exactly 0 or 1 (CIFAR's: a few percent). The
  PGN diagnostic (results/pgn/diagnostics/attack_generator_fashion_mnist.md) measured
  what that does to Fig. 3: a 2-epoch generator puts none of its L2^2 on them, a
  20-epoch one over half; FGM restricted to the other pixels is at most a few points
  weaker than FGM; and the generator goes from weaker than restricted FGM at 2 epochs
  to stronger at 20 — the budget, not the saturated pixels, decides the comparison.
- Budget (a deviation of the cpu preset): the generator is 32 channels wide (the
  paper's 128) and trains ~240 steps, against ~78k in the paper's schedule.

Presets: `cpu` (Fashion-MNIST, first 10,000 training images, 300 test images for
the attacks, small CNN, Adam 1e-3, batch 128, 3 epochs, a 32-channel generator,
c_L in {0.05, 0.1, 0.25, 0.5}: with [0, 1] pixels on 28x28 images these give mean
perturbation L2 of ~1.7 down to ~0.3, the range of the eps grid, where the paper's
c_L = 50 would give almost none) and
`paper` (CIFAR-100, ConvPool-CNN with 64 filters, Adam 5e-4, batch 128, 200 epochs,
flip + crop, EMA 0.998, the 128-channel generator, the whole test set). A preset
field can be overridden (`overrides`: flat names of `Study`).
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from tf_advnet.papers.pgn.study import (  # noqa: F401  (re-exported)
    PRESETS, CPU, DATASETS, PAPER, Study, study)
from tf_advnet.store import Store



def _name(method, value=None, width=None):
    out = method if value is None else f"{method}_{value:g}"
    return out if width is None else f"{out}_w{width:g}"


def model_config(s, method, value=None, *, width=None, seed_offset=0, epochs=None):
    """The ExperimentConfig of one model of the study (validated)."""
    from tf_advnet.configs import ExperimentConfig
    from tf_advnet.configs import replace_trainer
    from tf_advnet.configs.base import DataConfig, EvalConfig, ModelConfig, TrainConfig

    # The official code keeps the EMA of every model it trains (main.py passes
    # use_ema=True to one train() for every train_type), the baselines included.
    train = dict(method="standard", epochs=epochs or s.epochs, optimizer=s.optimizer,
                 learning_rate=s.learning_rate, ema_decay=s.ema_decay)
    own = {}  # the model's trainer config (tf_advnet.trainers.<method>.Config)
    if method in ("fgm_at", "pgd_at"):
        train.update(method="pgd_at", norm="2", eps=float(value))
        if method == "fgm_at":
            train.update(attack_steps=1, step_size=float(value), random_start=False)
        else:
            train.update(attack_steps=10, step_size=None, random_start=True)
    elif method == "pgn":
        train.update(method="pgn")
        own.update(c_l=float(value), generator_width=s.generator_width)
    cfg = ExperimentConfig(
        data=DataConfig(dataset=s.dataset, train_limit=s.train_limit,
                        test_limit=s.test_limit, batch_size=s.batch_size,
                        augment=s.augment, data_dir=s.data_dir),
        model=ModelConfig(name=s.model, width=width or s.width),
        train=replace_trainer(TrainConfig(**train), own),
        eval=EvalConfig(attacks="fgsm", eps=0.0, batch_size=s.eval_batch_size),
        seed=s.seed + seed_offset, preset=s.preset)
    return cfg.validate()


def _train(s, work_root, method, value=None, *, progress, argv, name=None,
           callbacks=(), **kw):
    from tf_advnet.pipelines.train import curve_callbacks, train

    name = name or _name(method, value, kw.get("width"))
    cfg = model_config(s, method, value, **kw)
    if not callbacks:
        callbacks = curve_callbacks(cfg, s.curve_attack, eps_l2=s.attack_eps)
    run = train(cfg, os.path.join(work_root, name), argv=argv, progress=progress,
                verbose=2, callbacks=callbacks)
    return name, run


# -------------------------------------------------------------------- evaluation

def evaluate_model(model, x, y, s, *, store=None):
    """Benign accuracy and rho_cw (Eq. 6) of one model; kept in `store` (a
    `tf_advnet.store.Store`) under the model's weights, the data and the C&W budget."""
    from tf_advnet.eval import metrics
    from tf_advnet.eval.robustness import as_model_fn, predict

    def compute():
        t0 = time.time()
        acc = float((predict(as_model_fn(model), x, s.eval_batch_size) == y).mean())
        cw = metrics.rho_cw(model, x, y, max_iterations=s.cw_iterations,
                            binary_search_steps=s.cw_binary_steps,
                            batch_size=s.eval_batch_size)
        return {"acc": acc, "rho_cw": cw["rho_cw_mean"],
                "rho_cw_median": cw["rho_cw_median"],
                "cw_success_rate": cw["success_rate"],
                "seconds": round(time.time() - t0, 1)}

    if store is None:
        return compute()
    entry = store.entry("pgn_eval", model=model, data=(x, y),
                        cw_iterations=s.cw_iterations, cw_binary_steps=s.cw_binary_steps)
    return entry.json("metrics.json", compute)


def _attacks(s):
    from tf_advnet.attacks.fgsm import fgm
    from tf_advnet.attacks.mim import mim

    e = s.attack_eps
    return {
        "fgm": lambda fn, xb, yb: fgm(fn, xb, yb, eps=e, norm="2"),
        "mim": lambda fn, xb, yb: mim(fn, xb, yb, eps=e, step_size=e / 10, num_steps=10,
                                      norm="2"),
    }


def table2_row(model, x, y, s, black_box):
    """White-box FGM / MIM accuracy, black-box accuracy, DeepFool and C&W L2 sizes."""
    from tf_advnet.attacks.deepfool import deepfool
    from tf_advnet.eval.batching import map_batches
    from tf_advnet.eval.robustness import (as_model_fn, per_example_norms, predict,
                                           success_l2)

    fn = as_model_fn(model)
    row = {}
    for name, attack in _attacks(s).items():
        x_adv = map_batches(lambda xb, yb: attack(fn, xb, yb), x, y,
                            batch_size=s.eval_batch_size)
        row[f"white_{name}"] = float((predict(fn, x_adv, s.eval_batch_size) == y).mean())
        row[f"black_{name}"] = float(
            (predict(fn, black_box[name], s.eval_batch_size) == y).mean())
    x_df = map_batches(lambda xb, yb: deepfool(fn, xb, yb, norm="2").x_adv, x, y,
                       batch_size=s.eval_batch_size)
    ok = predict(fn, x_df, s.eval_batch_size) != y
    l2, _ = per_example_norms(x_df - x)
    row["deepfool_mean"], row["deepfool_median"] = success_l2(l2, ok)
    return row


# ------------------------------------------------------------------- Fig. 2, 3

class RhoCWPerEpoch(keras.callbacks.Callback):
    """Fig. 2 right: clean accuracy and rho_cw of the classifier after each epoch.

    Appends to a JSON file as it goes, so a resumed run keeps its earlier epochs.
    """

    def __init__(self, x, y, s, path):
        super().__init__()
        self.x, self.y, self.s, self.path = x, y, s, path

    def on_epoch_end(self, epoch, logs=None):
        curve = {"epoch": [], "acc": [], "rho_cw": []}
        if os.path.exists(self.path):
            with open(self.path) as f:
                curve = json.load(f)
        if epoch + 1 in curve["epoch"]:
            return
        with self.model.averaged():  # the EMA weights, where the model keeps one
            res = evaluate_model(self.model.classifier, self.x, self.y, self.s)
        curve["epoch"].append(epoch + 1)
        curve["acc"].append(res["acc"])
        curve["rho_cw"].append(res["rho_cw"])
        with open(self.path, "w") as f:
            json.dump(curve, f)


def train_attack_generator(clf, c_l, x, y, s, store, *, progress=print):
    """Fig. 3's PGN attack: a generator trained alone against the frozen classifier
    `clf` (trainable = False); kept in `store` under clf's weights, the data and
    the recipe, so a retrained classifier gets a new generator."""
    from tf_advnet import data as data_lib
    from tf_advnet.pipelines import common
    from tf_advnet.trainers.pgn import PGNTrainer

    entry = store.entry("pgn_attack_generator", classifier=clf, data=(x, y), c_l=c_l,
                        width=s.generator_width, learning_rate=s.learning_rate,
                        epochs=s.fig3_epochs, batch_size=s.batch_size, seed=s.seed)

    def make():
        common.set_seed(s.seed)
        trainer = PGNTrainer(clf, c_l=c_l, generator_width=s.generator_width)
        trainer.compile(optimizer=keras.optimizers.Adam(s.learning_rate),
                        g_optimizer=keras.optimizers.Adam(s.learning_rate))
        progress(f"[pgn] training an attack generator (c_L = {c_l:g}) -> {entry.dir}")
        trainer.fit(data_lib.make_dataset(x, y, s.batch_size, training=True, seed=s.seed),
                    epochs=s.fig3_epochs, verbose=2, shuffle=False)
        return trainer.generator

    return entry.model("generator.keras", make, common.load_keras_model)


def attack_strength(classifier_path, x, y, x_train, y_train, s, store, *,
                    progress=print):
    """Fig. 3 for one classifier: (mean L2, accuracy) of FGM, PGD-10 and PGN attacks."""
    from tf_advnet.attacks.fgsm import fgm
    from tf_advnet.attacks.pgd import pgd
    from tf_advnet.attacks.pgn import pgn_attack
    from tf_advnet.eval.batching import map_batches
    from tf_advnet.eval.robustness import as_model_fn
    from tf_advnet.pipelines import common

    clf = common.load_keras_model(classifier_path)
    clf.trainable = False
    fn = as_model_fn(clf)
    out = {"fgm": [], "pgd": [], "pgn": []}
    for c_l in s.fig3_c_l:
        gen = train_attack_generator(
            clf, c_l, x_train, y_train, s, store, progress=progress)
        x_adv = map_batches(lambda xb, yb: pgn_attack(fn, gen, xb, yb,
                                                      grad_batch_size=s.batch_size),
                            x, y, batch_size=s.eval_batch_size)
        out["pgn"].append(_point(fn, x, x_adv, y, s, c_l=c_l))
    for eps in s.fig3_attack_eps:
        x_fgm = map_batches(lambda xb, yb: fgm(fn, xb, yb, eps=eps, norm="2"), x, y,
                            batch_size=s.eval_batch_size)
        out["fgm"].append(_point(fn, x, x_fgm, y, s, eps=eps))
        x_pgd = map_batches(lambda xb, yb: pgd(fn, xb, yb, eps=eps, step_size=eps / 4,
                                               num_steps=10, norm="2", seed=s.seed),
                            x, y, batch_size=s.eval_batch_size)
        out["pgd"].append(_point(fn, x, x_pgd, y, s, eps=eps))
    return out


def _point(fn, x, x_adv, y, s, **key):
    from tf_advnet.eval.robustness import per_example_norms, predict

    l2, _ = per_example_norms(np.asarray(x_adv) - x)
    acc = float((predict(fn, x_adv, s.eval_batch_size) == y).mean())
    return {**key, "mean_l2": float(l2.mean()), "acc": acc}


def step_throughput(s, x, y):
    """Training images/s of each method's trainer (at the middle of its grid), timed
    in `s.timing_rounds` interleaved rounds of `s.timing_steps` steps
    (`pipelines.train.interleaved_images_per_second`)."""
    from tf_advnet.pipelines.train import interleaved_images_per_second

    return interleaved_images_per_second(
        {method: model_config(s, method, grid[len(grid) // 2])
         for method, grid in (("standard", (None,)), ("fgm_at", s.eps_grid),
                              ("pgd_at", s.eps_grid), ("pgn", s.c_l_grid))},
        x, y, steps=s.timing_steps, rounds=s.timing_rounds)


# ---------------------------------------------------------------------- driver

def reproduce(preset_name="cpu", dataset=None, *, work_dir="runs/pgn", results_dir=None,
              overrides=None, argv=None, progress=print):
    """Trains and evaluates everything of the module docstring; writes the report.

    Returns the results dict (also written to results_dir/pgn.json).
    """
    from tf_advnet.eval.batching import map_batches
    from tf_advnet.eval.matching import pick_per_method
    from tf_advnet.eval.robustness import as_model_fn
    from tf_advnet.pipelines import common
    from tf_advnet.papers import pgn as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.pipelines.train import curve_of
    from tf_advnet.utils.compiled import Twins
    from tf_advnet.utils.provenance import Provenance

    s = study(preset_name, dataset, overrides)
    prov = Provenance(seed=s.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, s.dataset)
    results_dir = results_dir or os.path.join("results", "pgn", s.dataset)
    base_cfg = model_config(s, "standard")
    x_train, y_train = common.load_split(base_cfg.data, "train")
    x_test, y_test = common.load_split(base_cfg.data, "test")  # int64 labels

    store = Store(os.path.join(root, "store"))

    def trained(method, value=None, **kw):
        return _train(s, root, method, value, progress=progress, argv=argv, **kw)

    twins = Twins()

    def evaluated(name, run):
        progress(f"[pgn] evaluating {name} (clean, C&W-L2)")
        m = twins(common.load_keras_model(run["model_path"]))
        res = evaluate_model(m, x_test, y_test, s, store=store)
        res["train_images_per_second"] = run["train_images_per_second"]
        res["model_path"] = run["model_path"]
        curve = curve_of(run, s.curve_attack)
        if curve is not None:
            res["curve"] = curve
        return res

    models = {}
    for method, grid in (("standard", (None,)), ("fgm_at", s.eps_grid),
                         ("pgd_at", s.eps_grid), ("pgn", s.c_l_grid)):
        for value in grid:
            name, run = trained(method, value)
            models[name] = {"method": method, "value": value, "width": s.width,
                            **evaluated(name, run)}
    for width in s.capacity_widths:
        for value in s.capacity_c_l or s.c_l_grid:
            name, run = trained("pgn", value, width=width)
            models[name] = {"method": "pgn", "value": value, "width": width,
                            **evaluated(name, run)}
    bb_name, bb_run = trained("standard", None, seed_offset=1, name="standard_bb")

    # Table 2 at matched benign accuracy.
    target = models["standard"]["acc"]
    by_method = {m: {n: v for n, v in models.items()
                     if v["method"] == m and v["width"] == s.width}
                 for m in ("fgm_at", "pgd_at", "pgn")}
    chosen = pick_per_method(by_method, target)
    chosen = {"standard": "standard", **chosen}
    bb_fn = as_model_fn(common.load_keras_model(bb_run["model_path"]))
    black_box = {name: map_batches(lambda xb, yb, a=attack: a(bb_fn, xb, yb), x_test,
                                   y_test, batch_size=s.eval_batch_size)
                 for name, attack in _attacks(s).items()}
    table2 = {}
    for method, name in chosen.items():
        progress(f"[pgn] Table 2 row for {method} ({name})")
        m = common.load_keras_model(models[name]["model_path"])
        table2[method] = {"model": name, "acc": models[name]["acc"],
                          "rho_cw": models[name]["rho_cw"],
                          "rho_cw_median": models[name]["rho_cw_median"],
                          **table2_row(m, x_test, y_test, s, black_box)}

    # Fig. 2 right: FGM-AT over epochs.
    n2 = min(s.fig2_test_images, len(x_test))
    # Keyed by the run it records, so a retrained classifier starts a new curve.
    curve_path = store.entry(
        "pgn_fig2_curve", config=model_config(s, "fgm_at", s.fig2_eps, epochs=s.fig2_epochs),
        data=(x_test[:n2], y_test[:n2]), cw_iterations=s.cw_iterations,
        cw_binary_steps=s.cw_binary_steps).path("rho_cw_per_epoch.json")
    cb = RhoCWPerEpoch(x_test[:n2], y_test[:n2], s, curve_path)
    trained("fgm_at", s.fig2_eps, epochs=s.fig2_epochs, name="fig2_fgm_at",
            callbacks=(cb,))
    with open(curve_path) as f:
        fig2 = dict(json.load(f), eps=s.fig2_eps, n_test=n2)

    # Fig. 3: attack strength on the FGM-AT and PGD-AT classifiers at fig3_eps.
    fig3 = {}
    for method in ("fgm_at", "pgd_at"):
        name = _name(method, s.fig3_eps)
        progress(f"[pgn] Fig. 3: attacks on {name}")
        fig3[method] = attack_strength(models[name]["model_path"], x_test, y_test,
                                       x_train, y_train, s, store, progress=progress)

    progress("[pgn] timing a training step of each method")
    # Timed once per study config and data: a resumed or repeated run reports the
    # timing of the run that trained it, as it reports that run's models.
    timing = store.entry("pgn_step_timing", study=dataclasses.asdict(s),
                         data=(x_train, y_train)).json(
        "timing.json", lambda: step_throughput(s, x_train, y_train))
    results = {"study": dataclasses.asdict(s), "n_train": int(len(x_train)),
               "n_test": int(len(x_test)), "models": models,
               "matching": {"target_acc": target, "chosen": chosen},
               "table2": table2, "fig2": fig2, "fig3": fig3,
               "black_box_source": bb_name, "speed": timing["images_per_second"],
               "speed_rounds": timing["rounds"]}
    results["provenance"] = prov.finish()
    return finish(study_module, results, results_dir)
