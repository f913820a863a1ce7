"""DeepFool: iterative linearisation towards the nearest decision boundary.

Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method
to fool deep neural networks", CVPR 2016, https://arxiv.org/abs/1511.04599.

Multi-class DeepFool from label `l` (the prediction by default). At the
current point `x_i`, for every candidate class `k != l`, with
`f'_k = Z_k(x_i) - Z_l(x_i)` and `w_k = grad Z_k(x_i) - grad Z_l(x_i)`:

    k* = argmin_k |f'_k| / ||w_k||_q,
    r_i = (|f'_k*| / ||w_k*||_2 + 1e-4) * w_k* / ||w_k*||_2   (L2,    q = 2)
    r_i = (|f'_k*| / ||w_k*||_1 + 1e-4) * sign(w_k*)          (L-inf, q = 1)
    x_{i+1} = clip(x + (1 + overshoot) * sum_{j<=i} r_j)

and an example stops as soon as `argmax Z(x_i) != l` (per example; the
others go on), or after `max_iter` steps.

Conventions (decided here; see the tests for the checks):

- Overshoot multiplies the *total* perturbation, as in the original paper and
  in its reference code (and in foolbox 3).
- `perturbation = x_adv - x`, i.e. *after* clipping to [clip_min, clip_max],
  and `norms` are its per-example norms in the attack's norm. With
  `clip_min=None, clip_max=None` nothing is clipped and `perturbation` is
  DeepDefense's `Delta = (1 + overshoot) * sum_i r_i` (up to the step slack
  below; their inputs are mean-subtracted, so not in [0, 1]; their rho_2
  uses the predicted label, i.e. `y=None`, and `max_iter=5`).
- Candidates are the label plus the `num_candidates - 1` other classes with
  the largest clean logits (all classes when `num_candidates >= K`); they
  are fixed at the clean point, as in the reference code. When `y` is given
  and differs from the prediction the example is already fooled and is
  returned unchanged (`num_iter = 0`), so the candidate choice only matters
  when `y` is the top class.
- Every step is lengthened by `1e-4` in the attack's norm, `|f'_k*| /
  ||w_k*||_q + 1e-4`, as in the reference code and foolbox 3. On an affine
  model the result is therefore `(1 + overshoot) * (d + 1e-4)` with `d` the
  exact distance to the nearest boundary. Without the slack, clipped
  iterates can converge geometrically to a point on the boundary and never
  cross it (seen on 3 of 64 images of a tiny MLP in [0, 1]). DeepDefense's
  code has no slack (and takes at most 5 unclipped steps); the slack adds
  about `1.02e-4` per step to the norm, negligible next to its rho_2.
- A candidate whose `w_k` is exactly zero (e.g. all ReLUs dead) is never
  selected; if all are, the example does not move.
- Examples that are never fooled return their last iterate, not `x`.

Components:

- `deepfool`: the public attack; returns a `DeepFoolResult`.
- `_deepfool_loop`: the compiled `tf.while_loop`; each iteration takes the
  gradients of the `num_candidates - 1` logit differences in one backward
  pass over a batch with every example repeated once per candidate (a
  batch Jacobian without `pfor`, so tracing is cheap), and one extra
  forward pass to test the new point.

Example:

```python
model_fn = lambda x: model(x, training=False)
res = deepfool(model_fn, x, max_iter=50)
rho_2 = tf.reduce_mean(res.norms / tf.norm(tf.reshape(x, [len(x), -1]), axis=1))
```

A differentiable variant (gradients with respect to the model weights, for
DeepDefense's regulariser) is not provided here: it needs the Jacobian kept
inside an outer tape and is left to the DeepDefense trainer.
"""

import collections

import numpy as np
import tensorflow as tf

from tf_advnet.attacks import _projections
from tf_advnet.utils.compiled import per_model
from tf_advnet.attacks._common import as_labels, check, check_in_box

# Added to the distance of the chosen boundary at every step (Moosavi-Dezfooli
# et al.'s reference code and foolbox 3 do the same). Without it, when clipping
# is on, the iterates can converge to a point *on* the boundary and never
# cross it: the overshoot multiplies steps that shrink to zero.
_STEP_SLACK = 1e-4


class DeepFoolResult(
    collections.namedtuple(
        "DeepFoolResult",
        ["x_adv", "perturbation", "norms", "fooled", "num_iter"],
    )
):
    """Output of `deepfool`.

    Attributes:
      x_adv: float32 tensor like `x`, the last iterate (clipped if clipping
        is on).
      perturbation: `x_adv - x` (float32, like `x`).
      norms: (B,) float32, per-example norm of `perturbation` in the attack's
        norm (L2 or L-inf).
      fooled: (B,) bool, `argmax model_fn(x_adv) != label`.
      num_iter: (B,) int32, DeepFool steps taken by each example (0 for an
        example already misclassified with respect to `y`).
    """

    __slots__ = ()


@per_model(reduce_retracing=True)
def _deepfool_loop(model_fn, x, labels, others, overshoot, max_iter,
                   clip_min, clip_max, norm, clip_lo, clip_hi):
    """The DeepFool iterations (see the module docstring).

    Args:
      model_fn: logits callable.
      x: (B, ...) float32 images.
      labels: (B,) int32 labels to move away from.
      others: (B, C - 1) int32 candidate classes other than the label.
      overshoot: scalar float32 tensor.
      max_iter: scalar int32 tensor.
      clip_min, clip_max: scalar float32 tensors (ignored where the matching
        flag is False).
      norm: Python string, "2" or "inf".
      clip_lo, clip_hi: Python bools, whether to clip below / above.

    Returns:
      `(x_adv, still_correct, num_iter)`.
    """
    def point(r_tot):
        p = x + (1.0 + overshoot) * r_tot
        if clip_lo:
            p = tf.maximum(p, clip_min)
        if clip_hi:
            p = tf.minimum(p, clip_max)
        return p

    def correct(logits):
        return tf.equal(
            tf.argmax(logits, axis=-1, output_type=tf.int32), labels)

    def cond(i, r_tot, active, num_iter):
        return tf.logical_and(i < max_iter, tf.reduce_any(active))

    def body(i, r_tot, active, num_iter):
        x_i = point(r_tot)
        # The C-1 gradients w_k in one backward pass: every example is
        # repeated once per candidate and copy k differentiates Z_k - Z_l.
        # Needs examples to be independent (inference mode), as any batch
        # Jacobian does; the cost is that of a (C-1)-times larger batch.
        num_others = tf.shape(others)[1]
        x_rep = tf.repeat(x_i, num_others, axis=0)
        with tf.GradientTape() as tape:
            tape.watch(x_rep)
            logits_rep = model_fn(x_rep)
            f_l = tf.gather(logits_rep, tf.repeat(labels, num_others),
                            batch_dims=1)
            f_k = tf.gather(logits_rep, tf.reshape(others, [-1]),
                            batch_dims=1)
            diffs_rep = f_k - f_l
        grad = tape.gradient(diffs_rep, x_rep)
        batch = tf.shape(x_i)[0]
        diffs = tf.reshape(diffs_rep, [batch, num_others])
        w = tf.reshape(grad, [batch, num_others, -1])
        if norm == "2":
            w_norm = tf.sqrt(tf.reduce_sum(tf.square(w), axis=-1))
        else:
            w_norm = tf.reduce_sum(tf.abs(w), axis=-1)
        # Distance to each linearised boundary; a zero w_k is never chosen.
        dist = tf.where(w_norm > 0.0,
                        tf.abs(diffs) / tf.where(w_norm > 0.0, w_norm, 1.0),
                        tf.constant(np.inf, dtype=diffs.dtype))
        best = tf.argmin(dist, axis=1, output_type=tf.int32)
        d_best = tf.gather(dist, best, batch_dims=1)
        w_best = tf.gather(w, best, batch_dims=1)
        n_best = tf.gather(w_norm, best, batch_dims=1)
        movable = tf.logical_and(active, tf.math.is_finite(d_best))
        # `+ _STEP_SLACK`: see the module docstring (why it is needed).
        d_best = tf.where(movable, d_best + _STEP_SLACK, 0.0)
        if norm == "2":
            scale = d_best / tf.where(movable, n_best, 1.0)
            r = scale[:, None] * w_best
        else:
            r = d_best[:, None] * tf.sign(w_best)
        r_tot = r_tot + tf.reshape(r, tf.shape(x))
        num_iter = num_iter + tf.cast(active, tf.int32)
        active = tf.logical_and(active, correct(model_fn(point(r_tot))))
        return i + 1, r_tot, active, num_iter

    active = correct(model_fn(x))
    state = (tf.constant(0, tf.int32), tf.zeros_like(x), active,
             tf.zeros_like(labels))
    _, r_tot, active, num_iter = tf.while_loop(cond, body, state)
    # An example that never moved keeps `x` exactly (no clipping of x).
    moved = tf.reshape(num_iter > 0, [-1] + [1] * (len(x.shape) - 1))
    x_adv = tf.where(moved, point(r_tot), x)
    return x_adv, active, num_iter


def deepfool(model_fn, x, y=None, *, norm="2", num_candidates=10,
             overshoot=0.02, max_iter=50, clip_min=0.0, clip_max=1.0):
    """Multi-class DeepFool (L2 or L-inf).

    Works eagerly and inside a `tf.function` (the check that `x` lies in the
    box is then skipped).

    Args:
      model_fn: callable mapping a batch of images to logits (for a Keras
        model, `lambda x: model(x, training=False)`). Compiled graphs are
        cached per `model_fn` object, so reuse the same callable.
      x: images, shape (B, ...), float.
      y: int labels (B,) or one-hot (B, K) to move away from; None: the
        model's predicted labels (DeepDefense's rho_2).
      norm: "2" (default) or "inf" (also 2, np.inf, "linf").
      num_candidates: number of classes considered, label included (>= 2;
        capped at K).
      overshoot: >= 0; the returned perturbation is (1 + overshoot) times
        the sum of the DeepFool steps.
      max_iter: maximum DeepFool steps per example (>= 0).
      clip_min, clip_max: the image box; either may be None for no bound on
        that side (both None: DeepDefense's unclipped Delta).

    Returns:
      A `DeepFoolResult(x_adv, perturbation, norms, fooled, num_iter)`.

    Raises:
      ValueError: for a bad hyper-parameter, a `y` whose batch size differs
        from `x`'s, or `x` outside [clip_min, clip_max].
    """
    norm = _projections.normalize_norm(norm)
    check("num_candidates", num_candidates,
           isinstance(num_candidates, (int, np.integer))
           and num_candidates >= 2, "an int >= 2")
    check("overshoot", overshoot, overshoot >= 0, "a float >= 0")
    check("max_iter", max_iter,
           isinstance(max_iter, (int, np.integer)) and max_iter >= 0,
           "an int >= 0")
    if clip_min is not None and clip_max is not None:
        check("clip_max", clip_max, clip_max > clip_min,
               f"a float > clip_min={clip_min!r} (or None)")

    x = tf.convert_to_tensor(x, dtype=tf.float32)
    check_in_box(x, clip_min, clip_max)
    logits = model_fn(x)
    num_classes = logits.shape[-1]
    if y is None:
        labels = tf.argmax(logits, axis=-1, output_type=tf.int32)
    else:
        labels = as_labels(y, x)
    num_others = min(num_candidates, num_classes) - 1
    masked = tf.where(tf.one_hot(labels, num_classes) > 0,
                      tf.constant(-np.inf, logits.dtype), logits)
    others = tf.math.top_k(masked, k=num_others).indices

    x_adv, still_correct, num_iter = _deepfool_loop(
        model_fn, x, labels, others,
        tf.constant(overshoot, tf.float32),
        tf.constant(max_iter, tf.int32),
        tf.constant(0.0 if clip_min is None else clip_min, tf.float32),
        tf.constant(0.0 if clip_max is None else clip_max, tf.float32),
        norm, clip_min is not None, clip_max is not None)
    perturbation = x_adv - x
    norms = _projections.per_example_norm(perturbation, norm)
    return DeepFoolResult(x_adv, perturbation, norms,
                          tf.logical_not(still_correct), num_iter)
