"""Every preset validates; overrides apply; bad values give one-line errors."""

import dataclasses

import pytest

from tf_advnet.configs import PRESET_NAMES, override, preset, to_dict
from tf_advnet.configs.presets import _CPU, _PAPER
from tf_advnet.errors import UserError


@pytest.mark.parametrize("name,datasets", [("cpu", tuple(_CPU)), ("paper", tuple(_PAPER))])
@pytest.mark.parametrize("method", ["standard", "pgd_at"])
def test_every_preset_validates(name, datasets, method):
    for dataset in datasets:
        cfg = preset(name, dataset, method).validate()
        assert cfg.preset == name and cfg.train.method == method
        to_dict(cfg)  # serialisable


def test_paper_preset_follows_wang_yu():
    cfg = preset("paper", "cifar10", "pgd_at")
    assert cfg.data.batch_size == 64 and cfg.train.optimizer == "sgd"
    assert cfg.train.learning_rate == 0.1 and cfg.train.attack_steps == 10
    # 200k iterations of 64 on 50k images = 256 epochs; lr / 10 half way.
    assert cfg.train.epochs == 256 and cfg.train.lr_boundaries == (128,)
    assert cfg.model.name == "advnet_resnet" and cfg.data.augment == "crop_flip"
    assert abs(cfg.train.eps - 8 / 255) < 1e-9
    assert preset("paper", "svhn").data.svhn_extra == 80000


def test_override_routes_fields_and_ignores_none():
    cfg = override(preset("cpu", "fashion_mnist", "pgd_at"), epochs=5, eps=0.2,
                   eval_eps=0.3, batch_size=None, attacks="fgsm", name="advnet_d1",
                   seed=7)
    assert cfg.train.epochs == 5 and cfg.train.eps == 0.2 and cfg.eval.eps == 0.3
    assert cfg.data.batch_size == 128 and cfg.eval.attacks == "fgsm"
    assert cfg.model.name == "advnet_d1" and cfg.seed == 7
    with pytest.raises(UserError, match="unknown config field"):
        override(cfg, nonsense=1)


@pytest.mark.parametrize("field,value,needle", [
    ("dataset", "imagenet", "--dataset='imagenet' is not valid; allowed values: "),
    ("name", "vgg", "--model='vgg' is not valid"),
    ("method", "trades", "--method='trades' is not valid"),
    ("eps", 1.5, "--eps=1.5 is out of range"),
    ("eps", -0.1, "--eps=-0.1 is out of range"),
    ("batch_size", 0, "--batch_size=0 is out of range"),
    ("attack_steps", -1, "--attack_steps=-1 is out of range"),
])
def test_validate_messages(field, value, needle):
    cfg = override(preset("cpu", "fashion_mnist"), **{field: value})
    with pytest.raises(UserError) as e:
        cfg.validate()
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("fields,message", [
    # The library's own checks name the Python argument (variant, ema_decay, max_const,
    # seed); the config reports these with their flags before any trainer is built.
    ({"method": "bat", "bat_variant": "R-XX-LA"}, "--bat_variant='R-XX-LA' is not valid"),
    ({"method": "bat", "bat_variant": "Madry-LA", "attack_steps": 0},
     "--attack_steps=0 is out of range; allowed range: [1, inf]"),
    ({"method": "bat", "norm": "2", "eps": 2.0}, "--eps=2.0 is out of range"),
    ({"method": "pgn", "ema_decay": 1.0}, "--ema_decay=1.0 is out of range"),
    ({"method": "cw_at", "cw_const": 200.0}, "--cw_const=200.0 is out of range"),
    ({"seed": -1}, "--seed=-1 is out of range"),
    ({"svhn_extra": -5}, "--svhn_extra=-5 is out of range"),
])
def test_validate_reports_trainer_and_data_checks_with_flags(fields, message):
    cfg = override(preset("cpu", "fashion_mnist"), **fields)
    with pytest.raises(UserError) as e:
        cfg.validate()
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_unknown_preset_and_dataset():
    with pytest.raises(UserError, match="--preset='gpu'"):
        preset("gpu", "mnist")
    with pytest.raises(UserError, match="--dataset='mnist_5k' is not valid"):
        preset("paper", "mnist_5k")  # no paper recipe exists for the 5k subset
    assert set(PRESET_NAMES) == {"cpu", "paper"}
    assert dataclasses.is_dataclass(preset("cpu", "mnist"))
