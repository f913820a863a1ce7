"""Config dataclasses for training and evaluation runs."""

import dataclasses
from typing import Any, Optional, Tuple

from tf_advnet.errors import UserError, check_choice, check_range
from tf_advnet.store import KEY_NEUTRAL, key_neutral

# tf.distribute strategies of --strategy (made by tf_advnet.pipelines.common.get_strategy):
# one device, the GPUs of one machine, the workers of $TF_CONFIG, a TPU (untested).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What data a run uses.

    Attributes:
      dataset: a name from `tf_advnet.data.DATASET_NAMES`.
      train_limit: use only the first N training images (None = all).
      test_limit: evaluate on the first N test images (None = all).
      batch_size: training batch size (global, across replicas).
      augment: None, "crop", or "crop_flip" (pad 4 + random crop [+ flip]).
      svhn_extra: number of SVHN `extra` images added to training (Wang & Yu: 80k).
      data_dir: local data directory (None = $TF_ADVNET_DATA or ~/tf_advnet_data).
    """

    dataset: str = "fashion_mnist"
    train_limit: Optional[int] = None
    test_limit: Optional[int] = None
    batch_size: int = 128
    augment: Optional[str] = None
    svhn_extra: int = 0
    data_dir: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which classifier.

    Attributes:
      name: a name from `tf_advnet.models.MODEL_NAMES`.
      width: width multiplier where the model has one (None = default): `width` of
        small_cnn / resnet20 / advnet_resnet, `widen_factor` of wide_resnet, and
        nb_filters = 64 * width of convpool_cnn.
      variant: `variant` of models that have one (advnet_resnet: "cifar" | "svhn").
      input_units: what the network's first layer sees, for models that take
        `input_mean` / `input_scale` (the DeepDefense ones): None ([0, 1] pixels) or
        "pixel_mean_255" (0-255 pixels minus the per-pixel training mean, the
        DeepDefense code's MNIST units), applied inside the model, which still
        takes [0, 1] pixels.
    """

    name: str = "small_cnn"
    width: Optional[float] = None
    variant: Optional[str] = None
    input_units: Optional[str] = None


INPUT_UNITS = (None, "pixel_mean_255")


def _trainer_config_classes():
    """{method: its Config class} of `tf_advnet.trainers.registry` (imported late:
    the trainer modules import TensorFlow)."""
    from tf_advnet.trainers.registry import REGISTRY

    return {name: cfg for name, (_, cfg) in REGISTRY.items()}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: the fields every method shares, and `trainer`, the method's own.

    Attributes:
      method: a name from `tf_advnet.trainers.METHOD_NAMES`.
      epochs: number of epochs.
      optimizer: "sgd" (with momentum) or "adam".
      learning_rate: initial learning rate.
      momentum: SGD momentum (also of a generator's SGD).
      weight_decay: coupled L2 coefficient on kernels (0.5 * wd * ||W||^2).
      lr_boundaries: epochs at which the learning rate is multiplied by lr_factor.
      lr_factor: the multiplier.
      eps: training budget (adversarial methods): L-inf in [0, 1], or L2 (>= 0)
        with norm "2".
      attack_steps: PGD steps in training (PGD-AT, BAT's Madry variants, the PGD
        examples of ensemble AT).
      step_size: their PGD step (None = eps / 4 for L-inf, eps / 6 for L2).
      norm: the threat model of eps, "inf" or "2" (PGD-AT's L2 runs: the PGN
        paper's baselines); the L-inf-only trainers refuse eps > 1 whatever it says.
      random_start: PGD-AT starts from a random point of the ball (False with one
        step of size eps is Goodfellow's FGM-AT).
      eps_warmup_epochs: PGD-AT and C&W-AT ramp their budget linearly to eps over
        this many epochs (0 = none; see PGDATTrainer).
      init_model: a .keras classifier whose weights start the training (L2L-DA
        and its baselines start from a pre-trained plain model).
      clipnorm: global gradient-norm clip of every optimiser (None: off;
        L2L-DA's code: 1).
      ema_decay: keep an exponential moving average of the classifier's weights
        (and a generator's, where the trainer says so) with this decay, evaluated
        and saved at the end (`ClassifierTrainer.enable_ema`; PGN's official code:
        0.998 for every model); None: off.
      trainer: the method's own hyper-parameters, an instance of its module's
        `Config` (e.g. `tf_advnet.trainers.deepdefense.Config(lam=15, c=25)`; see
        `tf_advnet.trainers.registry`). None gives the method's defaults.
    """

    method: str = "standard"
    epochs: int = 1
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_boundaries: Tuple[int, ...] = ()
    lr_factor: float = 0.1
    eps: float = 0.1
    attack_steps: int = 7
    step_size: Optional[float] = None
    norm: str = "inf"
    random_start: bool = True
    eps_warmup_epochs: float = 0.0
    init_model: Optional[str] = None
    clipnorm: Optional[float] = None
    # Added after runs were stored: at None it stays out of their keys.
    ema_decay: Optional[float] = dataclasses.field(default=None,
                                                   metadata={KEY_NEUTRAL: True})
    # The type depends on `method`: `tf_advnet.cli.overrides` descends into the
    # instance's own class, and resets it when the method changes.
    trainer: Any = dataclasses.field(
        default=None, metadata={"selector": "method", "classes": _trainer_config_classes})

    def __post_init__(self):
        if self.trainer is None:
            classes = _trainer_config_classes()
            if self.method in classes:  # an unknown method fails in validate()
                object.__setattr__(self, "trainer", classes[self.method]())


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How to evaluate.

    Attributes:
      attacks: comma-separated attack specs (see tf_advnet.attacks.registry).
      eps: L-inf budget of the attacks.
      eps_l2: L2 budget of L2 attacks (None = only minimal L2 attacks allowed).
      batch_size: attack batch size.
      eps_grid: eps values for the accuracy-vs-eps plot (PGD-10).
      steps_grid: step counts for the accuracy-vs-steps plot (PGD, step eps/4).
    """

    attacks: str = "fgsm,pgd10,pgd40"
    eps: float = 0.1
    eps_l2: Optional[float] = None
    batch_size: int = 250
    eps_grid: Tuple[float, ...] = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)
    steps_grid: Tuple[int, ...] = (1, 2, 5, 10, 20, 50)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole run: data, model, training, evaluation, seed and preset name."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    # A factory: a TrainConfig looks its trainer config up in the registry, which
    # imports TensorFlow; importing this module must not.
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = EvalConfig()
    seed: int = 0
    preset: str = "cpu"

    def validate(self):
        """Raises UserError (one line, naming the flag) for invalid values."""
        from tf_advnet.data import DATASET_NAMES
        from tf_advnet.models import MODEL_NAMES
        from tf_advnet.trainers import METHOD_NAMES

        check_choice("dataset", self.data.dataset, DATASET_NAMES)
        check_choice("model", self.model.name, MODEL_NAMES)
        check_choice("input_units", self.model.input_units, INPUT_UNITS)
        check_choice("method", self.train.method, METHOD_NAMES)
        check_choice("optimizer", self.train.optimizer, ("sgd", "adam"))
        check_choice("augment", self.data.augment, (None, "crop", "crop_flip"))
        check_range("batch_size", self.data.batch_size, 0, low_inclusive=False)
        check_range("epochs", self.train.epochs, 0, low_inclusive=False)
        check_choice("norm", self.train.norm, ("inf", "2"))
        trainer_cls = _trainer_config_classes()[self.train.method]
        if type(self.train.trainer) is not trainer_cls:
            raise UserError(
                f"train.trainer is a {_class_name(self.train.trainer)}, not the "
                f"{trainer_cls.__module__}.Config of method {self.train.method!r}")
        # The L-inf trainers take eps in [0, 1] whatever --norm says; only an L2 run
        # (PGD-AT's) may exceed 1.
        check_range("eps", self.train.eps, 0.0,
                    1.0 if self.train.norm == "inf" or trainer_cls.linf_only else None)
        check_range("eval_eps", self.eval.eps, 0.0, 1.0)
        check_range("attack_steps", self.train.attack_steps, 0)
        check_range("learning_rate", self.train.learning_rate, 0.0, low_inclusive=False)
        check_range("eval_batch_size", self.eval.batch_size, 0, low_inclusive=False)
        if self.seed is not None:
            check_range("seed", self.seed, 0, 2**32 - 1)  # the data pipeline's seed range
        check_range("svhn_extra", self.data.svhn_extra, 0)
        for flag, v in (("train_limit", self.data.train_limit),
                        ("test_limit", self.data.test_limit)):
            if v is not None:
                check_range(flag, v, 0, low_inclusive=False)
        if self.train.step_size is not None:
            check_range("step_size", self.train.step_size, 0.0,
                        1.0 if self.train.norm == "inf" else None)
        check_range("eps_warmup_epochs", self.train.eps_warmup_epochs, 0.0)
        if self.train.clipnorm is not None:
            check_range("clipnorm", self.train.clipnorm, 0.0, low_inclusive=False)
        d = self.train.ema_decay
        if d is not None and not 0.0 <= d < 1.0:  # at 1 the average would never move
            raise UserError(f"--ema_decay={d:g} is out of range; allowed range: [0, 1)")
        self.train.trainer.validate(self.train)
        return self


def _class_name(obj):
    return f"{type(obj).__module__}.{type(obj).__name__}"


def to_dict(config):
    """`config` as plain data (what every results JSON records under "config")."""
    return dataclasses.asdict(config)


def key_dict(config):
    """`to_dict` for a key (`tf_advnet.store.fingerprint`): the same, less the
    fields marked key-neutral at their default (`store.KEY_NEUTRAL`)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: key_dict(getattr(config, f.name))
                for f in dataclasses.fields(config)
                if not key_neutral(f, getattr(config, f.name))}
    if isinstance(config, (list, tuple)):
        return type(config)(key_dict(v) for v in config)
    if isinstance(config, dict):
        return {k: key_dict(v) for k, v in config.items()}
    return config


_SECTIONS = ("data", "model", "train", "eval")


def override(config, *, trainer_subset=False, **fields):
    """Returns `config` with flat field overrides, e.g. epochs=3, dataset="mnist".

    A field name shared by two sections must be prefixed: `eval_eps`,
    `eval_batch_size` (`eps` and `batch_size` alone mean the training ones).
    A value of None sets None (omit a key to keep the preset's value). `trainer`
    takes the method's own hyper-parameters: a `Config` instance, which replaces
    them, or a dict of its fields, applied to the method's current config, e.g.
    `override(cfg, method="deepdefense", trainer={"lam": 5.0})`. A `method` that
    differs from the config's resets the trainer to the new method's defaults
    first. With `trainer_subset`, keys of a `trainer` dict that the method's
    config lacks are skipped (one set of overrides for runs of several methods).
    """
    updates = {s: {} for s in _SECTIONS}
    top = {}
    trainer = fields.pop("trainer", None)
    for key, value in fields.items():
        if key in ("seed", "preset"):
            top[key] = value
            continue
        section, name = _locate(key)
        updates[section][name] = value
    train = config.train
    method = updates["train"].get("method", train.method)
    if method != train.method:
        updates["train"]["trainer"] = None  # __post_init__: the new method's defaults
    kwargs = {s: dataclasses.replace(getattr(config, s), **updates[s]) for s in _SECTIONS}
    if trainer is not None:
        if trainer_subset and isinstance(trainer, dict):
            known = {f.name for f in dataclasses.fields(kwargs["train"].trainer)}
            trainer = {k: v for k, v in trainer.items() if k in known}
        kwargs["train"] = replace_trainer(kwargs["train"], trainer)
    return dataclasses.replace(config, **kwargs, **top)


def replace_trainer(train, trainer):
    """`train` (a TrainConfig) with `trainer` as its method's config: a Config
    instance, or a dict of fields of the current one (UserError naming an unknown
    key `trainer.<key>` and the method's keys)."""
    if isinstance(trainer, dict):
        known = {f.name for f in dataclasses.fields(train.trainer)}
        for key in trainer:
            if key not in known:
                raise UserError(f"trainer.{key}: method {train.method!r} has no such "
                                f"field; its fields: {', '.join(sorted(known)) or 'none'}")
        trainer = dataclasses.replace(train.trainer, **trainer)
    return dataclasses.replace(train, trainer=trainer)


def _locate(key):
    if key.startswith("eval_"):
        name = key[len("eval_"):]
        if name in {f.name for f in dataclasses.fields(EvalConfig)}:
            return "eval", name
    for section, cls in (("data", DataConfig), ("model", ModelConfig),
                         ("train", TrainConfig), ("eval", EvalConfig)):
        if key in {f.name for f in dataclasses.fields(cls)} and key != "trainer":
            return section, key
    if key == "model_name":
        return "model", "name"
    raise UserError(f"unknown config field {key!r}")


def _section(cls, values):
    """An instance of `cls` from its recorded fields (JSON lists back to tuples)."""
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**kw)


def train_from_dict(d):
    """The TrainConfig recorded as `d`, in either layout: the nested one of
    `to_dict` ({"method": ..., "trainer": {...}}) or the flat one of results JSON
    written before the per-trainer configs, whose method-specific keys
    (`dd_lambda`, `bat_variant`, ...) map through each trainer Config's
    `legacy_keys`; the keys of the other methods are dropped."""
    classes = _trainer_config_classes()
    d = dict(d)
    method = d.get("method", "standard")
    cls = classes.get(method)
    if cls is None:
        raise UserError(f"recorded config: unknown method {method!r}; allowed values: "
                        + ", ".join(classes))
    trainer = d.pop("trainer", None)
    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    legacy = {k: d.pop(k) for k in list(d) if k not in shared}
    if trainer is None:
        trainer = {new: legacy[old] for old, new in cls.legacy_keys.items()
                   if old in legacy}
    else:
        unknown = set(legacy)
        if unknown:
            raise UserError(f"recorded config: unknown train fields {sorted(unknown)}")
    return _section(TrainConfig, dict(d, trainer=_section(cls, trainer)))


def from_dict(d):
    """The ExperimentConfig that `to_dict` wrote as `d` (a results JSON's
    "config"), in the current layout or the flat one of earlier results (see
    `train_from_dict`)."""
    return ExperimentConfig(
        data=_section(DataConfig, d["data"]), model=_section(ModelConfig, d["model"]),
        train=train_from_dict(d["train"]), eval=_section(EvalConfig, d["eval"]),
        seed=d["seed"], preset=d["preset"])
