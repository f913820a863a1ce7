"""Reader for the SVHN cropped-digit `.mat` files (train, test, extra).

Each file holds `X` with shape (32, 32, 3, N) (HWCN) and `y` with shape
(N, 1), where the digit 0 has label 10.
"""

import os

import numpy as np
import scipy.io

from tf_advnet import errors
from tf_advnet.data import validation

FILES = {
    "train": "train_32x32.mat",
    "test": "test_32x32.mat",
    "extra": "extra_32x32.mat",
}


def read_mat(path):
    """Reads one SVHN `.mat` file.

    Args:
        path: path of `train_32x32.mat`, `test_32x32.mat` or
            `extra_32x32.mat`.

    Returns:
        `(images, labels)`: uint8 array `(N, 32, 32, 3)` and int64 `(N,)`
        with labels in [0, 9] (label 10 mapped to 0).

    Raises:
        UserError: if the file cannot be parsed or lacks `X`/`y`.
    """
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    # loadmat raises many unrelated types (ValueError, TypeError, OSError,
    # MatReadError, zlib errors) on damaged files; all mean the same here.
    except Exception as e:  # noqa: BLE001
        raise errors.UserError(
            f"{path} is corrupt or truncated ({type(e).__name__}: {e}); "
            "delete it and fetch it again"
        ) from None
    if "X" not in mat or "y" not in mat:
        raise errors.UserError(
            f"{path} is corrupt: it lacks the X or y variable; fetch it again"
        )
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise errors.UserError(
            f"{path} is corrupt: X has shape {x.shape}, expected "
            "(32, 32, 3, N); fetch it again"
        )
    images = np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2)))
    labels = np.asarray(y).reshape(-1).astype(np.int64)
    labels[labels == 10] = 0
    return validation.check_decoded(
        images,
        labels,
        image_shape=(32, 32, 3),
        num_classes=10,
        source=path,
    )


def load_local(split, directory):
    """Loads an SVHN split from `directory` if its file is there.

    Args:
        split: `"train"`, `"test"` or `"extra"`.
        directory: the data set's folder, e.g. `<data_dir>/svhn`.

    Returns:
        `(images, labels)` as from `read_mat`, or None if the file is absent.

    Raises:
        UserError: if the file is corrupt.
    """
    path = os.path.join(directory, FILES[split])
    if not os.path.isfile(path):
        return None
    return read_mat(path)
