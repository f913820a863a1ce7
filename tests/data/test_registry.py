import dataclasses

import pytest

from tf_advnet import data
from tf_advnet import errors


def test_names_and_infos():
    assert data.DATASET_NAMES == (
        "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "mnist_5k",
        "synthetic",
    )
    for name in data.DATASET_NAMES:
        meta = data.info(name)
        assert meta.name == name
        assert len(meta.class_names) == meta.num_classes
        assert len(set(meta.class_names)) == meta.num_classes
        assert len(meta.image_shape) == 3
        assert meta.train_size > 0 and meta.test_size > 0
    assert data.info("cifar100").class_names == tuple(
        sorted(data.info("cifar100").class_names)
    )
    assert data.info("svhn").tfds_name == "svhn_cropped"
    assert data.info("mnist_5k").tfds_name is None


def test_info_is_frozen_and_rejects_unknown():
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.info("mnist").num_classes = 3
    with pytest.raises(errors.UserError, match="^name must be one of .*; got 'cifar'$"):
        data.info("cifar")
