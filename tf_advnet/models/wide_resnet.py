"""Wide ResNet of BAT (Madry et al.'s CIFAR-10 challenge model).

Paper: J. Wang, H. Zhang, "Bilateral Adversarial Training: Towards Fast
Training of More Robust Models Against Adversarial Attacks", ICCV 2019,
https://arxiv.org/abs/1811.10716, §5 ("WRN-28-10"). Official code
`wjyouch/bilateral-adversarial-training`, `wide_resnet.py`, which is the
model of `MadryLab/cifar10_challenge` (`model.py`).

    conv3x3 16 (no bias)
    -> 3 stages x N pre-activation units, widths 16k / 32k / 64k
       (k = widen_factor; stride 2 on the first conv of stages 2 and 3)
    -> BN -> LeakyReLU(0.1) -> global average pool -> dense K

A unit is BN -> LeakyReLU -> conv3x3(stride) -> BN -> LeakyReLU -> conv3x3,
plus the shortcut. In the first unit of stage 1 the shortcut is taken *after*
the shared BN + activation; elsewhere it is the raw unit input. When the
channel count changes the shortcut is an average pool (kernel = stride) plus
symmetric zero channel padding (`shortcut="pad"`, the default).

Depth naming: BAT calls N = 5 units per stage "WRN-28-10"; in Zagoruyko &
Komodakis' 6N + 4 convention it is WRN-34-10 (45.92M parameters with
k = 10 and the parameter-free shortcut). A standard Zagoruyko WRN-28-10
(36.48M trainable) is
`units_per_stage=4, leaky_slope=0.0, shortcut="projection"` (1x1-conv
shortcut on the pre-activated input whenever the width changes); it keeps
this module's BN settings and `2x - 1` input, not Zagoruyko's mean/std
normalisation, BN epsilon 1e-5, or dropout.

Settings (BAT's `wide_resnet.py`): BN momentum 0.9, epsilon 1e-3; conv kernels
N(0, sqrt(2 / (3 * 3 * out))) (= He fan-out, untruncated); dense kernel
"uniform unit scaling" (= LeCun uniform: U(+-sqrt(3 / fan_in))), zero
bias. Input is rescaled `2x - 1` inside the model (BAT works in [-1, 1]).

Usage:

```python
model = wide_resnet((32, 32, 3), 10)                    # BAT, 45.9M params
small = wide_resnet((32, 32, 3), 10, units_per_stage=1, widen_factor=1)
```
"""

import keras

from tf_advnet.models import _common
from tf_advnet.models.layers import ChannelPad

# tf.contrib batch_norm(decay=0.9) with its default epsilon, as BAT's `wide_resnet.py`.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-3
SHORTCUTS = ("pad", "projection")


def wide_resnet(input_shape=(32, 32, 3), num_classes=10, *, units_per_stage=5,
                widen_factor=10, leaky_slope=0.1, shortcut="pad",
                sync_bn=False, name="wide_resnet"):
    """Builds the BAT / Madry wide ResNet.

    Parameters for CIFAR-10 with the defaults (N = 5, k = 10): 45,924,346 in
    total, 45,901,914 trainable (the rest are BN moving statistics).

    Deviation: the official shortcut pools with VALID padding. We pool with
    SAME padding, which is identical for the even map sizes of 32x32 and
    28x28 inputs and keeps the shortcut aligned with the strided SAME conv
    for odd sizes too.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4.
        num_classes: Number of logits.
        units_per_stage: Residual units per stage, N (5 in BAT; 4 for a
            Zagoruyko WRN-28).
        widen_factor: Width multiplier k (int >= 1); stage widths are
            16k / 32k / 64k.
        leaky_slope: Negative slope of every LeakyReLU (0.1 in BAT; 0.0
            gives ReLU).
        shortcut: `"pad"` (average pool + zero channel padding, BAT/Madry)
            or `"projection"` (1x1 conv on the pre-activated input,
            Zagoruyko & Komodakis).
        sync_bn: If True, BN layers use `synchronized=True`: under
            `tf.distribute` the batch statistics (and hence the moving
            averages) cover the global batch, as on one device. If False
            (default), each replica normalises with its own sub-batch and,
            in Keras 3, keeps its own moving averages; reads and checkpoints
            see replica 0's.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "wide_resnet"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "units_per_stage", units_per_stage,
                           integer=True)
    _common.check_positive(model_id, "widen_factor", widen_factor,
                           integer=True)
    _common.check_positive(model_id, "leaky_slope", leaky_slope,
                           allow_zero=True)
    _common.check_choice(model_id, "shortcut", shortcut, SHORTCUTS)
    _common.check_bool(model_id, "sync_bn", sync_bn)
    conv_init = keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal")

    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False,
                            kernel_initializer=conv_init,
                            name="stem_conv")(x)
    widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
    for stage, (filters, stride) in enumerate(zip(widths, (1, 2, 2)),
                                              start=1):
        for unit in range(1, units_per_stage + 1):
            x = _unit(
                x, filters, stride if unit == 1 else 1,
                activate_before_residual=(stage == 1 and unit == 1),
                leaky_slope=leaky_slope, shortcut=shortcut, init=conv_init,
                sync=sync_bn, prefix=f"stage{stage}_unit{unit}")
    x = _bn(x, "final_bn", sync_bn)
    x = keras.layers.LeakyReLU(negative_slope=leaky_slope,
                               name="final_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    dense_init = keras.initializers.VarianceScaling(
        scale=1.0, mode="fan_in", distribution="uniform")
    logits = keras.layers.Dense(num_classes, kernel_initializer=dense_init,
                                name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _bn(x, name, sync):
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=sync,
        name=name)(x)


def _unit(x, filters, stride, *, activate_before_residual, leaky_slope,
          shortcut, init, sync, prefix):
    """One pre-activation residual unit."""
    in_filters = x.shape[-1]
    changes = in_filters != filters
    # Zagoruyko's units share the pre-activation with the projection
    # shortcut whenever the width changes; Madry's code does so only in the
    # first unit of stage 1.
    if shortcut == "projection":
        share = changes
    else:
        share = activate_before_residual

    def act(t, name):
        return keras.layers.LeakyReLU(negative_slope=leaky_slope,
                                      name=name)(t)

    if share:
        x = act(_bn(x, f"{prefix}_bn1", sync), f"{prefix}_act1")
        orig = x
    else:
        orig = x
        x = act(_bn(x, f"{prefix}_bn1", sync), f"{prefix}_act1")
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same",
                            use_bias=False, kernel_initializer=init,
                            name=f"{prefix}_conv1")(x)
    y = act(_bn(y, f"{prefix}_bn2", sync), f"{prefix}_act2")
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            kernel_initializer=init,
                            name=f"{prefix}_conv2")(y)
    if changes and shortcut == "projection":
        orig = keras.layers.Conv2D(filters, 1, strides=stride,
                                   padding="same", use_bias=False,
                                   kernel_initializer=init,
                                   name=f"{prefix}_sc_conv")(orig)
    elif changes:
        if stride > 1:
            orig = keras.layers.AveragePooling2D(
                stride, strides=stride, padding="same",
                name=f"{prefix}_sc_pool")(orig)
        extra = filters - in_filters
        orig = ChannelPad(extra // 2, extra - extra // 2,
                          name=f"{prefix}_sc_pad")(orig)
    return keras.layers.Add(name=f"{prefix}_add")([y, orig])
