"""Cost of a DeepDefense training step, before and after the one-forward / K-backward
DeepFool loop with early exit, against a plain step and against the analytic count.

A script, not a test. For each of DeepDefense's MNIST classifiers (the registry's
`deepdefense_mlp` and `deepdefense_lenet`, 28x28x1, K = 10 classes) it trains the
model for one epoch on 4,096 Fashion-MNIST images (the local copy; synthetic data if
there is none), then times on one batch of 100 (DeepDefense's batch), each compiled
once with `tf.function`, all interleaved (one call of each per repeat, so machine load
hits every row alike), median after an untimed warm-up:

- `forward`: the classifier in inference mode (F);
- `forward_backward_input`: forward + backward to the input, one DeepFool Jacobian row
  for the whole batch (so one inner backward pass costs b = this - F);
- `forward_backward_weights`: forward + backward to the weights (a plain step without
  the optimiser);
- `plain_step`: `StandardTrainer.train_step`;
- `dd_step_before`: `DeepDefenseTrainer.train_step` with the unrolled implementation
  it replaced (`_reference_deepfool` of tests/attacks/test_deepfool_diff.py: u steps,
  each a forward and a backward pass over the batch repeated K times);
- `dd_step_after`: `DeepDefenseTrainer.train_step` as shipped (one forward and K
  backward passes per step, on the samples still active only, stopping once all are
  fooled);
- `reg_value`: the shipped regulariser alone (r for the batch, no outer gradient);
- `reg_grad`: the gradient of lambda * mean R(r) w.r.t. the weights (shipped);
- `reg_grad_output_gradients`, `reg_grad_batch_jacobian`: the same gradient with the K
  Jacobian rows taken another way (K `tape.gradient(Z, p, output_gradients=e_k)` calls;
  `tape.batch_jacobian`, i.e. pfor), for the choice of the shipped form (K
  `tape.gradient(Z[:, k], p)` calls on one persistent tape).

Every optimiser is SGD with learning rate 0, so the weights, and hence the DeepFool
trajectories and the work per call, are the same in every repeat.

Analytic count (forward-pass units, measured F and b of the same model and batch):
the regulariser's value costs n (F + K b) for n DeepFool steps (the brief's u (F + K b)
with n = u; we report both, n being the steps the loop actually took on this batch),
plus n - 1 stop-test forward passes; its outer gradient is counted as the backward
pass of that computation at the plain model's backward/forward ratio
(`forward_backward_weights` / F - 1), so the step's count is

    plain_step + F (clean prediction) + (n (F + K b) + (n - 1) F) * forward_backward_weights / F

The count assumes every step runs on the whole batch; the shipped loop runs later
steps on the still-active samples only, so it can come in below the count.

The JSON holds every raw run, the step counts, the ratios before/after and
measured/analytic, and provenance (command, commit, seed, versions, load average).

Usage:

```
.venv/bin/python benchmarks/deepdefense_step.py            # 5 repeats, ~10 min on 2 busy cores
.venv/bin/python benchmarks/deepdefense_step.py --quick    # 2 repeats, MLP only
```

Writes results/benchmarks/deepdefense_step_cpu.{json,md} (--out changes the JSON path).
"""

import argparse
import contextlib
import datetime
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.attacks import _load_data, _measure  # noqa: E402

_DEFAULT_OUT = os.path.join("results", "benchmarks", "deepdefense_step_cpu.json")
NUM_ITER = 5


@contextlib.contextmanager
def _jacobian(kind):
    """Temporarily swaps how `deepfool_diff` takes the K Jacobian rows (the swap is
    read when a function is traced, so trace inside the block)."""
    from tf_advnet.attacks import deepfool_diff

    shipped = deepfool_diff._logits_and_jacobian

    def output_gradients(model_fn, p, num_classes, dtype):
        batch = tf.shape(p)[0]
        with tf.GradientTape(persistent=True) as inner:
            inner.watch(p)
            logits = tf.cast(model_fn(p), dtype)
        rows = [tf.reshape(inner.gradient(
            logits, p, output_gradients=tf.one_hot(tf.fill([batch], k), num_classes,
                                                   dtype=dtype)), [batch, -1])
            for k in range(num_classes)]
        return logits, tf.stack(rows, axis=1)

    def batch_jacobian(model_fn, p, num_classes, dtype):
        with tf.GradientTape() as inner:
            inner.watch(p)
            logits = tf.cast(model_fn(p), dtype)
        jac = inner.batch_jacobian(logits, p)
        return logits, tf.reshape(jac, [tf.shape(p)[0], num_classes, -1])

    deepfool_diff._logits_and_jacobian = {"persistent": shipped,
                                          "output_gradients": output_gradients,
                                          "batch_jacobian": batch_jacobian}[kind]
    try:
        yield
    finally:
        deepfool_diff._logits_and_jacobian = shipped


def _steps_taken(model_fn, x, y):
    """DeepFool steps the shipped loop takes on (x, y), from its forward passes."""
    from tf_advnet.attacks.deepfool_diff import differentiable_deepfool

    sizes = []

    def counting(v):
        sizes.append(int(v.shape[0]))
        return model_fn(v)

    differentiable_deepfool(counting, x, y, num_iter=NUM_ITER)
    calls = len(sizes) - 1  # one call reads the number of classes
    return NUM_ITER if calls == 2 * NUM_ITER - 1 else calls // 2


def _bench_model(name, x_tr, y_tr, x, y, repeats, variants):
    from tests.attacks.test_deepfool_diff import _reference_deepfool
    from tf_advnet.attacks.deepfool_diff import deepdefense_ratio, safe_l2_norm
    from tf_advnet.models import build_model
    from tf_advnet.trainers.deepdefense import DeepDefenseTrainer, regulariser_terms
    from tf_advnet.trainers.standard import StandardTrainer

    keras.utils.set_random_seed(0)
    clf = build_model(name, (28, 28, 1), 10)
    clf.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(x_tr, y_tr, batch_size=100, epochs=1, verbose=0)
    fn = lambda v: clf(v, training=False)  # noqa: E731
    clean_acc = float(np.mean(np.argmax(fn(x).numpy(), 1) == y.numpy()))

    class Before(DeepDefenseTrainer):
        def ratio(self, xb, yb):
            delta = _reference_deepfool(self.classifier_fn, xb, yb, num_iter=self.num_iter,
                                        overshoot=self.overshoot, norm_eps=self.norm_eps)
            return safe_l2_norm(delta) / safe_l2_norm(xb)

    def step_fn(trainer):
        trainer.compile(optimizer=keras.optimizers.SGD(0.0))
        trainer.optimizer.build(clf.trainable_weights)
        step = tf.function(trainer.train_step)
        return lambda: list(step((x, y)).values())

    fwd = tf.function(fn)

    @tf.function
    def fb_input(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            z = fn(v)[:, 0]
        return tape.gradient(z, v)

    @tf.function
    def fb_weights(v, t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                t, clf(v, training=True)))
        return tape.gradient(loss, clf.trainable_weights)

    @tf.function
    def reg_value(v, t):
        return deepdefense_ratio(fn, v, t, num_iter=NUM_ITER)[0]

    def make_reg_grad():
        @tf.function
        def reg_grad(v, t):
            with tf.GradientTape() as tape:
                r, _ = deepdefense_ratio(fn, v, t, num_iter=NUM_ITER)
                correct = tf.equal(tf.argmax(fn(v), 1, output_type=tf.int32), t)
                reg = 15.0 * tf.reduce_mean(regulariser_terms(r, correct, c=25.0, d=5.0))
            return tape.gradient(reg, clf.trainable_weights)
        return reg_grad

    fns = {
        "forward": lambda: fwd(x),
        "forward_backward_input": lambda: fb_input(x),
        "forward_backward_weights": lambda: fb_weights(x, y),
        "plain_step": step_fn(StandardTrainer(clf)),
        "dd_step_before": step_fn(Before(clf, num_iter=NUM_ITER)),
        "dd_step_after": step_fn(DeepDefenseTrainer(clf, num_iter=NUM_ITER)),
        "reg_value": lambda: reg_value(x, y),
    }
    graphs = {"persistent": make_reg_grad()}
    fns["reg_grad"] = lambda: graphs["persistent"](x, y)
    for kind in variants:
        graphs[kind] = make_reg_grad()
        fns[f"reg_grad_{kind}"] = (lambda k: lambda: graphs[k](x, y))(kind)
        with _jacobian(kind):  # trace now, with the swapped Jacobian
            graphs[kind](x, y)
    timed = _measure(fns, repeats)
    n = _steps_taken(fn, x, y)
    k = 10
    f_med = timed["forward"]["median_s"]
    out = {"model": name, "parameters": int(clf.count_params()), "clean_acc": clean_acc,
           "deepfool_steps_taken": n, "num_iter": NUM_ITER, "num_classes": k,
           "rows": {name_: {"median_s": v["median_s"], "min_s": v["min_s"],
                            "runs_s": v["runs_s"], "x_forward": v["median_s"] / f_med}
                    for name_, v in timed.items()}}
    # Under load, the median and the best run of each row give two estimates; both
    # are kept (the rows are interleaved, so load hits every row alike).
    for stat in ("median_s", "min_s"):
        t = {name_: v[stat] for name_, v in timed.items()}
        f = t["forward"]
        b = t["forward_backward_input"] - f
        fbw = t["forward_backward_weights"]

        def analytic(steps, stop_tests, f=f, b=b, fbw=fbw, t=t):
            reg = steps * (f + k * b) + stop_tests * f
            return {"reg_value_s": reg, "reg_grad_s": reg * fbw / f,
                    "dd_step_s": t["plain_step"] + f + reg * fbw / f}

        taken = analytic(n, n - 1 if n == NUM_ITER else n)
        u_steps = analytic(NUM_ITER, NUM_ITER - 1)
        ratios = {
            "speedup_after_vs_before": t["dd_step_before"] / t["dd_step_after"],
            "before_x_plain": t["dd_step_before"] / t["plain_step"],
            "after_x_plain": t["dd_step_after"] / t["plain_step"],
            "after_x_analytic_steps_taken": t["dd_step_after"] / taken["dd_step_s"],
            "after_x_analytic_u_steps": t["dd_step_after"] / u_steps["dd_step_s"],
            "reg_value_x_analytic": t["reg_value"] / taken["reg_value_s"],
            "reg_grad_x_analytic": t["reg_grad"] / taken["reg_grad_s"],
        }
        for kind in variants:
            ratios[f"reg_grad_{kind}_x_persistent"] = t[f"reg_grad_{kind}"] / t["reg_grad"]
        suffix = "" if stat == "median_s" else "_of_min"
        out["unit_s" + suffix] = {"forward": f, "input_backward": b,
                                  "forward_backward_weights": fbw}
        out["analytic_steps_taken" + suffix] = taken
        out["analytic_u_steps" + suffix] = u_steps
        out["ratios" + suffix] = ratios
    return out


def _markdown(res):
    lines = [f"# DeepDefense step cost on CPU ({res['data']}, batch {res['batch']}, "
             f"u = {NUM_ITER}, K = 10)", "",
             f"Median of {res['repeats']} interleaved repeats; `{res['command']}` at "
             f"commit `{res['provenance']['commit']}`; load average before/after "
             f"{res['load_average_before'][0]:.1f} / {res['load_average_after'][0]:.1f} "
             f"on {res['cpu_count']} cores.", "",
             "| model | DeepFool steps taken | F (ms) | plain step (ms) | DD step before "
             "(ms; x plain) | DD step after (ms; x plain) | speed-up (median; of minima) "
             "| after / analytic, steps taken (median; of minima) | after / analytic, "
             "u steps (median; of minima) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in res["models"]:
        r, q, qm = m["rows"], m["ratios"], m["ratios_of_min"]
        lines.append(
            f"| {m['model']} | {m['deepfool_steps_taken']} of {m['num_iter']} | "
            f"{1e3 * r['forward']['median_s']:.1f} | {1e3 * r['plain_step']['median_s']:.1f} | "
            f"{1e3 * r['dd_step_before']['median_s']:.0f}; {q['before_x_plain']:.0f}x | "
            f"{1e3 * r['dd_step_after']['median_s']:.0f}; {q['after_x_plain']:.0f}x | "
            f"**{q['speedup_after_vs_before']:.2f}x**; "
            f"{qm['speedup_after_vs_before']:.2f}x | "
            f"{q['after_x_analytic_steps_taken']:.2f}; "
            f"{qm['after_x_analytic_steps_taken']:.2f} | "
            f"{q['after_x_analytic_u_steps']:.2f}; {qm['after_x_analytic_u_steps']:.2f} |")
    lines += ["", "Regulariser alone, shipped form (measured / analytic at the steps "
              "taken), and the other ways to take the K Jacobian rows (gradient time / "
              "shipped); medians (of minima in brackets):", "",
              "| model | value / analytic | gradient / analytic | output_gradients | "
              "batch_jacobian |", "|---|---|---|---|---|"]
    for m in res["models"]:
        q, qm = m["ratios"], m["ratios_of_min"]

        def both(key, unit=""):
            if key not in q:
                return ""
            return f"{q[key]:.2f}{unit} ({qm[key]:.2f}{unit})"

        lines.append(f"| {m['model']} | {both('reg_value_x_analytic')} | "
                     f"{both('reg_grad_x_analytic')} | "
                     f"{both('reg_grad_output_gradients_x_persistent', 'x')} | "
                     f"{both('reg_grad_batch_jacobian_x_persistent', 'x')} |")
    lines += ["", "Rows, in forward passes F of the same model and batch:", ""]
    for m in res["models"]:
        lines.append(f"- {m['model']}: " + ", ".join(
            f"{k} {v['x_forward']:.1f}" for k, v in m["rows"].items()))
    return "\n".join(lines) + "\n"


def main(argv=None):
    from tf_advnet.utils.provenance import Provenance

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=None, help="default 5; quick 2")
    p.add_argument("--models", default=None,
                   help="comma-separated (default deepdefense_mlp,deepdefense_lenet; "
                        "quick: deepdefense_mlp)")
    p.add_argument("--no_variants", action="store_true",
                   help="skip the output_gradients / batch_jacobian rows")
    p.add_argument("--out", default=_DEFAULT_OUT)
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    models = (args.models or ("deepdefense_mlp" if args.quick
                              else "deepdefense_mlp,deepdefense_lenet")).split(",")
    variants = () if args.no_variants else ("output_gradients", "batch_jacobian")
    prov = Provenance(seed=0, preset="benchmark", argv=sys.argv if argv is None else argv)
    load_before = os.getloadavg()

    x_tr, y_tr, x_te, y_te, data_name = _load_data(4096, 100)
    x, y = tf.constant(x_te), tf.constant(y_te.astype("int32"))
    results = []
    for name in models:
        print(f"[{name}]", flush=True)
        results.append(_bench_model(name, x_tr, y_tr, x, y, repeats, variants))
        print(json.dumps(results[-1]["ratios"], indent=1), flush=True)
    res = {"benchmark": "deepdefense_step", "data": data_name, "batch": int(x.shape[0]),
           "repeats": repeats, "models": results, "load_average_before": load_before,
           "load_average_after": os.getloadavg(), "cpu_count": os.cpu_count(),
           "date": datetime.datetime.now().isoformat(),
           "command": " ".join(sys.argv if argv is None else argv),
           "provenance": prov.finish()}
    md = _markdown(res)
    print(md)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as fh:
        fh.write(md)


if __name__ == "__main__":
    main()
