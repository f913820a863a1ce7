"""Generators of two generator-based attacks: AdvGAN and GAP.

L2L-DA (Jang et al., ICCV 2019, Table 2) evaluates every defence with two
generator attacks "fine-tuned to its corresponding classifier"; its code
does not include them, so these follow their own papers:

- AdvGAN: C. Xiao, B. Li, J.-Y. Zhu, W. He, M. Liu, D. Song, "Generating
  Adversarial Examples with Adversarial Networks", IJCAI 2018,
  https://arxiv.org/abs/1801.02610. Generator and discriminator follow the
  paper's image-to-image-translation architectures (CycleGAN notation).
- GAP: O. Poursaeed, I. Katsman, B. Gao, S. Belongie, "Generative Adversarial
  Perturbations", CVPR 2018, https://arxiv.org/abs/1712.02328; the ResNet
  generator of the official code (`OmidPoursaeed/Generative_Adversarial_
  Perturbations`, `material/models/generators.py::ResnetGenerator`, built by
  `GAP_clf.py` with batch norm, ReLU and no dropout).

Every generator ends in tanh, so its output u lies in [-1, 1]; the attacks in
`tf_advnet.attacks.generator_attacks` turn u into the perturbation (AdvGAN:
`eps * u`; GAP: `eps * u / max|u|` per image). Images enter in [0, 1] and are
rescaled to [-1, 1] inside, as the other generators of the suite do.

| Builder | Role | Architecture (CycleGAN notation) |
|---|---|---|
| `advgan_generator` | AdvGAN G | c7s1-8, d16, d32, 4 x R32, u16, u8, c7s1-C, tanh |
| `advgan_discriminator` | AdvGAN D | C8 (no norm), C16, C32 -> dense 1 logit |
| `gap_generator` | GAP G | c7s1-k, d2k, d4k, n x R4k, u2k, uk, c7s1-C, tanh |

Notation: c7s1-k is a 7x7 stride-1 convolution with k filters after
reflection padding 3, then a norm and ReLU; dk a 3x3 stride-2 convolution, norm,
ReLU; Rk a residual block of two reflection-padded 3x3 convolutions (norm,
ReLU, conv, norm, plus the input); uk a 3x3 stride-2 transposed convolution,
norm, ReLU; Ck a 4x4 stride-2 convolution, norm, LeakyReLU(0.2). The last
c7s1-C has no norm, a bias and tanh.

Choices (the papers leave them open):
- Instance norm is `keras.layers.GroupNormalization(groups=-1)` (one group per
  channel) with a learned affine and epsilon 1e-5 (PyTorch's).
- Kernels are N(0, 0.02) and batch-norm gammas N(1, 0.02), the pix2pix /
  CycleGAN initialisation that GAP's `weights_init` uses; convolutions followed
  by a norm have no bias (GAP's `use_bias = norm == instance` for its batch-norm
  generator; AdvGAN: the norm's own offset makes a bias redundant).
- AdvGAN's discriminator ends in a flatten and a dense layer to one logit,
  with no sigmoid, because the trainer uses least-squares GAN losses.
- `width` scales every channel count (AdvGAN: 8, 16, 32 times width; GAP:
  ngf = width, 64 in the paper) so CPU tests can shrink the networks.

Every layer is a stock Keras layer except `ReflectionPadding2D`, registered
with `keras.saving.register_keras_serializable(package="tf_advnet")`, so
`keras.models.load_model("g.keras")` works once this module is imported.

Usage:

```python
g = advgan_generator((28, 28, 1))                  # the paper's MNIST generator
d = advgan_discriminator((28, 28, 1))
gap = gap_generator((32, 32, 3), width=64, res_blocks=6)
tiny = gap_generator((8, 8, 1), width=4, res_blocks=1)
```
"""

import keras
from keras import ops

from tf_advnet.errors import UserError
from tf_advnet.models import _common

GAP_NORMS = ("batch", "instance")
# PyTorch defaults (GAP's and AdvGAN's reference code are PyTorch): BN momentum
# 0.1 there is 0.9 in Keras' convention; epsilon 1e-5 for both norms.
_BN_MOMENTUM, _NORM_EPSILON = 0.9, 1e-5
_LEAKY_SLOPE = 0.2


@keras.saving.register_keras_serializable(package="tf_advnet")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads H and W by mirroring the image without repeating the edge (NHWC).

    PyTorch's `nn.ReflectionPad2d`, which CycleGAN-style generators (AdvGAN's
    and GAP's) put before every 7x7 and residual 3x3 convolution. The padding
    must be smaller than the height and width it pads.

    Args:
        padding: Rows/columns added on each side of H and W.
        **kwargs: Base `Layer` arguments.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        def grow(n):
            return None if n is None else n + 2 * self.padding

        n, h, w, c = input_shape
        return (n, grow(h), grow(w), c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


def _kernel_init():
    # pix2pix / CycleGAN / GAP `weights_init`: conv kernels ~ N(0, 0.02).
    return keras.initializers.RandomNormal(0.0, 0.02)


def _norm(x, kind, name):
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=_NORM_EPSILON,
                                               name=name)(x)
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_NORM_EPSILON, name=name,
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))(x)


def _conv_block(x, filters, kernel, stride, norm, act, name, *, reflect=0,
                transpose=False):
    """[reflection pad] -> conv (no bias) -> norm -> activation."""
    if reflect:
        x = ReflectionPadding2D(reflect, name=f"{name}_pad")(x)
    if transpose:
        x = keras.layers.Conv2DTranspose(filters, kernel, strides=stride, padding="same",
                                         use_bias=False, kernel_initializer=_kernel_init(),
                                         name=f"{name}_conv")(x)
    else:
        padding = "valid" if reflect else "same"
        if stride == 2 and not reflect:
            # PyTorch's symmetric padding 1 (Keras "same" pads only bottom/right).
            x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_zpad")(x)
            padding = "valid"
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding,
                                use_bias=False, kernel_initializer=_kernel_init(),
                                name=f"{name}_conv")(x)
    x = _norm(x, norm, f"{name}_norm")
    if act == "leaky":
        return keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"{name}_lrelu")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _residual(x, filters, norm, name):
    """Rk: x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x)."""
    y = _conv_block(x, filters, 3, 1, norm, "relu", f"{name}_a", reflect=1)
    y = ReflectionPadding2D(1, name=f"{name}_b_pad")(y)
    y = keras.layers.Conv2D(filters, 3, use_bias=False, kernel_initializer=_kernel_init(),
                            name=f"{name}_b_conv")(y)
    y = _norm(y, norm, f"{name}_b_norm")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _output(x, channels):
    """c7s1-C without norm: reflection pad 3, 7x7 conv with bias, tanh."""
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = keras.layers.Conv2D(channels, 7, kernel_initializer=_kernel_init(),
                            name="out_conv")(x)
    return keras.layers.Activation("tanh", name="tanh")(x)


def _check_shape(model_id, input_shape):
    # Two stride-2 stages, and the residual blocks' reflection padding 1 needs
    # at least 2 x 2 maps at H/4 x W/4.
    shape = _common.check_input_shape(model_id, input_shape, min_hw=8)
    if shape[0] % 4 or shape[1] % 4:
        raise UserError(f"model {model_id!r} cannot take input_shape={shape}; "
                        "supported shapes: (H, W, C) with H and W multiples of 4, "
                        ">= 8")
    return shape


def _encoder_decoder(model_id, input_shape, base, res_blocks, norm, name):
    """c7s1-base, d 2base, d 4base, res_blocks x R 4base, u 2base, u base, c7s1-C."""
    shape = _check_shape(model_id, input_shape)
    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = _conv_block(x, base, 7, 1, norm, "relu", "c7s1", reflect=3)
    x = _conv_block(x, 2 * base, 3, 2, norm, "relu", "down1")
    x = _conv_block(x, 4 * base, 3, 2, norm, "relu", "down2")
    for i in range(1, res_blocks + 1):
        x = _residual(x, 4 * base, norm, f"res{i}")
    x = _conv_block(x, 2 * base, 3, 2, norm, "relu", "up1", transpose=True)
    x = _conv_block(x, base, 3, 2, norm, "relu", "up2", transpose=True)
    return keras.Model(inputs, _output(x, shape[2]), name=name)


def advgan_generator(input_shape, *, width=1.0, name="advgan_generator"):
    """AdvGAN's generator G(x) -> u in [-1, 1] (the perturbation is `eps * u`).

    | # | Layer | Output (28x28x1, width 1) |
    |---|---|---|
    | 1 | c7s1-8: reflect pad 3, conv7x7 8, IN, ReLU | 28x28x8 |
    | 2 | d16: conv3x3 s2 16, IN, ReLU | 14x14x16 |
    | 3 | d32: conv3x3 s2 32, IN, ReLU | 7x7x32 |
    | 4 | 4 residual blocks R32 (reflect pad, IN) | 7x7x32 |
    | 5 | u16: deconv3x3 s2 16, IN, ReLU | 14x14x16 |
    | 6 | u8: deconv3x3 s2 8, IN, ReLU | 28x28x8 |
    | 7 | c7s1-C: reflect pad 3, conv7x7 C (bias), tanh | 28x28xC |

    IN is instance norm. The paper's table (its appendix, after CycleGAN)
    gives the layer list; padding, initialisation and biases are ours (see the
    module docstring).

    Args:
        input_shape: `(H, W, C)` of the [0, 1] images; H and W multiples of 4,
            at least 8.
        width: multiplier of the channel counts 8, 16, 32 (1.0 in the paper).
        name: model name.

    Returns:
        A functional `keras.Model` with input `"image"` and output `(H, W, C)`
        in [-1, 1].

    Raises:
        UserError: on an unsupported shape or width.
    """
    _common.check_positive("advgan_generator", "width", width)
    base = _common.scaled(8, width)
    return _encoder_decoder("advgan_generator", input_shape, base, 4, "instance", name)


def advgan_discriminator(input_shape, *, width=1.0, name="advgan_discriminator"):
    """AdvGAN's discriminator Dsc(x) -> one logit (real x vs x + delta).

    | # | Layer | Output (28x28x1, width 1) |
    |---|---|---|
    | 1 | C8: conv4x4 s2 8 (bias), LeakyReLU 0.2, no norm | 14x14x8 |
    | 2 | C16: conv4x4 s2 16, IN, LeakyReLU 0.2 | 7x7x16 |
    | 3 | C32: conv4x4 s2 32, IN, LeakyReLU 0.2 | 4x4x32 |
    | 4 | flatten, dense 1 (no sigmoid: least-squares GAN) | 1 |

    Args:
        input_shape: `(H, W, C)` of the [0, 1] images, H and W >= 8.
        width: multiplier of the channel counts 8, 16, 32.
        name: model name.

    Returns:
        A functional `keras.Model` with input `"image"` and output `(1,)`.

    Raises:
        UserError: on an unsupported shape or width.
    """
    model_id = "advgan_discriminator"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=8)
    _common.check_positive(model_id, "width", width)
    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    # C8 has no norm (pix2pix / CycleGAN convention), hence a bias.
    x = keras.layers.Conv2D(_common.scaled(8, width), 4, strides=2, padding="same",
                            kernel_initializer=_kernel_init(), name="c8_conv")(x)
    x = keras.layers.LeakyReLU(_LEAKY_SLOPE, name="c8_lrelu")(x)
    for filters in (16, 32):
        x = keras.layers.Conv2D(_common.scaled(filters, width), 4, strides=2,
                                padding="same", use_bias=False,
                                kernel_initializer=_kernel_init(),
                                name=f"c{filters}_conv")(x)
        x = _norm(x, "instance", f"c{filters}_norm")
        x = keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f"c{filters}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logit = keras.layers.Dense(1, kernel_initializer=_kernel_init(), name="logit")(x)
    return keras.Model(inputs, logit, name=name)


def gap_generator(input_shape, *, width=64, res_blocks=6, norm="batch",
                  name="gap_generator"):
    """GAP's ResNet generator G(x) -> u in [-1, 1] (image-dependent attack).

    | # | Layer | Output (32x32x3, width k) |
    |---|---|---|
    | 1 | c7s1-k: reflect pad 3, conv7x7 k, norm, ReLU | 32x32xk |
    | 2 | d2k: conv3x3 s2 2k (pad 1), norm, ReLU | 16x16x2k |
    | 3 | d4k: conv3x3 s2 4k (pad 1), norm, ReLU | 8x8x4k |
    | 4 | `res_blocks` residual blocks R4k (reflect pad, no dropout) | 8x8x4k |
    | 5 | u2k: deconv3x3 s2 2k, norm, ReLU | 16x16x2k |
    | 6 | uk: deconv3x3 s2 k, norm, ReLU | 32x32xk |
    | 7 | c7s1-C: reflect pad 3, conv7x7 C (bias), tanh | 32x32xC |

    As `ResnetGenerator(3, 3, ngf, norm_type='batch', act_type='relu')` of the
    official `GAP_clf.py` (6 blocks, reflection padding, no dropout). Batch
    norm in training mode makes one image's perturbation depend on its batch;
    `norm="instance"` (the official `define()`'s default) avoids that and keeps
    `MirroredStrategy` steps identical to single-device ones.

    Args:
        input_shape: `(H, W, C)` of the [0, 1] images; H and W multiples of 4,
            at least 8.
        width: ngf, the channels of the first layer (64 in the paper).
        res_blocks: residual blocks at the bottleneck (6 in the paper).
        norm: `"batch"` (the official classification code) or `"instance"`.
        name: model name.

    Returns:
        A functional `keras.Model` with input `"image"` and output `(H, W, C)`
        in [-1, 1].

    Raises:
        UserError: on an unsupported shape or argument.
    """
    model_id = "gap_generator"
    _common.check_positive(model_id, "width", width, integer=True)
    _common.check_positive(model_id, "res_blocks", res_blocks, integer=True,
                           allow_zero=True)
    _common.check_choice(model_id, "norm", norm, GAP_NORMS)
    return _encoder_decoder(model_id, input_shape, width, res_blocks, norm, name)
