"""Discriminators D1 and D2 of Wang & Yu (ICLR 2019).

Paper: H. Wang, C.-N. Yu, "A Direct Approach to Robust Deep Learning Using
Adversarial Networks", ICLR 2019, https://openreview.net/forum?id=S1lIMn05F7.
Architectures follow the official code (`whxbergkamp/RobustDL_GAN`:
`mnist/adversarial_networks/models/simple_cnn_mnist.py` for D1,
`cifar10/adversarial_networks/models/resnet18_2.py` and
`svhn/adversarial_networks/models/resnet18.py` for D2), which differs from the
paper's wording in two places:

- D1 ("similar to LeNet5", appendix Fig. 3) has no hidden dense layer:
  conv5x5/32 -> maxpool -> conv5x5/64 -> maxpool -> dense logits.
- D2 ("ResNet-18 adapted to 32x32") is a 20-layer CIFAR ResNet (3 stages x 3
  v1 basic blocks) whose first block of *every* stage has a 1x1-conv + BN
  projection shortcut, even at stride 1 with unchanged width.

Both models take [0, 1] images and apply the paper's `2x - 1` rescaling in
their first layer (named `"rescale"`), and return logits.

Deviation (BatchNorm): the official code runs every BN layer in training mode,
always, including at test time (batch statistics of the current test batch;
moving averages never used, never saved). These models use ordinary Keras BN,
which follows the `training` argument; a trainer or evaluator that wants the
official behaviour calls the model with `training=True` (and can discard the
moving-statistics updates). Hard-coding it would make evaluation depend on
batch composition for every user of the model.

Usage:

```python
model = advnet_resnet((32, 32, 3), 10)            # D2, CIFAR-10
wide = advnet_resnet((32, 32, 3), 10, width=10)   # Tables 8-9 wide D2
d1 = advnet_d1((28, 28, 1), 10)                   # D1, MNIST
logits = model(images_in_0_1)
```
"""

import keras

from tf_advnet.models import _common

# BN settings of `resnet18*.py` in the official code.
_BN_MOMENTUM = 0.997
_BN_EPSILON = 1e-5
VARIANTS = ("cifar", "svhn")


def advnet_d1(input_shape=(28, 28, 1), num_classes=10, *, name="advnet_d1"):
    """Builds D1, the MNIST discriminator of Wang & Yu (appendix, Fig. 3).

    Layer table (official `simple_cnn_mnist.py`, 28x28x1 input):
    conv5x5 32 SAME ReLU -> maxpool 2 -> conv5x5 64 SAME ReLU -> maxpool 2 ->
    flatten -> dense `num_classes` (logits). Xavier-uniform kernels, zero
    biases. 83,466 parameters for MNIST.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4.
        num_classes: Number of logits.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "advnet_d1"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    num_classes = _common.check_num_classes(model_id, num_classes)
    init = keras.initializers.GlorotUniform()

    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = keras.layers.Conv2D(32, 5, padding="same", activation="relu",
                            kernel_initializer=init, name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(64, 5, padding="same", activation="relu",
                            kernel_initializer=init, name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init,
                                name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def advnet_resnet(input_shape=(32, 32, 3), num_classes=10, *, width=1,
                  variant="cifar", blocks_per_stage=3, sync_bn=False,
                  name="advnet_resnet"):
    """Builds D2, the CIFAR-10/SVHN discriminator of Wang & Yu.

    Layer table (official `resnet18_2.py`, `variant="cifar"`, 32x32 input):

    | # | Layer | Output |
    |---|---|---|
    | 1 | conv3x3 16, no bias -> BN -> ReLU | 32x32x16 |
    | 2 | stage 1: 3 v1 blocks, 16w, stride 1 (block 1 projects) | 32x32x16w |
    | 3 | stage 2: 3 blocks, 32w, first stride 2 (projection) | 16x16x32w |
    | 4 | stage 3: 3 blocks, 64w, first stride 2 (projection) | 8x8x64w |
    | 5 | average pool -> dense `num_classes` (with bias) | K |

    A v1 block is conv3x3(stride s) -> BN -> ReLU -> conv3x3 -> BN, plus the
    shortcut, then ReLU. Strided convolutions pad 1 pixel symmetrically and
    use VALID padding (TF "SAME" would pad asymmetrically); stride-1 ones use
    SAME. Kernels use TF1's default `variance_scaling_initializer` (scale 1,
    fan-in, truncated normal). BN momentum 0.997, epsilon 1e-5.

    `variant="svhn"` (official `svhn/.../resnet18.py`): no BN/ReLU after the
    first conv; BN -> ReLU after stage 3 instead; all kernels truncated
    N(0, 0.02).

    The paper's wide D2 (Tables 8-9) is `width=10`: stages 160/320/640, the
    first conv stays at 16 filters, as in `resnet18_2_wide.py`.

    Deviation: the official code pools with an 8x8 VALID average pool, which
    assumes 32x32 inputs. We use global average pooling, identical on 32x32
    and still defined on e.g. 28x28 inputs (7x7 final maps).

    Parameters for CIFAR-10 (`width=1`): 274,362 (272,762 trainable);
    `width=10`: 26,815,866.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4.
        num_classes: Number of logits (the official code hard-codes 10;
            CIFAR-100 needs 100).
        width: Stage-width multiplier (number > 0); the paper's wide version
            is 10. Non-integer values are allowed for small CPU variants.
        variant: `"cifar"` or `"svhn"`.
        blocks_per_stage: Residual blocks per stage (3 in the paper).
        sync_bn: If True, BN layers use `synchronized=True`: under
            `tf.distribute` the batch statistics (and hence the moving
            averages) cover the global batch, as on one device. If False
            (default), each replica normalises with its own sub-batch and,
            in Keras 3, keeps its own moving averages; reads and checkpoints
            see replica 0's.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits. The first
        block of every stage has layers named `stage{i}_block1_proj_conv` and
        `stage{i}_block1_proj_bn`.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "advnet_resnet"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "width", width)
    _common.check_choice(model_id, "variant", variant, VARIANTS)
    _common.check_positive(model_id, "blocks_per_stage", blocks_per_stage,
                           integer=True)
    _common.check_bool(model_id, "sync_bn", sync_bn)

    if variant == "cifar":
        init = keras.initializers.VarianceScaling(
            scale=1.0, mode="fan_in", distribution="truncated_normal")
    else:
        init = keras.initializers.TruncatedNormal(stddev=0.02)

    inputs = keras.Input(shape=shape, name="image")
    x = _common.rescale_pm1()(inputs)
    x = _conv(x, 16, 3, 1, init, "stem_conv")
    if variant == "cifar":
        x = _bn(x, "stem_bn", sync_bn)
        x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, (filters, stride) in enumerate(
            ((16, 1), (32, 2), (64, 2)), start=1):
        filters = _common.scaled(filters, width)
        for block in range(1, blocks_per_stage + 1):
            first = block == 1
            x = _v1_block(x, filters, stride if first else 1, project=first,
                          init=init, sync=sync_bn,
                          prefix=f"stage{stage}_block{block}")
    if variant == "svhn":
        x = _bn(x, "final_bn", sync_bn)
        x = keras.layers.ReLU(name="final_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=init,
                                name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _bn(x, name, sync):
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=sync,
        name=name)(x)


def _conv(x, filters, kernel, stride, init, name):
    """Conv without bias; strided ones pad (k-1)/2 per side then go VALID."""
    if stride > 1:
        pad = (kernel - 1) // 2
        if pad:
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(filters, kernel, strides=stride,
                               padding=padding, use_bias=False,
                               kernel_initializer=init, name=name)(x)


def _v1_block(x, filters, stride, *, project, init, sync, prefix):
    """Basic residual block "v1" of `resnet18_2.py` (post-activation)."""
    shortcut = x
    if project:
        shortcut = _conv(x, filters, 1, stride, init, f"{prefix}_proj_conv")
        shortcut = _bn(shortcut, f"{prefix}_proj_bn", sync)
    y = _conv(x, filters, 3, stride, init, f"{prefix}_conv1")
    y = _bn(y, f"{prefix}_bn1", sync)
    y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
    y = _conv(y, filters, 3, 1, init, f"{prefix}_conv2")
    y = _bn(y, f"{prefix}_bn2", sync)
    y = keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(y)
