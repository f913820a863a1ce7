"""Small all-convolutional CIFAR classifiers of PGN and DeepDefense.

- `convpool_cnn`: the "ConvPool-CNN" classifier of Lee, Han & Lee,
  "Adversarial training with perturbation generator networks" (PGN), ICLR
  2020 submission, https://openreview.net/forum?id=S1xXiREKDB. Official code
  `ATPGN/ATPGN`, `models/PGN.py`, built on cleverhans' all-convolutional
  network (scope "AllconvNet").
- `deepdefense_convnet`: the CIFAR-10 "ConvNet" of Yan et al., "DeepDefense",
  NeurIPS 2018, https://arxiv.org/abs/1803.00404 (supplementary Table 3;
  official code `ZiangYan/deepdefense.pytorch`, `models/cifar10.py`), i.e.
  matconvnet's CIFAR "lenet".

Both take [0, 1] images and return logits; neither rescales (PGN works in
[0, 1]; see `deepdefense_convnet` for DeepDefense's preprocessing).

Usage:

```python
model = convpool_cnn((32, 32, 3), 100)     # PGN, CIFAR-100
small = convpool_cnn((28, 28, 1), 10, nb_filters=8)
dd = deepdefense_convnet((32, 32, 3), 10)
```
"""

import keras

from tf_advnet.models import _common

# tf.nn.leaky_relu's default slope, which PGN's classifier uses (`models/PGN.py`).
PGN_LEAKY_SLOPE = 0.2


def convpool_cnn(input_shape=(32, 32, 3), num_classes=10, *, nb_filters=64,
                 num_scales=3, name="convpool_cnn"):
    """Builds PGN's ConvPool-CNN (all-convolutional, no BN, no dropout).

    Layer table (official `models/PGN.py`, F = `nb_filters`, 32x32 input):

    | # | Layers | Output |
    |---|---|---|
    | 1 | conv F -> conv 2F -> avgpool 2 | 16x16x2F |
    | 2 | conv 2F -> conv 4F -> avgpool 2 | 8x8x4F |
    | 3 | conv 4F -> conv 8F -> avgpool 2 | 4x4x8F |
    | 4 | conv K (also LeakyReLU) -> spatial mean = logits | K |

    Every conv is 3x3, SAME, with bias, followed by LeakyReLU(0.2), He-normal
    (fan-in, untruncated) kernels and zero biases. Average pools are 2x2,
    stride 2, VALID (on 28x28 inputs the last map is 3x3). Note that the
    logits are the spatial mean of a LeakyReLU output, as in the official
    code. Parameters (32x32x3, F = 64): 2,334,730 for CIFAR-10 and 2,749,540
    for CIFAR-100.

    Args:
        input_shape: `(H, W, C)`, H and W >= 2**num_scales.
        num_classes: Number of logits.
        nb_filters: Base width F (64 in PGN; Fig. 5 of the paper scales it).
        num_scales: Number of conv-conv-pool scales (3 in PGN).
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "convpool_cnn"
    _common.check_positive(model_id, "num_scales", num_scales, integer=True)
    shape = _common.check_input_shape(model_id, input_shape,
                                      min_hw=2 ** num_scales)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "nb_filters", nb_filters, integer=True)
    init = keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_in", distribution="untruncated_normal")

    def conv(x, filters, name):
        x = keras.layers.Conv2D(filters, 3, padding="same",
                                kernel_initializer=init, name=name)(x)
        return keras.layers.LeakyReLU(negative_slope=PGN_LEAKY_SLOPE,
                                      name=f"{name}_act")(x)

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    for scale in range(num_scales):
        x = conv(x, nb_filters << scale, f"scale{scale + 1}_conv1")
        x = conv(x, nb_filters << (scale + 1), f"scale{scale + 1}_conv2")
        x = keras.layers.AveragePooling2D(2, name=f"scale{scale + 1}_pool")(x)
    x = conv(x, num_classes, "class_conv")
    logits = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def deepdefense_convnet(input_shape=(32, 32, 3), num_classes=10, *,
                        input_mean=None, input_scale=1.0,
                        name="deepdefense_convnet"):
    """Builds DeepDefense's CIFAR-10 ConvNet (supplementary Table 3).

    Layer table (32x32 input; all layers with bias; pools 2x2 stride 2):
    conv5x5 32 pad 2 -> maxpool -> ReLU -> conv5x5 32 pad 2, ReLU -> avgpool
    -> conv5x5 64 pad 2, ReLU -> avgpool -> conv4x4 64 (valid), ReLU ->
    conv1x1 K -> logits (1x1xK, flattened). 145,578 parameters for CIFAR-10.

    The 4x4 valid conv needs a 4x4 map, so only 32x32 inputs are supported.
    The pools are 2x2 as in the PyTorch code (the matconvnet template uses
    3x3 / stride 2 / pad [0 1 0 1], `examples/cifar/cnn_cifar_init.m`; output sizes
    agree).

    Deviations: DeepDefense's CIFAR inputs are matconvnet-preprocessed
    (mean image, per-image contrast normalisation, ZCA whitening). Contrast
    normalisation and ZCA are data-dependent pipeline steps and are not part
    of this model; `input_mean` / `input_scale` give the linear part
    (`(x - mean) * scale`). Keras default initialisation (Glorot-uniform,
    zero biases), since the paper's reference weights are not available.

    Args:
        input_shape: `(32, 32, C)`.
        num_classes: Number of logits.
        input_mean: None, a scalar, or an array broadcastable to
            `input_shape`, subtracted in [0, 1] units.
        input_scale: Positive factor applied after centring.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "deepdefense_convnet"
    shape = _common.check_input_shape(model_id, input_shape,
                                      exact_hw=(32, 32))
    num_classes = _common.check_num_classes(model_id, num_classes)
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="image")
    x = _common.preprocess(model_id, inputs, input_mean, input_scale)
    x = layers.Conv2D(32, 5, padding="same", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv2D(32, 5, padding="same", activation="relu",
                      name="conv2")(x)
    x = layers.AveragePooling2D(2, name="pool2")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu",
                      name="conv3")(x)
    x = layers.AveragePooling2D(2, name="pool3")(x)
    x = layers.Conv2D(64, 4, padding="valid", activation="relu",
                      name="conv4")(x)
    x = layers.Conv2D(num_classes, 1, name="conv5")(x)
    logits = layers.Flatten(name="logits")(x)
    return keras.Model(inputs, logits, name=name)
