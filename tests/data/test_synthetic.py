import numpy as np
import pytest

from tf_advnet import data
from tf_advnet import errors


def test_deterministic_prefix_consistent_and_in_range():
    x, y = data.make_synthetic(300)
    x2, y2 = data.make_synthetic(1000)
    np.testing.assert_array_equal(x, x2[:300])
    np.testing.assert_array_equal(y, y2[:300])
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(y2)) == set(range(10))
    xt, _ = data.make_synthetic(300, split="test")
    assert not np.array_equal(x, xt)


def test_learnable_by_nearest_class_mean():
    x, y = data.make_synthetic(512)
    xt, yt = data.make_synthetic(256, split="test")
    means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    dists = ((xt[:, None] - means[None]) ** 2).reshape(256, 10, -1).sum(-1)
    assert (dists.argmin(axis=1) == yt).mean() > 0.95


def test_other_shapes_and_errors():
    x, y = data.make_synthetic(20, image_shape=(32, 32, 3), num_classes=4)
    assert x.shape == (20, 32, 32, 3) and y.max() < 4
    with pytest.raises(errors.UserError, match="num_examples"):
        data.make_synthetic(0)
    with pytest.raises(errors.UserError, match="split"):
        data.make_synthetic(4, split="val")
