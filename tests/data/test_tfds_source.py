import numpy as np
import pytest

from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import tfds_source


def _fake_tfds(calls):
    def fake(tfds_name, split, data_dir, download):
        calls.append((tfds_name, split, data_dir, download))
        images = np.full((3, 32, 32, 3), 255, np.uint8)
        return images, np.array([0, 1, 2], np.int64)

    return fake


def test_prepared_copy_is_used_without_download(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tfds_source, "_tfds_load", _fake_tfds(calls))
    (tmp_path / "tfds" / "cifar10").mkdir(parents=True)
    x, y = data.load("cifar10", data_dir=tmp_path)
    assert calls == [("cifar10", "train", str(tmp_path / "tfds"), False)]
    assert x.shape == (3, 32, 32, 3) and x.max() == 1.0
    np.testing.assert_array_equal(y, [0, 1, 2])


def test_no_tfds_call_when_downloads_disabled(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tfds_source, "_tfds_load", _fake_tfds(calls))
    with pytest.raises(errors.DataNotFoundError, match="ALLOW_DOWNLOAD=0"):
        data.load("svhn", data_dir=tmp_path)
    assert calls == []


def test_offline_probe_skips_download(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("TF_ADVNET_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(tfds_source, "_tfds_load", _fake_tfds(calls))
    monkeypatch.setattr(tfds_source, "_host_reachable", lambda h, p: False)
    with pytest.raises(errors.DataNotFoundError,
                       match="run online so TFDS can download it"):
        data.load("cifar10", data_dir=tmp_path)
    assert calls == []


def test_download_failure_is_reported_not_raised(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise ConnectionError("boom\nsecond line")

    monkeypatch.setenv("TF_ADVNET_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(tfds_source, "_host_reachable", lambda h, p: True)
    monkeypatch.setattr(tfds_source, "_tfds_load", failing)
    with pytest.raises(errors.DataNotFoundError) as info:
        data.load("mnist", data_dir=tmp_path)
    assert "ConnectionError: boom" in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_tfds_arrays_are_rejected(tmp_path, monkeypatch):
    def wrong_shape(*args, **kwargs):
        return np.zeros((2, 28, 28, 1), np.uint8), np.zeros(2, np.int64)

    monkeypatch.setattr(tfds_source, "_tfds_load", wrong_shape)
    (tmp_path / "tfds" / "cifar10").mkdir(parents=True)
    with pytest.raises(errors.UserError, match="TFDS cifar10"):
        data.load("cifar10", data_dir=tmp_path)


def test_real_tfds_call_with_mock_data(tmp_path):
    # Exercises the real `tfds.load` arguments; TFDS serves random records.
    tfds = pytest.importorskip("tensorflow_datasets")
    (tmp_path / "tfds" / "mnist").mkdir(parents=True)
    with tfds.testing.mock_data(num_examples=7):
        x, y = data.load("mnist", "test", data_dir=tmp_path)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert y.dtype == np.int64 and 0 <= y.min() and y.max() < 10
    assert 0.0 <= x.min() and x.max() <= 1.0
