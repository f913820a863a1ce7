"""Small weight-free layers shared by the classifiers.

All models in `tf_advnet.models` take raw images in [0, 1] and do any input
scaling inside the graph, so that attacks never see normalised space (style
guide §6). The layers here are the pieces that Keras does not ship:

- `Standardize`: `(x - mean) / std`, per channel or per pixel (mean/std
  normalisation of L2L-DA; the optional mean-image centring of DeepDefense).
- `Subsample2D`: `x[:, ::s, ::s, :]`, the spatial part of the option-A
  shortcut of He et al.'s CIFAR ResNets.
- `ChannelPad`: zero padding along the channel axis, the channel part of the
  option-A and Madry/BAT shortcuts.

The `2x - 1` rescaling used by Wang & Yu and BAT is the stock
`keras.layers.Rescaling(2.0, offset=-1.0)`.

Every layer is registered with `keras.saving.register_keras_serializable`, so
`keras.models.load_model("m.keras")` works once `tf_advnet.models` is
imported.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="tf_advnet")
class Standardize(keras.layers.Layer):
    """Computes `(x - mean) / std` with constants fixed at construction.

    Args:
        mean: Scalar, per-channel sequence, or nested sequence broadcastable to
            the input's `(H, W, C)` shape (for example a mean image).
        std: Same forms as `mean`; must be strictly positive.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Raises:
        ValueError: If any `std` entry is not positive.
    """

    def __init__(self, mean=0.0, std=1.0, **kwargs):
        super().__init__(**kwargs)
        mean = np.asarray(mean, dtype="float32")
        std = np.asarray(std, dtype="float32")
        if np.any(std <= 0):
            raise ValueError(f"Standardize: std must be > 0, got {std!r}")
        # Stored as plain lists so that `get_config` is JSON-serialisable.
        self.mean = mean.tolist()
        self.std = std.tolist()
        self._mean = mean
        self._inv_std = (1.0 / std).astype("float32")
        self.supports_masking = True

    def call(self, inputs):
        mean = ops.cast(self._mean, inputs.dtype)
        inv_std = ops.cast(self._inv_std, inputs.dtype)
        return (inputs - mean) * inv_std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": self.mean, "std": self.std})
        return config


@keras.saving.register_keras_serializable(package="tf_advnet")
class Subsample2D(keras.layers.Layer):
    """Keeps every `stride`-th row and column: `x[:, ::s, ::s, :]` (NHWC).

    For an input of size H the output has `ceil(H / s)` rows, which equals the
    output size of a 3x3, pad-1, stride-s convolution, so the option-A shortcut
    lines up with the main path for odd sizes (e.g. 7x7 on 28x28 inputs) too.

    Args:
        stride: Positive integer subsampling factor.
        **kwargs: Base `Layer` arguments.
    """

    def __init__(self, stride=2, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, inputs):
        s = self.stride
        return inputs[:, ::s, ::s, :]

    def compute_output_shape(self, input_shape):
        def sub(n):
            return None if n is None else -(-n // self.stride)

        n, h, w, c = input_shape
        return (n, sub(h), sub(w), c)

    def get_config(self):
        config = super().get_config()
        config.update({"stride": self.stride})
        return config


@keras.saving.register_keras_serializable(package="tf_advnet")
class ChannelPad(keras.layers.Layer):
    """Zero-pads the last (channel) axis with `before` and `after` channels.

    Args:
        before: Number of zero channels prepended.
        after: Number of zero channels appended.
        **kwargs: Base `Layer` arguments.
    """

    def __init__(self, before=0, after=0, **kwargs):
        super().__init__(**kwargs)
        self.before = int(before)
        self.after = int(after)

    def call(self, inputs):
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[self.before, self.after]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        c = input_shape[-1]
        c = None if c is None else c + self.before + self.after
        return tuple(input_shape[:-1]) + (c,)

    def get_config(self):
        config = super().get_config()
        config.update({"before": self.before, "after": self.after})
        return config
