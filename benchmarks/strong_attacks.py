"""Cost of APGD and Square per image against PGD of the same number of steps.

A script, not a test. One run builds Wang & Yu's MNIST discriminator D1 (as
benchmarks/attacks.py), trains it for two epochs on 4,096 Fashion-MNIST images (the
local copy; synthetic data if there is none) and times, interleaved, on one batch:

- PGD-K (`tf_advnet.attacks.pgd`, K gradient steps) — the unit;
- APGD-CE-K and APGD-DLR-K (`tf_advnet.attacks.apgd`, K gradient steps each);
- APGD-T-K with one target (one targeted run of K steps; AutoAttack's APGD-T runs
  9 of them, so its full cost is ~9x this row);
- Square-K (`tf_advnet.attacks.square`, K queries: one forward pass each, no
  gradient) at a budget too small to fool anything (eps = 1e-4), so every example
  spends all K queries — the worst case of its cost — and at the card's eps, where
  fooled examples stop early.

Each row is reported as seconds per image and as a ratio to PGD-K; a compiled
forward pass and a forward+backward input-gradient pass are timed too, so the
ratios can be read as "k x one pass". Median of interleaved repeats after an
untimed warm-up.

Usage:

```
.venv/bin/python benchmarks/strong_attacks.py            # K = 100, ~4 min on 2 cores
.venv/bin/python benchmarks/strong_attacks.py --quick    # K = 20, 2 repeats
```

Writes results/benchmarks/strong_attacks_cpu.{json,txt} (--out changes the JSON path).
"""

import argparse
import datetime
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.attacks import _acc, _build_model, _load_data, _measure  # noqa: E402

_DEFAULT_OUT = os.path.join("results", "benchmarks", "strong_attacks_cpu.json")


def _passes(model_fn, x, y):
    """Compiled forward pass and forward+backward input-gradient pass."""
    fwd = tf.function(lambda xb: model_fn(xb))

    @tf.function
    def grad(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=yb, logits=model_fn(xb)))
        return tape.gradient(loss, xb)

    return {"forward": lambda: fwd(x), "forward_backward": lambda: grad(x, y)}


def main(argv=None):
    from tf_advnet.attacks.apgd import apgd
    from tf_advnet.attacks.pgd import pgd
    from tf_advnet.attacks.square import square
    from tf_advnet.utils.provenance import Provenance

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=None, help="K (default 100; quick 20)")
    p.add_argument("--repeats", type=int, default=None, help="default 3; quick 2")
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--out", default=_DEFAULT_OUT)
    args = p.parse_args(argv)
    k = args.steps or (20 if args.quick else 100)
    repeats = args.repeats or (2 if args.quick else 3)
    load_before = os.getloadavg()

    tf.keras.utils.set_random_seed(0)
    x_tr, y_tr, x_te, y_te, data_name = _load_data(4096, args.batch)
    model, model_name = _build_model()
    model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    model.fit(x_tr, y_tr, batch_size=128, epochs=2, verbose=0)

    def model_fn(xb):
        return model(xb, training=False)

    x, y = tf.constant(x_te), tf.constant(y_te)
    e = args.eps
    tiny = 1e-4
    fns = dict(_passes(model_fn, x, y))
    fns.update({
        f"pgd{k}": lambda: pgd(model_fn, x, y, eps=e, step_size=2.5 * e / k,
                               num_steps=k, seed=0),
        f"apgd_ce{k}": lambda: apgd(model_fn, x, y, eps=e, num_steps=k, seed=0),
        f"apgd_dlr{k}": lambda: apgd(model_fn, x, y, eps=e, num_steps=k, loss="dlr",
                                     seed=0),
        f"apgd_t{k}_1target": lambda: apgd(model_fn, x, y, eps=e, num_steps=k,
                                           loss="dlr", targeted=True, num_targets=1,
                                           seed=0),
        f"square{k}_full_budget": lambda: square(model_fn, x, y, eps=tiny, max_queries=k,
                                                 seed=0, return_queries=True),
        f"square{k}_at_eps": lambda: square(model_fn, x, y, eps=e, max_queries=k, seed=0,
                                            return_queries=True),
    })
    timed = _measure(fns, repeats)
    base = timed[f"pgd{k}"]["median_s"]
    n = int(x.shape[0])
    rows = {}
    for name, t in timed.items():
        row = {"median_s": t["median_s"], "runs_s": t["runs_s"],
               "ms_per_image": 1000 * t["median_s"] / n, "x_pgd": t["median_s"] / base}
        out = t["output"]
        if name.startswith("square"):
            x_adv, queries = out
            row["mean_queries"] = float(np.mean(np.asarray(queries)))
            row["acc"] = _acc(model_fn, x_adv, y_te)
        elif name.startswith(("pgd", "apgd")):
            row["acc"] = _acc(model_fn, out, y_te)
        rows[name] = row
    fb = timed["forward_backward"]["median_s"]
    fw = timed["forward"]["median_s"]
    for name, row in rows.items():
        row["x_grad_pass"] = row["median_s"] / fb
        row["x_forward"] = row["median_s"] / fw

    res = {"benchmark": "strong_attacks", "model": model_name, "data": data_name,
           "batch": n, "steps": k, "eps": e, "clean_acc": _acc(model_fn, x, y_te),
           "rows": rows, "repeats": repeats, "load_average_before": load_before,
           "load_average_after": os.getloadavg(), "cpu_count": os.cpu_count(),
           "date": datetime.datetime.now().isoformat(),
           "provenance": Provenance(seed=0, preset="benchmark",
                                    argv=sys.argv if argv is None else argv).finish()}
    lines = [f"APGD and Square vs PGD-{k} on {model_name}, {data_name}, batch {n}, "
             f"eps {e:g}, median of {repeats} interleaved repeats",
             f"{'attack':24s} {'ms/image':>9s} {'x PGD':>7s} {'x grad pass':>12s} "
             f"{'x forward':>10s} {'acc':>6s} {'queries':>8s}"]
    for name, r in rows.items():
        acc = f"{100 * r['acc']:5.1f}%" if "acc" in r else ""
        q = f"{r['mean_queries']:8.1f}" if "mean_queries" in r else ""
        lines.append(f"{name:24s} {r['ms_per_image']:9.3f} {r['x_pgd']:7.2f} "
                     f"{r['x_grad_pass']:12.1f} {r['x_forward']:10.1f} {acc:>6s} {q}")
    lines.append(f"clean accuracy {100 * res['clean_acc']:.1f}%; load average before/after: "
                 f"{load_before} / {res['load_average_after']}")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.splitext(args.out)[0] + ".txt", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
