"""Model registry: build any classifier of `tf_advnet.models` by name.

Configs name models by string, so they stay plain data that serialises to JSON;
`build_model` turns the name and keyword overrides into a `keras.Model` that maps
[0, 1] NHWC images to logits.

Usage:

```python
model = build_model("resnet20", (32, 32, 3), 10, normalize="imagenet")
with strategy.scope():
    model = build_model("small_cnn", (28, 28, 1), 10, width=0.5)
```
"""

import inspect

from tf_advnet import errors
from tf_advnet.errors import UserError
from tf_advnet.models.convpool import convpool_cnn
from tf_advnet.models.convpool import deepdefense_convnet
from tf_advnet.models.lenet import deepdefense_lenet
from tf_advnet.models.lenet import lenet5
from tf_advnet.models.mlp import deepdefense_mlp
from tf_advnet.models.nin import nin
from tf_advnet.models.resnet import resnet20
from tf_advnet.models.small_cnn import small_cnn
from tf_advnet.models.wang_yu import advnet_d1
from tf_advnet.models.wang_yu import advnet_resnet
from tf_advnet.models.wide_resnet import wide_resnet

_BUILDERS = {
    "advnet_d1": advnet_d1,  # Wang & Yu D1 (MNIST)
    "advnet_resnet": advnet_resnet,  # Wang & Yu D2 (CIFAR-10 / SVHN)
    "lenet5": lenet5,  # L2L-DA MNIST
    "resnet20": resnet20,  # L2L-DA CIFAR-10
    "convpool_cnn": convpool_cnn,  # PGN
    "deepdefense_mlp": deepdefense_mlp,  # DeepDefense MNIST
    "deepdefense_lenet": deepdefense_lenet,  # DeepDefense MNIST
    "deepdefense_convnet": deepdefense_convnet,  # DeepDefense CIFAR-10
    "nin": nin,  # DeepDefense CIFAR-10
    "wide_resnet": wide_resnet,  # BAT
    "small_cnn": small_cnn,  # CPU presets
}

MODEL_NAMES = tuple(_BUILDERS)


def model_kwargs(name):
    """Returns `{kwarg: default}` of the model's optional arguments.

    Raises:
        UserError: If `name` is not a registered model.
    """
    errors.check_arg_choice("name", name, MODEL_NAMES)
    params = inspect.signature(_BUILDERS[name]).parameters.values()
    return {p.name: p.default for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_model(name, input_shape, num_classes, **kwargs):
    """Builds the registered model `name`.

    Build it inside `strategy.scope()` to place its variables for
    `tf.distribute` (e.g. `MirroredStrategy`).

    Args:
        name: One of `MODEL_NAMES`.
        input_shape: `(H, W, C)` of the [0, 1] input images.
        num_classes: Number of output logits.
        **kwargs: Model-specific options; see `model_kwargs(name)` and the
            builder's docstring (e.g. `width`, `depth`, `normalize`).

    Returns:
        A `keras.Model` mapping `(N, H, W, C)` images in [0, 1] to `(N, K)`
        logits.

    Raises:
        UserError: On an unknown model, unknown keyword argument, or an
            argument value or input shape the model does not support.
    """
    valid = model_kwargs(name)
    for key in kwargs:
        if key not in valid:
            raise UserError(
                f"model {name!r} has no argument {key!r}; valid arguments: "
                + ", ".join(valid)
            )
    return _BUILDERS[name](input_shape, num_classes, **kwargs)


def load_model(path, *, arg="--model_path", hint=""):
    """The `.keras` classifier saved at `path` (this package's custom layers known),
    or a one-line CheckpointError naming `arg`: no such file (with `hint`, how to
    make one), or a corrupt / non-Keras file."""
    import os

    import keras

    if not os.path.exists(path):
        raise errors.CheckpointError(f"{arg}={path}: no such file{hint}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # zip/h5/json errors all mean the same to a user
        raise errors.CheckpointError(
            f"{arg}={path} is corrupt or not a Keras model ({type(e).__name__}); "
            "retrain it or point to another file") from None
