"""Cost of Wang & Yu's gradient regulariser: finite difference (Eq. 9) vs double backprop.

A script, not a test. Wang & Yu (Sec. 3.1) compute the Hessian-vector term of
D's regularised gradient (Eq. 8) by a finite difference because "we find it
faster" than double back-propagation. One run times, interleaved, the D-step
gradient of `tf_advnet.trainers.advnet.AdvNetTrainer.discriminator_gradients`
under hvp = "none", "finite_difference" and "exact", each compiled with
`tf.function`, on D1 + G0 (MNIST) and optionally D2 + G1 (CIFAR-sized), and
reports each as a multiple of the plain step ("none") and FD / exact.

Usage:

```
.venv/bin/python benchmarks/advnet_hvp.py            # D1+G0 and D2+G1, ~3 min on 2 cores
.venv/bin/python benchmarks/advnet_hvp.py --quick    # D1+G0 only, 2 repeats
```

Writes results/benchmarks/advnet_hvp_cpu.{json,txt} (--out changes the JSON path).
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODES = ("none", "finite_difference", "exact")
_DEFAULT_OUT = os.path.join("results", "benchmarks", "advnet_hvp_cpu.json")


def _setups(quick):
    from tf_advnet.models import build_model
    from tf_advnet.models.advnet_generators import advnet_g0, advnet_g1

    out = [("D1 + G0 (k=64), 28x28x1", lambda: build_model("advnet_d1", (28, 28, 1), 10),
            lambda: advnet_g0((28, 28, 1), k=64), (28, 28, 1))]
    if not quick:
        out.append(("D2 + G1 (k=16), 32x32x3",
                    lambda: build_model("advnet_resnet", (32, 32, 3), 10),
                    lambda: advnet_g1((32, 32, 3), k=16), (32, 32, 3)))
    return out


def _time_setup(name, make_d, make_g, shape, batch, repeats):
    from tf_advnet.trainers.advnet import AdvNetTrainer

    keras.utils.set_random_seed(0)
    d, g = make_d(), make_g()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch,) + shape).astype("float32"))
    y = tf.constant(rng.integers(0, 10, batch).astype("int64"))
    fns = {}
    for mode in MODES:
        t = AdvNetTrainer(d, g, eps=0.1, hvp=mode, fd_h=1e-3)
        t.compile()
        fns[mode] = tf.function(lambda a, b, t=t: t.discriminator_gradients(a, b)[0])
        fns[mode](x, y)  # trace and warm up
    runs = {m: [] for m in MODES}
    for _ in range(repeats):
        for mode in MODES:  # interleaved: background load hits every mode alike
            t0 = time.perf_counter()
            out = fns[mode](x, y)
            float(tf.add_n([tf.reduce_sum(o) for o in out]))  # wait for the result
            runs[mode].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in runs.items()}
    return {"setup": name, "batch": batch, "seconds": runs, "median_s": med,
            "x_plain": {m: med[m] / med["none"] for m in MODES},
            "fd_over_exact": med["finite_difference"] / med["exact"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batch", type=int, default=64, help="the paper's batch size")
    p.add_argument("--repeats", type=int, default=None, help="default 7; quick 2")
    p.add_argument("--out", default=_DEFAULT_OUT)
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    load_before = os.getloadavg()
    rows = [_time_setup(*s, args.batch, repeats) for s in _setups(args.quick)]
    from tf_advnet.utils.provenance import Provenance

    res = {"benchmark": "advnet_hvp", "rows": rows, "repeats": repeats,
           "load_average_before": load_before, "load_average_after": os.getloadavg(),
           "cpu_count": os.cpu_count(), "date": datetime.datetime.now().isoformat(),
           "provenance": Provenance(seed=0, preset="benchmark",
                                    argv=sys.argv if argv is None else argv).finish()}
    lines = ["D-step gradient time, median of interleaved repeats "
             f"(batch {args.batch}, {repeats} repeats):",
             f"{'setup':28s} {'none (s)':>9s} {'FD x plain':>11s} {'exact x plain':>14s} "
             f"{'FD / exact':>11s}"]
    for r in rows:
        lines.append(f"{r['setup']:28s} {r['median_s']['none']:9.4f} "
                     f"{r['x_plain']['finite_difference']:11.2f} "
                     f"{r['x_plain']['exact']:14.2f} {r['fd_over_exact']:11.2f}")
    lines.append(f"load average before/after: {load_before} / {res['load_average_after']}")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.splitext(args.out)[0] + ".txt", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
