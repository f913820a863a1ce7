"""LeNet-style MNIST classifiers of L2L-DA and DeepDefense.

- `lenet5`: the "LeNet-5" classifier of Jang et al., "Adversarial Defense via
  Learning to Generate Diverse Attacks" (L2L-DA), ICCV 2019,
  https://openaccess.thecvf.com/content_ICCV_2019/html/Jang_Adversarial_Defense_via_Learning_to_Generate_Diverse_Attacks_ICCV_2019_paper.html
  (official code `YunseokJANG/l2l-da`, `adv_defence/models.py`).
- `deepdefense_lenet`: the matconvnet MNIST LeNet used by Yan et al.,
  "DeepDefense: Training Deep Neural Networks with Improved Robustness",
  NeurIPS 2018, https://arxiv.org/abs/1803.00404 (supplementary Table 3;
  official code `ZiangYan/deepdefense.pytorch`, `models/mnist.py`). It has **no**
  ReLU after its convolutions.

Both take [0, 1] images and return logits.

Usage:

```python
model = lenet5((28, 28, 1), 10)
logits = model(images_in_0_1)
```
"""

import keras

from tf_advnet.models import _common


def lenet5(input_shape=(28, 28, 1), num_classes=10, *, name="lenet5"):
    """Builds the L2L-DA MNIST LeNet-5 (official `adv_defence/models.py`).

    Layer table (28x28x1 input):
    conv5x5 6, pad 2, ReLU -> maxpool 2 -> conv5x5 16 (valid), ReLU ->
    maxpool 2 -> conv5x5 120 (valid), ReLU -> flatten -> dense 84, ReLU ->
    dense `num_classes` (logits). 61,706 parameters for MNIST.

    The official model ends in log-softmax; we return logits (cross-entropy is
    unchanged). Initialisation follows `weights_init_normal` of the official
    code: convolutions N(0, 0.02), dense Xavier-uniform, zero biases. The model is trained from scratch in
    the paper's MNIST setting; pixels stay in [0, 1].

    Args:
        input_shape: `(H, W, C)`, H and W >= 28 (the third conv needs a 5x5
            map).
        num_classes: Number of logits.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping [0, 1] images to logits.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "lenet5"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=28)
    num_classes = _common.check_num_classes(model_id, num_classes)
    conv_init = keras.initializers.RandomNormal(stddev=0.02)
    dense_init = keras.initializers.GlorotUniform()

    def conv(x, filters, padding, name):
        return keras.layers.Conv2D(filters, 5, padding=padding,
                                   activation="relu",
                                   kernel_initializer=conv_init,
                                   name=name)(x)

    inputs = keras.Input(shape=shape, name="image")
    # PyTorch pad=2 on a 5x5 stride-1 conv is exactly Keras "same".
    x = conv(inputs, 6, "same", "conv1")
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = conv(x, 16, "valid", "conv2")
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = conv(x, 120, "valid", "conv3")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation="relu",
                           kernel_initializer=dense_init, name="fc1")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=dense_init,
                                name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def deepdefense_lenet(input_shape=(28, 28, 1), num_classes=10, *,
                      input_mean=None, input_scale=1.0,
                      name="deepdefense_lenet"):
    """Builds the DeepDefense MNIST LeNet (supplementary Table 3).

    Layer table (28x28x1 input):
    conv5x5 20 (valid) -> maxpool 2 -> conv5x5 50 (valid) -> maxpool 2 ->
    flatten -> dense 500, ReLU -> dense `num_classes` (logits). There is no
    activation after either convolution (as in the matconvnet/DeepFool
    reference model); all layers have biases. 431,080 parameters for MNIST.

    Initialisation: DeepDefense fine-tunes matconvnet reference weights that
    we do not have; we train the reference model ourselves and use Keras
    defaults (Glorot-uniform kernels, zero biases).

    Preprocessing: DeepDefense feeds matconvnet inputs, i.e. 0-255 pixels
    minus the per-pixel training mean (matconvnet's `examples/mnist/cnn_mnist.m`,
    whose data DeepDefense's loaders read), and its rho_2 metric uses
    ‖x‖ of those preprocessed inputs. By default the model sees the raw
    [0, 1] pixels (`input_mean=None`, `input_scale=1.0`) so that Keras default
    initialisation trains from scratch. Pass `input_mean` (a scalar or the
    28x28x1 mean image, in [0, 1] units) and `input_scale=255.0` to reproduce
    the matconvnet units exactly; the first layer (`"preprocess"`) then
    computes `(x - input_mean) * input_scale`.

    Args:
        input_shape: `(H, W, C)`, H and W >= 16.
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
    model_id = "deepdefense_lenet"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=16)
    num_classes = _common.check_num_classes(model_id, num_classes)

    inputs = keras.Input(shape=shape, name="image")
    x = _common.preprocess(model_id, inputs, input_mean, input_scale)
    x = keras.layers.Conv2D(20, 5, name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(50, 5, name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(500, activation="relu", name="fc1")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)

