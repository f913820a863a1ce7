"""Target labels for targeted attacks: least likely, most confusing, random.

A targeted attack descends the loss of a target class `t(x) != y`. The rules
here pick `t` per example:

    least_likely(z)       = argmin_j z_j          (labels given: argmin_{j != y}, BAT Eq. 23)
    most_confusing(z, y)  = argmax_{j != y} z_j      (BAT, Eq. 24)
    random_target(y, C)   = (y + U{1, ..., C-1}) mod C

`least_likely` gives the "step least-likely class" attack of Kurakin et al.
(2017, https://arxiv.org/abs/1611.01236), used by the EAT baseline of Wang &
Yu (ICLR 2019); `most_confusing` is the MC target of Bilateral Adversarial
Training (Wang & Zhang, ICCV 2019); `random_target` is BAT's "rd" ImageNet
evaluation.

Example:

```python
logits = model_fn(x)
t = most_confusing(logits, y)
x_adv = fgm(model_fn, x, t, eps=8 / 255, targeted=True)
```
"""

import tensorflow as tf

from tf_advnet.attacks import _projections


def least_likely(logits, labels=None):
    """The least likely class per example, `argmin_j z_j`; with `labels`, the least
    likely class other than the label, `argmin_{j != y} z_j` (BAT's LL target,
    Eq. (23) of Wang & Zhang: the class of largest loss among y' != y), which differs
    where the label itself has the lowest logit (a badly misclassified example).

    Args:
        logits: float tensor `(batch, num_classes)`.
        labels: optional integer tensor `(batch,)` of true labels to exclude.

    Returns:
        An int64 tensor `(batch,)` (never equal to `labels` when they are given).
    """
    if labels is not None:
        logits = -_without_label(-tf.convert_to_tensor(logits), labels)
    return tf.argmin(logits, axis=-1, output_type=tf.int64)


def most_confusing(logits, labels):
    """The highest-scoring class other than the label, `argmax_{j != y} z_j`.

    Args:
        logits: float tensor `(batch, num_classes)`.
        labels: integer tensor `(batch,)` of true labels.

    Returns:
        An int64 tensor `(batch,)`, never equal to `labels`.
    """
    return tf.argmax(_without_label(logits, labels), axis=-1,
                     output_type=tf.int64)


def ranked_others(logits, labels):
    """Every class ordered by logit, highest first, with the label last.

    Column k (k < num_classes - 1) is the (k+1)-th most confusing class, so the
    first `n` columns are the targets of APGD-T and FAB-T (Croce & Hein 2020):
    "other than y" even where the clean point is misclassified. Ties keep class
    order.

    Returns:
        An int32 tensor `(batch, num_classes)`.
    """
    return tf.argsort(_without_label(logits, labels), axis=-1,
                      direction="DESCENDING", stable=True)


def _without_label(logits, labels):
    """`logits` with each example's label column set to -inf."""
    logits = tf.convert_to_tensor(logits)
    is_label = tf.one_hot(tf.convert_to_tensor(labels), tf.shape(logits)[-1],
                          on_value=True, off_value=False)
    return tf.where(is_label, tf.fill(tf.shape(logits), -float("inf")), logits)


def random_target(labels, num_classes, seed=None):
    """A uniformly random class other than the label, per example.

    Args:
        labels: integer tensor `(batch,)` of true labels.
        num_classes: int, at least 2.
        seed: `None` for TensorFlow's global RNG; otherwise an int (or a pair
            of ints) used as a stateless seed.

    Returns:
        An int64 tensor `(batch,)`, never equal to `labels`.

    Raises:
        ValueError: if `num_classes < 2`.
    """
    if int(num_classes) < 2:
        raise ValueError(
            "Invalid value for argument `num_classes`: expected an int >= 2. "
            f"Received: num_classes={num_classes!r}"
        )
    labels = tf.cast(tf.convert_to_tensor(labels), tf.int64)
    shape = tf.shape(labels)
    if seed is None:
        offset = tf.random.uniform(
            shape, 1, num_classes, dtype=tf.int64
        )
    else:
        offset = tf.random.stateless_uniform(
            shape, _projections.as_stateless_seed(seed), 1, num_classes,
            dtype=tf.int64,
        )
    return (labels + offset) % num_classes
