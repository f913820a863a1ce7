"""Attack and adversarial-training speed on CPU: ours vs. cleverhans 4.0.0.

A script, not a test. One run measures, on one small CNN (Wang & Yu's MNIST
discriminator D1, conv32-conv64-dense, via `tf_advnet.models.build_model`)
and one batch of 28x28x1 images:

(a) loop overhead: time(PGD-k) / (k * time(one forward+backward input-gradient
    pass)) for k in {10, 40}; target <= 1.15;
(b) ours vs. cleverhans: time ratio for PGD-40, MIM-10 and C&W-L2; target
    <= 0.85 on CPU. Cleverhans' C&W needs a minimal Keras 3 patch (below);
(c) training throughput (images/s): a plain standard step and a PGD-7
    adversarial-training step (`tf_advnet.trainers.PGDATTrainer`), each
    through `model.fit` and as `train_step` in a bare `tf.function`.

Every timed call is warmed up (traced/compiled) first; each number is the
median of several repeats, and ours/cleverhans repeats are interleaved so
that background load affects both alike. Results are printed as a table and
written to JSON with library versions, CPU count, load average, date and
command.

Usage:

```
.venv/bin/python benchmarks/attacks.py            # full run (~5-6 min, 2 cores)
.venv/bin/python benchmarks/attacks.py --quick    # smoke run (~1 min)
```

See benchmarks/README.md for how to read the output and the cleverhans gaps.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # A CPU benchmark.

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras  # noqa: E402

_DEFAULT_OUT = os.path.join("results", "benchmarks", "attacks_cpu.json")


# ----------------------------------------------------------------------------
# Set-up.
# ----------------------------------------------------------------------------


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few repeats, short C&W, small training runs")
    parser.add_argument("--batch", type=int, default=256,
                        help="images per attacked batch (default 256)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per measurement (default 5; "
                             "quick: 2)")
    parser.add_argument("--out", default=_DEFAULT_OUT,
                        help=f"JSON output path (default {_DEFAULT_OUT})")
    parser.add_argument("--skip_xla", action="store_true",
                        help="do not time the XLA-compiled PGD variant "
                             "(always skipped with --quick)")
    return parser.parse_args(argv)


def _build_model():
    """D1 of Wang & Yu (conv32-conv64-dense) or a local stand-in."""
    try:
        from tf_advnet.models import build_model

        return build_model("advnet_d1", (28, 28, 1), 10), "advnet_d1"
    except ImportError:
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        return model, "local conv32-conv64-dense"


def _load_data(num_train, num_test):
    """Fashion-MNIST if available locally, else deterministic synthetic data."""
    try:
        from tf_advnet import data

        x_tr, y_tr = data.load("fashion_mnist", "train", limit=num_train)
        x_te, y_te = data.load("fashion_mnist", "test", limit=num_test)
        name = "fashion_mnist"
    except Exception as err:  # No local copy: never download in a benchmark.
        print(f"[data] fashion_mnist unavailable ({err}); using synthetic")
        from tf_advnet.data import make_synthetic

        x_tr, y_tr = make_synthetic(num_train, split="train")
        x_te, y_te = make_synthetic(num_test, split="test")
        name = "synthetic"
    return (np.asarray(x_tr, "float32"), np.asarray(y_tr, "int64"),
            np.asarray(x_te, "float32"), np.asarray(y_te, "int64"), name)


def _sync(out):
    """Blocks until `out` is computed (copies tensors to host)."""
    if isinstance(out, (tuple, list)):
        for o in out:
            _sync(o)
    elif out is not None and hasattr(out, "numpy"):
        out.numpy()
    return out


def _timed(fn):
    start = time.perf_counter()
    out = _sync(fn())
    return time.perf_counter() - start, out


def _measure(fns, repeats, warmup=None):
    """Median seconds per call for each fn; repeats are interleaved.

    Args:
        fns: dict name -> zero-argument callable.
        repeats: timed calls per fn.
        warmup: dict name -> zero-argument callable called once, untimed,
            before timing (tracing, compilation, caches); defaults to `fns`.

    Returns:
        dict name -> {"median_s", "runs_s", "output"} (the last output).
    """
    for fn in (warmup or fns).values():
        _sync(fn())
    runs = {name: [] for name in fns}
    outputs = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds, outputs[name] = _timed(fn)
            runs[name].append(seconds)
    return {name: {"median_s": statistics.median(r), "min_s": min(r),
                   "runs_s": r, "output": outputs[name]}
            for name, r in runs.items()}


def _acc(model_fn, x, y):
    return float(np.mean(np.argmax(np.asarray(model_fn(x)), axis=1)
                         == np.asarray(y)))


# ----------------------------------------------------------------------------
# Cleverhans C&W on Keras 3: the minimal patch.
# ----------------------------------------------------------------------------


class _ResettableAdam:
    """Adam whose `variables()` lists only what C&W must reset.

    Cleverhans 4.0.0 resets the optimiser before each binary-search step by
    zeroing `optimizer.variables()`. On Keras 3 `variables` is a list, not a
    method (TypeError), and zeroing *all* variables would also zero the
    learning rate (nothing moves, 0% success). This wrapper exposes
    `variables()` = iteration counter + first and second moments, and
    delegates `apply_gradients`.
    """

    def __init__(self, learning_rate):
        self._adam = keras.optimizers.Adam(learning_rate)

    def variables(self):
        adam = self._adam
        if not adam.built:
            return [adam.iterations]
        return ([adam.iterations] + list(adam._momentums)
                + list(adam._velocities))

    def apply_gradients(self, grads_and_vars):
        return self._adam.apply_gradients(grads_and_vars)


def _patched_cleverhans_cw():
    """Cleverhans' CarliniWagnerL2 with a fresh `_ResettableAdam` per batch.

    A Keras 3 optimiser is built for one set of variables, and cleverhans
    creates a new `modifier` variable per batch, so the optimiser is
    replaced at the start of each batch. Nothing else is changed.
    """
    from cleverhans.tf2.attacks.carlini_wagner_l2 import CarliniWagnerL2

    class PatchedCarliniWagnerL2(CarliniWagnerL2):
        def _attack(self, x):
            self.optimizer = _ResettableAdam(self.learning_rate)
            return super()._attack(x)

    def attack(model_fn, x, **kwargs):
        return PatchedCarliniWagnerL2(model_fn, **kwargs).attack(x)

    return attack


# ----------------------------------------------------------------------------
# The three measurements.
# ----------------------------------------------------------------------------


def bench_overhead(model_fn, x, y, repeats, eps, with_xla):
    """(a) PGD-k time over k input-gradient passes."""
    from tf_advnet.attacks.pgd import pgd

    @tf.function
    def input_gradient(x, y):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=model_fn(x))
        return tape.gradient(loss, x)

    fns = {"grad_pass": lambda: input_gradient(x, y)}
    for k in (10, 40):
        fns[f"pgd{k}"] = (lambda k=k: pgd(
            model_fn, x, y, eps=eps, step_size=2.5 * eps / k, num_steps=k,
            seed=0))
    times = _measure(fns, repeats)
    if with_xla:
        # The whole public call under XLA (seeded, so the RNG is stateless).
        # XLA's CPU convolutions are much slower than oneDNN's here, so this
        # is timed with at most 2 repeats, for the record only.
        xla_pgd = tf.function(
            lambda x, y, k: pgd(model_fn, x, y, eps=eps, step_size=eps / 4,
                                num_steps=k, seed=0),
            jit_compile=True)
        times.update(_measure(
            {"pgd10_xla": lambda: xla_pgd(x, y, tf.constant(10))},
            min(repeats, 2)))
    grad = times["grad_pass"]["median_s"]
    out = {"grad_pass_s": grad,
           "runs_s": {name: t["runs_s"] for name, t in times.items()}}
    grad_min = times["grad_pass"]["min_s"]
    for k in (10, 40):
        out[f"pgd{k}_s"] = times[f"pgd{k}"]["median_s"]
        out[f"pgd{k}_ratio"] = times[f"pgd{k}"]["median_s"] / (k * grad)
        out[f"pgd{k}_ratio_of_min"] = (
            times[f"pgd{k}"]["min_s"] / (k * grad_min))
    if with_xla:
        out["pgd10_xla_s"] = times["pgd10_xla"]["median_s"]
        out["pgd10_xla_ratio"] = times["pgd10_xla"]["median_s"] / (10 * grad)
    return out


def bench_vs_cleverhans(model_fn, x, y, repeats, eps, cw_iterations,
                        cw_binary_steps, cw_repeats):
    """(b) ours / cleverhans time ratios for PGD-40, MIM-10 and C&W."""
    from cleverhans.tf2.attacks.momentum_iterative_method import (
        momentum_iterative_method as ch_mim,
    )
    from cleverhans.tf2.attacks.projected_gradient_descent import (
        projected_gradient_descent as ch_pgd,
    )

    from tf_advnet.attacks.mim import mim
    from tf_advnet.attacks.pgd import pgd

    rows = {}
    x_np = np.asarray(x)
    pgd_step = eps / 10
    pgd_fns = {
        "ours": lambda: pgd(model_fn, x, y, eps=eps, step_size=pgd_step,
                            num_steps=40, seed=0),
        # sanity_checks=False is the default of projected_gradient_descent.
        "cleverhans": lambda: ch_pgd(model_fn, x, eps, pgd_step, 40, np.inf,
                                     clip_min=0.0, clip_max=1.0, y=y,
                                     rand_init=True),
    }
    rows["pgd40"] = _compare(pgd_fns, repeats, model_fn, y)
    # The same at a small batch, where per-iteration Python/eager overhead
    # (cleverhans) weighs more against the kernels (informational).
    xs, ys = x[:32], y[:32]
    small_fns = {
        "ours": lambda: pgd(model_fn, xs, ys, eps=eps, step_size=pgd_step,
                            num_steps=40, seed=0),
        "cleverhans": lambda: ch_pgd(model_fn, xs, eps, pgd_step, 40,
                                     np.inf, clip_min=0.0, clip_max=1.0,
                                     y=ys, rand_init=True),
    }
    rows["pgd40_batch32"] = _compare(small_fns, repeats, model_fn, ys)
    mim_step = eps / 10
    mim_fns = {
        "ours": lambda: mim(model_fn, x, y, eps=eps, step_size=mim_step,
                            num_steps=10),
        "cleverhans": lambda: ch_mim(model_fn, x, eps, mim_step, 10, np.inf,
                                     clip_min=0.0, clip_max=1.0, y=y),
    }
    rows["mim10"] = _compare(mim_fns, repeats, model_fn, y)

    try:
        from tf_advnet.attacks.cw import carlini_wagner_l2
    except ImportError as err:
        print(f"[cw] skipped: tf_advnet.attacks.cw not importable ({err})")
        rows["cw"] = {"skipped": str(err)}
        return rows
    ch_cw = _patched_cleverhans_cw()
    cw_kwargs = dict(binary_search_steps=cw_binary_steps,
                     max_iterations=cw_iterations, learning_rate=5e-3,
                     initial_const=1e-2, abort_early=True, confidence=0.0,
                     clip_min=0.0, clip_max=1.0)
    # Untargeted on the model's predictions for both: cleverhans' C&W turns
    # targeted whenever y is given, so y=None is the only common setting.
    cw_fns = {
        "ours": lambda: carlini_wagner_l2(model_fn, x, None, **cw_kwargs),
        "cleverhans": lambda: tf.constant(ch_cw(
            model_fn, x_np, batch_size=len(x_np), **cw_kwargs)),
    }
    # Warm up (trace) with a 2-iteration run: a full cleverhans C&W run takes
    # minutes, and it retraces on every call anyway (its tf.function is a
    # method of a new attack object).
    short = dict(cw_kwargs, max_iterations=2, binary_search_steps=1)
    cw_warmup = {
        "ours": lambda: carlini_wagner_l2(model_fn, x, None, **short),
        "cleverhans": lambda: tf.constant(ch_cw(
            model_fn, x_np, batch_size=len(x_np), **short)),
    }
    pred = np.argmax(np.asarray(model_fn(x)), axis=1)
    rows["cw"] = _compare(cw_fns, cw_repeats, model_fn, pred, l2=x_np,
                          warmup=cw_warmup)
    rows["cw"]["settings"] = {k: v for k, v in cw_kwargs.items()}
    return rows


def _compare(fns, repeats, model_fn, y, l2=None, warmup=None):
    times = _measure(fns, repeats, warmup)
    row = {"ours_s": times["ours"]["median_s"],
           "cleverhans_s": times["cleverhans"]["median_s"],
           "runs_s": {name: t["runs_s"] for name, t in times.items()}}
    row["ratio"] = row["ours_s"] / row["cleverhans_s"]
    row["ratio_of_min"] = (times["ours"]["min_s"]
                           / times["cleverhans"]["min_s"])
    for name, t in times.items():
        adv = np.asarray(t["output"])
        row[f"{name}_adv_acc"] = _acc(model_fn, adv, y)
        if l2 is not None:
            dist = np.sqrt(((adv - l2) ** 2).reshape(len(adv), -1).sum(1))
            ok = np.argmax(np.asarray(model_fn(adv)), axis=1) != np.asarray(y)
            row[f"{name}_mean_l2_success"] = (
                float(dist[ok].mean()) if ok.any() else None)
    return row


def bench_training(build, x_train, y_train, batch, steps, repeats, eps):
    """(c) images/s of a plain fit step and of a PGD-7 AT step.

    Each is measured twice: through `model.fit` (what users run; includes
    Keras' per-step machinery and the tf.data input pipeline) and as the
    model's own `train_step` in a bare `tf.function` over the same batches
    (isolates the compiled computation).
    """
    from tf_advnet.trainers import PGDATTrainer

    n = batch * steps
    x_train, y_train = x_train[:n], y_train[:n]
    batches = [(tf.constant(x_train[i:i + batch]),
                tf.constant(y_train[i:i + batch])) for i in range(0, n, batch)]

    def fit_images_per_s(model):
        # One warm-up epoch traces and compiles the train step.
        model.fit(x_train, y_train, batch_size=batch, epochs=1, verbose=0,
                  shuffle=False)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.fit(x_train, y_train, batch_size=batch, epochs=1,
                      verbose=0, shuffle=False)
            runs.append(n / (time.perf_counter() - start))
        return {"median_images_per_s": statistics.median(runs),
                "best_images_per_s": max(runs), "runs_images_per_s": runs}

    def step_images_per_s(model):
        step = tf.function(
            lambda x, y: next(iter(model.train_step((x, y)).values())))
        for xb, yb in batches:  # Warm-up epoch.
            _sync(step(xb, yb))
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            for xb, yb in batches:
                _sync(step(xb, yb))
            runs.append(n / (time.perf_counter() - start))
        return {"median_images_per_s": statistics.median(runs),
                "best_images_per_s": max(runs), "runs_images_per_s": runs}

    def models():
        standard, _ = build()
        standard.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        classifier, _ = build()
        trainer = PGDATTrainer(classifier, eps=eps, num_steps=7,
                               step_size=2.5 * eps / 7)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
        return standard, trainer

    standard, trainer = models()
    out = {"standard_fit": fit_images_per_s(standard),
           "pgd7_at_fit": fit_images_per_s(trainer),
           "steps_per_epoch": steps, "batch": batch,
           "jit_compile": str(standard.jit_compile)}
    standard, trainer = models()
    out["standard_step"] = step_images_per_s(standard)
    out["pgd7_at_step"] = step_images_per_s(trainer)
    out["slowdown"] = (out["standard_fit"]["median_images_per_s"]
                       / out["pgd7_at_fit"]["median_images_per_s"])
    out["slowdown_step"] = (out["standard_step"]["median_images_per_s"]
                            / out["pgd7_at_step"]["median_images_per_s"])
    return out


# ----------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "numpy", "cleverhans"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _cpu_info():
    info = {"os_cpu_count": os.cpu_count(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["model_name"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["tf_intra_op_threads"] = (
        tf.config.threading.get_intra_op_parallelism_threads())
    info["tf_inter_op_threads"] = (
        tf.config.threading.get_inter_op_parallelism_threads())
    return info


def _print_table(res):
    def target(value, limit):
        return "ok" if value <= limit else "MISSED"

    o = res["overhead"]
    print()
    print(f"Model {res['setup']['model']} ({res['setup']['params']:,} params),"
          f" batch {res['setup']['batch']}, data {res['setup']['data']}, "
          f"{res['setup']['repeats']} repeats (median)")
    print()
    print("(a) loop overhead: PGD-k / (k x input-gradient pass)")
    print(f"    input-gradient pass       {o['grad_pass_s'] * 1e3:9.1f} ms")
    for k in (10, 40):
        r = o[f"pgd{k}_ratio"]
        print(f"    PGD-{k:<3d}{o[f'pgd{k}_s']:17.3f} s   ratio {r:5.3f}  "
              f"(of minima {o[f'pgd{k}_ratio_of_min']:5.3f}; target <= 1.15:"
              f" {target(r, 1.15)})")
    if "pgd10_xla_ratio" in o:
        print(f"    PGD-10 under XLA {o['pgd10_xla_s']:10.3f} s   ratio "
              f"{o['pgd10_xla_ratio']:5.3f}  (not used: slower on CPU)")
    print()
    print("(b) ours vs cleverhans 4.0.0 (time ratio, adversarial accuracy)")
    print(f"    {'attack':14s}{'ours s':>10s}{'cleverhans s':>14s}"
          f"{'ratio':>8s}{'of min':>8s}  {'adv acc ours/ch':>16s}")
    for name, row in res["vs_cleverhans"].items():
        if "skipped" in row:
            print(f"    {name:14s} skipped: {row['skipped']}")
            continue
        print(f"    {name:14s}{row['ours_s']:10.3f}{row['cleverhans_s']:14.3f}"
              f"{row['ratio']:8.3f}{row['ratio_of_min']:8.3f}  "
              f"{row['ours_adv_acc']:7.3f} / "
              f"{row['cleverhans_adv_acc']:5.3f}  " + (
                  "(informational)" if name.endswith("batch32") else
                  f"(target <= 0.85: {target(row['ratio'], 0.85)})"))
    t = res["training"]
    print()
    print("(c) training throughput (images/s: median, best epoch)")
    grad = o["grad_pass_s"]
    for label, fit_key, step_key, slow_key in (
            ("model.fit", "standard_fit", "pgd7_at_fit", "slowdown"),
            ("train_step in tf.function", "standard_step", "pgd7_at_step",
             "slowdown_step")):
        std, adv = t[fit_key], t[step_key]
        predicted = 1 + 7 * grad / (t["batch"] / std["median_images_per_s"])
        print(f"    {label}:")
        print(f"      standard            {std['median_images_per_s']:9.0f}"
              f" {std['best_images_per_s']:9.0f}")
        print(f"      PGD-7 AT            {adv['median_images_per_s']:9.0f}"
              f" {adv['best_images_per_s']:9.0f}   slowdown "
              f"x{t[slow_key]:.2f} (predicted 1 + 7 x grad pass / standard "
              f"step = x{predicted:.2f})")
    print()


def main(argv=None):
    from tf_advnet.utils.provenance import git_commit

    args = _parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (2 if quick else 5)
    eps = 0.1  # L-inf budget on Fashion-MNIST-sized images.
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    keras.utils.set_random_seed(0)
    train_steps = 4 if quick else 16
    x_tr, y_tr, x_te, y_te, data_name = _load_data(
        max(args.batch * train_steps, 2048), args.batch)
    model, model_name = _build_model()
    # A briefly trained model makes the C&W and accuracy numbers meaningful
    # (timing of PGD/MIM does not depend on the weights).
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    model.fit(x_tr, y_tr, batch_size=128, epochs=1 if quick else 2,
              verbose=0)
    model_fn = lambda v: model(v, training=False)  # noqa: E731
    x = tf.constant(x_te[:args.batch])
    y = tf.constant(y_te[:args.batch])
    clean_acc = _acc(model_fn, x, y)

    print(f"[setup] {model_name}, clean accuracy {clean_acc:.3f} on "
          f"{args.batch} test images; repeats {repeats}")
    res = {"setup": {"model": model_name, "params": model.count_params(),
                     "batch": args.batch, "data": data_name,
                     "clean_acc": clean_acc, "eps_inf": eps,
                     "repeats": repeats, "quick": quick}}
    print("[a] loop overhead ...")
    res["overhead"] = bench_overhead(model_fn, x, y, repeats, eps,
                                     with_xla=not (args.skip_xla or quick))
    print("[b] ours vs cleverhans ...")
    res["vs_cleverhans"] = bench_vs_cleverhans(
        model_fn, x, y, repeats, eps,
        cw_iterations=20 if quick else 100,
        cw_binary_steps=2 if quick else 5,
        cw_repeats=1 if quick else 2)
    print("[c] training throughput ...")
    res["training"] = bench_training(
        _build_model, x_tr, y_tr, args.batch, train_steps,
        repeats=1 if quick else 5, eps=eps)

    finished = datetime.datetime.now(datetime.timezone.utc)
    res["meta"] = {
        "date_utc": started.isoformat(timespec="seconds"),
        "duration_s": (finished - started).total_seconds(),
        "command": " ".join([os.path.relpath(sys.executable, _ROOT)
                             if sys.executable.startswith(_ROOT)
                             else sys.executable] + sys.argv),
        "versions": _versions(),
        "cpu": _cpu_info(),
        "load_average_before": load_before,
        "load_average_after": (os.getloadavg()
                               if hasattr(os, "getloadavg") else None),
        "targets": {"pgd_overhead_ratio": 1.15, "vs_cleverhans_ratio": 0.85},
        "commit": git_commit(),
        "preset": "quick" if quick else "full",
        "seed": 0,
    }
    _print_table(res)
    out_path = args.out
    if not os.path.isabs(out_path):
        out_path = os.path.join(_ROOT, out_path)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(res, f, indent=2, sort_keys=True)
    print(f"wrote {os.path.relpath(out_path, _ROOT)}")


if __name__ == "__main__":
    main()
