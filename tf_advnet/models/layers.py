"""Small weight-free layers shared by the classifiers.

All models in `tf_advnet.models` take raw images in [0, 1] and do any input
scaling inside the graph, so that attacks never see normalised space (as
MadryLab's `robustness/attacker.py` puts the normalisation inside the model). The layers here are the pieces that Keras does not ship:

- `Standardize`: `(x - mean) / std`, per channel or per pixel (mean/std
  normalisation of L2L-DA; the optional mean-image centring of DeepDefense).
- `Subsample2D`: `x[:, ::s, ::s, :]`, the spatial part of the option-A
  shortcut of He et al.'s CIFAR ResNets.
- `ChannelPad`: zero padding along the channel axis, the channel part of the
  option-A and Madry/BAT shortcuts.
- `ConditionalBatchNormalization`: batch normalisation whose scale and shift
  are looked up by class label (de Vries et al. 2017; Dumoulin et al. 2017),
  how L2L-DA's generator takes y.

Apart from the CBN's tables, these layers hold no weights. The `2x - 1` rescaling used by Wang & Yu and BAT is the stock
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


def _cbn_gamma_init(shape, dtype=None):
    """Class rows ~ N(0, 0.02), shared last row ~ N(1, 0.02) (L2L-DA's code)."""
    table = keras.random.normal(shape, stddev=0.02, dtype=dtype)
    shared = ops.cast(ops.arange(shape[0]) == shape[0] - 1, table.dtype)
    return table + ops.expand_dims(shared, -1)


@keras.saving.register_keras_serializable(package="tf_advnet")
class ConditionalBatchNormalization(keras.layers.Layer):
    """Class-conditional batch normalisation (the label input of L2L-DA's G).

    Normalises with batch statistics (moving averages at inference) without an
    affine part, then scales and shifts per example by its class:

        out = BN(h) * (gamma[y] + gamma[K]) + (beta[y] + beta[K]),

    with (K+1) x C tables whose last row K is shared by all classes
    (L2L-DA's `adv_defence/sync_batchnorm/batchnorm.py`: class rows of gamma ~
    N(0, 0.02), the shared
    row ~ N(1, 0.02), beta = 0; epsilon 1e-10, PyTorch momentum 0.1 = Keras
    0.9). With `num_classes=0` only the shared row exists and the layer is
    ordinary batch normalisation (the "y X" ablation of L2L-DA's Table 1(b)).

    Call it on `[h, y]` (y: integer labels, shape (batch,)) or, when
    `num_classes=0`, on `h` alone.

    Args:
        num_classes: number of classes K (0: unconditional).
        momentum, epsilon: of the batch normalisation.
        synchronized: batch statistics over all replicas (MirroredStrategy).
    """

    def __init__(self, num_classes, momentum=0.9, epsilon=1e-10, synchronized=False,
                 **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 0:
            raise ValueError("Invalid value for argument `num_classes`: expected an "
                             f"int >= 0. Received: num_classes={num_classes!r}")
        self.num_classes = int(num_classes)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.synchronized = bool(synchronized)
        self.norm = keras.layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, center=False, scale=False,
            synchronized=self.synchronized, name="norm")

    def _split(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return inputs[0], (inputs[1] if len(inputs) > 1 else None)
        return inputs, None

    def build(self, input_shape):
        h_shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and \
            isinstance(input_shape[0], (list, tuple)) else input_shape
        channels = int(h_shape[-1])
        self.norm.build(h_shape)
        rows = self.num_classes + 1
        self.gamma = self.add_weight(shape=(rows, channels), name="gamma",
                                     initializer=_cbn_gamma_init)
        self.beta = self.add_weight(shape=(rows, channels), name="beta",
                                    initializer="zeros")

    def call(self, inputs, training=None):
        h, y = self._split(inputs)
        out = self.norm(h, training=training)
        gamma, beta = self.gamma[-1], self.beta[-1]
        if self.num_classes:
            if y is None:
                raise ValueError("ConditionalBatchNormalization with num_classes > 0 "
                                 "is called on [h, y]; the labels are missing")
            y = ops.reshape(ops.cast(y, "int32"), (-1,))
            gamma = ops.take(self.gamma, y, axis=0) + gamma
            beta = ops.take(self.beta, y, axis=0) + beta
            shape = (-1,) + (1,) * (len(h.shape) - 2) + (gamma.shape[-1],)
            gamma, beta = ops.reshape(gamma, shape), ops.reshape(beta, shape)
        return out * gamma + beta

    def compute_output_shape(self, input_shape):
        h, _ = self._split(input_shape) if isinstance(input_shape[0], (list, tuple)) \
            else (input_shape, None)
        return h

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, momentum=self.momentum,
                      epsilon=self.epsilon, synchronized=self.synchronized)
        return config
