"""L2L-DA's recursive, stochastic U-Net generator g_phi(x, y, z, delta_t, grad_t).

Paper: Jang, Zhao, Hong, Lee, "Adversarial Defense via Learning to Generate
Diverse Attacks", ICCV 2019, Sec. 4.1 and 5.1 ("a convolutional encoder-decoder
network based on the U-Net architecture ... we concatenate the accumulated
perturbation and the loss gradient with the input image ... feed the latent
variable z to the input and the first two convolutional layers through spatial
padding and concatenation. The class label y is injected by class-conditional
batch normalization"). Layer table from the official code (`YunseokJANG/l2l-da`,
`adv_defence/models.py`: `NoiseGenerator`, `UNetDown`, `UNetUp`), for an H x W x C input (H, W multiples of 4):

| block | layers | output |
|---|---|---|
| z encoder | dense(z_dim) ReLU dense(z_dim) ReLU, tiled over H x W | |
| d0 | concat(input, z) conv3x3/1 w, no bias, LeakyReLU(0.2) | H x W x w |
| d1 | concat(d0, z) conv4x4/2 w, no bias, CBN(y), LeakyReLU(0.2) | H/2 x w |
| d2 | concat(d1, z) conv4x4/2 2w, no bias, LeakyReLU(0.2) | H/4 x 2w |
| u2 | deconv4x4/2 w, no bias, CBN(y), ReLU, concat d1 | H/2 x 2w |
| u1 | deconv4x4/2 w, no bias, CBN(y), ReLU, concat d0 | H x 2w |
| out | conv3x3/1 C, no bias, tanh | H x W x C |

(The code feeds z to all three down-sampling convolutions, the paper's "input
and the first two conv layers".) Width w = 64 and z_dim = 8 in the paper.
Convolutions are initialised N(0, 0.02), dense layers Xavier-uniform.

The input is the channel concatenation [x, grad, delta] in that order. Each
part can be switched off for the ablations of Table 1(b):
`use_delta=False` drops delta, `use_label=False` makes the CBN unconditional
(plain BN), `use_noise=False` removes z (a deterministic generator).
`l2l_star_generator` is the L2L* baseline of Table 1(a): the same U-Net on
(x, grad) only (the paper's footnote: L2L "with additional skip-connection").

Inputs are named "image", "gradient", "delta", "label" and "noise", in this
order when present; `l2lda_generator_inputs` builds the list a generator takes.
"""

import keras

from tf_advnet.models import _common
from tf_advnet.models.layers import ConditionalBatchNormalization

INPUT_NAMES = ("image", "gradient", "delta", "label", "noise")
DEFAULT_WIDTH, DEFAULT_Z_DIM = 64, 8


def _conv_init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def _tile(z, height, width, name):
    """(batch, d) -> (batch, height, width, d): the code's spatial tiling of z."""
    d = int(z.shape[-1])
    z = keras.layers.RepeatVector(height * width, name=f"{name}_repeat")(z)
    return keras.layers.Reshape((height, width, d), name=f"{name}_tile")(z)


def l2lda_generator(input_shape=(28, 28, 1), num_classes=10, *, width=DEFAULT_WIDTH,
                    z_dim=DEFAULT_Z_DIM, use_gradient=True, use_delta=True,
                    use_label=True, use_noise=True, sync_bn=False,
                    name="l2lda_generator"):
    """The L2L-DA generator (module docstring); output in [-1, 1] (tanh).

    Args:
        input_shape: image shape (H, W, C), H and W multiples of 4.
        num_classes: K, for the label's CBN tables.
        width: base width w (paper 64).
        z_dim: size of z (paper 8).
        use_gradient, use_delta, use_label, use_noise: which inputs it takes.
        sync_bn: synchronised batch statistics (MirroredStrategy).
        name: model name.
    """
    model_id = "l2lda_generator"
    shape = _common.check_input_shape(model_id, input_shape, min_hw=4)
    if shape[0] % 4 or shape[1] % 4:
        raise _common.UserError(f"model {model_id!r} cannot take input_shape={shape}; "
                                "supported shapes: (H, W, C) with H and W multiples "
                                "of 4")
    _common.check_positive(model_id, "width", width, integer=True)
    _common.check_positive(model_id, "z_dim", z_dim, integer=True)
    for arg, value in (("use_gradient", use_gradient), ("use_delta", use_delta),
                       ("use_label", use_label), ("use_noise", use_noise),
                       ("sync_bn", sync_bn)):
        _common.check_bool(model_id, arg, value)
    if use_label:
        _common.check_num_classes(model_id, num_classes)
    h, w, c = shape
    image = keras.Input(shape, name="image")
    inputs, parts = [image], [image]
    if use_gradient:
        grad = keras.Input(shape, name="gradient")
        inputs.append(grad)
        parts.append(grad)
    if use_delta:
        delta = keras.Input(shape, name="delta")
        inputs.append(delta)
        parts.append(delta)
    label = None
    if use_label:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
    z = None
    if use_noise:
        noise = keras.Input((z_dim,), name="noise")
        inputs.append(noise)
        z = noise
        for i in (1, 2):
            z = keras.layers.Dense(z_dim, kernel_initializer="glorot_uniform",
                                   name=f"z_dense{i}")(z)
            z = keras.layers.ReLU(name=f"z_relu{i}")(z)

    def with_z(x, size, block):
        if z is None:
            return x
        return keras.layers.Concatenate(name=f"{block}_concat_z")(
            [x, _tile(z, size[0], size[1], f"{block}_z")])

    def cbn(x, block):
        k = int(num_classes) if use_label else 0
        layer = ConditionalBatchNormalization(k, synchronized=sync_bn, name=f"{block}_cbn")
        return layer([x, label] if use_label else x)

    def conv(x, filters, kernel, strides, block, transpose=False):
        layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        return layer(filters, kernel, strides=strides, padding="same", use_bias=False,
                     kernel_initializer=_conv_init(), name=f"{block}_conv")(x)

    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="input_concat")(parts)
    d0 = conv(with_z(x, (h, w), "d0"), width, 3, 1, "d0")
    d0 = keras.layers.LeakyReLU(0.2, name="d0_lrelu")(d0)
    d1 = conv(with_z(d0, (h, w), "d1"), width, 4, 2, "d1")
    d1 = keras.layers.LeakyReLU(0.2, name="d1_lrelu")(cbn(d1, "d1"))
    d2 = conv(with_z(d1, (h // 2, w // 2), "d2"), 2 * width, 4, 2, "d2")
    d2 = keras.layers.LeakyReLU(0.2, name="d2_lrelu")(d2)
    u2 = keras.layers.ReLU(name="u2_relu")(cbn(conv(d2, width, 4, 2, "u2", True), "u2"))
    u2 = keras.layers.Concatenate(name="u2_skip")([u2, d1])
    u1 = keras.layers.ReLU(name="u1_relu")(cbn(conv(u2, width, 4, 2, "u1", True), "u1"))
    u1 = keras.layers.Concatenate(name="u1_skip")([u1, d0])
    out = conv(u1, c, 3, 1, "out")
    out = keras.layers.Activation("tanh", name="tanh")(out)
    return keras.Model(inputs, out, name=name)


def l2l_star_generator(input_shape=(28, 28, 1), num_classes=None, *,
                       width=DEFAULT_WIDTH, sync_bn=False, name="l2l_star_generator"):
    """L2L* (Chen et al., as reproduced by Jang et al.): the same U-Net on (x, grad),
    without y, delta or z; one-shot, unnormalised gradient (the trainer's flags)."""
    del num_classes  # no label input
    return l2lda_generator(input_shape, 0, width=width, use_delta=False,
                           use_label=False, use_noise=False, sync_bn=sync_bn, name=name)


def input_names(generator):
    """The generator's input names, a subsequence of `INPUT_NAMES`."""
    names = tuple(t.name.split(":")[0] for t in generator.inputs)
    unknown = [n for n in names if n not in INPUT_NAMES]
    if unknown or not names or names[0] != "image":
        raise _common.UserError(
            f"generator {generator.name!r} has inputs {names}; an L2L-DA generator "
            f"takes 'image' first, then any of {', '.join(INPUT_NAMES[1:])}")
    return names


def z_dim_of(generator):
    """Size of z for a generator with a noise input, else 0."""
    for t in generator.inputs:
        if t.name.split(":")[0] == "noise":
            return int(t.shape[-1])
    return 0


def l2lda_generator_inputs(generator, *, image, gradient=None, delta=None, label=None,
                           noise=None):
    """The list of tensors `generator` takes, by its input names."""
    given = {"image": image, "gradient": gradient, "delta": delta, "label": label,
             "noise": noise}
    out = []
    for name in input_names(generator):
        if given[name] is None:
            raise ValueError(f"generator {generator.name!r} takes {name!r}; it is "
                             "missing")
        out.append(given[name])
    return out
