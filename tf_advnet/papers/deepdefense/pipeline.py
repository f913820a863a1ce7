"""DeepDefense (Yan et al., NeurIPS 2018) reproduction pieces: baselines and metrics.

- `make_deepfool_training_set`: the DeepFool adversarial-training baseline's data --
  DeepFool examples generated once, offline, from the reference model; the baseline
  fine-tunes on them only, without clean images (Sec. 4, "Adversarial Training").
- `finetune_optimizer`: the fine-tuning schedule shared by DeepDefense and the
  baselines (Table 2 and the reference `deepdefense.py`): SGD, momentum 0.9, lr 5e-4
  (MNIST, CIFAR-10), halved at 0.8 * epochs; batch 100.
- `evaluate_model`: Table 1's columns with `tf_advnet.eval.metrics`: clean accuracy,
  rho_2 (DeepFool from the predicted label, unclipped), rho_inf (FGS at 50% error) and
  FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref (eps_ref: the DeepDefense model's 50%-error
  FGS eps).

- `reproduce`: what `experiments/reproduce_deepdefense.py` calls. It trains the
  reference model (method "standard") with `tf_advnet.pipelines.train.train` (work dir
  `<work_dir>/<dataset>/<model>/reference`, so it resumes and is reused), fine-tunes
  from its weights DeepDefense (lambda 15, c 25, d 5, u 5), Parseval (beta 1e-4 on
  MNIST-like data, 3e-4 on CIFAR-10), DeepFool-AT (fixed DeepFool set from the
  reference, no clean images) and "clean" (plain objective, Fig. 2), each saved as
  `<...>/<method>/model.keras` with a `finetune.json` (history and the per-epoch
  accuracy / rho_2 curve, `CurveRecorder`) and reused when the config matches;
  evaluates the four of Table 1 with `evaluate_model` (eps_ref from the DeepDefense
  model) and writes `results/deepdefense/<dataset>/<model>/` (deepdefense.json,
  deepdefense.md, curves.png; `tf_advnet.papers.deepdefense.report`).

Presets:
- `cpu` (mnist_5k, fashion_mnist's first 12,000 training images; models mlp,
  lenet): the reference with the suite's cpu recipe (Adam 1e-3, batch 128, the
  preset's epochs), fine-tuning as the paper's MNIST (batch 100, SGD momentum 0.9,
  weight decay 5e-4, lr halved at 0.8 * epochs) for ~600 steps (15 / 5 epochs) at lr
  2e-2 (see FINETUNE_LR), 1000 test images, curves on 500. `synthetic` is accepted
  for tests.
- `paper` (mnist: mlp, lenet; cifar10: convnet, nin): MatConvNet-like reference
  training (SGD momentum 0.9, batch 100; MNIST lr 1e-3 for 20 epochs, weight decay
  5e-4; CIFAR-10 lr 1e-2 x0.1 at 30 and 40 of 45 epochs, weight decay 1e-4,
  crop + flip), the full 60k / 50k training sets, fine-tuning for 5 (MNIST) / 50
  (CIFAR-10) epochs, curves on the whole test set. MNIST in the code's units (the
  networks subtract the per-pixel training mean and scale to 0-255 inside, model
  `input_units=pixel_mean_255`) with the paper's fine-tuning lr 5e-4; CIFAR-10 in
  [0, 1] units at lr 2e-2 (remaining deviation: the code's contrast normalisation
  and ZCA whitening are not built).
- at `cpu`, `--set input_units=pixel_mean_255 --finetune_lr=5e-4` gives the code's
  MNIST units and lr (the fine-tuning lr follows the units unless set).
The regulariser's ||x|| is taken in the network's input units (the trainer reads the
model's internal mean, `Config.build`), as the code's. The evaluation's rho_2 and
rho_inf use ||x|| of the [0, 1] images the models take (the paper's, of the
mean-subtracted ones, are larger on MNIST's dark images: a remaining deviation in
Table 1's rho columns, not in the comparison between rows).
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
from tf_advnet.eval import metrics
from tf_advnet.papers._study import given
from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.robustness import as_model_fn, predict
# Method names and labels live with the report (which reads only results), so this
# module depends on it and not the other way round.
from tf_advnet.papers.deepdefense.report import (  # noqa: F401  (re-exported)
    METHOD_LABELS, METHODS, MNIST_LIKE, _family)
from tf_advnet.papers.deepdefense.study import PRESETS
from tf_advnet.utils.timing import StepTimer, reported_images_per_second

FINETUNE_BATCH = 100
# The paper's fine-tuning lr, 5e-4, is for matconvnet units (0-255 pixels minus the
# mean): there the first layer's weights are 255x smaller and their gradients 255x
# larger than with [0, 1] pixels, so one SGD step moves the first layer 255^2 times
# further. In [0, 1] units 5e-4 barely moves it (measured on mnist_5k / mlp: rho_2
# x1.3 after 1,200 steps, results/deepdefense/mnist_5k/mlp_lr5e-4); 2e-2 is the lr
# we use for every fine-tuned model (DeepDefense and the baselines alike).
PAPER_FINETUNE_LR = 5e-4
FINETUNE_LR = 2e-2
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
      rho_iters: DeepFool iterations for rho_2 (the reference code's `test()` uses 5;
        50 runs DeepFool to convergence, as standard DeepFool evaluations do).

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

MODELS = {"mlp": "deepdefense_mlp", "lenet": "deepdefense_lenet",
          "convnet": "deepdefense_convnet", "nin": "nin"}
CPU_DATASETS = ("mnist_5k", "fashion_mnist", "synthetic")
CPU_MODELS = ("mlp", "lenet")
PAPER_MODELS = {"mnist": ("mlp", "lenet"), "cifar10": ("convnet", "nin")}
CPU_TEST_LIMIT = 1000
# cpu: Fashion-MNIST's first 12,000 training images keep a data set within 60 minutes.
CPU_TRAIN_LIMIT = {"fashion_mnist": 12000}
# Fine-tuning epochs. Paper: 5 (MNIST, 600 steps each) and 50 (CIFAR-10). cpu: ~600
# steps of batch 100 -- 15 epochs of mnist_5k's 4,000 images, 5 of 12,000.
FINETUNE_EPOCHS = {"paper": {"mnist_like": 5, "cifar10": 50},
                   "cpu": {"mnist_5k": 15, "fashion_mnist": 5, "synthetic": 5},
                   # long: twice cpu's steps (~1,200 of batch 100) in [0, 1] units
                   "long": {"mnist_5k": 30}}
FINETUNE_WEIGHT_DECAY = 5e-4
PARSEVAL_BETA = {"mnist_like": 1e-4, "cifar10": 3e-4}
# Test images of the per-epoch curves (Figs. 2, 6); None: the whole test set.
CURVE_LIMIT = {"cpu": 500, "paper": None, "long": 500}
# Row order of Table 1; "deepfool_at" is the paper's "Adv. Train".
# "clean" is Fig. 2's fine-tuning on clean images with the plain objective.
FINETUNE_TRAINER = {"parseval": "parseval", "deepfool_at": "standard",
                    "deepdefense": "deepdefense", "clean": "standard"}
FINETUNE_METHODS = ("deepdefense", "parseval", "deepfool_at", "clean")
BENCH_STEPS = 10  # warm steps of a step-throughput measurement


def _check(dataset, model, preset_name):
    check_choice("preset", preset_name, PRESETS)
    check_choice("model", model, tuple(MODELS))
    if preset_name == "long":
        check_choice("dataset", dataset, tuple(FINETUNE_EPOCHS["long"]))
        check_choice("model", model, CPU_MODELS)
    elif preset_name == "cpu":
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
    if preset_name in ("cpu", "long"):
        cfg = preset("cpu", dataset, "standard")
        cfg = override(cfg, name=arch, test_limit=CPU_TEST_LIMIT,
                       train_limit=CPU_TRAIN_LIMIT.get(dataset), preset=preset_name)
    else:
        cfg = preset("paper", dataset, "standard")
        if dataset == "mnist":
            # The code's MNIST units: 0-255 pixels minus the per-pixel training mean.
            fields = dict(learning_rate=1e-3, weight_decay=5e-4, epochs=20,
                          input_units="pixel_mean_255")
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
    # The overrides of the reference and the fine-tunings: a trainer key applies
    # where the method has it.
    cfg = override(cfg, trainer_subset=True, **given(overrides))
    return cfg.validate()


def _finetune_params(method, family):
    """The fine-tuning trainer's own config: DeepDefense's paper values (Sec. 4:
    lambda 15, c 25, d 5, u 5; `deepdefense.Config`'s defaults), Parseval's beta of
    the data set's family, none for the standard trainer."""
    from tf_advnet.trainers import deepdefense, parseval, standard

    trainer = FINETUNE_TRAINER[method]
    if trainer == "deepdefense":
        return deepdefense.Config(lam=15.0, c=25.0, d=5.0, num_iter=5)
    if trainer == "parseval":
        return parseval.Config(beta=PARSEVAL_BETA[family])
    return standard.Config()


def finetune_config(reference, dataset, method, overrides=None):
    """The fine-tuning ExperimentConfig of `method` (Table 2) from the reference's.

    `overrides` (e.g. epochs=1, learning_rate=5e-4, trainer={"num_iter": 2, "c": 15})
    apply after the preset's values (a trainer key where the method has it); the lr
    halving epoch follows the final epochs.
    """
    from tf_advnet.configs import override

    check_choice("method", method, tuple(FINETUNE_TRAINER))
    family = _family(dataset)
    if reference.preset in ("cpu", "long"):
        # A card's long row sets its own epochs; its data set may have no long entry.
        epochs = FINETUNE_EPOCHS[reference.preset].get(dataset,
                                                       FINETUNE_EPOCHS["cpu"][dataset])
    else:
        epochs = FINETUNE_EPOCHS["paper"][family]
    # The paper's lr belongs to the paper's units (see FINETUNE_LR).
    lr = (PAPER_FINETUNE_LR if reference.model.input_units == "pixel_mean_255"
          else FINETUNE_LR)
    cfg = override(reference, method=FINETUNE_TRAINER[method], epochs=epochs,
                   batch_size=FINETUNE_BATCH, optimizer="sgd", learning_rate=lr,
                   momentum=FINETUNE_MOMENTUM, weight_decay=FINETUNE_WEIGHT_DECAY,
                   lr_factor=0.5, trainer=_finetune_params(method, family))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augment=None))
    cfg = override(cfg, trainer_subset=True, **given(overrides))
    halve = max(1, int(round(LR_HALVING_AT * cfg.train.epochs)))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                             lr_boundaries=(halve,)))
    return cfg.validate()


class CurveRecorder(keras.callbacks.Callback):
    """Test accuracy and rho_2 of `classifier` before training and after each epoch.

    The convergence curves of Figs. 2 and 6: epoch 0 is the starting (reference)
    model. Its time (`seconds`) is outside the timed training steps
    (`tf_advnet.utils.timing.StepTimer.around`).
    """

    def __init__(self, classifier, x, y, *, rho_iters=50, batch_size=256):
        super().__init__()
        self.classifier, self.x, self.y = classifier, x, np.asarray(y)
        self.rho_iters, self.batch_size = rho_iters, batch_size
        self.curve = {"epoch": [], "acc": [], "rho_2": []}
        self.seconds = 0.0

    def _record(self, epoch):
        t0 = time.time()
        pred = predict(as_model_fn(self.classifier), self.x, self.batch_size)
        r2 = metrics.rho_2(self.classifier, self.x, max_iter=self.rho_iters,
                           batch_size=self.batch_size)
        self.curve["epoch"].append(epoch)
        self.curve["acc"].append(float((pred == self.y).mean()))
        self.curve["rho_2"].append(r2["rho_2"])
        self.seconds += time.time() - t0

    def on_train_begin(self, logs=None):
        if not self.curve["epoch"]:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


def _compiled_trainer(cfg, reference_path, steps_per_epoch):
    from tf_advnet.pipelines import common
    from tf_advnet.pipelines.train import build_trainer

    classifier = common.load_keras_model(reference_path)
    trainer = build_trainer(cfg, classifier, steps_per_epoch)
    trainer.compile(optimizer=finetune_optimizer(
        cfg.train.epochs, steps_per_epoch, learning_rate=cfg.train.learning_rate,
        momentum=cfg.train.momentum))
    return classifier, trainer


def _finetune_key(cfg, reference_path, x, y, curve_data):
    """Fingerprint of a fine-tuning: its config, the reference's contents and the
    data (`tf_advnet.store`), so a retrained reference fine-tunes again."""
    from tf_advnet.configs import key_dict
    from tf_advnet.store import fingerprint, fingerprint_file

    return fingerprint(config=key_dict(cfg), reference=fingerprint_file(reference_path),
                       data=(x, y), curve_data=curve_data)


def _finished_run(out_dir, key):
    """out_dir's finetune.json dict when it holds a finished run under `key`."""
    meta = os.path.join(out_dir, "finetune.json")
    if not (os.path.exists(meta) and os.path.exists(os.path.join(out_dir,
                                                                  "model.keras"))):
        return None
    try:
        with open(meta) as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None  # a run cut off while writing: fine-tune again
    return done if done.get("run_key") == key else None


def finetune(cfg, reference_path, x, y, out_dir, *, make_data=None, curve_data=None,
             progress=print, verbose=0):
    """Fine-tunes the reference per `cfg` on (x, y); saves out_dir/model.keras.

    A finished fine-tuning (out_dir/finetune.json) is reused only under the same
    config, reference weights and data (`_finetune_key`).
    `make_data`: fn(x, y) -> the training set, made only when training runs (the
    DeepFool examples of DeepFool-AT); the key hashes (x, y) it is made from.
    `curve_data`: (x_test, y_test) for the per-epoch accuracy / rho_2 curve.
    Returns the finetune.json dict (config, history, curve, images/s, model_path).
    """
    from tf_advnet import data as data_lib
    from tf_advnet.configs import to_dict
    from tf_advnet.pipelines import common
    from tf_advnet.utils.provenance import write_json

    key = _finetune_key(cfg, reference_path, x, y, curve_data)
    done = _finished_run(out_dir, key)
    if done is not None:
        progress(f"[deepdefense] {out_dir}: already fine-tuned; reusing it")
        return done
    os.makedirs(out_dir, exist_ok=True)
    if make_data is not None:
        x, y = make_data(x, y)
    common.set_seed(cfg.seed)
    bs = cfg.data.batch_size
    steps = -(-len(x) // bs)
    classifier, trainer = _compiled_trainer(cfg, reference_path, steps)
    ds = data_lib.make_dataset(x, y, bs, training=True, seed=cfg.seed)
    timer = StepTimer(bs, images_per_epoch=len(x))
    # exp(d r) of misclassified images can overflow at a large lr: stop at the first
    # NaN loss instead of training a dead model for the remaining epochs.
    callbacks = [keras.callbacks.TerminateOnNaN()]
    recorder = None
    if curve_data is not None:
        recorder = CurveRecorder(classifier, *curve_data, batch_size=cfg.eval.batch_size)
        callbacks.append(recorder)
    progress(f"[deepdefense] fine-tuning {cfg.train.method} {cfg.model.name}: "
             f"{len(x)} images, {cfg.train.epochs} epochs -> {out_dir}")
    t0 = time.time()
    hist = trainer.fit(ds, epochs=cfg.train.epochs, callbacks=timer.around(callbacks),
                       verbose=verbose, shuffle=False)
    wall = time.time() - t0
    model_path = os.path.join(out_dir, "model.keras")
    classifier.save(model_path)
    timing = timer.summary()
    timing["curve_seconds"] = None if recorder is None else round(recorder.seconds, 2)
    done = {"config": json.loads(json.dumps(to_dict(cfg))), "run_key": key,
            "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
            "diverged": not all(math.isfinite(v) for v in hist.history.get("loss", [])),
            "curve": None if recorder is None else recorder.curve,
            "wall_time_s": round(wall, 2),  # the whole fit, curve recording included
            # Warm training steps only, tracing apart (StepTimer).
            "train_images_per_second": reported_images_per_second(
                timing, len(x) * len(hist.epoch), wall),
            "train_timing": timing,
            "model_path": os.path.abspath(model_path)}
    write_json(os.path.join(out_dir, "finetune.json"), done)
    return done


def step_throughput(cfg, reference_path, x, y, *, steps=BENCH_STEPS, progress=None):
    """Images/s of `steps` warm training steps of cfg's trainer from the reference
    (`tf_advnet.utils.timing.time_fit`: one tracing step first)."""
    from tf_advnet.pipelines import common

    if progress:
        progress(f"[deepdefense] timing {steps} {cfg.train.method} steps")
    bs = cfg.data.batch_size
    _, trainer = _compiled_trainer(cfg, reference_path, steps)
    return common.warm_images_per_second(trainer, x, y, bs, steps=steps)


def curve_subset(preset_name, x, y, overrides):
    """The held-out images of the per-epoch curves: the preset's CURVE_LIMIT first
    test images (fewer with a smaller test_limit override)."""
    limit = CURVE_LIMIT[preset_name]
    if (overrides or {}).get("test_limit"):
        limit = min(limit or len(x), overrides["test_limit"])
    return (x, y) if limit is None else (x[:limit], y[:limit])


def table_configs(preset_name, dataset, model, overrides=None, finetune_overrides=None):
    """The reference's config and {method: config} of each fine-tuning of Table 1
    (`FINETUNE_METHODS`), as `reproduce` with the same arguments trains them."""
    ref_cfg = reference_config(dataset, model, preset_name, overrides)
    ft_overrides = dict(overrides or {}, **{k: v for k, v in
                                             (finetune_overrides or {}).items()
                                             if v is not None})
    return ref_cfg, {m: finetune_config(ref_cfg, dataset, m, ft_overrides)
                     for m in FINETUNE_METHODS}


def reproduce(preset_name="cpu", dataset="fashion_mnist", model="mlp", *,
              work_dir="runs/deepdefense",
              results_dir=None, overrides=None, finetune_overrides=None, argv=None,
              progress=print):
    """Reference -> DeepDefense / Parseval / DeepFool-AT / clean fine-tuning -> Table 1.

    Args:
      preset_name: "cpu" or "paper".
      dataset: "mnist_5k" / "fashion_mnist" (cpu; "synthetic" for tests) or
        "mnist" / "cifar10" (paper).
      model: "mlp" | "lenet" (MNIST-like), "convnet" | "nin" (CIFAR-10).
      work_dir: root of the training dirs (<work_dir>/<dataset>/<model>/<method>).
      results_dir: output dir (default results/deepdefense/<dataset>/<model>).
      overrides: flat config overrides applied to the reference and to every
        fine-tuning (e.g. epochs=1, train_limit=256, data_dir=...,
        trainer={"num_iter": 2}: a trainer key applies where the method has it).
      finetune_overrides: flat overrides of the fine-tunings only (e.g.
        epochs=30, learning_rate=5e-4).
      argv: command line recorded in provenance.
      progress: callable for status lines.

    Returns:
      the results dict (also written to deepdefense.json).
    """
    from tf_advnet.configs import to_dict
    from tf_advnet.pipelines import common
    from tf_advnet.papers import deepdefense as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.papers.deepdefense.report import paper_rows
    from tf_advnet.pipelines.train import train
    from tf_advnet.utils.compiled import Twins
    from tf_advnet.utils.provenance import Provenance

    ref_cfg, ft_cfgs = table_configs(preset_name, dataset, model, overrides, finetune_overrides)
    prov = Provenance(seed=ref_cfg.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, dataset, model)
    results_dir = results_dir or os.path.join("results", "deepdefense", dataset, model)
    ref_run = train(ref_cfg, os.path.join(root, "reference"), argv=argv,
                    progress=progress, verbose=2)
    ref_path = ref_run["model_path"]
    x_train, y_train = common.load_split(ref_cfg.data, "train")
    x_test, y_test = common.load_split(ref_cfg.data, "test")
    curve_data = curve_subset(preset_name, x_test, y_test, overrides)

    configs = {"reference": to_dict(ref_cfg)}
    training = {"reference": {
        "epochs": ref_cfg.train.epochs,
        "train_images_per_second": ref_run["train_images_per_second"],
        "trace_steps_seconds": ref_run.get("train_timing", {}).get("trace_steps_seconds"),
        "wall_time_s": ref_run["provenance"]["wall_time_s"]}}
    paths = {"reference": ref_path}
    curves = {}
    for method, cfg in ft_cfgs.items():
        out_dir = os.path.join(root, method)
        make_data = None
        if method == "deepfool_at":
            def make_data(x, y):
                progress("[deepdefense] DeepFool training set from the reference model")
                return make_deepfool_training_set(common.load_keras_model(ref_path), x,
                                                  y, batch_size=ref_cfg.eval.batch_size)
        run = finetune(cfg, ref_path, x_train, y_train, out_dir, make_data=make_data,
                       curve_data=curve_data, progress=progress, verbose=2)
        configs[method] = run["config"]
        training[method] = {"epochs": cfg.train.epochs,
                            "train_images_per_second": run["train_images_per_second"],
                            "wall_time_s": run["wall_time_s"],
                            "trace_steps_seconds": run.get("train_timing", {}).get(
                                "trace_steps_seconds"),
                            "diverged": run.get("diverged", False)}
        if training[method]["diverged"]:
            progress(f"[deepdefense] {method}: the loss became NaN (diverged); its "
                     "metrics and eps_ref are meaningless -- try a smaller "
                     "--finetune_lr")
        paths[method] = run["model_path"]
        curves[method] = run.get("curve")

    # A DeepDefense step against a plain one at the same batch: the warm steps of the
    # DeepDefense and the clean fine-tunings (a run reused from before the timer
    # recorded them is timed again).
    dd_ips, plain_ips = (
        training[m]["train_images_per_second"]
        if training[m]["trace_steps_seconds"] is not None
        else step_throughput(ft_cfgs[m], ref_path, x_train, y_train, progress=progress)
        for m in ("deepdefense", "clean"))

    bs = ref_cfg.eval.batch_size
    evals = {}
    # Each model through its twin: the four share DeepFool's and FGS's compiled graphs.
    twins = Twins()
    progress("[deepdefense] evaluating deepdefense (eps_ref)")
    evals["deepdefense"] = evaluate_model(
        twins(common.load_keras_model(paths["deepdefense"])), x_test, y_test,
        batch_size=bs)
    eps_ref = evals["deepdefense"]["eps_ref"]
    for method in ("reference", "parseval", "deepfool_at"):
        progress(f"[deepdefense] evaluating {method}")
        evals[method] = evaluate_model(twins(common.load_keras_model(paths[method])),
                                       x_test, y_test, eps_ref=eps_ref, batch_size=bs)
    results = {
        "dataset": dataset, "model": model, "architecture": MODELS[model],
        "preset": preset_name, "n_test": int(len(x_test)), "n_train": int(len(x_train)),
        "eps_ref": eps_ref,
        "models": {m: {"label": METHOD_LABELS[m], "metrics": evals[m],
                       "training": training[m], "model_path": paths[m]}
                   for m in METHODS},
        "configs": configs,
        "curves": {"n_test": int(len(curve_data[0])), "rho_iters": 50,
                   "methods": {m: curves[m] for m in FINETUNE_METHODS}},
        "clean_finetune": {"training": training["clean"], "model_path": paths["clean"]},
        "model_paths": paths,
        "step_throughput": {
            "batch_size": ft_cfgs["deepdefense"].data.batch_size,
            "deepdefense_images_per_second": dd_ips,
            "plain_images_per_second": plain_ips,
            "slowdown": (plain_ips / dd_ips if dd_ips and math.isfinite(dd_ips)
                         else None)},
        "paper": paper_rows(dataset, model),
    }
    results["provenance"] = prov.finish()
    return finish(study_module, results, results_dir)


