"""tf.data pipelines over in-memory arrays: seeded shuffling and augmentation.

The pipeline shuffles example *indices* and gathers whole batches from the
arrays held as tensors, which avoids a shuffle buffer of image copies and
per-example work. Randomness comes from two seeded sources that draw fresh
values on every pass over the data set (every Keras epoch):

* `Dataset.shuffle(seed=seed, reshuffle_each_iteration=True)` for the order;
* `Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)`, one int64
  per example, from which the crop offsets and the flip bit are read with
  integer arithmetic, so the augmentation needs no stateful random ops.

Hence the sequence of batches over successive epochs is a function of `seed`
and the TF global seed (`keras.utils.set_random_seed`), and nothing else; the
map is parallel but order-preserving.
"""

import numpy as np
import tensorflow as tf

from tf_advnet import errors
from tf_advnet.data import registry
from tf_advnet.data import validation

AUGMENTATIONS = ("crop_flip", "crop")
# Zero padding before the random crop, in pixels: the CIFAR convention, which
# L2L-DA also applies to MNIST.
_PAD = 4
_AUGMENT_SEED_OFFSET = 1  # Keeps the augmentation stream apart from shuffle.


def default_augment(name):
    """Returns the training augmentation the papers use for a data set.

    Args:
        name: one of `DATASET_NAMES`.

    Returns:
        `"crop_flip"` for cifar10 and cifar100, None for the others.

    Raises:
        UserError: for an unknown data set name.
    """
    registry.info(name)
    return "crop_flip" if name in ("cifar10", "cifar100") else None


def random_crop_flip(images, noise, *, flip):
    """Pads by 4 zeros, crops back to size at random and optionally flips.

    Args:
        images: float tensor `(B, H, W, C)`.
        noise: int64 tensor `(B,)` of random values, one per image; the crop
            offsets and the flip bit are read from it.
        flip: whether to flip each image left-right with probability 1/2.

    Returns:
        Tensor shaped like `images`; each image is cropped (and flipped)
        independently.
    """
    height, width = images.shape[1], images.shape[2]
    span = 2 * _PAD + 1
    noise = tf.math.floormod(noise, span * span * 2)  # Non-negative.
    top = noise % span
    left = (noise // span) % span
    padded = tf.pad(images, [[0, 0], [_PAD, _PAD], [_PAD, _PAD], [0, 0]])
    rows = top[:, None] + tf.range(height, dtype=tf.int64)
    cols = left[:, None] + tf.range(width, dtype=tf.int64)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    if flip:
        # Per image, unlike BAT's code, which flips the whole batch at once.
        flipped = noise // (span * span) == 1
        out = tf.where(flipped[:, None, None, None], tf.reverse(out, [2]), out)
    return out


def _check_arrays(x, y):
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 4:
        raise errors.UserError(
            f"x has shape {x.shape}; expected NHWC images (N, H, W, C)"
        )
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise errors.UserError(
            f"y has shape {y.shape} and dtype {y.dtype}; expected "
            f"({len(x)},) integer class indices"
        )
    if len(x) == 0:
        raise errors.UserError("x is empty; expected at least one example")
    return x, y.astype(np.int64)


def make_dataset(x, y, batch_size, *, training, seed=0, augment=None,
                 drop_remainder=False, cache=True, shuffle_buffer=None):
    """Builds a batched `tf.data.Dataset` of `(images, labels)`.

    Args:
        x: float array `(N, H, W, C)` with values in [0, 1].
        y: integer array `(N,)` of class indices.
        batch_size: examples per batch, positive.
        training: if True, reshuffle every pass and allow `augment`; if
            False, keep the array order.
        seed: non-negative int seeding the order and the augmentation
            (together with the TF global seed).
        augment: None, `"crop_flip"` (pad 4, random crop, random horizontal
            flip; CIFAR) or `"crop"` (pad 4, random crop; L2L-DA on MNIST).
        drop_remainder: drop the last batch if it is smaller than
            `batch_size`.
        cache: for `training=False`, keep the finished batches in memory
            after the first pass. Training batches differ on every pass, so
            it has no effect there.
        shuffle_buffer: shuffle buffer size in examples; None shuffles over
            the whole data set.

    Returns:
        A `tf.data.Dataset` yielding `(float32 (B, H, W, C), int64 (B,))`.

    Raises:
        UserError: for a non-positive `batch_size` or `shuffle_buffer`, a
            negative `seed`, an unknown `augment`, `augment` with
            `training=False`, or arrays of the wrong shape.
    """
    batch_size = validation.check_int("batch_size", batch_size, low=1)
    seed = validation.check_int("seed", seed, low=0)
    errors.check_arg_choice("augment", augment, (None,) + AUGMENTATIONS)
    if shuffle_buffer is not None:
        validation.check_int("shuffle_buffer", shuffle_buffer, low=1)
    if augment is not None and not training:
        # Refuse rather than ignore: augmenting evaluation data silently
        # lowers clean accuracy, and dropping the flag silently hides a bug.
        raise errors.UserError(
            f"augment={augment!r} needs training=True; pass augment=None "
            "for evaluation data"
        )
    x, y = _check_arrays(x, y)
    images = tf.constant(x)
    labels = tf.constant(y)
    ds = tf.data.Dataset.range(len(x))
    if training:
        ds = ds.shuffle(
            len(x) if shuffle_buffer is None else shuffle_buffer,
            seed=seed,
            reshuffle_each_iteration=True,
        )
    if augment is None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(
            lambda i: (tf.gather(images, i), tf.gather(labels, i)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        noise = tf.data.Dataset.random(
            seed=seed + _AUGMENT_SEED_OFFSET, rerandomize_each_iteration=True
        )
        ds = tf.data.Dataset.zip(ds, noise)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        flip = augment == "crop_flip"
        ds = ds.map(
            lambda i, r: (
                random_crop_flip(tf.gather(images, i), r, flip=flip),
                tf.gather(labels, i),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    if cache and not training:
        ds = ds.cache()
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
