"""Differentiable DeepFool: DeepDefense's perturbation Delta_x(W) (Yan et al. 2018).

DeepDefense (NeurIPS 2018, Eqs. 1-3, 6) regularises ||Delta_x||_2 / ||x||_2 where
Delta_x is the DeepFool perturbation, built as a differentiable function of the
weights W. Here it is computed with `num_iter` unrolled DeepFool steps; at each
step the logits' input gradients come from an inner `tf.GradientTape` that runs
*inside* whatever outer tape the caller holds, so the outer tape differentiates
through the logits at the perturbed point, the input gradients (second order in W)
and the accumulated perturbation -- the paper's "recursive-flavoured network".

Per step, at the linearisation point `p` (see `linearize_at`), with `l` the
reference label, `f'_k = Z_k(p) - Z_l(p)`, `w_k = grad Z_k(p) - grad Z_l(p)`:

    k* = argmin_{k in candidates} |f'_k| / ||w_k + e||_2
    r  = |f'_k*| / ||w_k* + e||_2^2 * w_k*

with `e = norm_eps` added to every entry of w inside the norm (the reference code's
stabiliser, 5e-6 MNIST / 1e-5 CIFAR; DeepDefense code `deepdefense.py`,
`project_boundary_polyhedron`).

- Correctly classified samples (or every sample when `y` is None): multi-class
  DeepFool from the predicted label l = l_hat (fixed), all other classes as
  candidates; a sample stops (its later steps are multiplied by 0) once
  `argmax Z(x + (1 + overshoot) * sum_j r_j) != l_hat`.
- Misclassified samples (`y` given, `argmax Z(x) != y`): binary DeepFool towards the
  true label: l = the *current* prediction at `p` (re-read each step), the only
  candidate is y; the sample stops once `argmax Z(x + (1 + overshoot) sum_j r_j) == y`.
- Returned: `Delta = (1 + overshoot) * sum_i r_i` (the partial sum for samples that
  are never fooled). No clipping (DeepDefense's inputs are not in a box).

`linearize_at` picks `p`: `"overshoot"` (the default) linearises at
`x + (1 + overshoot) * sum_j r_j`, the point of the stop test; `"sum"` linearises at
`x + sum_j r_j` and applies the overshoot only in the stop test and the returned
Delta, as the official code does (`DeepFool.forward_correct` / `forward_wrong`
accumulate `inputs_perturbed` without it). The two agree when `overshoot = 0`.

Constants for the outer gradient: the argmin index and the stop masks (as the ReLU
masks and pool switches are, automatically). The loop is a `tf.while_loop` of at most
`num_iter` steps that stops once no sample is active, the official code's rule
(`if np.all(self.fooled): break`), and each step computes only the samples still
active (gathered, their steps scattered back): a stopped sample's steps are zero, so
neither stopping the loop early nor leaving stopped samples out changes Delta or its
gradient (`compact=False` computes the whole batch with masks instead, for XLA: see
the argument). It traces once inside `tf.function`.

Cost per step, on the b samples still active: one forward pass at `p` and K backward
passes from it (K = number of classes; a persistent inner tape gives the K
input-gradient rows of the batch Jacobian), plus one forward pass without gradient at
the stop-test point (skipped after the last step). The outer gradient differentiates
through these.

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

from tf_advnet.attacks._common import as_labels, check

# The reference code's MNIST value of e (CIFAR uses 1e-5).
DEFAULT_NORM_EPS = 5e-6


def safe_l2_norm(t):
    """Per-example L2 norm of `t` (B, ...), with a zero (not NaN) gradient at 0."""
    sq = tf.reduce_sum(tf.square(tf.reshape(t, [tf.shape(t)[0], -1])), axis=1)
    pos = sq > 0
    return tf.where(pos, tf.sqrt(tf.where(pos, sq, tf.ones_like(sq))),
                    tf.zeros_like(sq))


def _logits_and_jacobian(model_fn, p, num_classes, dtype):
    """Z(p) (B, K) and dZ_k/dp (B, K, D), differentiable w.r.t. the weights.

    One forward pass under a persistent inner tape, then one backward pass per class
    (examples are independent, so the gradient of sum_b Z_k(p_b) is row k of every
    example's Jacobian). Created inside the caller's outer tape, the inner gradients
    are themselves recorded.
    """
    batch = tf.shape(p)[0]
    with tf.GradientTape(persistent=True) as inner:
        inner.watch(p)
        logits = tf.cast(model_fn(p), dtype)
        columns = [logits[:, k] for k in range(num_classes)]
    rows = [tf.reshape(inner.gradient(col, p), [batch, -1]) for col in columns]
    del inner
    return logits, tf.stack(rows, axis=1)


def _predict(model_fn, p):
    return tf.argmax(model_fn(p), axis=-1, output_type=tf.int32)


def differentiable_deepfool(model_fn, x, y=None, *, num_iter=5, overshoot=0.02,
                            norm_eps=DEFAULT_NORM_EPS, linearize_at="overshoot",
                            compact=True):
    """DeepDefense's DeepFool perturbation Delta_x, differentiable w.r.t. weights.

    Call it under the outer `tf.GradientTape` that should see the weights.

    Args:
      model_fn: callable mapping (B, ...) inputs to (B, K) logits; examples must be
        independent (inference mode). Any float dtype (float64 for checks); logits
        are cast to the dtype of `x` (e.g. float16 logits of a mixed-precision model).
      x: (B, ...) inputs (treated as constants).
      y: None (every sample: multi-class DeepFool from its prediction, as in the
        rho_2 evaluation), or (B,) int labels / (B, K) one-hot: misclassified
        samples then get a binary DeepFool towards y.
      num_iter: number of DeepFool steps u (>= 0; DeepDefense: 5).
      overshoot: >= 0; Delta = (1 + overshoot) * sum of the steps, and the stop test
        is made at x + Delta.
      norm_eps: >= 0, added to every entry of w_k inside its norm.
      linearize_at: "overshoot" (linearise at x + Delta) or "sum" (at x + sum of the
        steps, as the official code); see the module docstring.
      compact: compute each step on the still-active samples only (True), or on the
        whole batch with stopped samples masked (False). Same Delta and gradient;
        True is faster, False is the form to use under XLA (`jit_compile=True`),
        which compiles the dynamic-size gather of True but was seen to give wrong
        weight gradients with it.

    Returns:
      Delta, a tensor like `x` (same dtype).

    Raises:
      ValueError: for a bad hyper-parameter or a `y` of the wrong size.
    """
    check("num_iter", num_iter,
          isinstance(num_iter, (int, np.integer)) and num_iter >= 0, "an int >= 0")
    check("overshoot", overshoot, overshoot >= 0, "a float >= 0")
    check("norm_eps", norm_eps, norm_eps >= 0, "a float >= 0")
    check("linearize_at", linearize_at, linearize_at in ("overshoot", "sum"),
          'one of "overshoot", "sum"')
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    dtype = x.dtype
    x = tf.stop_gradient(x)
    labels = None if y is None else as_labels(y, x)
    batch = tf.shape(x)[0]
    flat_shape = tf.shape(tf.reshape(x, [batch, -1]))
    scale = tf.constant(1.0 + overshoot, dtype)
    lin_scale = scale if linearize_at == "overshoot" else tf.constant(1.0, dtype)
    e = tf.constant(norm_eps, dtype)
    r_tot = tf.zeros(flat_shape, dtype)
    if num_iter == 0:
        return tf.reshape(r_tot, tf.shape(x))
    num_classes = int(model_fn(x[:1]).shape[-1])

    def body(i, r_tot, active, l_hat):
        # Only the active samples are computed: a stopped sample's steps are zero
        # (the official code computes and masks them), so leaving them out changes
        # neither Delta nor its gradient.
        if compact:
            idx = tf.cast(tf.where(active)[:, 0], tf.int32)
            x_a, r_a, active_a = tf.gather(x, idx), tf.gather(r_tot, idx), None
        else:
            x_a, r_a, active_a = x, r_tot, active
        shape_a = tf.shape(x_a)
        p = x_a + lin_scale * tf.reshape(r_a, shape_a)
        logits, jac = _logits_and_jacobian(model_fn, p, num_classes, dtype)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        # The first step runs at x: its prediction is l_hat.
        l_hat_a = tf.where(tf.equal(i, 0), pred,
                           tf.gather(l_hat, idx) if compact else l_hat)
        target = l_hat_a if labels is None else (
            tf.gather(labels, idx) if compact else labels)
        correct = tf.equal(l_hat_a, target)
        # Reference label and candidates, per example.
        ref = tf.where(correct, l_hat_a, pred)
        onehot_ref = tf.one_hot(ref, num_classes, on_value=True, off_value=False)
        onehot_y = tf.one_hot(target, num_classes, on_value=True, off_value=False)
        candidates = tf.where(correct[:, None], tf.logical_not(onehot_ref), onehot_y)
        f_ref = tf.gather(logits, ref, batch_dims=1)
        g_ref = tf.gather(jac, ref, batch_dims=1)
        f_diff = logits - f_ref[:, None]                      # (b, K)
        w = jac - g_ref[:, None, :]                           # (b, K, D)
        w_norm = safe_l2_norm_rows(w + e)                     # (b, K)
        usable = tf.logical_and(candidates, w_norm > 0)
        safe_norm = tf.where(usable, w_norm, tf.ones_like(w_norm))
        dist = tf.where(usable, tf.abs(f_diff) / safe_norm,
                        tf.constant(np.inf, dtype))
        best = tf.stop_gradient(tf.argmin(dist, axis=1, output_type=tf.int32))
        movable = tf.math.is_finite(tf.gather(dist, best, batch_dims=1))
        if not compact:
            movable = tf.logical_and(active_a, movable)
        f_best = tf.abs(tf.gather(f_diff, best, batch_dims=1))
        n_best = tf.gather(safe_norm, best, batch_dims=1)
        w_best = tf.gather(w, best, batch_dims=1)
        step = (f_best / tf.square(n_best))[:, None] * w_best
        step = tf.stop_gradient(tf.cast(movable, dtype))[:, None] * step
        if compact:
            r_tot = tf.tensor_scatter_nd_add(r_tot, idx[:, None], step)
            l_hat = tf.tensor_scatter_nd_update(l_hat, idx[:, None], l_hat_a)
        else:
            r_tot, l_hat = r_tot + step, l_hat_a

        def stop_test():
            # A stopped sample no longer moves, so its stop stays final.
            new = _predict(model_fn, x_a + scale * tf.reshape(r_a + step, shape_a))
            going = tf.where(correct, tf.equal(new, l_hat_a), tf.not_equal(new, target))
            if compact:
                return tf.scatter_nd(idx[:, None], going, tf.shape(active))
            return tf.logical_and(active_a, going)

        active = tf.cond(i + 1 < num_iter, stop_test, lambda: active)
        return i + 1, r_tot, tf.stop_gradient(active), l_hat

    _, r_tot, _, _ = tf.while_loop(
        lambda i, r_tot, active, l_hat: tf.logical_and(i < num_iter,
                                                       tf.reduce_any(active)),
        body,
        (tf.constant(0), r_tot, tf.ones([batch], tf.bool), tf.zeros([batch], tf.int32)),
        maximum_iterations=num_iter)
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
