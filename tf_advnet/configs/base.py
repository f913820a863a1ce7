"""Config dataclasses for training and evaluation runs."""

import dataclasses
from typing import Optional, Tuple

from tf_advnet.errors import UserError, check_choice, check_range

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
    """

    name: str = "small_cnn"
    width: Optional[float] = None
    variant: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
      method: a name from `tf_advnet.trainers.METHOD_NAMES`.
      epochs: number of epochs.
      optimizer: "sgd" (with momentum) or "adam".
      learning_rate: initial learning rate.
      momentum: SGD momentum.
      weight_decay: coupled L2 coefficient on kernels (0.5 * wd * ||W||^2).
      lr_boundaries: epochs at which the learning rate is multiplied by lr_factor.
      lr_factor: the multiplier.
      eps: training budget (adversarial methods): L-inf in [0, 1], or L2 (>= 0)
        with norm "2".
      attack_steps: PGD steps in training.
      step_size: PGD step in training (None = eps / 4 for L-inf, eps / 6 for L2).
      norm: threat model of PGD-AT, "inf" or "2" (the PGN paper's L2 baselines).
      random_start: PGD-AT starts from a random point of the ball (False with one
        step of size eps is Goodfellow's FGM-AT).
      eps_warmup_epochs: PGD-AT ramps its budget linearly to eps over this many
        epochs (0 = none; see PGDATTrainer).
      bat_variant: BAT variant (method "bat"), e.g. "R-MC-LA", "R-MC-LS", "R-FGSM",
        "Madry-LA" (see tf_advnet.trainers.bat.VARIANT_NAMES). Madry variants use
        attack_steps and step_size; the one-step variants use bat_steps.
      bat_steps: attack steps of the non-Madry BAT variants (None = 1, step eps/steps).
      beta: BAT label-adversary multiplier of Eq. (16) (paper: 9).
      eps_y: BAT label budget: the LS smoothing (None = 0.5), or a fixed LA budget.
      dd_lambda: DeepDefense regulariser weight lambda (method "deepdefense"; paper 15).
      dd_c: DeepDefense scale c for correctly classified samples (paper 25).
      dd_d: DeepDefense scale d for misclassified samples (paper 5).
      dd_iters: DeepFool steps u inside the DeepDefense regulariser (paper code 5).
      parseval_beta: Parseval retraction step beta (method "parseval"; 1e-4 MNIST,
        3e-4 CIFAR).
      c_l: PGN's penalty on the generated perturbation's squared L2 norm (method
        "pgn", Eq. 4; paper 50).
      ema_decay: PGN's exponential moving average of both players' weights (None:
        off; the official code uses 0.998).
      pgn_generator_width: channels of PGN's generator convolutions (paper 128).
      advnet_generator: Wang & Yu's generator (method "advnet"): "g0" (MNIST
        encoder-decoder), "g1" (residual encoder-decoder), "g2" (Gaussian z) or
        "g3" (label).
      advnet_k: the generator's width factor k (None: 64, and 16 for "g3").
      advnet_lambda: lambda of Eq. (4) (paper 1).
      advnet_gamma: gradient-regularisation gamma of Eq. (8) (paper 0.01; the
        official code's sign is -0.01).
      advnet_hvp: Hessian-vector product of the regulariser: "finite_difference"
        (Eq. 9), "exact" (double backprop) or "none".
      advnet_fd_h: finite-difference step h (None: the generator's lr / 10).
      advnet_clip: clip x + eps G(.) to [0, 1] (the official code does not).
      g_steps: generator steps per update on one batch (paper 5).
      g_updates: generator updates per classifier step (paper 1; MNIST 5).
      g_optimizer: the generator's optimiser, "sgd" (momentum) or "adam".
      g_learning_rate: the generator's learning rate (constant; paper 0.01 SGD,
        CIFAR 0.002 Adam).
      g_beta_1: Adam's beta_1 of the generator (paper 0.5).
      g_weight_decay: L2 on the generator's kernels (None: weight_decay).
      eat_sources: .keras files of the static models of ensemble adversarial
        training (method "ensemble_at").
      init_model: a .keras classifier whose weights start the training (L2L-DA
        and its baselines start from a pre-trained plain model).
      clipnorm: global gradient-norm clip of every optimiser (None: off;
        L2L-DA's code: 1).
      l2lda_generator: L2L-DA's generator (method "l2lda"): "l2lda" (the U-Net
        on x, grad, delta, y, z) or "l2l_star" (on x, grad only: L2L*).
      l2lda_width: the generator's base width (paper 64).
      l2lda_z_dim: size of z (paper 8).
      l2lda_steps: recursive steps T (paper 10); eps_step = eps / 4.
      l2lda_lambda: diversity weight lambda (code: 0.02 MNIST, 0.5 CIFAR-10).
      l2lda_recursive: recursion (Eq. 5) or one shot ("R X": T = 1, step eps).
      l2lda_diversity: the diversity loss of Eq. (7) ("D X": off).
      l2lda_delta, l2lda_label: the generator takes delta / the label y
        (Table 1(b) ablations).
      l2lda_normalize: normalise the generator's gradient input.
      cw_steps: Adam steps of the L-inf C&W examples of method "cw_at".
      cw_const: C&W's constant c inside training (no binary search).
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
    bat_variant: str = "R-MC-LA"
    bat_steps: Optional[int] = None
    beta: float = 9.0
    eps_y: Optional[float] = None
    dd_lambda: float = 15.0
    dd_c: float = 25.0
    dd_d: float = 5.0
    dd_iters: int = 5
    parseval_beta: float = 1e-4
    c_l: float = 50.0
    ema_decay: Optional[float] = None
    pgn_generator_width: int = 128
    advnet_generator: str = "g0"
    advnet_k: Optional[int] = None
    advnet_lambda: float = 1.0
    advnet_gamma: float = 0.01
    advnet_hvp: str = "finite_difference"
    advnet_fd_h: Optional[float] = None
    advnet_clip: bool = True
    g_steps: int = 5
    g_updates: int = 1
    g_optimizer: str = "sgd"
    g_learning_rate: float = 0.01
    g_beta_1: float = 0.5
    g_weight_decay: Optional[float] = None
    eat_sources: Tuple[str, ...] = ()
    init_model: Optional[str] = None
    clipnorm: Optional[float] = None
    l2lda_generator: str = "l2lda"
    l2lda_width: int = 64
    l2lda_z_dim: int = 8
    l2lda_steps: int = 10
    l2lda_lambda: float = 0.02
    l2lda_recursive: bool = True
    l2lda_diversity: bool = True
    l2lda_delta: bool = True
    l2lda_label: bool = True
    l2lda_normalize: bool = True
    cw_steps: int = 100
    cw_const: float = 1.0


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
    train: TrainConfig = TrainConfig()
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
        check_choice("method", self.train.method, METHOD_NAMES)
        check_choice("optimizer", self.train.optimizer, ("sgd", "adam"))
        check_choice("augment", self.data.augment, (None, "crop", "crop_flip"))
        check_range("batch_size", self.data.batch_size, 0, low_inclusive=False)
        check_range("epochs", self.train.epochs, 0, low_inclusive=False)
        check_choice("norm", self.train.norm, ("inf", "2"))
        # The L-inf trainers take eps in [0, 1] whatever --norm says; only pgd_at's L2
        # budget may exceed 1.
        linf_only = self.train.method in ("bat", "ensemble_at", "l2lda", "cw_at")
        check_range("eps", self.train.eps, 0.0,
                    1.0 if self.train.norm == "inf" or linf_only else None)
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
        if self.train.method == "bat":
            from tf_advnet.trainers.bat import VARIANT_NAMES, parse_variant

            try:
                variant = parse_variant(self.train.bat_variant)
            except UserError:
                raise UserError(f"--bat_variant={self.train.bat_variant!r} is not valid; "
                                "allowed values: " + ", ".join(VARIANT_NAMES)) from None
            if variant.multi_step:  # the Madry variants take --attack_steps
                check_range("attack_steps", self.train.attack_steps, 1)
            check_range("beta", self.train.beta, 0.0, low_inclusive=False)
            if self.train.bat_steps is not None:
                check_range("bat_steps", self.train.bat_steps, 1)
            if self.train.eps_y is not None:
                check_range("eps_y", self.train.eps_y, 0.0, 1.0)
        if self.train.method == "deepdefense":
            check_range("dd_lambda", self.train.dd_lambda, 0.0)
            check_range("dd_c", self.train.dd_c, 0.0, low_inclusive=False)
            check_range("dd_d", self.train.dd_d, 0.0)
            check_range("dd_iters", self.train.dd_iters, 1)
        if self.train.method == "pgn":
            check_range("c_l", self.train.c_l, 0.0, low_inclusive=False)
            check_range("pgn_generator_width", self.train.pgn_generator_width, 1)
            if self.train.ema_decay is not None:
                check_range("ema_decay", self.train.ema_decay, 0.0, 1.0,
                            low_inclusive=False)
                if self.train.ema_decay == 1.0:  # the average would never move
                    raise UserError("--ema_decay=1.0 is out of range; allowed range: "
                                    "(0.0, 1.0)")
        if self.train.method == "advnet":
            from tf_advnet.models.advnet_generators import GENERATOR_NAMES
            from tf_advnet.trainers.advnet import HVP_MODES

            check_choice("advnet_generator", self.train.advnet_generator,
                         GENERATOR_NAMES)
            check_choice("advnet_hvp", self.train.advnet_hvp, HVP_MODES)
            check_choice("g_optimizer", self.train.g_optimizer, ("sgd", "adam"))
            check_range("g_steps", self.train.g_steps, 1)
            check_range("g_updates", self.train.g_updates, 1)
            check_range("g_learning_rate", self.train.g_learning_rate, 0.0,
                        low_inclusive=False)
            check_range("advnet_lambda", self.train.advnet_lambda, 0.0)
            if self.train.advnet_k is not None:
                check_range("advnet_k", self.train.advnet_k, 1)
            if self.train.advnet_fd_h is not None:
                check_range("advnet_fd_h", self.train.advnet_fd_h, 0.0,
                            low_inclusive=False)
        if self.train.method == "l2lda":
            check_choice("l2lda_generator", self.train.l2lda_generator,
                         ("l2lda", "l2l_star"))
            check_range("l2lda_width", self.train.l2lda_width, 1)
            check_range("l2lda_z_dim", self.train.l2lda_z_dim, 1)
            check_range("l2lda_steps", self.train.l2lda_steps, 1)
            check_range("l2lda_lambda", self.train.l2lda_lambda, 0.0)
            check_choice("g_optimizer", self.train.g_optimizer, ("sgd", "adam"))
            check_range("g_learning_rate", self.train.g_learning_rate, 0.0,
                        low_inclusive=False)
        if self.train.method == "cw_at":
            check_range("cw_steps", self.train.cw_steps, 1)
            # CWATTrainer's cap on the constant, max_const, stays at its default 128.
            check_range("cw_const", self.train.cw_const, 0.0, 128.0, low_inclusive=False)
        if self.train.clipnorm is not None:
            check_range("clipnorm", self.train.clipnorm, 0.0, low_inclusive=False)
        if self.train.method == "ensemble_at" and not self.train.eat_sources:
            raise UserError("--eat_sources is required for --method=ensemble_at: the "
                            ".keras file(s) of pre-trained undefended models")
        if self.train.method == "parseval":
            check_range("parseval_beta", self.train.parseval_beta, 0.0, 0.5,
                        low_inclusive=False)
        return self


def to_dict(config):
    return dataclasses.asdict(config)


_SECTIONS = ("data", "model", "train", "eval")


def override(config, **fields):
    """Returns `config` with flat field overrides, e.g. epochs=3, dataset="mnist".

    A field name shared by two sections must be prefixed: `eval_eps`,
    `eval_batch_size` (`eps` and `batch_size` alone mean the training ones).
    Values of None are ignored, so unset flags keep the preset's value.
    """
    updates = {s: {} for s in _SECTIONS}
    top = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key in ("seed", "preset"):
            top[key] = value
            continue
        section, name = _locate(key)
        updates[section][name] = value
    kwargs = {s: dataclasses.replace(getattr(config, s), **updates[s]) for s in _SECTIONS}
    return dataclasses.replace(config, **kwargs, **top)


def _locate(key):
    if key.startswith("eval_"):
        name = key[len("eval_"):]
        if name in {f.name for f in dataclasses.fields(EvalConfig)}:
            return "eval", name
    for section, cls in (("data", DataConfig), ("model", ModelConfig),
                         ("train", TrainConfig), ("eval", EvalConfig)):
        if key in {f.name for f in dataclasses.fields(cls)}:
            return section, key
    if key == "model_name":
        return "model", "name"
    raise UserError(f"unknown config field {key!r}")
