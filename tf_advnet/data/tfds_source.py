"""TensorFlow Datasets as a fallback source, built to fail fast offline.

Order of attempts for one `(tfds_name, split)`:

1. Already-prepared TFDS data, with `download=False`, in
   `<data_dir>/tfds` and then in TFDS's own default folder (`$TFDS_DATA_DIR`
   or `~/tensorflow_datasets`). Nothing is imported unless the data set's
   folder exists, so the usual miss costs a `stat`, not the TFDS import.
2. A download into `<data_dir>/tfds`, unless the environment variable
   `TF_ADVNET_ALLOW_DOWNLOAD` is `"0"`. Before calling TFDS we open a TCP
   connection to the data set's download host with a 3 s timeout: TFDS
   retries failed downloads for a long time, while the probe tells an offline
   machine in milliseconds. With an HTTP(S) proxy configured the probe is
   skipped, since direct connections may be blocked while the proxy works.

Any failure is logged and reported as a short hint for the caller's
`DataNotFoundError`; it never propagates as a TFDS exception.
"""

import logging
import os
import socket

import numpy as np

ALLOW_DOWNLOAD_ENV = "TF_ADVNET_ALLOW_DOWNLOAD"
_PROBE_TIMEOUT_S = 3.0
_TFDS_BATCH = 10000
_PROXY_ENVS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")

# Where TFDS 4.9 downloads each data set from (see its builders).
_DOWNLOAD_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": (
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        80,
    ),
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
    "svhn_cropped": ("ufldl.stanford.edu", 80),
}

_log = logging.getLogger(__name__)


def default_tfds_dir():
    """Returns TFDS's own default data folder (`$TFDS_DATA_DIR` aware)."""
    return os.environ.get(
        "TFDS_DATA_DIR",
        os.path.join(os.path.expanduser("~"), "tensorflow_datasets"),
    )


def _host_reachable(host, port):
    if any(os.environ.get(k) for k in _PROXY_ENVS):
        return True
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _tfds_load(tfds_name, split, data_dir, download):
    import tensorflow_datasets as tfds  # Slow import: only when needed.

    # Fixed-size batches rather than `batch_size=-1`: the latter needs the
    # split size from the metadata and crashes when that is unknown.
    ds = tfds.load(
        tfds_name,
        split=split,
        data_dir=data_dir,
        download=download,
        batch_size=_TFDS_BATCH,
        as_supervised=True,
    )
    batches = list(tfds.as_numpy(ds))
    if not batches:
        raise ValueError(f"TFDS {tfds_name}[{split}] is empty")
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches]).astype(np.int64)
    return images, labels


def _short(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:160]


def load(tfds_name, split, data_dir):
    """Loads a split through TFDS, preferring data already on disk.

    Args:
        tfds_name: TFDS name, e.g. `"svhn_cropped"`.
        split: TFDS split name (`"train"`, `"test"`, `"extra"`).
        data_dir: tf_advnet's data folder; TFDS files go to its `tfds/`.

    Returns:
        `((images, labels), None)` on success, with uint8 NHWC images and
        int64 labels; `(None, hint)` otherwise, where `hint` is a clause
        like `"run online so TFDS can download it"` for the error message.
    """
    own_dir = os.path.join(data_dir, "tfds")
    for folder in dict.fromkeys((own_dir, default_tfds_dir())):
        if not os.path.isdir(os.path.join(folder, tfds_name)):
            continue
        try:
            return _tfds_load(tfds_name, split, folder, download=False), None
        except ImportError:
            return None, "pip install tensorflow-datasets"
        except Exception as e:  # noqa: BLE001 - TFDS raises many types.
            _log.warning("TFDS copy in %s unusable: %s", folder, _short(e))
    if os.environ.get(ALLOW_DOWNLOAD_ENV, "1") == "0":
        return None, (
            f"unset {ALLOW_DOWNLOAD_ENV}=0 and run online so TFDS can "
            "download it"
        )
    host, port = _DOWNLOAD_HOSTS.get(tfds_name, ("storage.googleapis.com", 443))
    if not _host_reachable(host, port):
        return None, "run online so TFDS can download it"
    try:
        return _tfds_load(tfds_name, split, own_dir, download=True), None
    except ImportError:
        return None, "pip install tensorflow-datasets and run online"
    except Exception as e:  # noqa: BLE001 - TFDS raises many types.
        _log.warning("TFDS download of %s failed: %s", tfds_name, _short(e))
        return None, f"retry online (the TFDS download failed: {_short(e)})"
