import io
import tarfile

import numpy as np
import pytest

from tests.data.writers import cifar_records
from tf_advnet import data
from tf_advnet import errors
from tf_advnet.data import cifar


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_decode_cifar10_records_to_nhwc():
    images = _images(3)
    # Make channels distinguishable so a wrong transpose cannot pass.
    images[..., 0], images[..., 1], images[..., 2] = 10, 20, 30
    images[0, 0, 1, 0] = 99
    x, y = cifar.decode_records(
        cifar_records(images, [0, 5, 9]),
        label_bytes=1,
        label_index=0,
        num_classes=10,
        source="f.bin",
    )
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, [0, 5, 9])
    assert y.dtype == np.int64


def test_decode_cifar100_keeps_fine_label():
    images = _images(2)
    records = cifar_records(images, [42, 99], coarse=[3, 19])
    x, y = cifar.decode_records(records, label_bytes=2, label_index=1,
                                num_classes=100, source="train.bin")
    np.testing.assert_array_equal(y, [42, 99])
    np.testing.assert_array_equal(x, images)


def test_truncated_and_bad_label_records():
    records = cifar_records(_images(2), [1, 2])
    with pytest.raises(errors.UserError, match="test_batch.bin is corrupt"):
        cifar.decode_records(records[:-1], label_bytes=1, label_index=0,
                             num_classes=10, source="test_batch.bin")
    with pytest.raises(errors.UserError, match="corrupt: labels span"):
        cifar.decode_records(cifar_records(_images(1), [10]), label_bytes=1,
                             label_index=0, num_classes=10, source="b.bin")


def _write_cifar10_folder(root, n_per_file=2):
    folder = root / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    expected = {}
    for k, name in enumerate(files):
        images, labels = _images(n_per_file, seed=k), [k % 10] * n_per_file
        (folder / name).write_bytes(cifar_records(images, labels))
        expected[name] = images
    return folder, expected


def test_load_cifar10_from_extracted_folder(tmp_path):
    _, expected = _write_cifar10_folder(tmp_path)
    x, y = data.load("cifar10", "train", data_dir=tmp_path)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.float32
    # Batches are concatenated in order 1..5.
    np.testing.assert_array_equal(y, np.repeat(np.arange(5), 2))
    np.testing.assert_allclose(x[:2], expected["data_batch_1.bin"] / 255.0)
    xt, yt = data.load("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_allclose(xt, expected["test_batch.bin"] / 255.0)


def test_incomplete_folder_names_missing_file(tmp_path):
    folder, _ = _write_cifar10_folder(tmp_path)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(errors.DataNotFoundError, match="data_batch_3.bin"):
        data.load("cifar10", data_dir=tmp_path)


def test_load_cifar100_from_tarball(tmp_path):
    (tmp_path / "cifar100").mkdir()
    images = _images(4)
    with tarfile.open(tmp_path / "cifar100" / "cifar-100-binary.tar.gz",
                      "w:gz") as tar:
        for name, labels in (("train.bin", [0, 1, 50, 99]),
                             ("test.bin", [7, 7, 7, 7])):
            payload = cifar_records(images, labels, coarse=[0, 0, 1, 1])
            member = tarfile.TarInfo(f"cifar-100-binary/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    x, y = data.load("cifar100", data_dir=tmp_path)
    np.testing.assert_array_equal(y, [0, 1, 50, 99])
    np.testing.assert_allclose(x * 255.0, images, atol=1e-4)


def test_corrupt_tarball_names_file(tmp_path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(b"garbage")
    with pytest.raises(errors.UserError,
                       match=r"cifar-10-binary\.tar\.gz is corrupt"):
        data.load("cifar10", data_dir=tmp_path)
