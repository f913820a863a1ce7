"""Pieces shared by the run entry points: data, strategy, model loading."""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from tf_advnet import data as data_lib
from tf_advnet.errors import CheckpointError, UserError, check_choice

from tf_advnet.configs.base import STRATEGIES  # noqa: E402


def set_seed(seed):
    keras.utils.set_random_seed(seed)


def get_strategy(name):
    """The `tf.distribute` strategy of `--strategy=name` (one of STRATEGIES).

    default: the current strategy (one device).
    mirrored: `MirroredStrategy` over all local GPUs (or the CPU).
    multi_worker: `MultiWorkerMirroredStrategy` over the cluster described by the
      TF_CONFIG environment variable; every worker runs the same command (BUILD.md,
      "On several machines"). It configures collective ops, so it must be made
      before any other TensorFlow op runs in the process.
    tpu: `TPUStrategy` over the TPU that `TPUClusterResolver` finds ($TPU_NAME, or
      the TPU VM / Colab runtime it runs on). Not tested in this repository.

    Raises:
      UserError: an unknown name, TF_CONFIG missing or malformed, no TPU found.
    """
    check_choice("strategy", name, STRATEGIES)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _check_tf_config()
        return _MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=os.environ.get("TPU_NAME", ""))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:
            raise UserError(f"--strategy=tpu: no TPU found ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}); set TPU_NAME "
                            "or run on a TPU VM") from None
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with the `reduce` that Keras 3's `fit` expects.

    Keras 3 (keras-team/keras#20585) calls `strategy.reduce` in two ways that
    MultiWorkerMirroredStrategy rejects: on the whole (x, y) batch at once, to build
    the model, and with axis=0 on each scalar metric of a step. This reduces leaf
    by leaf (as MirroredStrategy does) and a scalar across replicas only (there is
    no axis 0 to reduce along), so `fit` runs with its usual results.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def leaf(v):
            local = self.experimental_local_results(v)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return parent.reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(leaf, value)


def _check_tf_config():
    """TF_CONFIG must name a cluster with this process's task in it."""
    import json

    raw = os.environ.get("TF_CONFIG")
    hint = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\' (BUILD.md, "On several machines")')
    if not raw:
        raise UserError("--strategy=multi_worker reads the cluster from the TF_CONFIG "
                        f"environment variable, which is not set; {hint}")
    try:
        cfg = json.loads(raw)
        task = cfg["task"]
        hosts = cfg["cluster"][task["type"]]
        ok = 0 <= int(task["index"]) < len(hosts)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(f"TF_CONFIG={raw!r} is not a cluster with this task in it; {hint}")


def shard_by_data(dataset):
    """`dataset` with tf.data's DATA auto-shard policy (see `train`)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)


def task_dir(strategy, work_dir):
    """Where this process writes a run's files: `work_dir` on one machine and on the
    chief of a cluster; `work_dir/workers/<type>_<index>` on the other workers, so
    workers that share a file system never write the same file. (Every worker
    keeps its own backup, and all of them resume from the same step.)"""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return work_dir
    task_id = int(resolver.task_id or 0)
    jobs = resolver.cluster_spec().as_dict()
    if task_type == "chief" or (task_type == "worker" and task_id == 0
                                and "chief" not in jobs):
        return work_dir
    return os.path.join(work_dir, "workers", f"{task_type}_{task_id}")


def load_split(data_config, split):
    """Loads (x, y) for a split, applying the config's limit; checks finiteness."""
    limit = data_config.train_limit if split == "train" else data_config.test_limit
    x, y = data_lib.load(data_config.dataset, split, data_dir=data_config.data_dir,
                         limit=limit,
                         svhn_extra=data_config.svhn_extra if split == "train" else 0)
    data_lib.check_finite(x, f"{data_config.dataset}/{split} images")
    return x, y


def load_keras_model(path):
    """Loads a saved `.keras` classifier with a one-line error if missing/corrupt."""
    if not path:
        raise UserError("--model_path is required: a .keras file written by "
                        "tf-advnet train")
    from tf_advnet.models.registry import load_model

    return load_model(path, hint=" (train one with tf-advnet train, which writes "
                                 "<work_dir>/model.keras)")


def _readable_h5(path):
    try:
        import h5py

        with h5py.File(path, "r") as f:
            f.keys()
        return True
    except Exception:
        return False


def check_backup(backup_dir, progress=print, *, key=None):
    """Checks a resumable backup before training resumes from it.

    A corrupt `latest.weights.h5` is replaced by the previous backup when that one
    is readable (one epoch or `backup_every` steps are redone); otherwise a
    CheckpointError says what to delete. Then a backup resumes only under the run
    key it was written for (`key`, see `runs.train.run_key`): one written under
    another config, other data or another initial model is deleted and training
    starts over.

    Returns whether training will resume from a backup.
    """
    latest = os.path.join(backup_dir, "latest.weights.h5")
    if os.path.exists(latest) and not _readable_h5(latest):
        meta = os.path.join(backup_dir, "training_metadata.json")
        if not _readable_h5(latest + ".bkp"):
            raise CheckpointError(
                f"checkpoint {latest} is corrupt; delete it (and {meta}) to restart "
                "training from scratch, or start with a new --out_dir")
        progress(f"[train] {latest} is corrupt; resuming from the previous backup")
        shutil.copyfile(latest + ".bkp", latest)
        if os.path.exists(meta + ".bkp"):
            shutil.copyfile(meta + ".bkp", meta)
    if key is None:
        return os.path.exists(latest)
    key_path = os.path.join(backup_dir, "run_key.txt")
    if os.path.isdir(backup_dir) and os.listdir(backup_dir):
        written = None
        if os.path.exists(key_path):
            with open(key_path) as f:
                written = f.read().strip()
        if written != key:
            progress(f"[train] {backup_dir} was written by another run (config, data "
                     "or initial model differ); starting over")
            shutil.rmtree(backup_dir)
    os.makedirs(backup_dir, exist_ok=True)
    with open(key_path, "w") as f:
        f.write(key)
    return os.path.exists(latest)


def images_per_second(n_images, seconds):
    return float(n_images / seconds) if seconds > 0 else float("nan")


def warm_images_per_second(trainer, x, y, batch_size, *, steps=None):
    """Training images/s of a compiled trainer on (x, y): one tracing step, then
    `steps` (default one pass over x) warm steps timed by
    `tf_advnet.utils.timing.StepTimer`."""
    from tf_advnet.utils.timing import time_fit

    steps = steps or -(-len(x) // batch_size)
    return time_fit(trainer, x, y, batch_size=batch_size, steps=steps)["images_per_second"]


def num_classes_and_shape(x, dataset):
    info = data_lib.info(dataset)
    return info.num_classes, tuple(np.shape(x)[1:])
