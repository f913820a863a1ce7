"""Argument checks and small builders shared by the model modules.

Checks raise `tf_advnet.errors.UserError` with one line that names the model
and the offending argument, so experiment binaries can print it as is.
"""

import keras
import numpy as np

from tf_advnet.errors import UserError
from tf_advnet.models.layers import Standardize


def check_input_shape(model, input_shape, *, min_hw=1, exact_hw=None,
                      channels=None):
    """Validates an `(H, W, C)` input shape for `model`.

    Args:
        model: Registry name of the model, used in the error message.
        input_shape: The shape to check.
        min_hw: Smallest height/width the architecture can take.
        exact_hw: If set, the only supported `(H, W)`.
        channels: If set, the only supported channel count.

    Returns:
        The shape as a tuple of three Python ints.

    Raises:
        UserError: If the shape is malformed or unsupported.
    """
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 3 or min(shape) < 1:
        raise UserError(
            f"model {model!r}: input_shape={input_shape!r} must be three "
            "positive ints (H, W, C)"
        )
    h, w, c = shape
    supported = _describe(min_hw, exact_hw, channels)
    bad = False
    if exact_hw is not None:
        bad |= (h, w) != tuple(exact_hw)
    bad |= h < min_hw or w < min_hw
    if channels is not None:
        bad |= c != channels
    if bad:
        raise UserError(
            f"model {model!r} cannot take input_shape={shape}; "
            f"supported shapes: {supported}"
        )
    return shape


def _describe(min_hw, exact_hw, channels):
    c = "C" if channels is None else str(channels)
    if exact_hw is not None:
        return f"({exact_hw[0]}, {exact_hw[1]}, {c})"
    return f"(H, W, {c}) with H, W >= {min_hw}"


def check_num_classes(model, num_classes):
    """Returns `num_classes` as int; raises UserError unless it is >= 2."""
    if (isinstance(num_classes, bool)
            or not isinstance(num_classes, int) or num_classes < 2):
        raise UserError(
            f"model {model!r}: num_classes={num_classes!r} must be an int >= 2"
        )
    return num_classes


def check_positive(model, arg, value, *, integer=False, allow_zero=False):
    """Raises UserError naming `arg` unless `value` is a positive number."""
    types = (int,) if integer else (int, float)
    ok = isinstance(value, types) and not isinstance(value, bool)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "int" if integer else "number"
        bound = ">= 0" if allow_zero else "> 0"
        raise UserError(
            f"model {model!r}: {arg}={value!r} must be an {kind} {bound}"
        )
    return value


def check_bool(model, arg, value):
    """Raises UserError naming `arg` unless `value` is a bool."""
    if not isinstance(value, bool):
        raise UserError(
            f"model {model!r}: {arg}={value!r} must be True or False")
    return value


def check_choice(model, arg, value, allowed):
    """Raises UserError naming `arg` and the allowed values."""
    if value not in allowed:
        raise UserError(
            f"model {model!r}: {arg}={value!r} is not valid; allowed values: "
            + ", ".join(repr(a) for a in allowed)
        )
    return value


def scaled(channels, width):
    """Channel count `channels * width`, rounded, at least 1."""
    return max(1, int(round(channels * width)))


def rescale_pm1(name="rescale"):
    """The `[0, 1] -> [-1, 1]` map `2x - 1` as a serialisable Keras layer."""
    return keras.layers.Rescaling(2.0, offset=-1.0, name=name)


def preprocess(model_id, inputs, input_mean, input_scale):
    """Optional DeepDefense-style `(x - input_mean) * input_scale` layer.

    Returns `inputs` unchanged when `input_mean` is None and `input_scale`
    is 1, so the default graph has no extra layer; otherwise applies a
    `Standardize` layer named `"preprocess"`.

    Raises:
        UserError: If `input_scale` is not positive or `input_mean` does not
            broadcast to the input shape.
    """
    check_positive(model_id, "input_scale", input_scale)
    if input_mean is None and input_scale == 1.0:
        return inputs
    mean = 0.0 if input_mean is None else input_mean
    shape = tuple(inputs.shape[1:])
    try:
        mean = np.asarray(mean, dtype="float32")
        if np.broadcast_shapes(mean.shape, shape) != shape:
            raise ValueError(f"mean has shape {mean.shape}")
    except (TypeError, ValueError) as err:
        raise UserError(
            f"model {model_id!r}: input_mean does not fit input_shape "
            f"{shape}: {err}"
        ) from None
    return Standardize(mean, 1.0 / input_scale, name="preprocess")(inputs)
