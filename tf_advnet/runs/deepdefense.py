"""DeepDefense (Yan et al., NeurIPS 2018) reproduction pieces: baselines and metrics.

- `make_deepfool_training_set`: the DeepFool adversarial-training baseline's data --
  DeepFool examples generated once, offline, from the reference model; the baseline
  fine-tunes on them only, without clean images (notes §4.5).
- `finetune_optimizer`: the fine-tuning schedule shared by DeepDefense and the
  baselines (notes §4.4): SGD, momentum 0.9, lr 5e-4 (MNIST, CIFAR-10), halved at
  0.8 * epochs; batch 100.
- `evaluate_model`: Table 1's columns with `tf_advnet.eval.metrics`: clean accuracy,
  rho_2 (DeepFool from the predicted label, unclipped), rho_inf (FGS at 50% error) and
  FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref (eps_ref: the DeepDefense model's 50%-error
  FGS eps).

- `reproduce`: what `experiments/reproduce_deepdefense.py` calls. It trains the
  reference model (method "standard") with `tf_advnet.runs.train.train` (work dir
  `<work_dir>/<dataset>/<model>/reference`, so it resumes and is reused), fine-tunes
  from its weights DeepDefense (lambda 15, c 25, d 5, u 5), Parseval (beta 1e-4 on
  MNIST-like data, 3e-4 on CIFAR-10) and DeepFool-AT (fixed DeepFool set from the
  reference, no clean images), each saved as `<...>/<method>/model.keras` with a
  `finetune.json` and reused when the config matches; evaluates the four with
  `evaluate_model` (eps_ref from the DeepDefense model) and writes
  `results/deepdefense/<dataset>/<model>/deepdefense.{json,md}`.

Presets:
- `cpu` (mnist_5k, fashion_mnist; models mlp, lenet): the reference with the
  suite's cpu recipe (Adam 1e-3, batch 128, the preset's epochs), fine-tuning as the
  paper's MNIST (5 epochs, batch 100, SGD 5e-4 momentum 0.9, weight decay 5e-4, lr
  halved at 0.8 * epochs), 1000 test images. `synthetic` is accepted for tests.
- `paper` (mnist: mlp, lenet; cifar10: convnet, nin): MatConvNet-like reference
  training (SGD momentum 0.9, batch 100; MNIST lr 1e-3 for 20 epochs, weight decay
  5e-4; CIFAR-10 lr 1e-2 x0.1 at 30 and 40 of 45 epochs, weight decay 1e-4,
  crop + flip), the full 60k / 50k training sets, fine-tuning for 5 (MNIST) / 50
  (CIFAR-10) epochs.
Pixels stay in [0, 1] (no mean subtraction / ZCA as in the paper's MatConvNet data),
so our rho values use ||x|| of [0, 1] images.
"""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np

from tf_advnet.attacks.deepfool import deepfool
from tf_advnet.errors import UserError, check_choice, check_range
from tf_advnet.eval import metrics, report
from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.robustness import as_model_fn, predict

FINETUNE_BATCH = 100
FINETUNE_LR = 5e-4
FINETUNE_MOMENTUM = 0.9
LR_HALVING_AT = 0.8  # fraction of the epochs


def make_deepfool_training_set(model, x, y, *, max_iter=50, overshoot=0.02,
                               clip_min=0.0, clip_max=1.0, batch_size=256):
    """DeepFool-perturbed copies of (x, y) from a fixed (reference) model.

    DeepFool (L2, all classes) moves each image away from its true label; images the
    model already misclassifies are kept as they are. The labels stay the true ones.

    Args:
      model: keras.Model (or logits callable) -- the reference model.
      x: (N, ...) float32 images in [clip_min, clip_max].
      y: (N,) int labels.
      max_iter, overshoot: DeepFool settings.
      clip_min, clip_max: the image box (None: unclipped).
      batch_size: images per DeepFool call.

    Returns:
      (x_adv, y): float32 numpy array like x, and y as int64.

    Raises:
      UserError: if x and y differ in length or x is empty.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64)
    if len(x) == 0 or len(x) != len(y):
        raise UserError(f"make_deepfool_training_set: x has {len(x)} images but y has "
                        f"{len(y)} labels (need the same, non-zero number)")
    model_fn = as_model_fn(model)
    x_adv = map_batches(
        lambda xb, yb: deepfool(model_fn, xb, yb, max_iter=max_iter, overshoot=overshoot,
                                clip_min=clip_min, clip_max=clip_max).x_adv,
        x, y, batch_size=batch_size)
    return np.asarray(x_adv, np.float32), y


def finetune_schedule(epochs, steps_per_epoch, *, learning_rate=FINETUNE_LR):
    """lr until the end of epoch round(0.8 * epochs), then lr / 2 (0-based steps)."""
    check_range("epochs", epochs, 0, low_inclusive=False)
    check_range("learning_rate", learning_rate, 0.0, low_inclusive=False)
    first_halved = max(1, int(round(LR_HALVING_AT * epochs))) * int(steps_per_epoch)
    # PiecewiseConstantDecay keeps the first value up to and including the boundary.
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [first_halved - 1], [learning_rate, learning_rate * 0.5])


def finetune_optimizer(epochs, steps_per_epoch, *, learning_rate=FINETUNE_LR,
                       momentum=FINETUNE_MOMENTUM):
    """SGD(momentum 0.9) on `finetune_schedule`."""
    return keras.optimizers.SGD(
        finetune_schedule(epochs, steps_per_epoch, learning_rate=learning_rate),
        momentum=momentum)


def evaluate_model(model, x, y, *, eps_ref=None, rho_iters=50, batch_size=256):
    """Table 1's columns for one model.

    Args:
      model: keras.Model mapping images to logits.
      x, y: test images and int labels.
      eps_ref: the DeepDefense model's 50%-error FGS eps (None: this model's own, i.e.
        evaluating the DeepDefense model itself).
      rho_iters: DeepFool iterations for rho_2 (the reference code uses 5; 50 runs it
        to convergence, notes §6 item 19).

    Returns:
      dict: acc, rho_2, rho_inf, eps (this model's 50%-error FGS eps), eps_ref and
      acc_at_eps_ref {"0.2", "0.5", "1"}.
    """
    y = np.asarray(y)
    acc = float((predict(as_model_fn(model), x, batch_size) == y).mean())
    r2 = metrics.rho_2(model, x, max_iter=rho_iters, batch_size=batch_size)
    rinf = metrics.rho_inf(model, x, y, batch_size=batch_size)
    if eps_ref is None:
        eps_ref = rinf["eps"]
    at_ref = (None if eps_ref is None or not math.isfinite(eps_ref)
              else metrics.accuracy_at_eps_ref(model, x, y, eps_ref,
                                               batch_size=batch_size))
    return {"acc": acc, "rho_2": r2["rho_2"], "rho_2_fooled_rate": r2["fooled_rate"],
            "rho_inf": rinf["rho_inf"], "eps": rinf["eps"], "eps_ref": eps_ref,
            "acc_at_eps_ref": at_ref}


# ------------------------------------------------------------------------ reproduce

PRESETS = ("cpu", "paper")
MODELS = {"mlp": "deepdefense_mlp", "lenet": "deepdefense_lenet",
          "convnet": "deepdefense_convnet", "nin": "nin"}
CPU_DATASETS = ("mnist_5k", "fashion_mnist", "synthetic")
CPU_MODELS = ("mlp", "lenet")
PAPER_MODELS = {"mnist": ("mlp", "lenet"), "cifar10": ("convnet", "nin")}
MNIST_LIKE = ("mnist", "mnist_5k", "fashion_mnist", "synthetic")
CPU_TEST_LIMIT = 1000
FINETUNE_EPOCHS = {"mnist_like": 5, "cifar10": 50}
FINETUNE_WEIGHT_DECAY = 5e-4
PARSEVAL_BETA = {"mnist_like": 1e-4, "cifar10": 3e-4}
# Row order of Table 1; "deepfool_at" is the paper's "Adv. Train".
METHODS = ("reference", "parseval", "deepfool_at", "deepdefense")
METHOD_LABELS = {"reference": "Reference", "parseval": "Par. Train",
                 "deepfool_at": "Adv. Train (DeepFool)", "deepdefense": "DeepDefense"}
FINETUNE_TRAINER = {"parseval": "parseval", "deepfool_at": "standard",
                    "deepdefense": "deepdefense"}
BENCH_STEPS = 10  # timed steps of the step-throughput comparison


def _family(dataset):
    return "mnist_like" if dataset in MNIST_LIKE else "cifar10"


def _check(dataset, model, preset_name):
    check_choice("preset", preset_name, PRESETS)
    check_choice("model", model, tuple(MODELS))
    if preset_name == "cpu":
        check_choice("dataset", dataset, CPU_DATASETS)
        check_choice("model", model, CPU_MODELS)
    else:
        check_choice("dataset", dataset, tuple(PAPER_MODELS))
        check_choice("model", model, PAPER_MODELS[dataset])


def reference_config(dataset, model="mlp", preset_name="cpu", overrides=None):
    """The reference model's ExperimentConfig (method "standard"), validated."""
    from tf_advnet.configs import override, preset

    _check(dataset, model, preset_name)
    arch = MODELS[model]
    if preset_name == "cpu":
        cfg = preset("cpu", dataset, "standard")
        cfg = override(cfg, name=arch, test_limit=CPU_TEST_LIMIT)
    else:
        cfg = preset("paper", dataset, "standard")
        if dataset == "mnist":
            fields = dict(learning_rate=1e-3, weight_decay=5e-4, epochs=20)
            lr_boundaries = ()
        else:
            fields = dict(learning_rate=1e-2, weight_decay=1e-4, epochs=45)
            lr_boundaries = (30, 40)
        cfg = override(cfg, name=arch, batch_size=100, optimizer="sgd", momentum=0.9,
                       lr_factor=0.1, eval_batch_size=100, seed=1234, **fields)
        cfg = dataclasses.replace(
            cfg, data=dataclasses.replace(cfg.data, train_limit=None),
            model=dataclasses.replace(cfg.model, variant=None),
            train=dataclasses.replace(cfg.train, lr_boundaries=lr_boundaries))
    cfg = override(cfg, **(overrides or {}))
    return cfg.validate()


def finetune_config(reference, dataset, method, overrides=None):
    """The fine-tuning ExperimentConfig of `method` (notes §4.4) from the reference's.

    `overrides` (e.g. epochs=1, dd_iters=2) apply after the paper's values; the lr
    halving epoch follows the final epochs.
    """
    from tf_advnet.configs import override

    check_choice("method", method, tuple(FINETUNE_TRAINER))
    family = _family(dataset)
    cfg = override(reference, method=FINETUNE_TRAINER[method],
                   epochs=FINETUNE_EPOCHS[family], batch_size=FINETUNE_BATCH,
                   optimizer="sgd", learning_rate=FINETUNE_LR, momentum=FINETUNE_MOMENTUM,
                   weight_decay=FINETUNE_WEIGHT_DECAY, lr_factor=0.5, dd_lambda=15.0,
                   dd_c=25.0, dd_d=5.0, dd_iters=5, parseval_beta=PARSEVAL_BETA[family])
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augment=None))
    cfg = override(cfg, **(overrides or {}))
    halve = max(1, int(round(LR_HALVING_AT * cfg.train.epochs)))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                             lr_boundaries=(halve,)))
    return cfg.validate()


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.time() - self._t0)


def _compiled_trainer(cfg, reference_path, steps_per_epoch):
    from tf_advnet.runs import common
    from tf_advnet.runs.train import build_trainer

    classifier = common.load_keras_model(reference_path)
    trainer = build_trainer(cfg, classifier, steps_per_epoch)
    trainer.compile(optimizer=finetune_optimizer(
        cfg.train.epochs, steps_per_epoch, learning_rate=cfg.train.learning_rate,
        momentum=cfg.train.momentum))
    return classifier, trainer


def finetune(cfg, reference_path, x, y, out_dir, *, progress=print, verbose=0):
    """Fine-tunes the reference per `cfg` on (x, y); saves out_dir/model.keras.

    A finished fine-tuning with the same config (out_dir/finetune.json) is reused.
    Returns the finetune.json dict (config, history, images/s, model_path).
    """
    from tf_advnet import data as data_lib
    from tf_advnet.configs import to_dict
    from tf_advnet.runs import common
    from tf_advnet.utils.provenance import write_json

    model_path = os.path.join(out_dir, "model.keras")
    meta_path = os.path.join(out_dir, "finetune.json")
    cfg_dict = json.loads(json.dumps(to_dict(cfg)))
    if os.path.exists(model_path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            done = json.load(f)
        if done.get("config") == cfg_dict:
            progress(f"[deepdefense] {out_dir}: already fine-tuned; reusing it")
            return done
    os.makedirs(out_dir, exist_ok=True)
    common.set_seed(cfg.seed)
    bs = cfg.data.batch_size
    steps = -(-len(x) // bs)
    classifier, trainer = _compiled_trainer(cfg, reference_path, steps)
    ds = data_lib.make_dataset(x, y, bs, training=True, seed=cfg.seed)
    timer = _EpochTimer()
    progress(f"[deepdefense] fine-tuning {cfg.train.method} {cfg.model.name}: "
             f"{len(x)} images, {cfg.train.epochs} epochs -> {out_dir}")
    hist = trainer.fit(ds, epochs=cfg.train.epochs, callbacks=[timer], verbose=verbose,
                       shuffle=False)
    classifier.save(model_path)
    secs = timer.seconds[1:] or timer.seconds  # the first epoch includes tracing
    done = {"config": cfg_dict,
            "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
            "wall_time_s": round(sum(timer.seconds), 2),
            "train_images_per_second": common.images_per_second(
                len(x) * len(secs), sum(secs)),
            "model_path": os.path.abspath(model_path)}
    write_json(meta_path, done)
    return done


def step_throughput(cfg, reference_path, x, y, *, steps=BENCH_STEPS):
    """Images/s of `steps` training steps of cfg's trainer (after one warm-up pass)."""
    bs = cfg.data.batch_size
    n = min(len(x), bs * steps)
    steps = -(-n // bs)
    _, trainer = _compiled_trainer(cfg, reference_path, steps)
    timer = _EpochTimer()
    trainer.fit(x[:n], y[:n], batch_size=bs, epochs=2, callbacks=[timer], verbose=0,
                shuffle=False)
    return n / timer.seconds[-1] if timer.seconds[-1] > 0 else float("nan")


def reproduce(dataset, model="mlp", preset_name="cpu", *, work_dir="runs/deepdefense",
              results_dir=None, overrides=None, argv=None, progress=print):
    """Reference -> DeepDefense / Parseval / DeepFool-AT fine-tuning -> Table 1.

    Args:
      dataset: "mnist_5k" / "fashion_mnist" (cpu; "synthetic" for tests) or
        "mnist" / "cifar10" (paper).
      model: "mlp" | "lenet" (MNIST-like), "convnet" | "nin" (CIFAR-10).
      preset_name: "cpu" or "paper".
      work_dir: root of the training dirs (<work_dir>/<dataset>/<model>/<method>).
      results_dir: output dir (default results/deepdefense/<dataset>/<model>).
      overrides: flat config overrides applied to the reference and to every
        fine-tuning (e.g. epochs=1, train_limit=256, dd_iters=2, data_dir=...).
      argv: command line recorded in provenance.
      progress: callable for status lines.

    Returns:
      the results dict (also written to deepdefense.json).
    """
    from tf_advnet.configs import to_dict
    from tf_advnet.runs import common
    from tf_advnet.runs.train import train
    from tf_advnet.utils.provenance import Provenance

    ref_cfg = reference_config(dataset, model, preset_name, overrides)
    prov = Provenance(seed=ref_cfg.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, dataset, model)
    results_dir = results_dir or os.path.join("results", "deepdefense", dataset, model)
    ref_run = train(ref_cfg, os.path.join(root, "reference"), argv=argv,
                    progress=progress, verbose=2)
    ref_path = ref_run["model_path"]
    x_train, y_train = common.load_split(ref_cfg.data, "train")
    x_test, y_test = common.load_split(ref_cfg.data, "test")

    configs = {"reference": to_dict(ref_cfg)}
    training = {"reference": {
        "epochs": ref_cfg.train.epochs,
        "train_images_per_second": ref_run["train_images_per_second"],
        "wall_time_s": ref_run["provenance"]["wall_time_s"]}}
    paths = {"reference": ref_path}
    ft_cfgs = {}
    for method in ("deepdefense", "parseval", "deepfool_at"):
        cfg = finetune_config(ref_cfg, dataset, method, overrides)
        ft_cfgs[method] = cfg
        out_dir = os.path.join(root, method)
        x, y = x_train, y_train
        if method == "deepfool_at" and not _finished(out_dir, cfg):
            progress("[deepdefense] DeepFool training set from the reference model")
            x, y = make_deepfool_training_set(common.load_keras_model(ref_path),
                                              x_train, y_train,
                                              batch_size=ref_cfg.eval.batch_size)
        run = finetune(cfg, ref_path, x, y, out_dir, progress=progress)
        configs[method] = run["config"]
        training[method] = {"epochs": cfg.train.epochs,
                            "train_images_per_second": run["train_images_per_second"],
                            "wall_time_s": run["wall_time_s"]}
        paths[method] = run["model_path"]

    progress("[deepdefense] timing a DeepDefense step against a plain step")
    dd_ips = step_throughput(ft_cfgs["deepdefense"], ref_path, x_train, y_train)
    plain_ips = step_throughput(ft_cfgs["deepfool_at"], ref_path, x_train, y_train)

    bs = ref_cfg.eval.batch_size
    evals = {}
    progress("[deepdefense] evaluating deepdefense (eps_ref)")
    evals["deepdefense"] = evaluate_model(common.load_keras_model(paths["deepdefense"]),
                                          x_test, y_test, batch_size=bs)
    eps_ref = evals["deepdefense"]["eps_ref"]
    for method in ("reference", "parseval", "deepfool_at"):
        progress(f"[deepdefense] evaluating {method}")
        evals[method] = evaluate_model(common.load_keras_model(paths[method]),
                                       x_test, y_test, eps_ref=eps_ref, batch_size=bs)
    results = {
        "dataset": dataset, "model": model, "architecture": MODELS[model],
        "preset": preset_name, "n_test": int(len(x_test)), "n_train": int(len(x_train)),
        "eps_ref": eps_ref,
        "models": {m: {"label": METHOD_LABELS[m], "metrics": evals[m],
                       "training": training[m], "model_path": paths[m]}
                   for m in METHODS},
        "configs": configs,
        "step_throughput": {
            "batch_size": ft_cfgs["deepdefense"].data.batch_size,
            "deepdefense_images_per_second": dd_ips,
            "plain_images_per_second": plain_ips,
            "slowdown": (plain_ips / dd_ips if dd_ips and math.isfinite(dd_ips)
                         else None)},
        "paper": paper_rows(dataset, model),
    }
    results["provenance"] = prov.finish()
    write_report(results, results_dir)
    return results


def _finished(out_dir, cfg):
    from tf_advnet.configs import to_dict

    meta = os.path.join(out_dir, "finetune.json")
    if not (os.path.exists(meta) and os.path.exists(os.path.join(out_dir,
                                                                  "model.keras"))):
        return False
    with open(meta) as f:
        return json.load(f).get("config") == json.loads(json.dumps(to_dict(cfg)))


# ----------------------------------------------------------------------------- report

# Table 1 of the paper: acc (%), rho_2, rho_inf, Acc@0.2 / 0.5 / 1.0 eps_ref (%).
PAPER_COLUMNS = ("acc", "rho_2", "rho_inf", "acc@0.2", "acc@0.5", "acc@1.0")
PAPER = {
    "MNIST": {
        "mlp": {"reference": [98.31, 0.111, 0.0540, 72.76, 29.08, 3.31],
                "parseval": [98.32, 0.111, 0.0578, 77.44, 28.95, 2.96],
                "deepfool_at": [98.49, 0.162, 0.0946, 87.70, 59.69, 22.55],
                "deepdefense": [98.65, 0.225, 0.153, 95.04, 88.93, 50.00]},
        "lenet": {"reference": [99.02, 0.205, 0.129, 90.95, 53.88, 19.75],
                  "parseval": [99.10, 0.203, 0.150, 91.68, 66.48, 19.64],
                  "deepfool_at": [99.18, 0.263, 0.205, 95.20, 74.82, 41.40],
                  "deepdefense": [99.34, 0.284, 0.236, 96.51, 88.93, 50.00]}},
    "CIFAR-10": {
        "convnet": {"reference": [79.74, 0.0259, 0.00527, 61.62, 37.84, 23.85],
                    "parseval": [80.48, 0.0342, 0.00802, 69.19, 50.43, 22.13],
                    "deepfool_at": [80.65, 0.0305, 0.00637, 65.16, 45.03, 35.53],
                    "deepdefense": [81.70, 0.0532, 0.0158, 72.15, 59.02, 50.00]},
        "nin": {"reference": [89.64, 0.0420, 0.0105, 75.61, 49.22, 33.56],
                "parseval": [88.20, 0.0433, 0.0107, 75.39, 49.75, 17.74],
                "deepfool_at": [89.87, 0.0525, 0.0176, 78.87, 58.85, 45.90],
                "deepdefense": [89.96, 0.0558, 0.0215, 80.70, 70.73, 50.00]}},
}


def paper_rows(dataset, model):
    """{"dataset": "MNIST" | "CIFAR-10", "columns", "rows": {method: [...]}}."""
    name = "MNIST" if _family(dataset) == "mnist_like" else "CIFAR-10"
    return {"dataset": name, "columns": list(PAPER_COLUMNS),
            "rows": PAPER[name].get(model, {})}


def _row(metrics_):
    at = metrics_["acc_at_eps_ref"] or {}
    def pct(v):
        return None if v is None else 100 * v
    return [pct(metrics_["acc"]), metrics_["rho_2"], metrics_["rho_inf"],
            pct(at.get("0.2")), pct(at.get("0.5")), pct(at.get("1"))]


def _fmt_row(row):
    out = []
    for i, v in enumerate(row):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append("—")
        elif PAPER_COLUMNS[i].startswith("rho"):
            out.append(f"{v:.3g}")
        else:
            out.append(f"{v:.2f}")
    return out


def findings(results):
    """The issue's questions, answered from our numbers."""
    ms = {m: results["models"][m]["metrics"] for m in METHODS}
    rows = {m: _row(ms[m]) for m in METHODS}
    dd, ref = rows["deepdefense"], rows["reference"]
    out = {}
    ratio = (dd[1] / ref[1] if ref[1] and math.isfinite(ref[1]) and ref[1] > 0
             else None)
    out["DeepDefense rho_2 / reference rho_2 (paper: ~2x)"] = (
        None if ratio is None else round(ratio, 2))
    out["DeepDefense raises rho_2 ~2x (>= 1.5x) over the reference"] = (
        ratio is not None and ratio >= 1.5)
    out["DeepDefense clean accuracy minus reference (points)"] = round(dd[0] - ref[0], 2)
    out["DeepDefense keeps the reference's clean accuracy (within 0.5 points)"] = (
        dd[0] >= ref[0] - 0.5)
    cols = {"rho_2": 1, "rho_inf": 2, "Acc@0.2 eps_ref": 3, "Acc@0.5 eps_ref": 4,
            "Acc@1.0 eps_ref": 5}
    beats = {}
    for other in ("parseval", "deepfool_at"):
        for name, i in cols.items():
            a, b = dd[i], rows[other][i]
            beats[f"{other}/{name}"] = (a is not None and b is not None and a > b)
    out["DeepDefense beats Parseval and DeepFool-AT on rho_2, rho_inf and the eps_ref "
        "accuracies"] = all(beats.values())
    lost = [k for k, v in beats.items() if not v]
    out["comparisons DeepDefense does not win"] = ", ".join(lost) if lost else "none"
    return out


def write_report(results, out_dir):
    """Writes deepdefense.json and deepdefense.md (generated from the JSON dict)."""
    from tf_advnet.utils.provenance import write_json

    os.makedirs(out_dir, exist_ok=True)
    results["findings"] = findings(results)
    write_json(os.path.join(out_dir, "deepdefense.json"), results)
    paper = results["paper"]
    ds, model = results["dataset"], results["model"]
    cols = ["Acc. (%)", "rho_2", "rho_inf", "Acc.@0.2 eps_ref (%)",
            "Acc.@0.5 eps_ref (%)", "Acc.@1.0 eps_ref (%)"]
    md = [f"# DeepDefense on {ds}, {model} ({results['architecture']}; "
          f"{results['preset']} preset)", "",
          f"Table 1's metrics on {results['n_test']} {ds} test images, models "
          f"fine-tuned from the reference on {results['n_train']} training images. "
          "rho_2: mean ||Delta||_2 / ||x||_2 under DeepFool (from the predicted label, "
          "unclipped); rho_inf: the 50%-error FGS eps over ||x||_inf; eps_ref = "
          f"{results['eps_ref']:.4g}, the DeepDefense model's 50%-error FGS eps, used "
          "for every model. Pixels are in [0, 1] (the paper's are mean-subtracted), so "
          f"rho values compare only roughly. Paper rows: Table 1, {paper['dataset']} "
          f"{model}. Generated from deepdefense.json by tf_advnet.runs.deepdefense; "
          "do not edit.", "",
          "| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m in METHODS:
        label = METHOD_LABELS[m]
        md.append(f"| {label} (ours) | "
                  + " | ".join(_fmt_row(_row(results["models"][m]["metrics"]))) + " |")
        if m in paper["rows"]:
            md.append(f"| {label} (paper, {paper['dataset']}) | "
                      + " | ".join(_fmt_row(paper["rows"][m])) + " |")
    st = results["step_throughput"]
    md += ["", "## Training cost", "",
           "| model | epochs | images/s | wall time (s) |", "|---|---|---|---|"]
    for m in METHODS:
        t = results["models"][m]["training"]
        md.append(f"| {METHOD_LABELS[m]} | {t['epochs']} | "
                  f"{t['train_images_per_second']:.0f} | {t['wall_time_s']} |")
    slow = st["slowdown"]
    md += ["", f"One training step at batch {st['batch_size']}: DeepDefense "
           f"{st['deepdefense_images_per_second']:.0f} images/s, a plain cross-entropy "
           f"step {st['plain_images_per_second']:.0f} images/s"
           + ("" if slow is None else f" ({slow:.1f}x slower)") + ".",
           "", "## Findings", ""]
    md += [f"- {k}: **{v}**" for k, v in results["findings"].items()]
    md += [""] + report.provenance_markdown(results["provenance"])
    with open(os.path.join(out_dir, "deepdefense.md"), "w") as f:
        f.write("\n".join(md))
    return out_dir
