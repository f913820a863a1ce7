"""Data sets as float32 [0, 1] NHWC arrays with int64 labels, and pipelines.

Usage:

```python
from tf_advnet import data

x, y = data.load("cifar10", "train")
ds = data.make_dataset(
    x, y, 128, training=True, seed=0, augment=data.default_augment("cifar10")
)
```

Components:
    registry: `DATASET_NAMES`, `DatasetInfo`, `info`.
    loading: `load` and the order in which sources are tried.
    pipeline: `make_dataset`, `default_augment`.
    validation: `check_finite`.
    idx, cifar, svhn, mnist_5k, synthetic, tfds_source: one source each.
"""

from tf_advnet.data.loading import clear_cache
from tf_advnet.data.loading import default_data_dir
from tf_advnet.data.loading import load
from tf_advnet.data.pipeline import default_augment
from tf_advnet.data.pipeline import make_dataset
from tf_advnet.data.registry import DATASET_NAMES
from tf_advnet.data.registry import DatasetInfo
from tf_advnet.data.registry import info
from tf_advnet.data.synthetic import make_synthetic
from tf_advnet.data.validation import check_finite

__all__ = [
    "DATASET_NAMES",
    "DatasetInfo",
    "check_finite",
    "clear_cache",
    "default_augment",
    "default_data_dir",
    "info",
    "load",
    "make_dataset",
    "make_synthetic",
]
