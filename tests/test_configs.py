"""Every preset validates; overrides apply; bad values give one-line errors."""

import dataclasses
import json
import os

import pytest

from tf_advnet.configs import PRESET_NAMES, from_dict, override, preset, to_dict
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


def test_override_routes_fields_and_sets_none():
    cfg = override(preset("cpu", "fashion_mnist", "pgd_at"), epochs=5, eps=0.2,
                   eval_eps=0.3, attacks="fgsm", name="advnet_d1", seed=7)
    assert cfg.train.epochs == 5 and cfg.train.eps == 0.2 and cfg.eval.eps == 0.3
    assert cfg.data.batch_size == 128 and cfg.eval.attacks == "fgsm"
    assert cfg.model.name == "advnet_d1" and cfg.seed == 7
    with pytest.raises(UserError, match="unknown config field"):
        override(cfg, nonsense=1)
    # None is a value: an Optional field set back to None, with no nested replace.
    limited = override(cfg, train_limit=100, step_size=0.01)
    unset = override(limited, train_limit=None, step_size=None)
    assert (unset.data.train_limit, unset.train.step_size) == (None, None)
    assert unset == override(cfg)


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
    # A trainer's own keys read as the user types them with --set (trainer.<key>).
    ({"method": "bat", "trainer": {"variant": "R-XX-LA"}},
     "trainer.variant='R-XX-LA' is not valid"),
    ({"method": "bat", "trainer": {"variant": "Madry-LA"}, "attack_steps": 0},
     "--attack_steps=0 is out of range; allowed range: [1, inf]"),
    ({"method": "bat", "norm": "2", "eps": 2.0}, "--eps=2.0 is out of range"),
    ({"method": "pgn", "trainer": {"ema_decay": 1.0}},
     "trainer.ema_decay must be in (0, 1) or none, got 1"),
    ({"method": "cw_at", "trainer": {"initial_const": 200.0}},
     "trainer.initial_const must be in (0, 128], got 200"),
    ({"method": "deepdefense", "trainer": {"lam": -1.0}}, "trainer.lam must be >= 0, got -1"),
    ({"method": "ensemble_at"}, "trainer.sources is required for method ensemble_at"),
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


# One config per trainer: tf_advnet.trainers.registry.

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_registry_names_every_method_and_its_config():
    from tf_advnet import trainers
    from tf_advnet.trainers.base import TrainerConfig
    from tf_advnet.trainers.registry import METHOD_NAMES, REGISTRY, method_of

    assert trainers.METHOD_NAMES == METHOD_NAMES == tuple(REGISTRY)
    for method, (trainer_cls, config_cls) in REGISTRY.items():
        assert dataclasses.is_dataclass(config_cls) and issubclass(config_cls, TrainerConfig)
        assert config_cls.__module__ == trainer_cls.__module__  # its own module
        default = preset("cpu", "synthetic", method).train.trainer
        assert type(default) is config_cls and method_of(default) == method
        with pytest.raises(dataclasses.FrozenInstanceError):
            default.x = 1


def test_every_method_builds_its_trainer_on_a_tiny_model(tmp_path):
    from tests.trainers._toy import toy_classifier
    from tf_advnet.pipelines.train import build_trainer, compile_trainer
    from tf_advnet.trainers.registry import REGISTRY

    source = str(tmp_path / "source.keras")
    toy_classifier(seed=1).save(source)
    small = {"advnet": {"k": 4}, "l2lda": {"g_width": 4, "z_dim": 4},
             "pgn": {"generator_width": 4}, "ensemble_at": {"sources": (source,)}}
    for method, (trainer_cls, _) in REGISTRY.items():
        cfg = override(preset("cpu", "synthetic", method),
                       trainer=small.get(method, {})).validate()
        trainer = compile_trainer(build_trainer(cfg, toy_classifier(), 4), cfg, 4)
        assert type(trainer) is trainer_cls, method
        assert trainer.optimizer is not None
        if hasattr(trainer, "generator"):  # a generator gets its own optimiser
            assert trainer.g_optimizer is not None and trainer.g_optimizer is not \
                trainer.optimizer


def test_method_switch_resets_the_trainer_config():
    dd = override(preset("cpu", "synthetic", "deepdefense"), trainer={"lam": 3.0})
    assert dd.train.trainer.lam == 3.0
    bat = override(dd, method="bat")
    assert bat.train.trainer == preset("cpu", "synthetic", "bat").train.trainer
    assert override(dd, method="bat", trainer={"beta": 2.0}).train.trainer.beta == 2.0
    with pytest.raises(UserError, match=r"^trainer.lam: method 'bat' has no such field"):
        override(bat, trainer={"lam": 1.0})
    assert override(bat, trainer={"lam": 1.0}, trainer_subset=True) == bat
    with pytest.raises(UserError, match="not the tf_advnet.trainers.bat.Config"):
        dataclasses.replace(bat, train=dataclasses.replace(
            bat.train, trainer=dd.train.trainer)).validate()


def test_from_dict_reads_the_legacy_flat_layout():
    """Results JSON written before the per-trainer configs record every method's
    fields flat in `train`; from_dict maps the method's own into its Config."""
    flat = {"method": "deepdefense", "epochs": 5, "optimizer": "sgd",
            "learning_rate": 0.02, "momentum": 0.9, "weight_decay": 0.0,
            "lr_boundaries": [4], "lr_factor": 0.5, "eps": 0.1, "attack_steps": 7,
            "step_size": None, "norm": "inf", "random_start": True,
            "eps_warmup_epochs": 0.0, "bat_variant": "R-MC-LA", "bat_steps": None,
            "beta": 9.0, "eps_y": None, "dd_lambda": 5.0, "dd_c": 10.0, "dd_d": 2.0,
            "dd_iters": 3, "parseval_beta": 1e-4, "c_l": 50.0, "advnet_generator": "g0",
            "eat_sources": [], "init_model": None, "clipnorm": None, "l2lda_width": 64,
            "cw_steps": 100, "cw_const": 1.0}
    new = override(preset("cpu", "synthetic", "deepdefense"), epochs=5, optimizer="sgd",
                   learning_rate=0.02, lr_boundaries=(4,), lr_factor=0.5,
                   trainer={"lam": 5.0, "c": 10.0, "d": 2.0, "num_iter": 3})
    legacy = dict(to_dict(new), train=flat)
    assert from_dict(legacy) == new
    assert from_dict(json.loads(json.dumps(to_dict(new)))) == new  # current layout
    bat = dict(flat, method="bat", bat_variant="Madry-LA", eps_y=0.3)
    assert from_dict(dict(legacy, train=bat)).train.trainer == \
        dataclasses.replace(preset("cpu", "synthetic", "bat").train.trainer,
                            variant="Madry-LA", eps_y=0.3)


def test_from_dict_reads_every_committed_results_config():
    """Every config recorded in results/ reads back and validates; the method's own
    recorded values land in its Config."""
    import glob

    from tf_advnet.trainers.registry import config_class

    found = 0
    for path in glob.glob(os.path.join(ROOT, "results", "**", "*.json"), recursive=True):
        with open(path) as f:
            for rec in _recorded_configs(json.load(f)):
                cfg = from_dict(rec)
                own = config_class(cfg.train.method).legacy_keys
                for old, new in own.items():
                    if old in rec["train"]:
                        value = rec["train"][old]
                        value = tuple(value) if isinstance(value, list) else value
                        assert getattr(cfg.train.trainer, new) == value, (path, old)
                found += 1
    assert found > 20


def _recorded_configs(obj):
    """Every dict shaped like a recorded ExperimentConfig inside `obj`."""
    if isinstance(obj, dict):
        if {"data", "model", "train", "eval", "seed", "preset"} <= set(obj):
            yield obj
        for v in obj.values():
            yield from _recorded_configs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _recorded_configs(v)
