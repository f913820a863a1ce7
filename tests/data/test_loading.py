import os

import numpy as np
import pytest

from tests.data.writers import write_idx
from tests.data.writers import write_mnist_dir
from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import loading

_DEBIAN = loading.DEBIAN_FASHION_DIR


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, gz):
    written = write_mnist_dir(tmp_path / "mnist", gz=gz)
    for split in ("train", "test"):
        x, y = data.load("mnist", split, data_dir=tmp_path)
        images, labels = written[split]
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == images.shape + (1,)
        np.testing.assert_allclose(x[..., 0] * 255.0, images, atol=1e-4)
        np.testing.assert_array_equal(y, labels)


def test_default_data_dir_from_env(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "mnist")
    monkeypatch.setenv("TF_ADVNET_DATA", str(tmp_path))
    assert loading.default_data_dir() == str(tmp_path)
    x, _ = data.load("mnist")
    assert len(x) == 12
    monkeypatch.delenv("TF_ADVNET_DATA")
    assert loading.default_data_dir() == os.path.expanduser(
        "~/tf_advnet_data"
    )


def test_limit_takes_prefix(tmp_path):
    write_mnist_dir(tmp_path / "mnist")
    x, y = data.load("mnist", data_dir=tmp_path)
    xl, yl = data.load("mnist", data_dir=tmp_path, limit=5)
    np.testing.assert_array_equal(xl, x[:5])
    np.testing.assert_array_equal(yl, y[:5])
    xbig, _ = data.load("mnist", data_dir=tmp_path, limit=10**6)
    assert len(xbig) == len(x)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(errors.UserError, match="limit"):
            data.load("mnist", data_dir=tmp_path, limit=bad)


def test_results_are_copies_of_the_cache(tmp_path):
    write_mnist_dir(tmp_path / "mnist")
    x, y = data.load("mnist", data_dir=tmp_path)
    expected = x.copy()
    x[:] = 0.5
    y[:] = 3
    x2, y2 = data.load("mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(x2, expected)
    assert not (y2 == 3).all()


def test_cache_serves_repeat_loads(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_dir(folder)
    data.load("mnist", data_dir=tmp_path)
    for f in folder.iterdir():
        f.unlink()
    assert len(data.load("mnist", data_dir=tmp_path)[0]) == 12
    data.clear_cache()
    with pytest.raises(errors.DataNotFoundError):
        data.load("mnist", data_dir=tmp_path)


def test_missing_data_message_names_files_and_place(tmp_path):
    with pytest.raises(errors.DataNotFoundError) as info:
        data.load("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "cifar-10-binary.tar.gz" in message
    assert "cifar-10-batches-bin/" in message
    assert os.path.join(str(tmp_path), "cifar10") in message
    assert "TF_ADVNET_ALLOW_DOWNLOAD" in message  # Downloads are off.
    for name, needle in (("mnist", "train-images-idx3-ubyte.gz"),
                         ("svhn", "train_32x32.mat"),
                         ("cifar100", "cifar-100-binary.tar.gz")):
        with pytest.raises(errors.DataNotFoundError, match=needle):
            data.load(name, data_dir=tmp_path)


def test_missing_fashion_mnist_mentions_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "DEBIAN_FASHION_DIR", str(tmp_path / "no"))
    with pytest.raises(errors.DataNotFoundError,
                       match="apt-get install dataset-fashion-mnist"):
        data.load("fashion_mnist", data_dir=tmp_path)


def test_incomplete_idx_pair(tmp_path):
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz",
              np.zeros((2, 28, 28)), gz=True)
    with pytest.raises(errors.DataNotFoundError,
                       match="t10k-labels-idx1-ubyte.gz missing"):
        data.load("mnist", "test", data_dir=tmp_path)


def test_corrupt_file_message(tmp_path):
    write_mnist_dir(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(errors.UserError) as info:
        data.load("mnist", data_dir=tmp_path)
    assert "train-images-idx3-ubyte.gz is corrupt" in str(info.value)
    assert not isinstance(info.value, errors.DataNotFoundError)


def test_unknown_names(tmp_path):
    with pytest.raises(errors.UserError) as info:
        data.load("mnsit", data_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("name must be one of ") and message.endswith("; got 'mnsit'")
    for name in data.DATASET_NAMES:
        assert name in message
    with pytest.raises(errors.UserError, match="split"):
        data.load("mnist_5k", "validation")


@pytest.mark.skipif(not os.path.isdir(_DEBIAN),
                    reason=f"{_DEBIAN} absent (apt-get install "
                           "dataset-fashion-mnist)")
def test_fashion_mnist_from_debian_package(tmp_path):
    x, y = data.load("fashion_mnist", "test", data_dir=tmp_path)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32
    assert y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    xl, _ = data.load("fashion_mnist", "train", data_dir=tmp_path, limit=64)
    assert xl.shape == (64, 28, 28, 1)


def test_data_dir_wins_over_debian_package(tmp_path):
    written = write_mnist_dir(tmp_path / "fashion_mnist")
    _, y = data.load("fashion_mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(y, written["train"][1])


def test_synthetic_sizes():
    x, y = data.load("synthetic")
    meta = data.info("synthetic")
    assert x.shape == (meta.train_size, 28, 28, 1)
    xt, _ = data.load("synthetic", "test")
    assert len(xt) == meta.test_size
    xl, yl = data.load("synthetic", limit=5000)  # limit sets the size.
    assert xl.shape == (5000, 28, 28, 1)
    np.testing.assert_array_equal(xl[: len(x)], x)
    np.testing.assert_array_equal(yl[: len(y)], y)
