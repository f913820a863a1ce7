"""The DeepDefense MNIST multi-layer perceptron.

Paper: Z. Yan, Y. Guo, C. Zhang, "DeepDefense: Training Deep Neural Networks
with Improved Robustness", NeurIPS 2018, https://arxiv.org/abs/1803.00404
(supplementary Table 3; official code `ZiangYan/deepdefense.pytorch`,
`models/mnist.py`).

Usage:

```python
model = deepdefense_mlp((28, 28, 1), 10)
logits = model(images_in_0_1)
```
"""

import keras

from tf_advnet.models import _common


def deepdefense_mlp(input_shape=(28, 28, 1), num_classes=10, *,
                    input_mean=None, input_scale=1.0,
                    name="deepdefense_mlp"):
    """Builds the DeepDefense MLP: flatten -> 500 ReLU -> 150 ReLU -> logits.

    469,160 parameters for MNIST (784 inputs, 10 classes). Biases on all
    layers; Keras default initialisation (the paper fine-tunes matconvnet
    reference weights that are not available to us).

    Preprocessing: as for `deepdefense_lenet`, the default is the raw [0, 1]
    pixels; pass `input_mean` (scalar or mean image, [0, 1] units) and
    `input_scale=255.0` to feed the network matconvnet units
    (`(x - mean) * 255`), which is what DeepDefense's rho_2 normalises by.

    Args:
        input_shape: `(H, W, C)`; any size.
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
    model_id = "deepdefense_mlp"
    shape = _common.check_input_shape(model_id, input_shape)
    num_classes = _common.check_num_classes(model_id, num_classes)

    inputs = keras.Input(shape=shape, name="image")
    x = _common.preprocess(model_id, inputs, input_mean, input_scale)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(500, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(150, activation="relu", name="fc2")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
