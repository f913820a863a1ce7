"""Reader for the binary version of CIFAR-10 and CIFAR-100.

Each record is the label byte(s) followed by 3072 pixel bytes: the red,
green and blue 32x32 planes in turn (channels first). CIFAR-10 records carry
one label byte; CIFAR-100 records carry the coarse then the fine label.
We read the binary version, not the Python one, because that one is pickled.
"""

import os
import tarfile
import zlib

import numpy as np

from tf_advnet import errors
from tf_advnet.data import validation

_PIXELS = 32 * 32 * 3

# name -> (folder inside the tarball, tarball name, label bytes per record,
#          index of the label we keep, {split: file names})
LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-bin",
        "cifar-10-binary.tar.gz",
        1,
        0,
        {
            "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
            "test": ("test_batch.bin",),
        },
    ),
    # Fine labels (byte 1), since the papers use the 100-class task.
    "cifar100": (
        "cifar-100-binary",
        "cifar-100-binary.tar.gz",
        2,
        1,
        {"train": ("train.bin",), "test": ("test.bin",)},
    ),
}


def decode_records(data, *, label_bytes, label_index, num_classes, source):
    """Decodes concatenated CIFAR binary records.

    Args:
        data: the bytes of one or more records.
        label_bytes: label bytes at the start of each record (1 or 2).
        label_index: which of those bytes is the label to return.
        num_classes: labels must lie in `[0, num_classes)`.
        source: file name quoted in error messages.

    Returns:
        `(images, labels)`: uint8 array `(N, 32, 32, 3)` and int64 `(N,)`.

    Raises:
        UserError: if `data` is not a whole number of records or a label is
            out of range.
    """
    record = label_bytes + _PIXELS
    if not data or len(data) % record:
        raise errors.UserError(
            f"{source} is corrupt or truncated: {len(data)} bytes is not a "
            f"positive multiple of the {record}-byte record; fetch it again"
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    labels = rows[:, label_index].astype(np.int64)
    # Channels-first planes -> NHWC; the transpose copy also detaches the
    # result from the read-only `data` buffer.
    images = np.ascontiguousarray(
        rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    )
    return validation.check_decoded(
        images,
        labels,
        image_shape=(32, 32, 3),
        num_classes=num_classes,
        source=source,
    )


def _read_files(paths):
    chunks = []
    for path in paths:
        with open(path, "rb") as f:
            chunks.append((path, f.read()))
    return chunks


def _read_tar_members(tar_path, members):
    chunks = []
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for member in members:
                f = tar.extractfile(member)
                if f is None:
                    raise KeyError(member)
                chunks.append((f"{tar_path}:{member}", f.read()))
    except KeyError as e:
        raise errors.UserError(
            f"{tar_path} is corrupt: it lacks {e.args[0]}; fetch it again"
        ) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise errors.UserError(
            f"{tar_path} is corrupt or truncated ({e}); delete it and fetch "
            "it again"
        ) from None
    return chunks


def load_local(name, split, directory, num_classes):
    """Loads a CIFAR split from `directory` if its files are there.

    Looks for the extracted folder first, then the tarball itself.

    Args:
        name: `"cifar10"` or `"cifar100"`.
        split: `"train"` or `"test"`.
        directory: the data set's folder, e.g. `<data_dir>/cifar10`.
        num_classes: labels must lie in `[0, num_classes)`.

    Returns:
        `(images, labels)` as from `decode_records`, or None when neither
        the extracted files nor the tarball exist.

    Raises:
        UserError: if the files are corrupt.
        DataNotFoundError: if the extracted folder lacks some of the
            split's files.
    """
    folder, tarball, label_bytes, label_index, files = LAYOUTS[name]
    paths = [os.path.join(directory, folder, f) for f in files[split]]
    present = [p for p in paths if os.path.isfile(p)]
    tar_path = os.path.join(directory, tarball)
    if present and len(present) < len(paths):
        missing = sorted(set(paths) - set(present))
        raise errors.DataNotFoundError(
            f"{name} is incomplete: {', '.join(missing)} missing; extract "
            f"{tarball} again"
        )
    if present:
        chunks = _read_files(paths)
    elif os.path.isfile(tar_path):
        chunks = _read_tar_members(
            tar_path, [f"{folder}/{f}" for f in files[split]]
        )
    else:
        return None
    decoded = [
        decode_records(
            data,
            label_bytes=label_bytes,
            label_index=label_index,
            num_classes=num_classes,
            source=source,
        )
        for source, data in chunks
    ]
    images = np.concatenate([d[0] for d in decoded])
    labels = np.concatenate([d[1] for d in decoded])
    return images, labels
