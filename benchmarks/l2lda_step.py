"""Where an L2L-DA training step goes: tracing vs warm steps, generator vs classifier.

A script, not a test. One L2L-DA step (`tf_advnet.trainers.l2lda.L2LDATrainer`,
Algorithm 1 of Jang et al., ICCV 2019) on the report card's setting (small CNN,
width-16 generator, T = 10, two z samples per image, batch 128) against a plain
cross-entropy step of the same classifier, both through `model.fit` and timed by
`tf_advnet.utils.timing.time_fit` (warm steps; the tracing steps apart). Its parts are
timed as separate compiled functions on the same batch:

- `generator_forward`: the recursion of Eq. (5) without a tape (T generator
  forwards on 2B images and the classifier's loss and input gradient at each step);
- `generator_step`: the same under the generator's tape plus its gradient (what the
  generator's update costs before `apply`);
- `classifier_in_recursion`: the classifier's share of `generator_step`: the same
  T loss-and-input-gradient calls and the outer gradient through them, with the
  generator replaced by a sign step;
- `classifier_step`: the classifier's descent on the 3B batch [x; x_adv(z1); x_adv(z2)].

The analytic count is in multiply-accumulates (MACs) per training image, with a
backward pass costing two forwards (data and weight gradients), the input-only
gradient one forward: generator 2 samples x T x 3 G; classifier inside the recursion
2 x (2 + 3 (T - 1) + 2) C (the first input gradient, T - 1 steps of forward + input
gradient + the outer backward, and the last forward + outer backward); the
classifier's own step 3 x 3 C. A plain step is 3 C.

    .venv/bin/python benchmarks/l2lda_step.py            # ~2 min on 2 cores
    .venv/bin/python benchmarks/l2lda_step.py --quick    # fewer steps

Writes results/benchmarks/l2lda_step_cpu.{json,md}.
"""

import argparse
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

_DEFAULT_OUT = os.path.join("results", "benchmarks", "l2lda_step_cpu.json")


def macs(model):
    """Multiply-accumulates of one forward pass per image (conv, transposed conv and
    dense layers; the rest is elementwise)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * c_in * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, _ = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def analytic(g, c, steps):
    """MACs per training image of an L2L-DA step and of a plain step (docstring)."""
    gen = 2 * steps * 3 * g
    clf_recursion = 2 * (2 + 3 * (steps - 1) + 2) * c
    clf_step = 3 * 3 * c
    return {"generator_macs_per_image": g, "classifier_macs_per_image": c,
            "l2lda_generator": gen, "l2lda_classifier_in_recursion": clf_recursion,
            "l2lda_classifier_step": clf_step,
            "l2lda_total": gen + clf_recursion + clf_step, "plain_step": 3 * c,
            "ratio": (gen + clf_recursion + clf_step) / (3 * c)}


def _median_seconds(fn, args, repeats):
    fn(*args)  # trace
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), res)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def run(batch, width, steps, warm_steps, repeats):
    from tf_advnet.attacks.l2lda import loss_and_gradient, trajectory
    from tf_advnet.models import build_model
    from tf_advnet.models.l2lda_generator import l2lda_generator
    from tf_advnet.trainers.l2lda import L2LDATrainer
    from tf_advnet.trainers.standard import StandardTrainer
    from tf_advnet.utils.timing import time_fit

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch * 4
    x = rng.random((n, 28, 28, 1), np.float32)
    y = rng.integers(0, 10, n)
    eps = 0.1

    def classifier():
        keras.utils.set_random_seed(0)
        return build_model("small_cnn", (28, 28, 1), 10)

    out = {"setting": {"classifier": "small_cnn", "generator_width": width,
                       "num_steps": steps, "z_samples": 2, "batch": batch, "eps": eps,
                       "warm_steps": warm_steps, "repeats": repeats}}
    plain = StandardTrainer(classifier())
    plain.compile(optimizer=keras.optimizers.Adam(1e-3))
    out["plain_fit"] = time_fit(plain, x, y, batch_size=batch, steps=warm_steps * 4)
    clf = classifier()
    gen = l2lda_generator((28, 28, 1), 10, width=width)
    trainer = L2LDATrainer(clf, gen, eps=eps, num_steps=steps, lam=0.02)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    out["l2lda_fit"] = time_fit(trainer, x, y, batch_size=batch, steps=warm_steps)

    # The parts, on one batch of pairs.
    xb = tf.constant(x[:batch])
    yb = tf.constant(y[:batch], tf.int64)
    xx, yy = tf.concat([xb, xb], 0), tf.concat([yb, yb], 0)
    z = tf.random.stateless_normal([2 * batch, 8], seed=[0, 0])
    fn = trainer.classifier_fn
    gen_w = gen.trainable_weights

    @tf.function
    def generator_forward(xx, yy, z):
        x_advs, losses = trajectory(gen, fn, xx, yy, z, eps=eps, eps_step=eps / 4,
                                    num_steps=steps)
        return x_advs[-1], losses[-1]

    @tf.function
    def generator_step(xx, yy, z):
        with tf.GradientTape() as tape:
            _, losses = trajectory(gen, fn, xx, yy, z, eps=eps, eps_step=eps / 4,
                                   num_steps=steps)
            loss = tf.add_n([tf.reduce_mean(v) for v in losses])
        return tape.gradient(loss, gen_w)

    scale = tf.Variable(eps / 4)  # stands in for g_phi's weights

    @tf.function
    def classifier_in_recursion(xx, yy):
        # Eq. (5)'s classifier calls with a sign step of learnable size for g_phi.
        with tf.GradientTape() as tape:
            _, grad = loss_and_gradient(fn, xx, yy)
            delta = tf.zeros_like(xx)
            total = 0.0
            for t in range(steps):
                delta = tf.clip_by_value(delta + scale * tf.sign(grad), -eps, eps)
                x_adv = tf.clip_by_value(xx + delta, 0.0, 1.0)
                if t + 1 < steps:
                    loss, grad = loss_and_gradient(fn, x_adv, yy)
                else:
                    loss = keras.losses.sparse_categorical_crossentropy(
                        yy, fn(x_adv), from_logits=True)
                total += tf.reduce_mean(loss)
        return tape.gradient(total, scale)

    x3 = tf.concat([xb, xx], 0)
    y3 = tf.concat([yb, yy], 0)

    @tf.function
    def classifier_step(x3, y3):
        with tf.GradientTape() as tape:
            loss, _ = trainer.ce(x3, y3)
        return tape.gradient(loss, clf.trainable_weights)

    parts = {
        "generator_forward": _median_seconds(generator_forward, (xx, yy, z), repeats),
        "generator_step": _median_seconds(generator_step, (xx, yy, z), repeats),
        "classifier_in_recursion": _median_seconds(classifier_in_recursion, (xx, yy),
                                                   repeats),
        "classifier_step": _median_seconds(classifier_step, (x3, y3), repeats),
    }
    out["parts_seconds"] = parts
    step_s = batch / out["l2lda_fit"]["images_per_second"]
    plain_s = batch / out["plain_fit"]["images_per_second"]
    out["measured"] = {
        "l2lda_step_seconds": step_s, "plain_step_seconds": plain_s,
        "ratio": step_s / plain_s,
        "generator_share_of_step": (parts["generator_step"]
                                    - parts["classifier_in_recursion"]) / step_s,
        "classifier_in_recursion_share": parts["classifier_in_recursion"] / step_s,
        "classifier_step_share": parts["classifier_step"] / step_s,
        "unaccounted_share": 1 - (parts["generator_step"] + parts["classifier_step"])
        / step_s,
        "l2lda_trace_steps_seconds": out["l2lda_fit"]["trace_steps_seconds"],
        "plain_trace_steps_seconds": out["plain_fit"]["trace_steps_seconds"],
    }
    out["analytic"] = analytic(macs(gen), macs(clf), steps)
    a = out["analytic"]
    out["measured"]["ratio_over_analytic"] = out["measured"]["ratio"] / a["ratio"]
    return out


def markdown(res):
    s, m, a, p = res["setting"], res["measured"], res["analytic"], res["parts_seconds"]
    prov = res["provenance"]
    lines = [
        "# L2L-DA training step: where the time goes", "",
        f"small CNN classifier, width-{s['generator_width']} generator, T = "
        f"{s['num_steps']}, two z samples, batch {s['batch']}; "
        f"{s['warm_steps']} warm L2L-DA steps through `model.fit` "
        "(`tf_advnet.utils.timing.time_fit`), parts as compiled functions, median of "
        f"{s['repeats']}. Generated by benchmarks/l2lda_step.py; do not edit.", "",
        "| | seconds | share of an L2L-DA step |", "|---|---|---|",
        f"| L2L-DA step (warm) | {m['l2lda_step_seconds']:.3f} | 100% |",
        f"| generator forward only (Eq. 5 recursion) | {p['generator_forward']:.3f} | "
        f"{100 * p['generator_forward'] / m['l2lda_step_seconds']:.0f}% |",
        f"| generator forward + backward | {p['generator_step']:.3f} | "
        f"{100 * p['generator_step'] / m['l2lda_step_seconds']:.0f}% |",
        f"| of which the classifier's calls in the recursion | "
        f"{p['classifier_in_recursion']:.3f} | "
        f"{100 * m['classifier_in_recursion_share']:.0f}% |",
        f"| classifier step on the 3B batch | {p['classifier_step']:.3f} | "
        f"{100 * m['classifier_step_share']:.0f}% |",
        f"| rest (optimiser updates, metrics, data) | | "
        f"{100 * m['unaccounted_share']:.0f}% |",
        f"| plain cross-entropy step (warm) | {m['plain_step_seconds']:.4f} | |",
        f"| tracing steps, L2L-DA / plain | {m['l2lda_trace_steps_seconds']:.1f} / "
        f"{m['plain_trace_steps_seconds']:.1f} | |", "",
        f"L2L-DA step / plain step: measured **{m['ratio']:.0f}x**, analytic "
        f"{a['ratio']:.0f}x ({a['l2lda_total'] / 1e6:.0f}M vs {a['plain_step'] / 1e6:.2f}M "
        f"MACs per training image; generator {a['generator_macs_per_image'] / 1e6:.2f}M, "
        f"classifier {a['classifier_macs_per_image'] / 1e6:.2f}M MACs per forward): "
        f"measured / analytic = {m['ratio_over_analytic']:.2f}.", "",
        f"Provenance: `{prov['command']}`, commit `{prov['commit'][:7]}`, "
        f"{prov['device']['cpu_count']} CPU cores (load average "
        f"{res.get('load_average_1min_at_end', '?')} at the end), {prov['started']}, wall "
        f"{prov['wall_time_s']} s; TensorFlow {prov['versions']['tensorflow']}.", ""]
    return "\n".join(lines)


def main():
    from tf_advnet.utils.provenance import Provenance, write_json

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--out", default=_DEFAULT_OUT)
    args = p.parse_args()
    prov = Provenance(seed=0, preset="cpu", argv=sys.argv)
    warm, repeats = (4, 3) if args.quick else (12, 7)
    res = run(args.batch, args.width, 10, warm, repeats)
    res["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)  # other processes
    res["provenance"] = prov.finish()
    write_json(args.out, res)
    md = markdown(res)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
