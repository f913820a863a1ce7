"""Carlini & Wagner L2 attack (minimal-perturbation, unbounded).

Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks",
IEEE S&P 2017, https://arxiv.org/abs/1608.04644.

For each example, with `x' = lo + (hi - lo) * (tanh(w) + 1) / 2` (the tanh
change of variables keeps `x'` inside `[lo, hi]` without clipping):

    min_w  ||x' - x||_2^2 + c * max(Z(x')_y - max_{k != y} Z(x')_k + kappa, 0)

(targeted: `max(max_{k != t} Z_k - Z_t + kappa, 0)`), minimised with Adam on
`w`; `c` is tuned per example by binary search (x10 until a first success,
then bisection), and the adversarial example with the smallest L2 distance
found over all binary-search steps and iterations is returned.

**Where no adversarial example is found, the original `x` is returned**, as
in Carlini's reference code and cleverhans. Callers computing a mean
distortion over "successful" examples (PGN's `rho_cw`, `evaluate.py` of
`ATPGN/ATPGN`) must decide success from the model's
prediction on the output: clean-misclassified images are then counted as
successes at distance 0 when `y` are the true labels (with `y=None` they are
attacked like any other image, since the predicted label is the reference).

Components:

- `carlini_wagner_l2`: the public attack (Python loop over the binary-search
  steps; each step is one compiled call).
- `_search_step`: one binary-search step, a `tf.while_loop` of Adam updates
  with early abort, compiled with `tf.function`. Adam is written out with
  tensors (a fresh state per step), so nothing is created as a
  `tf.Variable` and the function is pure.
- `_update_bounds`: the per-example binary search on `c`.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = carlini_wagner_l2(model_fn, x, y, max_iterations=100)
success = tf.argmax(model_fn(x_adv), -1) != y
```

Argument names and defaults are cleverhans 4.0.0's
(`cleverhans.tf2.attacks.carlini_wagner_l2`): in particular the step count is
`max_iterations` (not `num_steps`) because that is the name the papers'
configurations use (PGN overrides it to 100, L2L-DA uses 100 and 1000).

Cleverhans gaps. cleverhans 4.0.0's TF2 C&W (which PGN used, in its TF1
3.0.1 form) differs from Carlini's reference code and from this module:
(1) it cannot run on Keras 3, because it calls `optimizer.variables()`,
which is a list there; resetting all optimizer variables also zeroes the
learning rate (then nothing moves and the attack "fails" on every example);
(2) it is targeted whenever `y` is given and ignores `targeted`, so
untargeted attacks on the true labels are impossible (only `y=None`);
(3) its constant `c` has the shape of the image, not of the batch, so the
hinge term is broadcast against every pixel: with a batch of one it acts as
`c * (number of pixels)`, and with larger batches the examples are coupled
(or shapes fail to broadcast); (4) its binary search reads the best score
over all steps instead of the current step, and multiplies `c` by 10 for
examples that succeeded as well; (5) confidence is added to every logit
rather than to the reference class, so it does not change the success test.
This module follows Carlini's reference code on all five points; its Adam uses
epsilon 1e-8 (TF1 `AdamOptimizer`, as in the original) rather than Keras'
1e-7. `tests/attacks/test_cw.py` compares it with a minimally patched
cleverhans.
"""

import numpy as np
import tensorflow as tf

from tf_advnet.utils.compiled import per_model
from tf_advnet.attacks._common import as_labels, check, check_in_box

# tanh-space scaling of Carlini's code: keeps atanh finite at the bounds.
_TANH_SHRINK = 0.999999
# Adam hyper-parameters of TF1's `tf.train.AdamOptimizer` (Carlini's code).
_BETA_1 = 0.9
_BETA_2 = 0.999
_ADAM_EPS = 1e-8
# Initial per-example upper bound on c and the "no upper bound yet" threshold.
_UPPER_INIT = 1e10
_UPPER_KNOWN = 1e9
# Early abort when the loss has not fallen by 0.01% since the last check.
_ABORT_RATIO = 0.9999


def _to_tanh_space(x, clip_min, clip_max):
    """Maps images in [clip_min, clip_max] to Carlini's w-space."""
    unit = (x - clip_min) / (clip_max - clip_min)
    unit = tf.clip_by_value(unit, 0.0, 1.0)
    return tf.atanh((unit * 2.0 - 1.0) * _TANH_SHRINK)


def _from_tanh_space(w, clip_min, clip_max):
    """Inverse of `_to_tanh_space` (up to the 0.999999 shrink)."""
    return (tf.tanh(w) + 1.0) / 2.0 * (clip_max - clip_min) + clip_min


def _is_success(logits, labels, confidence, targeted):
    """Carlini's success test on logits with `confidence` margin.

    Untargeted: argmax of the logits with `confidence` added to the label's
    logit differs from the label. Targeted: argmax with `confidence`
    subtracted from the target's logit is the target.
    """
    one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
    shift = -confidence if targeted else confidence
    pred = tf.argmax(logits + shift * one_hot, axis=-1, output_type=tf.int32)
    return tf.equal(pred, labels) if targeted else tf.not_equal(pred, labels)


@per_model(reduce_retracing=True)
def _search_step(model_fn, w0, x_ref, labels, const, best_l2, best_adv,
                 learning_rate, confidence, clip_min, clip_max,
                 max_iterations, abort_early, targeted):
    """Runs one binary-search step: up to `max_iterations` Adam steps on w.

    Args:
      model_fn: logits callable.
      w0: starting point in tanh space (the image itself, Carlini's choice).
      x_ref: `x` mapped to tanh space and back, the reference for the L2
        distance (Carlini's code measures the distance to this point).
      labels: int32 (B,) labels (untargeted) or targets (targeted).
      const: (B,) trade-off constants c.
      best_l2, best_adv: best squared L2 distance and image over all steps
        so far (`best_adv` starts as the original images).
      learning_rate, confidence, clip_min, clip_max: scalar float tensors.
      max_iterations: scalar int32 tensor.
      abort_early: scalar bool tensor.
      targeted: Python bool (one trace per value).

    Returns:
      `(best_l2, best_adv, found)`, `found` = (B,) bool: whether this step
      found any adversarial example (drives the binary search).
    """
    batch_axes = list(range(1, len(w0.shape)))
    check_every = tf.maximum(max_iterations // 10, 1)

    def loss_and_grad(w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            x_new = _from_tanh_space(w, clip_min, clip_max)
            logits = model_fn(x_new)
            l2 = tf.reduce_sum(tf.square(x_new - x_ref), axis=batch_axes)
            one_hot = tf.one_hot(labels, tf.shape(logits)[-1],
                                 dtype=logits.dtype)
            real = tf.reduce_sum(one_hot * logits, axis=-1)
            other = tf.reduce_max(logits - one_hot * 1e4, axis=-1)
            if targeted:
                hinge = tf.maximum(other - real + confidence, 0.0)
            else:
                hinge = tf.maximum(real - other + confidence, 0.0)
            # Summed over the batch (Carlini's code): the examples do not
            # interact, so every example gets its own gradient.
            loss = tf.reduce_sum(l2) + tf.reduce_sum(const * hinge)
        grad = tape.gradient(loss, w)
        return loss, grad, x_new, logits, l2

    zeros = tf.zeros_like(w0)
    found = tf.zeros_like(labels, dtype=tf.bool)
    prev = tf.constant(np.inf, dtype=w0.dtype)
    i = tf.constant(0, dtype=tf.int32)
    stop = tf.constant(False)

    def cond(i, stop, *unused):
        return tf.logical_and(i < max_iterations, tf.logical_not(stop))

    def body(i, stop, w, m, v, prev, found, best_l2, best_adv):
        loss, grad, x_new, logits, l2 = loss_and_grad(w)
        # Early abort (Carlini's rule): every max_iterations // 10 steps,
        # stop if the loss has not fallen by 0.01% since the last check. As
        # in the original, the iterate of an aborting step is not recorded.
        check = tf.equal(i % check_every, 0)
        abort = tf.logical_and(
            tf.logical_and(abort_early, check), loss > prev * _ABORT_RATIO)
        prev = tf.where(check, loss, prev)
        success = tf.logical_and(
            _is_success(logits, labels, confidence, targeted),
            tf.logical_not(abort))
        found = tf.logical_or(found, success)
        improved = tf.logical_and(success, l2 < best_l2)
        best_l2 = tf.where(improved, l2, best_l2)
        mask = tf.reshape(improved, [-1] + [1] * (len(w0.shape) - 1))
        best_adv = tf.where(mask, x_new, best_adv)
        # Adam, bias-corrected step size form (TF1 / Keras), fresh state per
        # binary-search step.
        t = tf.cast(i + 1, w.dtype)
        m = _BETA_1 * m + (1.0 - _BETA_1) * grad
        v = _BETA_2 * v + (1.0 - _BETA_2) * tf.square(grad)
        lr_t = (learning_rate * tf.sqrt(1.0 - tf.pow(_BETA_2, t))
                / (1.0 - tf.pow(_BETA_1, t)))
        w = w - lr_t * m / (tf.sqrt(v) + _ADAM_EPS)
        return (i + 1, abort, w, m, v, prev, found, best_l2, best_adv)

    state = (i, stop, w0, zeros, zeros, prev, found, best_l2, best_adv)
    state = tf.while_loop(cond, body, state)
    return state[-2], state[-1], state[-3]


def _update_bounds(found, const, lower, upper):
    """Carlini's per-example binary search on c.

    Success: the upper bound becomes min(upper, c) and c moves to the
    midpoint. Failure: the lower bound becomes max(lower, c); c moves to the
    midpoint if an upper bound is known, otherwise it is multiplied by 10.
    """
    upper = tf.where(found, tf.minimum(upper, const), upper)
    lower = tf.where(found, lower, tf.maximum(lower, const))
    bisect = (lower + upper) / 2.0
    const = tf.where(upper < _UPPER_KNOWN, bisect,
                     tf.where(found, const, const * 10.0))
    return const, lower, upper


def carlini_wagner_l2(model_fn, x, y=None, *, targeted=False, confidence=0.0,
                      learning_rate=5e-3, binary_search_steps=5,
                      max_iterations=1000, initial_const=1e-2,
                      abort_early=True, clip_min=0.0, clip_max=1.0):
    """Carlini & Wagner L2 attack (untargeted or targeted).

    Works eagerly and inside a `tf.function` (the check that `x` lies in the
    box is then skipped).

    Args:
      model_fn: callable mapping a batch of images to logits (for a Keras
        model, `lambda x: model(x, training=False)`). Compiled graphs are
        cached per `model_fn` object, so reuse the same callable.
      x: images, shape (B, ...), float, inside [clip_min, clip_max].
      y: int labels (B,) or one-hot (B, K). Untargeted: the labels to move
        away from; targeted: the target classes. None: the model's predicted
        labels (untargeted only).
      targeted: whether `y` are targets.
      confidence: margin kappa >= 0 the adversarial logit must win by.
      learning_rate: Adam step size on w (> 0).
      binary_search_steps: number of values of c tried per example (>= 1).
        With 10 or more, the last step uses the upper bound, as in Carlini's
        code.
      max_iterations: Adam steps per binary-search step (>= 0; cleverhans'
        name for the step count; 0 returns `x`).
      initial_const: initial c (> 0).
      abort_early: stop a binary-search step when the loss has not fallen
        by 0.01% over `max_iterations // 10` steps. As in Carlini's code the
        loss is summed over the batch, so with early abort an example's
        result can depend on the batch it is attacked in.
      clip_min, clip_max: the image box (clip_min < clip_max).

    Returns:
      A float32 tensor like `x`: per example, the successful adversarial
      example of smallest L2 distance, or `x` itself where none was found.

    Raises:
      ValueError: for a bad hyper-parameter, for `targeted=True` without
        `y`, for a `y` whose batch size differs from `x`'s, or for `x`
        outside [clip_min, clip_max].
    """
    check("confidence", confidence, confidence >= 0, "a float >= 0")
    check("learning_rate", learning_rate, learning_rate > 0, "a float > 0")
    check("binary_search_steps", binary_search_steps,
           isinstance(binary_search_steps, (int, np.integer))
           and binary_search_steps >= 1, "an int >= 1")
    check("max_iterations", max_iterations,
           isinstance(max_iterations, (int, np.integer))
           and max_iterations >= 0, "an int >= 0")
    check("initial_const", initial_const, initial_const > 0, "a float > 0")
    check("clip_max", clip_max, clip_max > clip_min,
           f"a float > clip_min={clip_min!r}")
    if targeted and y is None:
        raise ValueError(
            "Invalid value for argument `y`: a targeted attack needs target "
            "labels. Received: y=None")

    x = tf.convert_to_tensor(x, dtype=tf.float32)
    check_in_box(x, clip_min, clip_max)
    if y is None:
        labels = tf.argmax(model_fn(x), axis=-1, output_type=tf.int32)
    else:
        labels = as_labels(y, x)
    batch = tf.shape(x)[:1]

    lo = tf.constant(clip_min, tf.float32)
    hi = tf.constant(clip_max, tf.float32)
    w0 = _to_tanh_space(x, lo, hi)
    x_ref = _from_tanh_space(w0, lo, hi)
    lower = tf.zeros(batch, tf.float32)
    upper = tf.fill(batch, tf.constant(_UPPER_INIT, tf.float32))
    const = tf.fill(batch, tf.constant(initial_const, tf.float32))
    best_l2 = tf.fill(batch, tf.constant(_UPPER_INIT, tf.float32))
    best_adv = x
    hyper = dict(
        learning_rate=tf.constant(learning_rate, tf.float32),
        confidence=tf.constant(confidence, tf.float32),
        clip_min=lo,
        clip_max=hi,
        max_iterations=tf.constant(max_iterations, tf.int32),
        abort_early=tf.constant(bool(abort_early)),
        targeted=bool(targeted),
    )
    for step in range(binary_search_steps):
        if binary_search_steps >= 10 and step == binary_search_steps - 1:
            # Carlini's "repeat": the last step retries at the upper bound.
            const = upper
        best_l2, best_adv, found = _search_step(
            model_fn, w0, x_ref, labels, const, best_l2, best_adv,
            **hyper)
        const, lower, upper = _update_bounds(found, const, lower, upper)
    return best_adv
