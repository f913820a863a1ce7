import numpy as np
import pytest

from tests.data.writers import write_svhn_mat
from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import svhn


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_read_mat_transposes_and_maps_label_10(tmp_path):
    images = _images(4)
    path = write_svhn_mat(str(tmp_path / "train_32x32.mat"), images,
                          [10, 1, 9, 10])
    x, y = svhn.read_mat(path)
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, [0, 1, 9, 0])
    assert y.dtype == np.int64


def test_corrupt_mat_names_file(tmp_path):
    path = tmp_path / "test_32x32.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(errors.UserError, match=r"test_32x32\.mat is corrupt"):
        svhn.read_mat(str(path))


def _svhn_dir(tmp_path, n_extra=30):
    folder = tmp_path / "svhn"
    folder.mkdir()
    write_svhn_mat(str(folder / "train_32x32.mat"), _images(6), [1] * 6)
    write_svhn_mat(str(folder / "test_32x32.mat"), _images(3, 1), [10] * 3)
    extra_labels = np.arange(n_extra) % 10 + 1
    write_svhn_mat(str(folder / "extra_32x32.mat"), _images(n_extra, 2),
                   extra_labels)
    return folder


def test_load_svhn_with_extra(tmp_path):
    _svhn_dir(tmp_path)
    x, y = data.load("svhn", data_dir=tmp_path)
    assert x.shape == (6, 32, 32, 3)
    _, yt = data.load("svhn", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(yt, [0, 0, 0])

    xe, ye = data.load("svhn", data_dir=tmp_path, svhn_extra=20, seed=1)
    assert xe.shape == (26, 32, 32, 3) and ye.shape == (26,)
    np.testing.assert_array_equal(xe[:6], x)
    # Drawn without replacement: 20 distinct extra images.
    assert len({img.tobytes() for img in xe[6:]}) == 20
    xe2, _ = data.load("svhn", data_dir=tmp_path, svhn_extra=20, seed=1)
    np.testing.assert_array_equal(xe, xe2)
    xe3, _ = data.load("svhn", data_dir=tmp_path, svhn_extra=20, seed=2)
    assert not np.array_equal(xe, xe3)
    # limit applies after the extra images are appended.
    xl, _ = data.load("svhn", data_dir=tmp_path, svhn_extra=20, seed=1,
                      limit=8)
    np.testing.assert_array_equal(xl, xe[:8])


def test_svhn_extra_errors(tmp_path):
    _svhn_dir(tmp_path)
    with pytest.raises(errors.UserError, match=r"^svhn_extra must be <= 30 \(the size of SVHN's extra split\), got 31$"):
        data.load("svhn", data_dir=tmp_path, svhn_extra=31)
    with pytest.raises(errors.UserError, match="svhn_extra"):
        data.load("svhn", "test", data_dir=tmp_path, svhn_extra=5)
    with pytest.raises(errors.UserError, match="svhn_extra"):
        data.load("mnist_5k", svhn_extra=5)
    (tmp_path / "svhn" / "extra_32x32.mat").unlink()
    data.clear_cache()  # Otherwise the cached extra split is still served.
    with pytest.raises(errors.DataNotFoundError, match="extra_32x32.mat"):
        data.load("svhn", data_dir=tmp_path, svhn_extra=5)
