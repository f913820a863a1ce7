"""Train one classifier with `model.fit`: checkpoints, resume, provenance.

`train(config, work_dir)` is what `tf-advnet train` calls. The run
- shows a progress bar (Keras) and writes TensorBoard logs to work_dir/tensorboard
  (losses, metrics and each optimiser's learning rate per epoch; for a defence with
  a generator also its perturbations of 8 test images, `trainers.callbacks`);
- keeps a resumable backup (weights, optimizer state, epoch) in work_dir/backup,
  updated every `backup_every` steps and at each epoch's end: kill the run and start
  the same command again, it continues from there;
- writes a checkpoint per epoch to work_dir/checkpoints/;
- saves the classifier as work_dir/model.keras and work_dir/train_results.json
  (config, history, final metrics, warm-step images/s from
  `tf_advnet.utils.timing.StepTimer` with the tracing steps apart, provenance).
A finished run with the same config is not trained again.
"""

import csv
import json
import os
import time

import keras
import numpy as np

from tf_advnet import data as data_lib
from tf_advnet import models as models_lib
from tf_advnet import trainers as trainers_lib
from tf_advnet.configs import key_dict, to_dict
from tf_advnet.pipelines import common
from tf_advnet.trainers.callbacks import (LearningRates, PerturbationImages,
                                          RobustAccuracy)
from tf_advnet.utils.provenance import Provenance, write_json
from tf_advnet.utils.timing import StepTimer, reported_images_per_second


class _Backup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that saves every `save_freq` steps AND at each epoch end.

    Keras's callback does one or the other; a long epoch needs the first and a
    finished epoch the second, so an interruption loses at most `save_freq` steps.
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()


def _clip(train_cfg):
    """Optimiser kwargs of the config's global gradient-norm clip (none when None)."""
    return {} if train_cfg.clipnorm is None else {"global_clipnorm": train_cfg.clipnorm}


def _optimizer(train_cfg, steps_per_epoch):
    """D's optimiser of the config: SGD (momentum) or Adam, with its LR schedule."""
    lr = train_cfg.learning_rate
    clip = _clip(train_cfg)
    if train_cfg.lr_boundaries:
        bounds = [int(b * steps_per_epoch) for b in train_cfg.lr_boundaries]
        values = [lr * train_cfg.lr_factor ** i for i in range(len(bounds) + 1)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    if train_cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=train_cfg.momentum, **clip)
    return keras.optimizers.Adam(lr, **clip)


def build_classifier(config, input_shape, num_classes, x_train=None):
    """The classifier of `config.model`, mapping `width` to each model's own knob
    and `input_units` to `input_mean` / `input_scale` (the mean from `x_train`)."""
    from tf_advnet.errors import UserError

    kwargs = {}
    accepted = models_lib.model_kwargs(config.model.name)
    width = config.model.width
    if width is not None:
        if "width" in accepted:
            kwargs["width"] = width
        elif "widen_factor" in accepted:
            kwargs["widen_factor"] = int(round(width))
        elif "nb_filters" in accepted:
            kwargs["nb_filters"] = max(1, int(round(64 * width)))
        else:
            raise UserError(f"--width: model {config.model.name!r} has no width option")
    if config.model.variant is not None:
        if "variant" not in accepted:
            raise UserError(f"--variant: model {config.model.name!r} has no variants")
        kwargs["variant"] = config.model.variant
    if config.model.input_units == "pixel_mean_255":
        if "input_mean" not in accepted:
            raise UserError(f"--input_units: model {config.model.name!r} takes [0, 1] "
                            "pixels only")
        if x_train is None:
            raise UserError("--input_units=pixel_mean_255 needs the training images "
                            "(their per-pixel mean)")
        kwargs.update(input_mean=np.mean(x_train, axis=0), input_scale=255.0)
    return models_lib.build_model(config.model.name, input_shape, num_classes, **kwargs)


def _init_from(classifier, path):
    """Copies the weights of the .keras classifier at `path` (--init_model)."""
    from tf_advnet.errors import CheckpointError

    if not os.path.exists(path):
        raise CheckpointError(f"--init_model={path}: no such file (a .keras classifier, "
                              "e.g. <work_dir>/model.keras of a standard run)")
    source = common.load_keras_model(path)
    try:
        classifier.set_weights(source.get_weights())
    except ValueError:
        raise CheckpointError(f"--init_model={path} does not fit --model="
                              f"{classifier.name} (different architecture)") from None


def build_trainer(config, classifier, steps_per_epoch=1):
    """The trainer of `config.train`: its method's `Config.build`
    (`tf_advnet.trainers.registry`) with the shared fields and the run's seed."""
    return trainers_lib.build_from_config(config.train, classifier, seed=config.seed,
                                          steps_per_epoch=steps_per_epoch)


def compile_trainer(trainer, config, steps_per_epoch):
    """Compiles `trainer` with config's optimiser, plus what its method's
    `Config.optimizers` adds (a generator's own optimiser)."""
    def make():
        return _optimizer(config.train, steps_per_epoch)

    t = config.train
    trainer.compile(optimizer=make(), **t.trainer.optimizers(t, make))
    return trainer


def _generator_images(trainer, config, x_test, y_test, log_dir):
    """PerturbationImages of the first 8 test images for a trainer with a generator
    (adversarial networks, L2L-DA, PGN); nothing for the others."""
    if not hasattr(trainer, "generated_perturbation"):
        return []
    kw = config.train.trainer.image_kwargs(config.data.batch_size)
    return [PerturbationImages(x_test[:8], y_test[:8], log_dir, **kw)]


def run_key(config, data):
    """The fingerprint of a training run: its config, its data's contents and the
    contents of the models it reads (`init_model`, its trainer's `model_files`), so a changed
    data file or a retrained model it depends on trains it again
    (`tf_advnet.store`)."""
    from tf_advnet.store import fingerprint, fingerprint_file

    def content(path):
        return fingerprint_file(path) if path and os.path.exists(path) else path

    t = config.train
    return fingerprint(config=key_dict(config), data=data,
                       init_model=content(t.init_model),
                       model_files=[content(p) for p in t.trainer.model_files()])


def train(config, work_dir, *, strategy="default", backup_every=200, verbose="auto",
          argv=None, progress=print, callbacks=()):
    """Trains per `config`; returns the results dict (also written to JSON).

    Args:
      config: a validated `ExperimentConfig`.
      work_dir: directory for model, checkpoints, backup, logs and results.
      strategy: a name of `tf_advnet.configs.base.STRATEGIES` ("default",
        "mirrored", "multi_worker", "tpu"; see `common.get_strategy`). Workers other
        than the chief of a multi-worker run write under work_dir/workers/.
      backup_every: steps between mid-epoch backups (0 = only at epoch end).
      verbose: passed to `model.fit` ("auto": progress bar on a terminal).
      argv: command line recorded in provenance (default sys.argv).
      progress: callable for status lines.
      callbacks: extra Keras callbacks, run before the loggers, so what they add to
        an epoch's logs (`callbacks.RobustAccuracy`) lands in the history.
    """
    config.validate()
    # First: MultiWorkerMirroredStrategy must exist before any other TF op runs.
    strat = common.get_strategy(strategy)
    work_dir = common.task_dir(strat, work_dir)
    os.makedirs(work_dir, exist_ok=True)
    results_path = os.path.join(work_dir, "train_results.json")
    model_path = os.path.join(work_dir, "model.keras")
    x_train, y_train = common.load_split(config.data, "train")
    x_test, y_test = common.load_split(config.data, "test")
    key = run_key(config, (x_train, y_train, x_test, y_test))
    if os.path.exists(results_path) and os.path.exists(model_path):
        try:
            with open(results_path) as f:
                done = json.load(f)
        except (OSError, ValueError):
            done = {}  # cut off while writing: train again
        if done.get("run_key") == key:
            progress(f"[train] {work_dir}: already trained with this config and data; "
                     "reusing it")
            done["history"] = full_history(work_dir, config.train.epochs, done["history"])
            return done

    prov = Provenance(seed=config.seed, preset=config.preset, argv=argv)
    common.set_seed(config.seed)
    num_classes = data_lib.info(config.data.dataset).num_classes
    input_shape = tuple(x_train.shape[1:])
    train_ds = data_lib.make_dataset(x_train, y_train, config.data.batch_size,
                                     training=True, seed=config.seed,
                                     augment=config.data.augment)
    test_ds = data_lib.make_dataset(x_test, y_test, config.eval.batch_size,
                                    training=False)
    steps_per_epoch = -(-len(x_train) // config.data.batch_size)
    if strat.num_replicas_in_sync > 1:
        # Arrays have no files to shard by: each worker takes its part of every
        # global batch (what AUTO falls back to, after a warning).
        train_ds, test_ds = (common.shard_by_data(ds) for ds in (train_ds, test_ds))

    with strat.scope():
        classifier = build_classifier(config, input_shape, num_classes, x_train)
        if config.train.init_model:
            _init_from(classifier, config.train.init_model)
        trainer = build_trainer(config, classifier, steps_per_epoch)
        compile_trainer(trainer, config, steps_per_epoch)
        trainer(x_train[:2], training=False)  # build, so backups can be restored

    backup_dir = os.path.join(work_dir, "backup")
    resuming = common.check_backup(backup_dir, progress, key=key)
    csv_path = os.path.join(work_dir, HISTORY_CSV)
    if not resuming and os.path.exists(csv_path):
        os.remove(csv_path)  # a fresh start: an earlier run's log is not this run's
    ckpt_dir = os.path.join(work_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    tb_dir = os.path.join(work_dir, "tensorboard")
    # Before TensorBoard and CSVLogger: they write the learning rates it adds.
    callbacks = [
        LearningRates(),
        *_generator_images(trainer, config, x_test, y_test, tb_dir),
        _Backup(backup_dir, save_freq=backup_every or "epoch", double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            os.path.join(ckpt_dir, "epoch{epoch:03d}.weights.h5"),
            save_weights_only=True),
        # After the backups (an epoch is saved before a callback can stop the run),
        # before the loggers, which write what the callbacks add to the logs.
        *callbacks,
        keras.callbacks.TensorBoard(tb_dir),
        keras.callbacks.CSVLogger(csv_path, append=True),
    ]
    progress(f"[train] {config.train.method} {config.model.name} on "
             f"{config.data.dataset}: {len(x_train)} images, {config.train.epochs} "
             f"epochs, {strat.num_replicas_in_sync} replica(s) -> {work_dir}")
    timer = StepTimer(config.data.batch_size, images_per_epoch=len(x_train))
    t0 = time.time()
    history = trainer.fit(train_ds, epochs=config.train.epochs, validation_data=test_ds,
                          callbacks=timer.around(callbacks), verbose=verbose,
                          shuffle=False)
    seconds = time.time() - t0
    epochs_run = len(history.epoch)
    timing = timer.summary()
    timing["fit_seconds"] = round(seconds, 2)
    if trainer.ema_decay is not None:
        trainer.swap_ema_weights()  # PGN's code evaluates and saves the EMA weights
    final = trainer.evaluate(test_ds, verbose=0, return_dict=True)
    classifier.save(model_path)
    if hasattr(trainer, "generator"):  # PGN, advnet, L2L-DA: the generator is an attack
        trainer.generator.save(os.path.join(work_dir, "generator.keras"))
    results = {
        "config": to_dict(config),
        "run_key": key,
        "strategy": strategy,
        "replicas": strat.num_replicas_in_sync,
        "history": full_history(
            work_dir, config.train.epochs,
            {k: [float(v) for v in vs] for k, vs in history.history.items()}),
        "epochs_run_this_invocation": epochs_run,
        "test_clean_acc": float(final["clean_acc"]),
        # Warm training steps only (no tracing, validation, checkpoints or logging).
        "train_images_per_second": reported_images_per_second(
            timing, epochs_run * len(x_train), seconds),
        "train_timing": timing,
        "model_path": os.path.abspath(model_path),
        "provenance": prov.finish(),
    }
    write_json(results_path, results)
    progress(f"[train] done: clean test accuracy {final['clean_acc']:.4f}, "
             f"{results['train_images_per_second']:.0f} images/s")
    return results


def _timed_trainer(config, x, y, steps):
    """A compiled trainer of `config` on a fresh classifier (seeded by the config)
    and the first min(len(x), batch x steps) images it is timed on."""
    n = min(len(x), config.data.batch_size * steps)
    common.set_seed(config.seed)
    clf = build_classifier(config, tuple(x.shape[1:]), int(y.max()) + 1, x)
    return compile_trainer(build_trainer(config, clf, steps), config, steps), x[:n], y[:n]


def step_images_per_second(config, x, y, *, steps):
    """Training images/s of `config`'s trainer on a fresh classifier: `steps` warm
    steps (after one that traces) on the first min(len(x), batch x steps) images,
    cycled (`common.warm_images_per_second`). BAT times its models back to back with
    it, so a cost comparison does not depend on what else the machine ran during
    each training; `interleaved_images_per_second` also spreads the load of the
    timing itself over every method."""
    trainer, xs, ys = _timed_trainer(config, x, y, steps)
    return common.warm_images_per_second(trainer, xs, ys, config.data.batch_size,
                                         steps=steps)


def interleaved_images_per_second(configs, x, y, *, steps, rounds):
    """Training images/s of each trainer of `configs` ({name: config}), each on a
    fresh classifier, timed in interleaved rounds as benchmarks/advnet_hvp.py times
    its modes: every trainer is built and traced first, then each round times
    `steps` warm steps of every trainer in turn (`utils.timing.time_fit`, one
    untimed step first, on the first min(len(x), batch x steps) images, cycled).
    A change in the machine's load during the timing then hits every method in the
    same round alike, and the median over rounds drops a round that one hit.

    Returns {"images_per_second": {name: median over rounds}, "rounds": {name: [one
    images/s per round]}, "steps": steps}.
    """
    import statistics

    from tf_advnet.utils.timing import time_fit

    if int(rounds) < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    timed = {name: _timed_trainer(cfg, x, y, steps) + (cfg.data.batch_size,)
             for name, cfg in configs.items()}
    for trainer, xs, ys, bs in timed.values():
        time_fit(trainer, xs, ys, batch_size=bs, steps=1)  # traces the train step
    per_round = {name: [] for name in timed}
    for _ in range(int(rounds)):
        for name, (trainer, xs, ys, bs) in timed.items():
            per_round[name].append(
                time_fit(trainer, xs, ys, batch_size=bs, steps=steps)["images_per_second"])
    return {"images_per_second": {n: statistics.median(v) for n, v in per_round.items()},
            "rounds": per_round, "steps": int(steps)}


HISTORY_CSV = "history.csv"


def full_history(work_dir, epochs, fallback):
    """Every epoch's logs of a finished run: its history.csv, which a resumed run
    appends to (an epoch logged twice, redone after an interruption, keeps its last
    row), when that file holds exactly epochs 0..epochs-1; else `fallback` (the logs
    of one `fit` call, the epochs of one invocation only)."""
    path = os.path.join(work_dir, HISTORY_CSV)
    if not os.path.exists(path):
        return fallback
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows[int(row.pop("epoch"))] = row
            except (KeyError, TypeError, ValueError):
                return fallback
    if sorted(rows) != list(range(epochs)):
        return fallback
    keys = list(fallback) or [k for k in rows[0] if k]
    try:
        return {k: [float(rows[e][k]) for e in range(epochs)] for k in keys}
    except (KeyError, TypeError, ValueError):  # a key some epoch did not log
        return fallback


CURVE_LIMIT = 200  # held-out images of a long run's per-epoch robust-accuracy curve


def curve_callbacks(cfg, attack, *, eps_l2=None, limit=CURVE_LIMIT):
    """The `train(..., callbacks=...)` of a run that records its robust-accuracy
    curve: `trainers.callbacks.RobustAccuracy` under `attack` (a spec, e.g. "pgd10",
    at the config's eval eps) on the last `limit` test images, logged as
    "val_<attack>_acc" after every epoch (the curves of the long presets and of
    `papers._diagnostics.run_arms`); `eps_l2` is an L2 attack's budget. () for
    attack None."""
    if attack is None:
        return ()
    from tf_advnet.attacks.registry import parse_attack

    x, y = common.load_split(cfg.data, "test")
    return [RobustAccuracy(x[-limit:], y[-limit:],
                           parse_attack(attack, eps=cfg.eval.eps, eps_l2=eps_l2),
                           name=curve_key(attack), batch_size=cfg.eval.batch_size)]


def curve_key(attack):
    """The history key of `curve_callbacks`' curve under `attack` ("val_pgd10_acc")."""
    return f"val_{attack.split(':')[0]}_acc"


def curve_of(run, attack):
    """The per-epoch robust-accuracy curve a `train` result recorded under `attack`
    (None without one)."""
    return None if attack is None else run["history"].get(curve_key(attack))
