"""small_cnn reaches > 80% on Fashion-MNIST after one epoch on 10k images.

Reads the idx files of the Debian `dataset-fashion-mnist` package directly
(skipped when absent), so the test needs no network and no tf_advnet.data.
"""

import gzip
import pathlib

import keras
import numpy as np
import pytest

from tf_advnet.models import build_model

_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _idx(name):
    with gzip.open(_DIR / name, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
            for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.mark.skipif(not (_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST idx files not installed")
def test_small_cnn_one_epoch_on_10k_fashion_mnist():
    x = _idx("train-images-idx3-ubyte.gz")[:10_000, ..., None] / 255.0
    y = _idx("train-labels-idx1-ubyte.gz")[:10_000]
    xt = _idx("t10k-images-idx3-ubyte.gz")[:5_000, ..., None] / 255.0
    yt = _idx("t10k-labels-idx1-ubyte.gz")[:5_000]
    model = build_model("small_cnn", (28, 28, 1), 10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    model.fit(x.astype("float32"), y, batch_size=32, epochs=1, verbose=0)
    _, acc = model.evaluate(xt.astype("float32"), yt, batch_size=500,
                            verbose=0)
    assert acc > 0.80
