"""A small CNN for the CPU presets (not from any of the five papers).

The CPU presets replace each paper's classifier by this network on 28x28
data (MNIST, Fashion-MNIST) so that a whole experiment runs in minutes
without a GPU. It is a plain two-stage conv/pool network; with `width=1`
it reaches > 80% test accuracy on Fashion-MNIST after one epoch over 10k
training images (Adam, lr 1e-3, batch 32; see `tests/models`).

Usage:

```python
model = small_cnn((28, 28, 1), 10)
logits = model(images_in_0_1)
```
"""

import keras

from tf_advnet.models import _common


def small_cnn(input_shape=(28, 28, 1), num_classes=10, *, width=1,
              name="small_cnn"):
    """Builds conv3x3 16w -> maxpool -> conv3x3 32w -> maxpool -> dense 64w.

    All convs are SAME with bias and ReLU; He-uniform kernels (ReLU
    network), zero biases; the last dense layer returns `num_classes` logits.
    Pixels stay in [0, 1]. 105,866 parameters at width 1 on 28x28x1 with 10
    classes.

    Args:
        input_shape: `(H, W, C)`, H and W >= 4.
        num_classes: Number of logits.
        width: Multiplier on the 16/32/64 widths (number > 0).
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "small_cnn"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "width", width)
    layers = keras.layers

    inputs = keras.Input(shape=shape, name="image")
    x = layers.Conv2D(_common.scaled(16, width), 3, padding="same",
                      activation="relu", kernel_initializer="he_uniform",
                      name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(_common.scaled(32, width), 3, padding="same",
                      activation="relu", kernel_initializer="he_uniform",
                      name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_common.scaled(64, width), activation="relu",
                     kernel_initializer="he_uniform", name="fc1")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
