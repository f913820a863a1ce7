"""Input-gradient magnitudes of a classifier (BAT, Wang & Zhang 2019, Table 2).

For every test image the squared L2 norm of the loss gradient w.r.t. the input,
||grad_x CE(f(x), y)||_2^2 (in the [0, 1] pixel scale of our models; BAT's images
are in [-1, 1], which divides their numbers by 4), summarised by min / mean / max
over all images, the correctly classified and the misclassified ones. Adversarially
trained models have much smaller gradients than undefended ones (paper Sec. 3).

Example:
    stats = gradient_magnitude_stats(model, x_test, y_test)
    stats["correct"]["mean"]
"""

import numpy as np
import tensorflow as tf

from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.robustness import as_model_fn


def input_gradient_stats(model, x, y, *, batch_size=256):
    """Per-example statistics of grad_x CE(f(x), y), BN in inference mode.

    Returns:
      (sq_norms float64 (N,): ||g||_2^2, max_abs float64 (N,): max |g|,
       finite bool (N,): g has no NaN/inf, correct bool (N,)).
    """
    model_fn = as_model_fn(model)

    @tf.function
    def fn(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            logits = model_fn(xb)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(yb, tf.int64), logits=logits)
        g = tape.gradient(ce, xb)  # per-example: the examples are independent
        g = tf.reshape(g, [tf.shape(g)[0], -1])
        return (tf.reduce_sum(tf.square(g), axis=1), tf.reduce_max(tf.abs(g), axis=1),
                tf.reduce_all(tf.math.is_finite(g), axis=1),
                tf.equal(tf.argmax(logits, -1), tf.cast(yb, tf.int64)))

    sq, max_abs, finite, correct = map_batches(fn, np.asarray(x, np.float32),
                                               np.asarray(y, np.int64),
                                               batch_size=batch_size)
    return (sq.astype(np.float64), max_abs.astype(np.float64), finite.astype(bool),
            correct.astype(bool))


def input_gradient_norms(model, x, y, *, batch_size=256):
    """Per-example ||grad_x CE||_2^2 and correctness, BN in inference mode.

    Returns:
      (sq_norms float64 (N,), correct bool (N,)).
    """
    sq, _, _, correct = input_gradient_stats(model, x, y, batch_size=batch_size)
    return sq, correct


def gradient_magnitude_stats(model, x, y, *, batch_size=256):
    """min / mean / max of ||grad_x CE||_2^2 over all / correct / wrong images.

    Returns:
      {"all" | "correct" | "wrong": {"n", "min", "mean", "max"}} (None where empty).
    """
    sq, correct = input_gradient_norms(model, x, y, batch_size=batch_size)
    out = {}
    for name, mask in (("all", np.ones_like(correct)), ("correct", correct),
                       ("wrong", ~correct)):
        v = sq[mask]
        out[name] = {"n": int(v.size),
                     **{k: (float(f(v)) if v.size else None)
                        for k, f in (("min", np.min), ("mean", np.mean), ("max", np.max))}}
    return out
