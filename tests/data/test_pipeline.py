import numpy as np
import pytest
import tensorflow as tf

from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import pipeline


def _arrays(n=50, shape=(8, 8, 3)):
    rng = np.random.default_rng(0)
    # Values away from 0 so the zero padding of a shifted crop is visible.
    x = rng.uniform(0.2, 1.0, size=(n,) + shape).astype(np.float32)
    return x, np.arange(n, dtype=np.int64)


def _labels(ds):
    return np.concatenate([y.numpy() for _, y in ds])


def test_shapes_dtypes_and_range():
    x, y = _arrays()
    ds = data.make_dataset(x, y, 16, training=True, augment="crop_flip")
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [16, 16, 16, 2]
    for images, labels in batches:
        assert images.dtype == tf.float32 and labels.dtype == tf.int64
        assert images.shape[1:] == (8, 8, 3)
        assert 0.0 <= float(tf.reduce_min(images))
        assert float(tf.reduce_max(images)) <= 1.0


def test_eval_order_is_array_order():
    x, y = _arrays()
    ds = data.make_dataset(x, y, 16, training=False)
    np.testing.assert_array_equal(_labels(ds), y)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in ds]), x)


def test_seeded_shuffle():
    x, y = _arrays()
    first = data.make_dataset(x, y, 10, training=True, seed=1)
    order1 = _labels(first)
    assert sorted(order1) == list(y) and not np.array_equal(order1, y)
    same = _labels(data.make_dataset(x, y, 10, training=True, seed=1))
    other = _labels(data.make_dataset(x, y, 10, training=True, seed=2))
    np.testing.assert_array_equal(order1, same)
    assert not np.array_equal(order1, other)
    # Each pass (epoch) is reshuffled, reproducibly.
    second_pass = _labels(first)
    assert not np.array_equal(order1, second_pass)
    again = data.make_dataset(x, y, 10, training=True, seed=1)
    _labels(again)
    np.testing.assert_array_equal(_labels(again), second_pass)


def test_images_follow_their_labels():
    x, y = _arrays()
    for images, labels in data.make_dataset(x, y, 7, training=True, seed=3):
        np.testing.assert_array_equal(images.numpy(), x[labels.numpy()])


@pytest.mark.parametrize("augment", ["crop_flip", "crop"])
def test_augment_changes_images_deterministically(augment):
    x, y = _arrays()
    ds = data.make_dataset(x, y, 50, training=True, augment=augment, seed=4)
    images, labels = next(iter(ds))
    images, labels = images.numpy(), labels.numpy()
    assert images.shape == (50, 8, 8, 3)
    changed = [not np.array_equal(images[i], x[lab])
               for i, lab in enumerate(labels)]
    assert sum(changed) >= 40
    # Every output is a shift (and maybe a mirror) of its source image.
    for out, lab in zip(images, labels):
        candidates = [x[lab], x[lab][:, ::-1]] if augment == "crop_flip" \
            else [x[lab]]
        padded = [np.pad(c, ((4, 4), (4, 4), (0, 0))) for c in candidates]
        assert any(
            np.array_equal(out, p[r:r + 8, c:c + 8])
            for p in padded for r in range(9) for c in range(9)
        )
    again = next(iter(data.make_dataset(x, y, 50, training=True,
                                        augment=augment, seed=4)))
    np.testing.assert_array_equal(again[0].numpy(), images)


def test_crop_flip_flips_about_half_and_crop_never_flips():
    # Each row increases left to right, so a flip makes it decrease.
    ramp = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    x = tf.constant(np.tile(ramp[None, None, :, None], (200, 8, 1, 1)))
    noise = tf.constant(np.arange(200, dtype=np.int64) * 7919)
    centre = tf.constant(np.full(200, 40, np.int64))  # Offsets (4, 4).
    np.testing.assert_array_equal(
        pipeline.random_crop_flip(x, centre, flip=False).numpy(), x.numpy()
    )

    def directions(images):
        rows = images.numpy()[:, 4, :, 0]  # Inside every crop window.
        # Ignore the zero padding that a shifted crop brings in.
        steps = [np.diff(r[r > 0]) for r in rows]
        return (np.array([(d > 0).all() for d in steps]),
                np.array([(d < 0).all() for d in steps]))

    up, down = directions(pipeline.random_crop_flip(x, noise, flip=True))
    assert (up | down).all()
    assert 0.3 < down.mean() < 0.7
    up, down = directions(pipeline.random_crop_flip(x, noise, flip=False))
    assert up.all()


def test_drop_remainder_and_shuffle_buffer():
    x, y = _arrays()
    ds = data.make_dataset(x, y, 16, training=True, drop_remainder=True,
                           shuffle_buffer=4)
    sizes = [len(b[1]) for b in ds]
    assert sizes == [16, 16, 16]
    assert ds.element_spec[0].shape == (16, 8, 8, 3)


def test_bad_arguments():
    x, y = _arrays()
    with pytest.raises(errors.UserError, match="batch_size"):
        data.make_dataset(x, y, 0, training=True)
    with pytest.raises(errors.UserError, match="batch_size"):
        data.make_dataset(x, y, -3, training=False)
    with pytest.raises(errors.UserError, match="augment"):
        data.make_dataset(x, y, 8, training=True, augment="flip")
    with pytest.raises(errors.UserError, match="training=True"):
        data.make_dataset(x, y, 8, training=False, augment="crop")
    with pytest.raises(errors.UserError, match="y has shape"):
        data.make_dataset(x, y[:-1], 8, training=False)
    with pytest.raises(errors.UserError, match="NHWC"):
        data.make_dataset(x[..., 0], y, 8, training=False)


def test_default_augment():
    assert data.default_augment("cifar10") == "crop_flip"
    assert data.default_augment("cifar100") == "crop_flip"
    for name in ("mnist", "svhn", "mnist_5k", "synthetic", "fashion_mnist"):
        assert data.default_augment(name) is None
    with pytest.raises(errors.UserError, match="^name must be one of .*; got 'imagenet'$"):
        data.default_augment("imagenet")
