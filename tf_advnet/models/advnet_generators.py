"""Generators G0-G3 of Wang & Yu (ICLR 2019), appendix Fig. 4.

Paper: H. Wang, C.-N. Yu, "A Direct Approach to Robust Deep Learning Using
Adversarial Networks", ICLR 2019. The perturbation is `eps * G(.)`; G ends in
a tanh, so `||eps * G||_inf <= eps` (Sec. 3). With `output="l2"` the last
layer is linear and each example's output is scaled to unit L2 norm, the
"appropriate normalization layer" the paper mentions for L2 perturbations.
With `output="linear"` (not the paper's: an ablation of the tanh's saturation)
the last layer is linear and clipped to [-1, 1] in the forward pass only: its
gradient is the identity's (straight-through), so no output unit stops passing
gradient to G, as a saturated tanh does.

| Builder | Input | Architecture |
|---|---|---|
| `advnet_g0` | image x | MNIST encoder-decoder (official `simple_cnn_mnist.py`) |
| `advnet_g1` | image x | residual encoder-decoder (official `resnet18_2.py`) |
| `advnet_g2` | Gaussian z | decoder (Fig. 4; not in the official code) |
| `advnet_g3` | one-hot label y | decoder (Fig. 4; not in the official code) |

Every generator's first input is named after what it takes (`"image"`,
`"noise"` or `"label"`; see `generator_input_kind`), so a trainer or attack
feeds it the right thing. Images enter in [0, 1] and are rescaled to [-1, 1]
inside, as the discriminators do.

G0 and G1 follow the official code (`whxbergkamp/RobustDL_GAN`: G0 in
`mnist/adversarial_networks/models/simple_cnn_mnist.py`, G1 is `generator()` of
`cifar10/adversarial_networks/models/resnet18_2.py`). G2 and G3 are described only
in Fig. 4, an image absent from our copy of the paper, and are not in the
official code; ours are G1's decoder half behind a dense layer: dense ->
(H/4 x W/4 x 4k) -> BN -> ReLU -> deconv 2k -> deconv k -> conv C -> tanh.
The paper's z is "a Gaussian random vector z in R^d"; we use `z_dim = 128`
(a d = 3072 vector into a dense layer of 16,384 units would hold 50M weights).
Width: k = 64 by default and k = 16 for the label input (appendix).

Usage:

```python
g = advnet_g0((28, 28, 1))                 # MNIST, k = 64
g1 = advnet_g1((32, 32, 3), k=8)           # the "narrow" G1 of Sec. 4.5
g3 = advnet_g3((32, 32, 3), 10)            # label decoder, k = 16
```
"""

import keras

from tf_advnet.errors import UserError
from tf_advnet.models import _common

OUTPUTS = ("tanh", "l2", "linear")
INPUT_KINDS = ("image", "noise", "label")
GENERATOR_NAMES = ("g0", "g1", "g2", "g3")
DEFAULT_Z_DIM = 128
# tf.layers' BN defaults, which the official MNIST generator keeps (`simple_cnn_mnist.py`).
_BN_MOMENTUM, _BN_EPSILON = 0.99, 1e-3


def _he():
    # TF1 variance_scaling_initializer(scale=2): He, fan-in, truncated normal.
    return keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal")


def _bn(x, name, sync):
    return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                                           synchronized=sync, name=name)(x)


def _bn_relu(x, name, sync):
    return keras.layers.ReLU(name=f"{name}_relu")(_bn(x, f"{name}_bn", sync))


@keras.saving.register_keras_serializable(package="tf_advnet")
class StraightThroughClip(keras.layers.Layer):
    """clip(u, -1, 1) forward, the identity's gradient backward (`output="linear"`):
    the bound of a tanh without its vanishing gradient."""

    def call(self, u):
        return u + keras.ops.stop_gradient(keras.ops.clip(u, -1.0, 1.0) - u)


def _check_common(model_id, input_shape, k, output, sync_bn):
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    if shape[0] % 4 or shape[1] % 4:
        raise UserError(f"model {model_id!r} cannot take input_shape={shape}; "
                        "supported shapes: (H, W, C) with H and W multiples of 4")
    _common.check_positive(model_id, "k", k, integer=True)
    _common.check_choice(model_id, "output", output, OUTPUTS)
    _common.check_bool(model_id, "sync_bn", sync_bn)
    return shape


def _head(x, channels, kernel, output, *, transpose, init, use_bias, name):
    """Last layer: `channels` maps, then tanh (L-inf), unit L2 norm per example, or
    the straight-through clip to [-1, 1] ("linear")."""
    layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    kw = {"strides": 2} if transpose else {}
    x = layer(channels, kernel, padding="same", use_bias=use_bias,
              kernel_initializer=init, name=name, **kw)(x)
    if output == "tanh":
        return keras.layers.Activation("tanh", name="tanh")(x)
    if output == "linear":
        return StraightThroughClip(name="st_clip")(x)
    return keras.layers.UnitNormalization(axis=(1, 2, 3), name="unit_l2")(x)


def advnet_g0(input_shape=(28, 28, 1), num_classes=None, *, k=64, output="tanh",
              sync_bn=False, name="advnet_g0"):
    """G0, the MNIST encoder-decoder on the image (official `simple_cnn_mnist.py`).

    | # | Layer | Output (28x28x1) |
    |---|---|---|
    | 1 | conv5x5 s2 k (bias) -> BN -> ReLU | 14x14xk |
    | 2 | conv5x5 s2 2k (bias) -> BN -> ReLU | 7x7x2k |
    | 3 | deconv5x5 s2 k, no bias -> BN -> ReLU | 14x14xk |
    | 4 | deconv5x5 s2 C, no bias -> tanh | 28x28xC |

    He (truncated) initialisation; BN momentum 0.99, epsilon 1e-3.

    Args:
        input_shape: `(H, W, C)`, H and W multiples of 4.
        num_classes: unused (the registry's signature).
        k: width factor (64 in the paper).
        output: `"tanh"` (L-inf), `"l2"` (unit L2 norm per example) or `"linear"`
            (clipped to [-1, 1] with a straight-through gradient; module docstring).
        sync_bn: synchronised BN under `tf.distribute` (global batch statistics).
        name: model name.

    Returns:
        A `keras.Model` mapping [0, 1] images (input `"image"`) to G(x).
    """
    del num_classes
    shape = _check_common("advnet_g0", input_shape, k, output, sync_bn)
    init = _he()
    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = keras.layers.Conv2D(k, 5, strides=2, padding="same", kernel_initializer=init,
                            name="enc1")(x)
    x = _bn_relu(x, "enc1", sync_bn)
    x = keras.layers.Conv2D(2 * k, 5, strides=2, padding="same",
                            kernel_initializer=init, name="enc2")(x)
    x = _bn_relu(x, "enc2", sync_bn)
    x = keras.layers.Conv2DTranspose(k, 5, strides=2, padding="same", use_bias=False,
                                     kernel_initializer=init, name="dec1")(x)
    x = _bn_relu(x, "dec1", sync_bn)
    out = _head(x, shape[2], 5, output, transpose=True, init=init, use_bias=False,
                name="dec2")
    return keras.Model(inputs, out, name=name)


def _residual(x, filters, project, init, sync, prefix):
    shortcut = x
    if project:
        shortcut = keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=init,
                                       name=f"{prefix}_proj_conv")(x)
        shortcut = _bn(shortcut, f"{prefix}_proj_bn", sync)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=init, name=f"{prefix}_conv1")(x)
    y = _bn_relu(y, f"{prefix}_1", sync)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=init, name=f"{prefix}_conv2")(y)
    y = _bn(y, f"{prefix}_bn2", sync)
    y = keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(y)


def _decoder(x, channels, k, output, sync):
    """G1's decoder half: two stride-2 deconvs (2k, k) then conv3x3 C."""
    small = keras.initializers.TruncatedNormal(stddev=0.02)
    for i, f in enumerate((2 * k, k), start=1):
        x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=small, name=f"dec{i}")(x)
        x = _bn_relu(x, f"dec{i}", sync)
    return _head(x, channels, 3, output, transpose=False, init=small, use_bias=True,
                 name="out_conv")


def advnet_g1(input_shape=(32, 32, 3), num_classes=None, *, k=64, res_blocks=6,
              output="tanh", sync_bn=False, name="advnet_g1"):
    """G1, the residual encoder-decoder of the CIFAR-10 / SVHN experiments.

    | # | Layer | Output (32x32x3) |
    |---|---|---|
    | 1 | conv3x3 s1 k, no bias -> BN -> ReLU | 32x32xk |
    | 2 | conv3x3 s2 2k (symmetric pad) -> BN -> ReLU | 16x16x2k |
    | 3 | conv3x3 s2 4k -> BN -> ReLU | 8x8x4k |
    | 4 | `res_blocks` residual blocks 4k (block 1 projects) | 8x8x4k |
    | 5 | deconv3x3 s2 2k, no bias, N(0, 0.02) -> BN -> ReLU | 16x16x2k |
    | 6 | deconv3x3 s2 k -> BN -> ReLU | 32x32xk |
    | 7 | conv3x3 C (bias, N(0, 0.02)) -> tanh | 32x32xC |

    Args:
        input_shape: `(H, W, C)`, H and W multiples of 4.
        num_classes: unused (the registry's signature).
        k: width factor (64 in the paper; the narrow G1 of Sec. 4.5 has 8).
        res_blocks: residual blocks at the bottleneck (6 in the code).
        output, sync_bn, name: as `advnet_g0`.
    """
    del num_classes
    shape = _check_common("advnet_g1", input_shape, k, output, sync_bn)
    _common.check_positive("advnet_g1", "res_blocks", res_blocks, integer=True,
                           allow_zero=True)
    init = _he()
    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = keras.layers.Conv2D(k, 3, padding="same", use_bias=False, kernel_initializer=init,
                            name="enc1")(x)
    x = _bn_relu(x, "enc1", sync_bn)
    for i, f in ((2, 2 * k), (3, 4 * k)):
        x = keras.layers.ZeroPadding2D(1, name=f"enc{i}_pad")(x)
        x = keras.layers.Conv2D(f, 3, strides=2, padding="valid", use_bias=False,
                                kernel_initializer=init, name=f"enc{i}")(x)
        x = _bn_relu(x, f"enc{i}", sync_bn)
    for b in range(1, res_blocks + 1):
        x = _residual(x, 4 * k, b == 1, init, sync_bn, f"res{b}")
    out = _decoder(x, shape[2], k, output, sync_bn)
    return keras.Model(inputs, out, name=name)


def _code_decoder(model_id, input_name, code_dim, input_shape, k, output, sync_bn, name):
    shape = _check_common(model_id, input_shape, k, output, sync_bn)
    h, w, c = shape
    inputs = keras.Input(shape=(code_dim,), name=input_name)
    x = keras.layers.Dense((h // 4) * (w // 4) * 4 * k, use_bias=False,
                           kernel_initializer=_he(), name="fc")(inputs)
    x = keras.layers.Reshape((h // 4, w // 4, 4 * k), name="fc_map")(x)
    x = _bn_relu(x, "fc", sync_bn)
    return keras.Model(inputs, _decoder(x, c, k, output, sync_bn), name=name)


def advnet_g2(input_shape=(32, 32, 3), num_classes=None, *, k=64, z_dim=DEFAULT_Z_DIM,
              output="tanh", sync_bn=False, name="advnet_g2"):
    """G2, a decoder from a Gaussian vector z ~ N(0, I) (input `"noise"`).

    dense(z -> H/4 x W/4 x 4k) -> BN -> ReLU -> G1's decoder (see module docstring;
    Fig. 4 is missing from our copy, so this layout is ours).
    """
    del num_classes
    _common.check_positive("advnet_g2", "z_dim", z_dim, integer=True)
    return _code_decoder("advnet_g2", "noise", z_dim, input_shape, k, output, sync_bn,
                         name)


def advnet_g3(input_shape=(32, 32, 3), num_classes=10, *, k=16, output="tanh",
              sync_bn=False, name="advnet_g3"):
    """G3, a decoder from the one-hot label (input `"label"`; k = 16 in the paper).

    After training it is "a set of 10 class-conditional filters" (Sec. 4.5).
    """
    num_classes = _common.check_num_classes("advnet_g3", num_classes)
    return _code_decoder("advnet_g3", "label", num_classes, input_shape, k, output,
                         sync_bn, name)


_BUILDERS = {"g0": advnet_g0, "g1": advnet_g1, "g2": advnet_g2, "g3": advnet_g3}


def build_generator(kind, input_shape, num_classes, **kwargs):
    """Builds generator `kind` ("g0" | "g1" | "g2" | "g3") with builder kwargs."""
    from tf_advnet.errors import check_arg_choice

    check_arg_choice("kind", kind, GENERATOR_NAMES)
    return _BUILDERS[kind](tuple(input_shape), num_classes, **kwargs)


def generator_input_kind(generator):
    """"image", "noise" or "label": what the generator's first input takes.

    Raises:
        UserError: if the model's input is not named one of these.
    """
    name = generator.inputs[0].name.split(":")[0]
    if name not in INPUT_KINDS:
        raise UserError(f"generator {generator.name!r} has input {name!r}; a Wang & Yu "
                        f"generator's input is named one of {', '.join(INPUT_KINDS)}")
    return name
