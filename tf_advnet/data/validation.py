"""Checks on image/label arrays: finiteness, shapes and label ranges."""

import numpy as np

from tf_advnet import errors


def check_finite(x, name="x"):
    """Raises if an array or tensor holds NaN or inf.

    Args:
        x: array-like or `tf.Tensor` of numbers.
        name: what to call `x` in the error message.

    Returns:
        `x`, unchanged, so the call can be chained.

    Raises:
        NonFiniteInputError: if any entry of `x` is NaN or +-inf.
    """
    values = np.asarray(x)
    if not np.issubdtype(values.dtype, np.inexact):
        return x  # Integer and boolean arrays cannot hold NaN or inf.
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise errors.NonFiniteInputError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf) out of "
            f"{finite.size}; check the data source or the preceding step"
        )
    return x


def check_decoded(images, labels, *, image_shape, num_classes, source):
    """Checks raw decoded arrays before they enter the cache.

    Args:
        images: uint8 array, expected shape `(N,) + image_shape`.
        labels: integer array, expected shape `(N,)`.
        image_shape: expected `(height, width, channels)`.
        num_classes: labels must lie in `[0, num_classes)`.
        source: file or source name, quoted in error messages.

    Returns:
        `(images, labels)` as uint8 and int64 arrays.

    Raises:
        UserError: if shapes, dtypes or label values are wrong, which means
            the source is corrupt.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    expected = (len(images),) + tuple(image_shape)
    if images.dtype != np.uint8 or images.shape != expected:
        raise errors.UserError(
            f"{source} is corrupt: images have shape {images.shape} and "
            f"dtype {images.dtype}, expected {expected} uint8; fetch it again"
        )
    if labels.shape != (len(images),):
        raise errors.UserError(
            f"{source} is corrupt: {len(images)} images but labels have "
            f"shape {labels.shape}; fetch it again"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise errors.UserError(
            f"{source} is corrupt: labels span [{labels.min()}, "
            f"{labels.max()}], expected [0, {num_classes - 1}]; fetch it again"
        )
    return images, labels.astype(np.int64)


def check_int(arg, value, *, low, high=None):
    """Raises UserError unless `value` is an int (not bool) in [low, high].

    Args:
        arg: argument name quoted in the message.
        value: the value to check.
        low: smallest allowed value.
        high: largest allowed value, or None for no bound.

    Returns:
        `value` as a Python int.

    Raises:
        UserError: naming `arg` if `value` is not an int in range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise errors.UserError(f"{arg} must be an integer >= {low}, got {value!r}")
    return errors.check_arg_range(arg, int(value), low=low, high=high)
