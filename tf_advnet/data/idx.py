"""Reader for the IDX format of MNIST and Fashion-MNIST (raw or gzipped).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the
number of dimensions), one big-endian uint32 per dimension, then the values
in C order. Only the unsigned-byte type (code 0x08) occurs in these data sets.
"""

import gzip
import os
import zlib

import numpy as np

from tf_advnet import errors
from tf_advnet.data import validation

_UBYTE = 0x08


def find_idx_file(directory, stem):
    """Returns the path of `stem` or `stem.gz` in `directory`, or None.

    Args:
        directory: folder to look in.
        stem: standard file name without `.gz`, e.g.
            `"train-images-idx3-ubyte"`.

    Returns:
        The path of the first of `stem`, `stem.gz` that exists, else None.
    """
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path):
    """Reads an unsigned-byte IDX file.

    Args:
        path: file path; a name ending in `.gz` is decompressed.

    Returns:
        uint8 numpy array with the dimensions stored in the header.

    Raises:
        UserError: if the file is not valid IDX, is truncated, or holds a
            type other than unsigned bytes.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        # gzip reports truncation as EOFError and bad headers as OSError.
        raise errors.UserError(
            f"{path} is corrupt or truncated ({e}); delete it and fetch it "
            "again"
        ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise errors.UserError(
            f"{path} is corrupt: not an IDX file (bad magic number); delete "
            "it and fetch it again"
        )
    if data[2] != _UBYTE:
        raise errors.UserError(
            f"{path} has IDX type code {data[2]:#04x}; only unsigned bytes "
            "(0x08) are supported"
        )
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise errors.UserError(
            f"{path} is corrupt: header truncated; delete it and fetch it "
            "again"
        )
    dims = tuple(
        int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    )
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise errors.UserError(
            f"{path} is corrupt or truncated: {len(data)} bytes, header "
            f"{dims} needs {expected}; delete it and fetch it again"
        )
    # frombuffer returns a read-only view of `data`; copy to own the memory.
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(
        dims
    ).copy()


def read_idx_pair(images_path, labels_path, *, image_shape, num_classes):
    """Reads matching IDX image and label files.

    Args:
        images_path: path of the `*-images-idx3-ubyte(.gz)` file.
        labels_path: path of the `*-labels-idx1-ubyte(.gz)` file.
        image_shape: expected `(height, width, channels)` of one image.
        num_classes: labels must lie in `[0, num_classes)`.

    Returns:
        `(images, labels)`: uint8 array `(N,) + image_shape` and int64
        array `(N,)`.

    Raises:
        UserError: if either file is corrupt or the two disagree.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != tuple(image_shape[:2]):
        raise errors.UserError(
            f"{images_path} is corrupt: images have shape {images.shape}, "
            f"expected (N, {image_shape[0]}, {image_shape[1]})"
        )
    if labels.shape != (images.shape[0],):
        raise errors.UserError(
            f"{labels_path} does not match {images_path}: {labels.shape} "
            f"labels for {images.shape[0]} images; fetch both again"
        )
    return validation.check_decoded(
        images.reshape((-1,) + tuple(image_shape)),
        labels,
        image_shape=image_shape,
        num_classes=num_classes,
        source=labels_path,
    )
