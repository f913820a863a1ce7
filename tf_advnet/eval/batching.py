"""Runs a per-batch function over a whole array in fixed-size batches."""

import numpy as np
import tensorflow as tf


def map_batches(fn, x, y=None, batch_size=256):
    """Applies `fn(x_batch[, y_batch])` to consecutive batches and concatenates.

    Args:
      fn: callable returning a tensor, array, or a tuple of them (concatenated
        field by field along axis 0).
      x: array of inputs, shape (N, ...).
      y: optional array of labels, shape (N,).
      batch_size: positive int.

    Returns:
      numpy array (or tuple of arrays) with leading dimension N.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    outs = []
    n = len(x)
    for i in range(0, n, batch_size):
        xb = tf.convert_to_tensor(x[i:i + batch_size])
        if y is None:
            out = fn(xb)
        else:
            out = fn(xb, tf.convert_to_tensor(y[i:i + batch_size]))
        outs.append(out)
    if not outs:
        raise ValueError("map_batches got an empty input")
    if isinstance(outs[0], (tuple, list)):
        fields = list(zip(*outs))
        res = [np.concatenate([np.asarray(o) for o in f], axis=0) for f in fields]
        return type(outs[0])(res) if not hasattr(outs[0], "_fields") else type(outs[0])(*res)
    return np.concatenate([np.asarray(o) for o in outs], axis=0)
