"""The perturbation generator G of PGN (Lee, Han & Lee, ICLR 2020 submission).

"Adversarial training with perturbation generator networks",
https://openreview.net/forum?id=S1xXiREKDB; official code `ATPGN/ATPGN`,
`models/PGN.py`. The paper's Table 1 is missing
from our copy, so the layer table below is the official code's.

G (Eq. 2) maps the gradient image grad_x F(x)_y, the clean image x and the
one-hot label y to a linear, image-shaped output w; the adversarial image is
then the Carlini-Wagner change of variables of Eq. (5),
`tf_advnet.attacks.pgn.tanh_space(x, w)`, which needs no clipping.

Usage:

```python
gen = pgn_generator((32, 32, 3), 100)          # the paper's CIFAR-100 generator
w = gen([grad, x, tf.one_hot(y, 100)])
tiny = pgn_generator((8, 8, 1), 3, width=8, dense_units=16)
```
"""

import keras

from tf_advnet.errors import UserError
from tf_advnet.models import _common

# tf.nn.leaky_relu's default slope, used throughout PGN's `models/PGN.py`.
PGN_LEAKY_SLOPE = 0.2


def pgn_generator(input_shape, num_classes, *, width=128, dense_units=1024,
                  name="pgn_generator"):
    """Builds PGN's perturbation generator G(grad, x, y) -> w.

    Layer table (official `models/PGN.py`; H x W x C image, K classes, 32x32x3 in the paper):

    | # | Layer | Output |
    |---|---|---|
    | 1 | dense(y -> dense_units), LeakyReLU | dense_units |
    | 2 | concat[., y] -> dense(width * H/4 * W/4), LeakyReLU, reshape | H/4 x W/4 x width |
    | 3 | concat tiled y -> conv-transpose 3x3 s2 SAME width, LeakyReLU | H/2 x W/2 x width |
    | 4 | concat tiled y -> conv-transpose 3x3 s2 SAME width, LeakyReLU | H x W x width |
    | 5 | concat[grad, 2x - 1] | H x W x (width + 2C) |
    | 6 | conv 3x3 SAME width, LeakyReLU | H x W x width |
    | 7 | conv 3x3 SAME C, linear -> w | H x W x C |

    LeakyReLU slope 0.2; every kernel He-normal (fan-in, untruncated, as the
    classifier `convpool_cnn`), zero biases. The label is tiled over space by
    nearest-neighbour upsampling of a 1x1 map (a constant map per class).

    Args:
        input_shape: `(H, W, C)` of the [0, 1] images; H and W multiples of 4
            (32x32, 28x28 and 8x8 all work).
        num_classes: K, the length of the one-hot label input.
        width: Channels of the spatial layers (128 in the paper).
        dense_units: Units of the first dense layer (1024 in the paper).
        name: Model name.

    Returns:
        A functional `keras.Model` with inputs `[grad, x, y_onehot]` (shapes
        `(H, W, C)`, `(H, W, C)`, `(K,)`) and the linear output w `(H, W, C)`.

    Raises:
        UserError: On an unsupported shape or bad argument.
    """
    model_id = "pgn_generator"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    h, w, c = shape
    if h % 4 or w % 4:
        raise UserError(
            f"model {model_id!r} cannot take input_shape={shape}; supported "
            "shapes: (H, W, C) with H and W multiples of 4")
    num_classes = _common.check_num_classes(model_id, num_classes)
    _common.check_positive(model_id, "width", width, integer=True)
    _common.check_positive(model_id, "dense_units", dense_units, integer=True)
    init = keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_in", distribution="untruncated_normal")
    layers = keras.layers

    def act(x, name):
        return layers.LeakyReLU(negative_slope=PGN_LEAKY_SLOPE, name=name)(x)

    grad_in = keras.Input(shape=shape, name="grad")
    x_in = keras.Input(shape=shape, name="image")
    y_in = keras.Input(shape=(num_classes,), name="label")

    z = act(layers.Dense(dense_units, kernel_initializer=init, name="fc1")(y_in),
            "fc1_act")
    z = layers.Concatenate(name="fc2_in")([z, y_in])
    z = act(layers.Dense(width * (h // 4) * (w // 4), kernel_initializer=init,
                         name="fc2")(z), "fc2_act")
    z = layers.Reshape((h // 4, w // 4, width), name="fc2_map")(z)
    y_map = layers.Reshape((1, 1, num_classes), name="label_map")(y_in)
    for i, (mh, mw) in enumerate([(h // 4, w // 4), (h // 2, w // 2)], start=1):
        tiled = layers.UpSampling2D((mh, mw), name=f"label_tile{i}")(y_map)
        z = layers.Concatenate(name=f"up{i}_in")([z, tiled])
        z = act(layers.Conv2DTranspose(width, 3, strides=2, padding="same",
                                       kernel_initializer=init, name=f"up{i}")(z),
                f"up{i}_act")
    # The image enters in [-1, 1], as in the official code.
    x_pm1 = _common.rescale_pm1("image_pm1")(x_in)
    z = layers.Concatenate(name="merge")([z, grad_in, x_pm1])
    z = act(layers.Conv2D(width, 3, padding="same", kernel_initializer=init,
                          name="conv1")(z), "conv1_act")
    out = layers.Conv2D(c, 3, padding="same", kernel_initializer=init,
                        name="w")(z)
    return keras.Model([grad_in, x_in, y_in], out, name=name)
