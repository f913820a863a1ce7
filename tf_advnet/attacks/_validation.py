"""Argument checks shared by the minimal-perturbation attacks (C&W, DeepFool)."""

import tensorflow as tf


def check(name, value, ok, expected):
    if not ok:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r}"
        )


def check_in_box(x, clip_min, clip_max):
    """Raises ValueError if `x` leaves the box (eager only: needs the values).

    Inside a `tf.function` the check is skipped.
    """
    if not tf.executing_eagerly():
        return
    x_min = float(tf.reduce_min(x))
    x_max = float(tf.reduce_max(x))
    if ((clip_min is not None and x_min < clip_min)
            or (clip_max is not None and x_max > clip_max)):
        raise ValueError(
            f"Invalid value for argument `x`: expected values in "
            f"[clip_min, clip_max] = [{clip_min}, {clip_max}]. Received: x "
            f"with values in [{x_min}, {x_max}]")


def as_labels(y, x):
    """int32 (B,) labels from int labels or one-hot rows; checks the size."""
    labels = tf.convert_to_tensor(y)
    if labels.shape.rank == 2:
        labels = tf.argmax(labels, axis=-1)
    labels = tf.cast(labels, tf.int32)
    batch, n = x.shape[0], (labels.shape[0] if labels.shape.rank else None)
    if labels.shape.rank != 1 or (
            batch is not None and n is not None and n != batch):
        raise ValueError(
            f"Invalid value for argument `y`: expected {batch} labels "
            f"(shape ({batch},) or one-hot ({batch}, K)). Received: y "
            f"with shape {tuple(tf.convert_to_tensor(y).shape)}")
    return labels
