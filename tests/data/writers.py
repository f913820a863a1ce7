"""Writers of tiny data files in the real on-disk formats, for tests."""

import gzip
import struct

import numpy as np


def write_idx(path, array, *, gz=False):
    """Writes a uint8 array as an IDX file (gzipped if `gz`)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
    return path


def write_mnist_dir(directory, *, n_train=12, n_test=5, gz=True, seed=0):
    """Writes the four standard MNIST IDX files; returns the arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    out = {}
    for split, prefix, n in (("train", "train", n_train),
                             ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images,
                  gz=gz)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels,
                  gz=gz)
        out[split] = (images, labels)
    return out


def cifar_records(images, labels, coarse=None):
    """Encodes NHWC uint8 images as CIFAR binary records (bytes)."""
    images = np.asarray(images, dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    label_cols = [np.asarray(labels, dtype=np.uint8)[:, None]]
    if coarse is not None:
        label_cols.insert(0, np.asarray(coarse, dtype=np.uint8)[:, None])
    return np.concatenate(label_cols + [planes], axis=1).tobytes()


def write_svhn_mat(path, images, labels):
    """Writes NHWC images and labels (digit 0 as 10) as an SVHN .mat file."""
    import scipy.io

    scipy.io.savemat(
        path,
        {
            "X": np.ascontiguousarray(
                np.asarray(images, dtype=np.uint8).transpose(1, 2, 3, 0)
            ),
            "y": np.asarray(labels, dtype=np.uint8).reshape(-1, 1),
        },
    )
    return path
