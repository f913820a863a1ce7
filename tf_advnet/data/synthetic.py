"""Deterministic generated images for smoke tests and CI (no downloads).

Each class has a fixed random template: a coarse grid of uniform values,
upsampled 4x so it stays recognisable after a 4-pixel crop; an example is its
class template plus Gaussian noise, clipped to [0, 1]. The classes are
linearly separable, so a tiny model learns them within a few steps.

Examples are generated in blocks of `_BLOCK` with a generator keyed on
`(seed, split, block)`, so the first n examples do not depend on how many
are requested: `make_synthetic(100)` is a prefix of `make_synthetic(1000)`.
"""

import numpy as np

from tf_advnet import errors
from tf_advnet.data import validation

_BLOCK = 256
_NOISE_STD = 0.25
_COARSE = 4  # Template pixels are constant over 4x4 patches.
_SPLIT_KEYS = {"train": 0, "test": 1}


def _templates(image_shape, num_classes, seed):
    h, w, c = image_shape
    rng = np.random.default_rng([seed, 7919])
    coarse = rng.uniform(
        size=(num_classes, -(-h // _COARSE), -(-w // _COARSE), c)
    )
    full = coarse.repeat(_COARSE, axis=1).repeat(_COARSE, axis=2)
    return full[:, :h, :w, :].astype(np.float32)


def make_synthetic(
    num_examples,
    *,
    split="train",
    image_shape=(28, 28, 1),
    num_classes=10,
    seed=0,
):
    """Generates a labelled image data set.

    Args:
        num_examples: number of examples, positive.
        split: `"train"` or `"test"`; the splits share the class templates
            but draw different noise and labels.
        image_shape: `(height, width, channels)`, e.g. `(32, 32, 3)` to
            stand in for CIFAR.
        num_classes: number of classes, at least 2.
        seed: picks the templates and the noise.

    Returns:
        `(x, y)`: float32 array `(num_examples,) + image_shape` in [0, 1]
        and int64 array `(num_examples,)`; class counts differ by at most
        one within each block of 256 examples.

    Raises:
        UserError: for a non-positive size, a bad split or fewer than two
            classes.
    """
    errors.check_arg_choice("split", split, tuple(_SPLIT_KEYS))
    num_examples = validation.check_int("num_examples", num_examples, low=1)
    num_classes = validation.check_int("num_classes", num_classes, low=2)
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise errors.UserError(
            "image_shape must be (height, width, channels) with positive sizes, "
            f"got {image_shape}"
        )
    templates = _templates(image_shape, num_classes, seed)
    xs, ys = [], []
    for block in range(-(-num_examples // _BLOCK)):
        rng = np.random.default_rng([seed, _SPLIT_KEYS[split], block])
        y = rng.permutation(np.arange(_BLOCK) % num_classes)
        noise = rng.normal(scale=_NOISE_STD, size=(_BLOCK,) + image_shape)
        xs.append(np.clip(templates[y] + noise, 0.0, 1.0).astype(np.float32))
        ys.append(y.astype(np.int64))
    x = np.concatenate(xs)[:num_examples]
    y = np.concatenate(ys)[:num_examples]
    return x, y
