"""He et al.'s CIFAR ResNet (6n+2 layers, option-A shortcuts).

Architecture: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for
Image Recognition", CVPR 2016, §4.2 (CIFAR-10 networks),
https://arxiv.org/abs/1512.03385. This is the CIFAR-10 classifier of L2L-DA
(Jang et al., ICCV 2019; official code `YunseokJANG/l2l-da`,
`mister_ed/cifar10/cifar_resnets.py`, which follows the widely used
`akamaster/pytorch_resnet_cifar10` model):

    conv3x3 16 (no bias) -> BN -> ReLU
    -> 3 stages x n basic blocks (16/32/64 filters; stride 2 at stages 2, 3)
    -> global average pool -> dense K

A basic block is conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut,
then ReLU. The shortcut is "option A" (parameter-free): when the shape
changes, take every second pixel (`x[:, ::2, ::2, :]`) and zero-pad the
channels symmetrically. Kaiming-normal (fan-in) initialisation; PyTorch BN
defaults (Keras momentum 0.9, epsilon 1e-5).

`normalize="imagenet"` standardises inside the model with the ImageNet
mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225), exactly as the L2L-DA
classifier does, so the model still takes [0, 1] images.

Usage:

```python
model = resnet20((32, 32, 3), 10, normalize="imagenet")  # L2L-DA CIFAR-10
resnet56 = resnet20((32, 32, 3), 10, depth=56)
tiny = resnet20((28, 28, 1), 10, width=0.25)               # CPU preset
```
"""

import math

import keras

from tf_advnet.errors import UserError
from tf_advnet.models import _common
from tf_advnet.models.layers import ChannelPad
from tf_advnet.models.layers import Standardize
from tf_advnet.models.layers import Subsample2D

# PyTorch BatchNorm2d defaults (momentum 0.1 there is 0.9 in Keras).
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE = (None, "imagenet")


def resnet20(input_shape=(32, 32, 3), num_classes=10, *, depth=20, width=1,
             normalize=None, sync_bn=False, name=None):
    """Builds a CIFAR ResNet-`depth` with option-A shortcuts.

    Parameters for CIFAR-10 at depth 20, width 1: 271,098 in total, 269,722
    trainable (He et al. Table 6 quotes 0.27M).

    Deviation: PyTorch pads 1 pixel on both sides of the stride-2 convs; we
    do the same with `ZeroPadding2D(1)` + VALID rather than Keras "same"
    (which pads only bottom/right), so pretrained PyTorch weights would
    transfer exactly. The dense bias uses PyTorch's default
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) while its kernel is Kaiming-normal as
    in the reference `_weights_init`.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4. `normalize="imagenet"` needs
            C = 3.
        num_classes: Number of logits.
        depth: Number of weight layers, 6n + 2 (20, 32, 44, 56, 110, ...).
        width: Multiplier on all filter counts (16/32/64), number > 0; use
            e.g. 0.25 for small CPU variants.
        normalize: None (feed [0, 1] pixels) or `"imagenet"` (mean/std
            standardisation in a first layer named `"normalize"`).
        sync_bn: If True, BN layers use `synchronized=True`: under
            `tf.distribute` the batch statistics (and hence the moving
            averages) cover the global batch, as on one device. If False
            (default), each replica normalises with its own sub-batch and,
            in Keras 3, keeps its own moving averages; reads and checkpoints
            see replica 0's.
        name: Model name; defaults to `"resnet{depth}"`.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "resnet20"
    _common.check_positive(model_id, "depth", depth, integer=True)
    if depth < 8 or (depth - 2) % 6:
        raise UserError(
            f"model {model_id!r}: depth={depth!r} must be 6n + 2 with n >= 1 "
            "(8, 14, 20, 32, 44, 56, 110, ...)"
        )
    _common.check_choice(model_id, "normalize", normalize, NORMALIZE)
    shape = _common.check_input_shape(
        model_id, input_shape, min_hw=4,
        channels=3 if normalize == "imagenet" else None)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "width", width)
    _common.check_bool(model_id, "sync_bn", sync_bn)
    blocks = (depth - 2) // 6
    name = name or f"resnet{depth}"
    init = keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_in", distribution="untruncated_normal")

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if normalize == "imagenet":
        x = Standardize(IMAGENET_MEAN, IMAGENET_STD, name="normalize")(x)
    x = _conv3x3(x, _common.scaled(16, width), 1, init, "stem_conv")
    x = _bn(x, "stem_bn", sync_bn)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, (filters, stride) in enumerate(
            ((16, 1), (32, 2), (64, 2)), start=1):
        filters = _common.scaled(filters, width)
        for block in range(1, blocks + 1):
            x = _basic_block(x, filters, stride if block == 1 else 1, init,
                             sync_bn, f"stage{stage}_block{block}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    bound = 1.0 / math.sqrt(x.shape[-1])
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=init,
        bias_initializer=keras.initializers.RandomUniform(-bound, bound),
        name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _bn(x, name, sync):
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=sync,
        name=name)(x)


def _conv3x3(x, filters, stride, init, name):
    """3x3 conv, no bias, symmetric 1-pixel padding (PyTorch `padding=1`)."""
    if stride > 1:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"  # Symmetric for odd kernels at stride 1.
    return keras.layers.Conv2D(filters, 3, strides=stride, padding=padding,
                               use_bias=False, kernel_initializer=init,
                               name=name)(x)


def _basic_block(x, filters, stride, init, sync, prefix):
    in_filters = x.shape[-1]
    shortcut = x
    if stride > 1:
        shortcut = Subsample2D(stride, name=f"{prefix}_sc_subsample")(shortcut)
    if in_filters != filters:
        extra = filters - in_filters
        shortcut = ChannelPad(extra // 2, extra - extra // 2,
                              name=f"{prefix}_sc_pad")(shortcut)
    y = _conv3x3(x, filters, stride, init, f"{prefix}_conv1")
    y = _bn(y, f"{prefix}_bn1", sync)
    y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
    y = _conv3x3(y, filters, 1, init, f"{prefix}_conv2")
    y = _bn(y, f"{prefix}_bn2", sync)
    y = keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(y)
