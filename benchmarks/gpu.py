"""Training-step throughput on one GPU, XLA and mixed precision on and off, PGD's loop
overhead on the GPU, and our PGD against cleverhans'.

A script, not a test; `benchmarks/gpu.sh` runs it. On Fashion-MNIST (28x28x1, read from
`--data_dir`: nothing is downloaded) with the suite's `small_cnn` it records, for every
(method, XLA, mixed precision) cell:

- methods: standard (`StandardTrainer`), PGD-7 AT (`PGDATTrainer`, eps 0.1, step eps/4,
  the main job's), BAT (`BATTrainer`, R-MC-LA, beta 9, one step), L2L-DA
  (`L2LDATrainer`, T = 10 generator steps, eps 0.1) and DeepDefense
  (`DeepDefenseTrainer`, u = 5 DeepFool steps);
- XLA: `trainer.compile(jit_compile=True/False)` (Keras compiles `train_step` with it);
- mixed precision: the classifier is built under Keras' `"mixed_float16"` policy
  (float16 compute, float32 variables); the trainers cast its logits to float32 before
  every loss and every attack (`trainers.base.float32_logits`), so attacks and losses
  run in float32. There is no loss scaling: the trainers' own `train_step`s apply
  unscaled gradients, and the trainer is built under the float32 policy so that Keras
  does not wrap its optimiser in a `LossScaleOptimizer` that would unscale them. This
  measures speed, not convergence.

Each cell runs `trainer.fit` for `--steps` + 2 batches; a callback reads the loss at the
end of every batch (which waits for the device) and the cell reports the first batch's
time (tracing and compilation) and images/s over the median of the last `--steps`.

Then, on the standard model: `tf_advnet.attacks.pgd` with k = 10, 40 steps against k
compiled input-gradient passes (and PGD-10 inside `tf.function(jit_compile=True)`),
and PGD-40 against cleverhans 4.0.0's `projected_gradient_descent` (same settings,
interleaved), as in benchmarks/attacks.py.

Every cell is written to the JSON as soon as it is measured, with provenance (command,
commit, seed, library versions, GPU); a cell that fails (e.g. an op XLA cannot compile)
records its error and the run goes on; cells that would start after `--budget_s` are
recorded as skipped. `--dry_run` runs every code path on the CPU in seconds (batch 8,
one timed step, synthetic data when the IDX files are absent) and writes to a
temporary file unless `--out` is given.

Usage:

```
.venv/bin/python benchmarks/gpu.py --data_dir=/usr/share/datasets/fashion-mnist
.venv/bin/python benchmarks/gpu.py --dry_run
```

`--data_dir` is either a folder holding `fashion_mnist/` or the folder of the IDX files
themselves (e.g. the Debian package's /usr/share/datasets/fashion-mnist).
"""

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

METHODS = ("standard", "pgd_at", "bat", "l2lda", "deepdefense")
EPS = 0.1


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=None,
                   help="folder with fashion_mnist/ or with the IDX files themselves "
                        "(default: $TF_ADVNET_DATA, then the Debian copy)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--xla", default="off,on", help="off, on or off,on")
    p.add_argument("--mixed_precision", default="off,on", help="off, on or off,on")
    p.add_argument("--batch", type=int, default=None, help="default 256; dry run 8")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per cell (default 20; dry run 1)")
    p.add_argument("--repeats", type=int, default=None,
                   help="attack timing repeats (default 5; dry run 1)")
    p.add_argument("--budget_s", type=float, default=330.0,
                   help="no new cell starts after this many seconds (dry run: none)")
    p.add_argument("--dry_run", action="store_true",
                   help="every code path on the CPU in seconds")
    p.add_argument("--allow_cpu", action="store_true",
                   help="run the full benchmark although no GPU is visible")
    p.add_argument("--out", default=None,
                   help="JSON path (default results/benchmarks/gpu_<device>.json)")
    args = p.parse_args(argv)
    for flag in ("xla", "mixed_precision"):
        values = getattr(args, flag).split(",")
        if not values or any(v not in ("off", "on") for v in values):
            p.error(f"--{flag}: expected off, on or off,on; got {getattr(args, flag)!r}")
        setattr(args, flag, [v == "on" for v in values])
    args.methods = args.methods.split(",")
    bad = [m for m in args.methods if m not in METHODS]
    if bad:
        p.error(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
    args.batch = args.batch or (8 if args.dry_run else 256)
    args.steps = args.steps or (1 if args.dry_run else 20)
    args.repeats = args.repeats or (1 if args.dry_run else 5)
    return args


def _load(data_dir, n_train, n_test, allow_synthetic):
    from tf_advnet import data

    os.environ.setdefault("TF_ADVNET_ALLOW_DOWNLOAD", "0")  # never download here
    candidates = [None]  # $TF_ADVNET_DATA, then the Debian copy
    if data_dir:
        d = os.path.abspath(os.path.expanduser(data_dir))
        if os.path.basename(d) == "fashion_mnist":
            candidates = [os.path.dirname(d)]
        else:
            # d holds fashion_mnist/, or the IDX files themselves (linked as
            # <tmp>/fashion_mnist, where data.load looks).
            link_root = tempfile.mkdtemp(prefix="gpu_bench_data_")
            os.symlink(d, os.path.join(link_root, "fashion_mnist"))
            candidates = [d, link_root]
    errors = []
    for d in candidates:
        try:
            x_tr, y_tr = data.load("fashion_mnist", "train", data_dir=d, limit=n_train)
            x_te, y_te = data.load("fashion_mnist", "test", data_dir=d, limit=n_test)
            return x_tr, y_tr.astype("int32"), x_te, y_te.astype("int32"), "fashion_mnist"
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(f"{d}: {err}")
    if not allow_synthetic:
        raise SystemExit("Fashion-MNIST not found (" + "; ".join(errors) + "). Pass "
                         "--data_dir; on the device machine carry the IDX files (see "
                         "benchmarks/README.md, GPU).")
    x_tr, y_tr = data.make_synthetic(n_train, split="train")
    x_te, y_te = data.make_synthetic(n_test, split="test")
    return x_tr, y_tr.astype("int32"), x_te, y_te.astype("int32"), "synthetic"


def _build(method, mixed, small=False):
    import keras

    from tf_advnet.models import build_model
    from tf_advnet.trainers.bat import BATTrainer
    from tf_advnet.trainers.deepdefense import DeepDefenseTrainer
    from tf_advnet.trainers.l2lda import L2LDATrainer
    from tf_advnet.trainers.pgd_at import PGDATTrainer
    from tf_advnet.trainers.standard import StandardTrainer

    keras.utils.set_random_seed(0)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed else "float32")
    try:
        clf = build_model("small_cnn", (28, 28, 1), 10)
    finally:
        keras.config.set_dtype_policy(policy)
    if method == "standard":
        return StandardTrainer(clf)
    if method == "pgd_at":
        return PGDATTrainer(clf, eps=EPS, num_steps=7, step_size=EPS / 4)
    if method == "bat":
        return BATTrainer(clf, variant="R-MC-LA", eps=EPS, beta=9.0, seed=0)
    if method == "l2lda":
        return L2LDATrainer(clf, eps=EPS, num_steps=1 if small else 10)
    return DeepDefenseTrainer(clf, num_iter=1 if small else 5)


def _time_cell(method, xla, mixed, x, y, batch, steps, small):
    import keras
    import tensorflow as tf

    trainer = _build(method, mixed, small)
    if method == "l2lda":
        trainer.compile(jit_compile=xla)
    else:
        trainer.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                        jit_compile=xla)
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).repeat()
          .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    stamps = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch_index, logs=None):
            if batch_index == 0:
                stamps.append(time.perf_counter())

        def on_train_batch_end(self, batch_index, logs=None):
            float(next(iter(logs.values())))  # waits for the device
            stamps.append(time.perf_counter())

    hist = trainer.fit(ds, epochs=1, steps_per_epoch=steps + 2, verbose=0,
                       callbacks=[Clock()])
    per_step = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
    timed = per_step[2:]
    median = statistics.median(timed)
    return {"first_step_s": per_step[0], "median_step_s": median,
            "images_per_s": batch / median, "steps_s": timed,
            "final_logs": {k: float(v[-1]) for k, v in hist.history.items()},
            "classifier_compute_dtype": trainer.classifier.compute_dtype}


def _attacks(trainer, x, y, repeats, dry_run):
    """PGD-k over k input-gradient passes (and under XLA); ours vs cleverhans PGD-40."""
    import numpy as np
    import tensorflow as tf

    from benchmarks.attacks import _compare, bench_overhead
    from tf_advnet.attacks.pgd import pgd

    model_fn = trainer.classifier_fn
    x, y = tf.constant(x), tf.constant(y)
    out = {"overhead": bench_overhead(model_fn, x, y, repeats, EPS, with_xla=True)}
    try:
        from cleverhans.tf2.attacks.projected_gradient_descent import (
            projected_gradient_descent as ch_pgd)
    except ImportError as err:
        out["vs_cleverhans_pgd40"] = {"skipped": f"cleverhans not importable: {err}"}
        return out
    k = 2 if dry_run else 40
    step = EPS / 10
    fns = {"ours": lambda: pgd(model_fn, x, y, eps=EPS, step_size=step, num_steps=k,
                               seed=0),
           "cleverhans": lambda: ch_pgd(model_fn, x, EPS, step, k, np.inf, clip_min=0.0,
                                        clip_max=1.0, y=y, rand_init=True)}
    out[f"vs_cleverhans_pgd{k}"] = _compare(fns, repeats, model_fn, y)
    return out


def _device_name():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu", None
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", "gpu")
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"), details


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    import keras

    from tf_advnet.utils.provenance import Provenance

    prov = Provenance(seed=0, preset="dry_run" if args.dry_run else "gpu",
                      argv=["benchmarks/gpu.py"] + list(argv))
    tag, details = _device_name()
    if details is None and not (args.dry_run or args.allow_cpu):
        raise SystemExit("No GPU visible to TensorFlow: install the CUDA build "
                         "(pip install 'tensorflow[and-cuda]==2.21.0'), or pass "
                         "--dry_run / --allow_cpu.")
    out_path = args.out or (os.path.join(tempfile.gettempdir(), "gpu_dry_run.json")
                            if args.dry_run else
                            os.path.join(_ROOT, "results", "benchmarks", f"gpu_{tag}.json"))
    n_train = max(args.batch * (args.steps + 2), 512 if args.dry_run else 4096)
    x_tr, y_tr, x_te, y_te, data_name = _load(args.data_dir, n_train, args.batch,
                                              allow_synthetic=args.dry_run)
    res = {"benchmark": "gpu", "dry_run": args.dry_run, "device": tag,
           "device_details": details, "data": data_name, "model": "small_cnn",
           "batch": args.batch, "timed_steps": args.steps, "eps": EPS, "cells": [],
           "date": datetime.datetime.now().isoformat()}

    def write():
        res["provenance"] = prov.finish()
        res["elapsed_s"] = time.perf_counter() - start
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        with open(out_path + ".tmp", "w") as fh:
            json.dump(res, fh, indent=1)
        os.replace(out_path + ".tmp", out_path)

    # The attacks first (short), then the cells in priority order: every method
    # without XLA in float32 first, so a budget cut loses the least informative ones.
    try:
        trainer = _build("standard", False)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
        trainer.fit(x_tr, y_tr, batch_size=args.batch, epochs=1, verbose=0)
        res["attacks"] = _attacks(trainer, x_te, y_te, args.repeats, args.dry_run)
    except Exception as err:  # noqa: BLE001 - recorded, the run goes on
        res["attacks"] = {"error": f"{type(err).__name__}: {str(err)[:500]}"}
    print(json.dumps(res["attacks"])[:2000], flush=True)
    write()
    if args.dry_run:
        # Every code path once: each method plain (L2L-DA with T = 1, DeepDefense
        # with u = 1), XLA on one cell, mixed precision on two.
        cells = [(m, False, False) for m in args.methods]
        cells += [("standard", True, False), ("bat", False, True),
                  ("deepdefense", False, True)]
    else:
        cells = sorted(((m, xla, mp) for xla in args.xla for mp in args.mixed_precision
                        for m in args.methods), key=lambda c: (c[1], c[2]))
    for method, xla, mixed in cells:
        cell = {"method": method, "xla": xla, "mixed_precision": mixed}
        if not args.dry_run and time.perf_counter() - start > args.budget_s:
            cell["skipped"] = "budget"
        else:
            t0 = time.perf_counter()
            try:
                cell.update(_time_cell(method, xla, mixed, x_tr, y_tr, args.batch,
                                       args.steps, small=args.dry_run))
            except Exception as err:  # noqa: BLE001 - recorded, the run goes on
                cell["error"] = f"{type(err).__name__}: {str(err)[:500]}"
            cell["wall_s"] = time.perf_counter() - t0
            keras.backend.clear_session()
        res["cells"].append(cell)
        print(json.dumps({k: v for k, v in cell.items() if k != "steps_s"}), flush=True)
        base = {c["method"]: c["images_per_s"] for c in res["cells"]
                if "images_per_s" in c and not c["xla"] and not c["mixed_precision"]}
        for c in res["cells"]:
            if "images_per_s" in c and c["method"] in base:
                c["x_float32_no_xla"] = c["images_per_s"] / base[c["method"]]
        write()
    write()
    print(f"wrote {out_path} in {time.perf_counter() - start:.0f} s")
    return res


if __name__ == "__main__":
    main()
