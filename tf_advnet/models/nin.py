"""Network-in-Network as used by DeepDefense on CIFAR-10.

Architecture: M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014,
https://arxiv.org/abs/1312.4400, in the variant listed in DeepDefense's
supplementary Table 3 (Yan et al., NeurIPS 2018,
https://arxiv.org/abs/1803.00404). The official DeepDefense code does not
release NIN (it raises NotImplementedError); the dropout placement, 0.5 after
the first two pooling stages, is that of matconvnet's NIN example
(`vlfeat/matconvnet`, `examples/cifar/cnn_cifar_init_nin.m`).

Usage:

```python
model = nin((32, 32, 3), 10)
logits = model(images_in_0_1)
```
"""

import keras

from tf_advnet.errors import UserError
from tf_advnet.models import _common


def nin(input_shape=(32, 32, 3), num_classes=10, *, dropout=0.5,
        input_mean=None, input_scale=1.0, name="nin"):
    """Builds the DeepDefense NIN.

    Layer table (32x32 input; all convs with bias, ReLU unless noted):

    | # | Layers | Output |
    |---|---|---|
    | 1 | conv5x5 192 pad 2, conv1x1 160, conv1x1 96 | 32x32x96 |
    | 2 | maxpool 2 -> dropout 0.5 | 16x16x96 |
    | 3 | conv5x5 192 pad 2, conv1x1 192, conv1x1 192 | 16x16x192 |
    | 4 | avgpool 2 -> dropout 0.5 | 8x8x192 |
    | 5 | conv3x3 192 pad 1, conv1x1 192 | 8x8x192 |
    | 6 | conv1x1 K (no ReLU) -> global average pool = logits | K |

    966,986 parameters for CIFAR-10. The table has no ReLU after the last
    1x1 conv (the original NIN Caffe model has one); we follow the table, so
    the logits are not constrained to be non-negative.

    Deviations: the table's final 8x8 average pool is a global average pool
    here (identical on 32x32 inputs; defined on 28x28 too). Pools are 2x2
    stride 2 as in the table (Lin et al. use 3x3 stride 2). Keras default
    initialisation. `input_mean` / `input_scale` give the linear part of
    matconvnet's preprocessing, as for `deepdefense_convnet`.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4.
        num_classes: Number of logits.
        dropout: Dropout rate after each of the two pools, in [0, 1).
        input_mean: None, a scalar, or an array broadcastable to
            `input_shape`, subtracted in [0, 1] units.
        input_scale: Positive factor applied after centring.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "nin"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "dropout", dropout, allow_zero=True)
    if dropout >= 1:
        raise UserError(
            f"model {model_id!r}: dropout={dropout!r} must be in [0, 1)")
    layers = keras.layers

    def conv(x, filters, kernel, name, activation="relu"):
        return layers.Conv2D(filters, kernel, padding="same",
                             activation=activation, name=name)(x)

    inputs = keras.Input(shape=shape, name="image")
    x = _common.preprocess(model_id, inputs, input_mean, input_scale)
    x = conv(x, 192, 5, "block1_conv")
    x = conv(x, 160, 1, "block1_mlp1")
    x = conv(x, 96, 1, "block1_mlp2")
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Dropout(dropout, name="block1_dropout")(x)
    x = conv(x, 192, 5, "block2_conv")
    x = conv(x, 192, 1, "block2_mlp1")
    x = conv(x, 192, 1, "block2_mlp2")
    x = layers.AveragePooling2D(2, name="block2_pool")(x)
    x = layers.Dropout(dropout, name="block2_dropout")(x)
    x = conv(x, 192, 3, "block3_conv")
    x = conv(x, 192, 1, "block3_mlp1")
    x = conv(x, num_classes, 1, "block3_mlp2", activation=None)
    logits = layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, logits, name=name)
