import numpy as np
import pytest

from tests.data.writers import write_idx
from tf_advnet import errors
from tf_advnet.data import idx


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, gz):
    array = np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(
        np.uint8
    )
    name = "a-idx3-ubyte" + (".gz" if gz else "")
    path = write_idx(tmp_path / name, array, gz=gz)
    out = idx.read_idx(str(path))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # The result owns writable memory.


def test_find_prefers_raw_then_gz(tmp_path):
    assert idx.find_idx_file(str(tmp_path), "x-idx1-ubyte") is None
    write_idx(tmp_path / "x-idx1-ubyte.gz", [1, 2], gz=True)
    assert idx.find_idx_file(str(tmp_path), "x-idx1-ubyte").endswith(".gz")
    write_idx(tmp_path / "x-idx1-ubyte", [1, 2])
    assert idx.find_idx_file(str(tmp_path), "x-idx1-ubyte").endswith("ubyte")


def test_truncated_raw_file_names_file(tmp_path):
    path = tmp_path / "t-idx1-ubyte"
    write_idx(path, np.arange(10))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(errors.UserError, match="t-idx1-ubyte is corrupt"):
        idx.read_idx(str(path))


def test_truncated_gz_file_names_file(tmp_path):
    path = tmp_path / "t-idx3-ubyte.gz"
    write_idx(path, np.ones((50, 28, 28)), gz=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(errors.UserError, match=r"t-idx3-ubyte\.gz is corrupt"):
        idx.read_idx(str(path))


def test_not_gzip_and_bad_magic(tmp_path):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(errors.UserError, match="corrupt"):
        idx.read_idx(str(path))
    raw = tmp_path / "bad-idx1-ubyte"
    raw.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(errors.UserError, match="bad magic"):
        idx.read_idx(str(raw))


def test_pair_rejects_mismatched_counts_and_labels(tmp_path):
    images = write_idx(tmp_path / "i", np.zeros((3, 28, 28)))
    labels = write_idx(tmp_path / "l", [1, 2])
    with pytest.raises(errors.UserError, match="does not match"):
        idx.read_idx_pair(str(images), str(labels), image_shape=(28, 28, 1),
                          num_classes=10)
    labels = write_idx(tmp_path / "l", [1, 2, 12])
    with pytest.raises(errors.UserError, match="corrupt: labels span"):
        idx.read_idx_pair(str(images), str(labels), image_shape=(28, 28, 1),
                          num_classes=10)


def test_pair_returns_nhwc_int64(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    x, y = idx.read_idx_pair(
        str(write_idx(tmp_path / "i", images)),
        str(write_idx(tmp_path / "l", [3, 9])),
        image_shape=(28, 28, 1),
        num_classes=10,
    )
    assert x.shape == (2, 28, 28, 1) and x.dtype == np.uint8
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, [3, 9])
