"""Differentiable DeepFool: DeepDefense's perturbation Delta_x(W) (Yan et al. 2018).

DeepDefense (NeurIPS 2018, Eqs. 1-3, 6) regularises ||Delta_x||_2 / ||x||_2 where
Delta_x is the DeepFool perturbation, built as a differentiable function of the
weights W. Here it is computed with `num_iter` unrolled DeepFool steps; at each
step the logits' input gradients come from an inner `tf.GradientTape` that runs
*inside* whatever outer tape the caller holds, so the outer tape differentiates
through the logits at the perturbed point, the input gradients (second order in W)
and the accumulated perturbation -- the paper's "recursive-flavoured network".

Per step, at the current point `p = x + (1 + overshoot) * sum_j r_j`, with `l` the
reference label, `f'_k = Z_k(p) - Z_l(p)`, `w_k = grad Z_k(p) - grad Z_l(p)`:

    k* = argmin_{k in candidates} |f'_k| / ||w_k + e||_2
    r  = |f'_k*| / ||w_k* + e||_2^2 * w_k*

with `e = norm_eps` added to every entry of w inside the norm (the reference code's
stabiliser, 5e-6 MNIST / 1e-5 CIFAR; implementation notes §4.1, §6 item 20).

- Correctly classified samples (or every sample when `y` is None): multi-class
  DeepFool from the predicted label l = l_hat (fixed), all other classes as
  candidates; a sample stops (its later steps are multiplied by 0) once
  `argmax Z(p) != l_hat`.
- Misclassified samples (`y` given, `argmax Z(x) != y`): binary DeepFool towards the
  true label: l = the *current* prediction (re-read each step), the only candidate
  is y; the sample stops once `argmax Z(p) == y`.
- Returned: `Delta = (1 + overshoot) * sum_i r_i` (the partial sum for samples that
  are never fooled). No clipping (DeepDefense's inputs are not in a box).

Constants for the outer gradient: the argmin index and the stop masks (as the ReLU
masks and pool switches are, automatically). Stopping is per example, with masks;
the loop over steps is a Python loop of fixed length `num_iter`, never a branch on
tensor values, so the function traces once inside `tf.function`.

Cost per step: one forward + backward over a batch repeated K times (K = number of
classes; copy k differentiates Z_k), i.e. a batch Jacobian without `pfor`.

Example:

```python
with tf.GradientTape() as tape:
    delta = differentiable_deepfool(lambda v: model(v, training=False), x, y)
    r = safe_l2_norm(delta) / safe_l2_norm(x)
grads = tape.gradient(tf.reduce_mean(r), model.trainable_weights)
```

`tf_advnet.attacks.deepfool.deepfool` is the non-differentiable attack used for
evaluation (it adds a 1e-4 slack per step and no e; with `norm_eps=0` and enough
iterations the two agree up to that slack).
"""

import numpy as np
import tensorflow as tf

from tf_advnet.attacks._validation import as_labels, check

# The reference code's MNIST value of e (CIFAR uses 1e-5).
DEFAULT_NORM_EPS = 5e-6


def safe_l2_norm(t):
    """Per-example L2 norm of `t` (B, ...), with a zero (not NaN) gradient at 0."""
    sq = tf.reduce_sum(tf.square(tf.reshape(t, [tf.shape(t)[0], -1])), axis=1)
    pos = sq > 0
    return tf.where(pos, tf.sqrt(tf.where(pos, sq, tf.ones_like(sq))),
                    tf.zeros_like(sq))


def _logits_and_jacobian(model_fn, p, num_classes):
    """Z(p) (B, K) and dZ_k/dp (B, K, D), differentiable w.r.t. the weights.

    The inner tape is a plain (non-persistent) tape over a K-times repeated batch;
    created inside the caller's outer tape, its gradient is itself recorded.
    """
    batch = tf.shape(p)[0]
    p_rep = tf.repeat(p, num_classes, axis=0)
    classes = tf.tile(tf.range(num_classes, dtype=tf.int32), [batch])
    with tf.GradientTape() as inner:
        inner.watch(p_rep)
        logits_rep = model_fn(p_rep)
        picked = tf.gather(logits_rep, classes, batch_dims=1)
    grad = inner.gradient(picked, p_rep)
    logits = tf.reshape(logits_rep, [batch, num_classes, num_classes])[:, 0, :]
    jac = tf.reshape(grad, [batch, num_classes, -1])
    return logits, jac


def differentiable_deepfool(model_fn, x, y=None, *, num_iter=5, overshoot=0.02,
                            norm_eps=DEFAULT_NORM_EPS):
    """DeepDefense's DeepFool perturbation Delta_x, differentiable w.r.t. weights.

    Call it under the outer `tf.GradientTape` that should see the weights.

    Args:
      model_fn: callable mapping (B, ...) inputs to (B, K) logits; examples must be
        independent (inference mode). Any float dtype (float64 for checks).
      x: (B, ...) inputs (treated as constants).
      y: None (every sample: multi-class DeepFool from its prediction, as in the
        rho_2 evaluation), or (B,) int labels / (B, K) one-hot: misclassified
        samples then get a binary DeepFool towards y.
      num_iter: number of DeepFool steps u (>= 0; DeepDefense: 5).
      overshoot: >= 0; Delta = (1 + overshoot) * sum of the steps, and the stop test
        is made at x + Delta.
      norm_eps: >= 0, added to every entry of w_k inside its norm.

    Returns:
      Delta, a tensor like `x` (same dtype).

    Raises:
      ValueError: for a bad hyper-parameter or a `y` of the wrong size.
    """
    check("num_iter", num_iter,
          isinstance(num_iter, (int, np.integer)) and num_iter >= 0, "an int >= 0")
    check("overshoot", overshoot, overshoot >= 0, "a float >= 0")
    check("norm_eps", norm_eps, norm_eps >= 0, "a float >= 0")
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    dtype = x.dtype
    x = tf.stop_gradient(x)
    flat_shape = tf.shape(tf.reshape(x, [tf.shape(x)[0], -1]))
    scale = tf.constant(1.0 + overshoot, dtype)
    e = tf.constant(norm_eps, dtype)

    r_tot = tf.zeros(flat_shape, dtype)
    num_classes = None
    for i in range(num_iter):
        p = x + scale * tf.reshape(r_tot, tf.shape(x))
        if num_classes is None:
            num_classes = int(model_fn(p[:1]).shape[-1])
        logits, jac = _logits_and_jacobian(model_fn, p, num_classes)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if i == 0:
            l_hat = pred
            labels = l_hat if y is None else as_labels(y, x)
            correct = tf.equal(l_hat, labels)
        # Reference label, candidates and the stop test, per example.
        ref = tf.where(correct, l_hat, pred)
        onehot_ref = tf.one_hot(ref, num_classes, on_value=True, off_value=False)
        onehot_y = tf.one_hot(labels, num_classes, on_value=True, off_value=False)
        candidates = tf.where(correct[:, None], tf.logical_not(onehot_ref), onehot_y)
        active = tf.where(correct, tf.equal(pred, l_hat), tf.not_equal(pred, labels))
        f_ref = tf.gather(logits, ref, batch_dims=1)
        g_ref = tf.gather(jac, ref, batch_dims=1)
        f_diff = logits - f_ref[:, None]                      # (B, K)
        w = jac - g_ref[:, None, :]                           # (B, K, D)
        w_norm = safe_l2_norm_rows(w + e)                     # (B, K)
        usable = tf.logical_and(candidates, w_norm > 0)
        safe_norm = tf.where(usable, w_norm, tf.ones_like(w_norm))
        dist = tf.where(usable, tf.abs(f_diff) / safe_norm,
                        tf.constant(np.inf, dtype))
        best = tf.stop_gradient(tf.argmin(dist, axis=1, output_type=tf.int32))
        movable = tf.logical_and(
            active, tf.math.is_finite(tf.gather(dist, best, batch_dims=1)))
        f_best = tf.abs(tf.gather(f_diff, best, batch_dims=1))
        n_best = tf.gather(safe_norm, best, batch_dims=1)
        w_best = tf.gather(w, best, batch_dims=1)
        step = (f_best / tf.square(n_best))[:, None] * w_best
        mask = tf.stop_gradient(tf.cast(movable, dtype))[:, None]
        r_tot = r_tot + mask * step
    return tf.reshape(scale * r_tot, tf.shape(x))


def safe_l2_norm_rows(w):
    """L2 norm over the last axis, with a zero (not NaN) gradient at 0."""
    sq = tf.reduce_sum(tf.square(w), axis=-1)
    pos = sq > 0
    return tf.where(pos, tf.sqrt(tf.where(pos, sq, tf.ones_like(sq))),
                    tf.zeros_like(sq))


def deepdefense_ratio(model_fn, x, y=None, *, x_ref=None, **kwargs):
    """r = ||Delta_x||_2 / ||x_ref||_2 per example (x_ref defaults to x).

    DeepDefense normalises by the norm of the *preprocessed* input; pass
    `x_ref = x - mean` when the model subtracts a mean internally.

    Returns:
      (r, delta): (B,) ratios and the perturbation, both differentiable.
    """
    delta = differentiable_deepfool(model_fn, x, y, **kwargs)
    x = tf.convert_to_tensor(x, delta.dtype)
    ref = x if x_ref is None else tf.convert_to_tensor(x_ref, delta.dtype)
    return safe_l2_norm(delta) / safe_l2_norm(ref), delta
