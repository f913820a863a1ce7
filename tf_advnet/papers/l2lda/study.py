"""The l2lda study's configuration (`Study`, `study()`), presets and
its part of the main job."""

import dataclasses
import math
from typing import Optional

from tf_advnet.errors import check_choice, check_range
from tf_advnet.papers._study import override_study

PRESETS = ("cpu", "paper", "long")


# The L2L-DA part of the main job: Tables 2 and 3 only, a small generator, fewer
# images everywhere.
DEMO = dict(table1=False, train_limit=1000, test_limit=100, epochs=1, g_width=8,
            attack_samples=2, attack_train_limit=300)


def demo_overrides(sized):
    """Overrides of the main job's L2L-DA part: DEMO, then the main job's sizing
    flags `sized`; one --epochs sizes the plain model too."""
    ov = dict(DEMO, **sized)
    if "epochs" in sized:
        ov["plain_epochs"] = sized["epochs"]
    return ov


@dataclasses.dataclass(frozen=True)
class Study:
    """Every setting of one L2L-DA reproduction (see the module docstring)."""

    dataset: str
    eps: float
    train_limit: Optional[int]
    test_limit: Optional[int]
    batch_size: int
    plain_epochs: int
    plain_optimizer: str
    plain_learning_rate: float
    epochs: int
    optimizer: str
    learning_rate: float
    lr_decay: bool
    eps_warmup_epochs: float
    weight_decay: float
    clipnorm: float
    g_width: int
    z_dim: int
    num_steps: int
    lam: float
    g_learning_rate: float
    cw_binary_steps: int
    attack_samples: int
    attack_epochs: int
    attack_width: float
    attack_train_limit: Optional[int] = None
    # The code's recipe where ours differs (both the paper preset's): the generator's
    # losses summed over the T steps before its gradient-norm clip, and pad-4
    # random-crop augmentation (plus flips on CIFAR-10).
    step_reduction: str = "mean"
    augment: Optional[str] = None
    table1: bool = True
    # Table 1(b)'s rows (the generator without y and/or delta), when `table1`.
    table1b: bool = True
    # An attack spec ("pgd10"): every classifier records its accuracy under it on
    # held-out test images after each epoch (`pipelines.train.curve_callbacks`); None: none.
    curve_attack: Optional[str] = None
    model: str = "lenet5"
    seed: int = 422
    data_dir: Optional[str] = None
    eval_batch_size: int = 500
    preset: str = "cpu"


CPU = Study(
    dataset="mnist_5k", eps=0.3, train_limit=None, test_limit=500, batch_size=64,
    plain_epochs=3, plain_optimizer="adam", plain_learning_rate=1e-3, epochs=2,
    optimizer="adam", learning_rate=1e-3, lr_decay=False, eps_warmup_epochs=1.0,
    weight_decay=1e-5, clipnorm=1.0, g_width=16,
    z_dim=8, num_steps=10, lam=0.02, g_learning_rate=0.01, cw_binary_steps=1,
    attack_samples=5, attack_epochs=1, attack_width=0.5)

_PAPER_ITERS, _PAPER_BATCH, _MNIST_TRAIN = 100_000, 100, 60_000
DATASETS = {"cpu": ("mnist_5k", "fashion_mnist", "mnist", "synthetic"),
            "paper": ("mnist", "cifar10"), "long": ("mnist_5k",)}

# long: the code's recipe on mnist_5k (SGD 0.01 momentum 0.9, gradient-norm clip 1 and
# x0.1 at half for the classifiers, the generator's losses summed over T, pad-4 crops),
# which the budget diagnostic (results/l2lda/diagnostics/budget_mnist_5k.md) found
# still gaining at 4 epochs (the generator takes the classifier's training adv_acc
# 97% -> 54%); 6 epochs for every defence from the plain model, PGD-10 curves
# recorded. 6 epochs leave L2L-DA's curve rising; a pilot at 18 (3x the cost, ~3
# CPU-hours a seed) still left it rising after the lr step while PGD10-AT's was flat,
# so the ledger reads the rising curves as "inconclusive at this budget" and the
# report card compares L2L-DA with PGD-AT where both curves flatten (Fashion-MNIST,
# 8/255). Cut (no ledger claim reads them; L2L-type rows are the slowest, ~30 img/s
# on 2 cores): Table 1(b)'s three rows.
LONG_EPOCHS = 6
LONG = dict(dataset="mnist_5k", epochs=LONG_EPOCHS, optimizer="sgd", learning_rate=0.01,
            lr_decay=True, step_reduction="sum", augment="crop", table1b=False,
            curve_attack="pgd10", preset="long")


def study(preset_name="cpu", dataset=None, overrides=None):
    """The preset's Study for `dataset`, with flat field overrides (None ignored)."""
    check_choice("preset", preset_name, PRESETS)
    dataset = dataset or ("mnist" if preset_name == "paper" else "mnist_5k")
    check_choice("dataset", dataset, DATASETS[preset_name])
    if preset_name == "long":
        s = dataclasses.replace(CPU, **LONG)
    elif preset_name == "paper":
        epochs = math.ceil(_PAPER_ITERS * _PAPER_BATCH / _MNIST_TRAIN)
        s = Study(dataset=dataset, eps=0.3, train_limit=None, test_limit=None,
                  batch_size=_PAPER_BATCH, plain_epochs=epochs, plain_optimizer="sgd",
                  plain_learning_rate=0.01, epochs=epochs, optimizer="sgd",
                  learning_rate=0.01, lr_decay=True, eps_warmup_epochs=0.0,
                  weight_decay=1e-5, clipnorm=1.0, g_width=64, z_dim=8,
                  num_steps=10, lam=0.02, g_learning_rate=0.01, cw_binary_steps=10,
                  attack_samples=10, attack_epochs=math.ceil(48_000 * _PAPER_BATCH /
                                                             _MNIST_TRAIN),
                  attack_width=1.0, eval_batch_size=100, step_reduction="sum",
                  augment="crop", preset="paper")
        if dataset == "cifar10":
            # ResNet-20 at 8/255, lambda 0.5 (the code's CIFAR-10 setting), crop +
            # flip. The code starts from a public pre-trained ResNet-20; here the
            # plain row is trained first for the same iterations. No Table 1 (MNIST
            # only in the paper).
            s = dataclasses.replace(s, eps=8 / 255, model="resnet20", lam=0.5,
                                    augment="crop_flip", table1=False,
                                    plain_epochs=math.ceil(_PAPER_ITERS * _PAPER_BATCH
                                                           / 50_000),
                                    epochs=math.ceil(_PAPER_ITERS * _PAPER_BATCH / 50_000))
    else:
        fields = {"dataset": dataset}
        if dataset == "fashion_mnist":
            fields.update(eps=0.1, train_limit=4000)
        elif dataset == "mnist":
            fields.update(train_limit=10000)
        elif dataset == "synthetic":
            fields.update(eps=0.1, plain_epochs=1, epochs=1, attack_epochs=1, g_width=4,
                          attack_samples=2, cw_binary_steps=1, test_limit=None,
                          attack_width=0.25)
        s = dataclasses.replace(CPU, **fields)
    s = override_study(s, overrides, "l2lda")
    check_range("eps", s.eps, 0.0, 1.0, low_inclusive=False)
    check_choice("plain_optimizer", s.plain_optimizer, ("sgd", "adam"))
    check_choice("optimizer", s.optimizer, ("sgd", "adam"))
    check_choice("step_reduction", s.step_reduction, ("mean", "sum"))
    check_choice("augment", s.augment, (None, "crop", "crop_flip"))
    check_range("eps_warmup_epochs", s.eps_warmup_epochs, 0.0)
    for flag in ("epochs", "plain_epochs", "attack_epochs", "batch_size", "g_width",
                 "z_dim", "num_steps", "attack_samples", "cw_binary_steps"):
        check_range(flag, getattr(s, flag), 0, low_inclusive=False)
    check_range("lam", s.lam, 0.0)
    if s.curve_attack is not None:
        from tf_advnet.attacks.registry import parse_attack

        parse_attack(s.curve_attack, eps=s.eps)
    check_range("attack_width", s.attack_width, 0.0, low_inclusive=False)
    if s.attack_train_limit is not None:
        check_range("attack_train_limit", s.attack_train_limit, 0, low_inclusive=False)
    return s


# ------------------------------------------------------------------------ models
