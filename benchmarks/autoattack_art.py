"""Our `strong` evaluation against ART's AutoAttack: wall time and robust accuracy.

A script, not a test. One run trains `small_cnn` (width 0.5) for two epochs on
mnist_5k (seed 0, a few seconds), takes the first `--n` test images, and runs once
each, at the same L-inf eps:

- ours: `tf_advnet.eval.ensemble.evaluate_ensemble` on `parse_attacks("strong")`,
  AutoAttack's standard version (APGD-CE, APGD-T over 9 targets, FAB-T over 9
  targets, Square 5,000 queries), each attack on the survivors of the earlier ones;
- ART 1.20.1: `art.attacks.evasion.AutoAttack` with its default attack list (APGD-CE
  and APGD-DLR with 5 random starts each, DeepFool, `SquareAttack(p_init=0.8,
  max_iter=5000, nb_restarts=5)`), also survivors-only, initial APGD step
  `eps_step = 2 eps` (AutoAttack's). Its `TensorFlowV2Classifier` wraps a
  `tf.function` of the same Keras model, so ART's eager gradient calls run the
  compiled forward pass.

It records the wall time of each side, their ratio (ART / ours), the robust
accuracy of each, our per-attack times and the ART attack that broke each point.
The two ensembles differ (ART has no APGD-T / FAB-T; it runs APGD-DLR, DeepFool and
5 Square restarts instead), so equal accuracies are not expected; the table says
how far apart they are and what each costs.

Usage:

```
nice -n 5 .venv/bin/python benchmarks/autoattack_art.py            # n = 100, eps = 0.08
.venv/bin/python benchmarks/autoattack_art.py --n=20 --out=/tmp/aa.json  # smoke run
```

Writes results/benchmarks/autoattack_art_cpu.{json,md} (--out changes the JSON path;
the Markdown goes next to it).
"""

import argparse
import datetime
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_DEFAULT_OUT = os.path.join("results", "benchmarks", "autoattack_art_cpu.json")


def _train(seed):
    import keras

    from tf_advnet import data, models

    x, y = data.load("mnist_5k", "train")
    x_test, y_test = data.load("mnist_5k", "test")
    keras.utils.set_random_seed(seed)
    model = models.build_model("small_cnn", (28, 28, 1), 10, width=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    return model, x_test, y_test.astype(np.int64)


def _markdown(res):
    ours, art = res["ours"], res["art"]
    lines = [
        f"# `strong` vs ART {res['versions']['art']} AutoAttack",
        "",
        f"{res['model']} trained 2 epochs on {res['data']}, first {res['n']} test images, "
        f"L-inf eps {res['eps']:g}, one run each, {res['cpu_count']} CPU cores "
        f"(load average before/after: {res['load_average_before'][0]:.1f} / "
        f"{res['load_average_after'][0]:.1f}). Generated from `autoattack_art_cpu.json`.",
        "",
        "| | attacks | robust accuracy | wall time |",
        "|---|---|---|---|",
        f"| ours (`strong`) | {', '.join(ours['order'])} | {100 * ours['robust_acc']:.1f}% | "
        f"{ours['seconds']:.1f} s |",
        f"| ART AutoAttack (defaults) | {', '.join(art['attacks'])} | "
        f"{100 * art['robust_acc']:.1f}% | {art['seconds']:.1f} s |",
        "",
        f"Clean accuracy {100 * res['clean_acc']:.1f}%. Time ratio ART / ours: "
        f"**{res['time_ratio_art_over_ours']:.2f}**. Points robust for ours but broken by "
        f"ART: {res['only_art_breaks']}; broken by ours but robust for ART: "
        f"{res['only_ours_breaks']}.",
        "",
        "Ours, per attack (survivors only):",
        "",
        "| attack | evaluated | newly broken | robust after | seconds |",
        "|---|---|---|---|---|",
    ]
    for spec in ours["order"]:
        a = ours["attacks"][spec]
        lines.append(f"| {spec} | {a['evaluated']} | {a['newly_broken']} | "
                     f"{100 * a['robust_after']:.1f}% | {a['seconds']:.1f} |")
    lines += ["", "ART, points first broken by each attack: "
              + ", ".join(f"{k} {v}" for k, v in art["first_broken_by"].items()), ""]
    return "\n".join(lines)


def main(argv=None):
    import art
    from art.attacks.evasion import AutoAttack
    from art.estimators.classification import TensorFlowV2Classifier

    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.eval.ensemble import evaluate_ensemble
    from tf_advnet.utils.provenance import Provenance, write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--eps", type=float, default=0.08)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=_DEFAULT_OUT)
    args = p.parse_args(argv)
    prov = Provenance(seed=args.seed, preset="benchmark",
                      argv=sys.argv if argv is None else argv)
    load_before = os.getloadavg()

    model, x_test, y_test = _train(args.seed)
    x, y = x_test[:args.n], y_test[:args.n]
    compiled = tf.function(lambda v, training=False: model(v, training=False),
                           reduce_retracing=True)

    def robust(x_adv):
        return np.asarray(compiled(tf.constant(x_adv))).argmax(1) == y

    clean = robust(x)

    t0 = time.perf_counter()
    ours = evaluate_ensemble(model, x, y, parse_attacks("strong", eps=args.eps),
                             batch_size=args.n, seed=args.seed,
                             progress=lambda line: print(line, flush=True))
    ours_s = time.perf_counter() - t0
    print(f"ours: {100 * ours['robust_acc']:.1f}% in {ours_s:.1f} s", flush=True)

    clf = TensorFlowV2Classifier(
        model=compiled, nb_classes=10, input_shape=(28, 28, 1), clip_values=(0.0, 1.0),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    auto = AutoAttack(clf, norm=np.inf, eps=args.eps, eps_step=2 * args.eps,
                      batch_size=args.n)
    for attack in auto.attacks:  # progress bars only
        if hasattr(attack, "verbose"):
            attack.verbose = False
    t0 = time.perf_counter()
    x_art = auto.generate(x, y)
    art_s = time.perf_counter() - t0
    art_robust = robust(x_art)
    # ART's AutoAttack only checks eps for the attacks it runs; check it here too.
    art_linf = np.abs(x_art - x).reshape(len(x), -1).max(1)
    art_robust |= art_linf > args.eps + 1e-6
    names = [type(a).__name__ + (f"({a.loss_type})" if hasattr(a, "loss_type") else "")
             for a in auto.attacks]
    first = {name: int(np.sum(auto.best_attacks == i)) for i, name in enumerate(names)}
    print(f"ART: {100 * art_robust.mean():.1f}% in {art_s:.1f} s", flush=True)

    res = {
        "benchmark": "autoattack_art", "model": "small_cnn(width=0.5)", "data": "mnist_5k",
        "n": int(args.n), "eps": args.eps, "clean_acc": float(clean.mean()),
        "ours": {"robust_acc": ours["robust_acc"], "seconds": ours_s,
                 "order": ours["order"],
                 "attacks": {k: {f: v[f] for f in ("evaluated", "newly_broken",
                                                   "robust_after", "seconds")}
                             for k, v in ours["attacks"].items()}},
        "art": {"robust_acc": float(art_robust.mean()), "seconds": art_s,
                "attacks": names, "first_broken_by": first},
        "time_ratio_art_over_ours": art_s / ours_s,
        "only_art_breaks": int(np.sum(ours["robust"] & ~art_robust)),
        "only_ours_breaks": int(np.sum(~ours["robust"] & art_robust)),
        "versions": {"art": art.__version__},
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "cpu_count": os.cpu_count(), "date": datetime.datetime.now().isoformat(),
        "provenance": prov.finish(),
    }
    md = _markdown(res)
    print(md)
    write_json(args.out, res)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md + "\n")


if __name__ == "__main__":
    main()
