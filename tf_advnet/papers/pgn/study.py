"""The pgn study's configuration (`Study`, `study()`), presets and
its part of the main job."""

import dataclasses
from typing import Optional, Tuple

from tf_advnet.errors import UserError, check_choice, check_range
from tf_advnet.papers._study import override_study

PRESETS = ("cpu", "paper", "long")


# The PGN part of the main job: one point per method, fewer attacked images.
DEMO = dict(eps_grid=(1.0,), c_l_grid=(0.1,), capacity_widths=(), fig3_eps=1.0,
            fig3_c_l=(0.2,), fig3_attack_eps=(0.5, 1.0, 2.0), fig3_epochs=1,
            fig2_epochs=3, fig2_test_images=100, test_limit=200)


def demo_overrides(sized):
    """Overrides of the main job's PGN part: DEMO, then the main job's sizing flags
    `sized` (epochs, train_limit, test_limit, data_dir: those set)."""
    return dict(DEMO, **sized)


@dataclasses.dataclass(frozen=True)
class Study:
    """Every setting of one PGN reproduction (see the module docstring)."""

    dataset: str
    model: str
    width: Optional[float]
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    augment: Optional[str]
    train_limit: Optional[int]
    test_limit: Optional[int]
    eps_grid: Tuple[float, ...]
    c_l_grid: Tuple[float, ...]
    capacity_widths: Tuple[float, ...]
    capacity_c_l: Optional[Tuple[float, ...]]
    generator_width: int
    ema_decay: Optional[float]
    attack_eps: float
    fig3_eps: float
    fig3_attack_eps: Tuple[float, ...]
    fig3_c_l: Tuple[float, ...]
    fig3_epochs: int
    fig2_eps: float
    fig2_epochs: int
    fig2_test_images: int
    cw_iterations: int = 100
    cw_binary_steps: int = 5
    # Each method's training step is timed for `timing_steps` warm steps in each of
    # `timing_rounds` interleaved rounds, the median reported
    # (`pipelines.train.interleaved_images_per_second`).
    timing_steps: int = 10
    timing_rounds: int = 1
    # An attack spec ("pgd10_l2", at `attack_eps`): every model records its accuracy
    # under it on held-out test images after each epoch (`pipelines.train.curve_callbacks`).
    curve_attack: Optional[str] = None
    seed: int = 1234
    data_dir: Optional[str] = None
    eval_batch_size: int = 250
    preset: str = "cpu"


CPU = Study(
    dataset="fashion_mnist", model="small_cnn", width=None, epochs=3, batch_size=128,
    optimizer="adam", learning_rate=1e-3, augment=None, train_limit=10000,
    test_limit=300, eps_grid=(0.25, 0.5, 1.0, 2.0), c_l_grid=(0.05, 0.1, 0.25, 0.5),
    capacity_widths=(2.0,), capacity_c_l=(0.1, 0.5), generator_width=32,
    ema_decay=None, attack_eps=1.0, fig3_eps=1.0,
    fig3_attack_eps=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0), fig3_c_l=(0.15, 0.2, 0.3),
    fig3_epochs=2, fig2_eps=1.0, fig2_epochs=8, fig2_test_images=200, seed=0)

PAPER = Study(
    dataset="cifar100", model="convpool_cnn", width=None, epochs=200, batch_size=128,
    optimizer="adam", learning_rate=5e-4, augment="crop_flip", train_limit=None,
    test_limit=None, eps_grid=(0.02, 0.1, 0.25, 0.5, 1.0),
    c_l_grid=(10.0, 20.0, 50.0, 70.0, 100.0), capacity_widths=(2.0, 4.0),
    capacity_c_l=None, generator_width=128, ema_decay=0.998, attack_eps=0.5, fig3_eps=0.5,
    fig3_attack_eps=(0.1, 0.25, 0.5, 1.0, 2.0), fig3_c_l=(10.0, 50.0, 100.0),
    fig3_epochs=20, fig2_eps=0.5, fig2_epochs=200, fig2_test_images=1000)

DATASETS = {"cpu": ("fashion_mnist", "mnist_5k", "synthetic", "cifar10", "cifar100"),
            "paper": ("cifar100", "cifar10"), "long": ("fashion_mnist",)}

# long: the cpu study on Fashion-MNIST for the paper's schedule shape at CPU size: 6x
# the epochs of every model (the paper: Adam 5e-4 with an EMA 0.998 of the weights of
# every model, 200 epochs), the L2 PGD-10 curve at `attack_eps` recorded per epoch
# on the EMA weights (the code's per-epoch evaluation). 18 epochs (1,422 steps): at 9,
# most curves still rose 2-7 points over the last two epochs, and an EMA of 0.998 over
# 711 steps still held 24% of the initial weights (over 1,422: 6%; the paper's 78k
# steps: none). At 18, 8 of the 14 curves still rise (PGD-AT's by ~0.7 and PGN's by
# ~0.3 points per epoch over the last 7 epochs), which the ledger's budget gate names;
# 36 epochs would double a seed's ~1.5 hours on one core (a 36-epoch seed run beside
# the report card's two processes had trained 5 of its 15 models, the cheap ones, in
# 41 minutes), ~9 CPU-hours for three seeds, to settle curves 15-35 points above
# PGN's. Three c_L (the cpu study's four), to pay for the epochs.
# The eps grid reaches down to the paper's CIFAR 0.1: with the EMA on every model the
# first 18-epoch seed put PGN at 88.7-91.3% benign accuracy, above all of FGM-AT's
# points at eps 0.5-2 (80.0-88.0%), so Fig. 5's curves did not overlap and the claim
# could not be asked (eps 2, at 78.7-80.0%, lay far below PGN's range). The generator
# stays 32 wide (the paper's 128): PGN trains at ~370-500 img/s on 2 cores.
# Fig. 3's attack generators train 20 epochs (the paper's are "fully trained"): the
# diagnostic results/pgn/diagnostics/attack_generator_fashion_mnist.md found the
# generator 2.8 points weaker than pixel-restricted FGM at equal L2 after 2 epochs and
# 4.6 points stronger after 20, so at 2 the claim measured the budget, not the method.
# Trained 20 epochs, a generator's L2 settles in one of two basins: seed 2's three
# generators against FGM-AT ended at mean L2 7.6 / 5.9 / 1.5 for c_L 0.3 / 0.5 / 1,
# every other one of the three seeds at 0.07-0.31 (results/ledger/pgn/fashion_mnist/
# seed*/pgn.json, Fig. 3); smaller c_L sent seed 2's further out of FGM's range. So
# c_L spans 0.3-1, chosen on seed 2 by where the points lie, not by which attack wins
# there, and FGM's L2 grid reaches down to 0.05 so that the small-L2 basin is compared.
# The step timing runs 7 interleaved rounds of 50 steps, the median reported: 10 steps
# of each method back to back put PGD-AT at 668-690 img/s in seeds 0-1 (timed beside
# another run) and at 1,231 in seed 2 (timed alone), a spread that decided the verdict.
LONG_EPOCHS = 18
LONG = dict(epochs=LONG_EPOCHS, learning_rate=5e-4, ema_decay=0.998,
            eps_grid=(0.1, 0.25, 0.5, 1.0), c_l_grid=(0.05, 0.1, 0.25),
            capacity_c_l=(0.1, 0.25), curve_attack="pgd10_l2", fig3_epochs=20,
            fig3_c_l=(0.3, 0.5, 1.0),
            fig3_attack_eps=(0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0), timing_steps=50,
            timing_rounds=7, preset="long")


def study(preset_name="cpu", dataset=None, overrides=None):
    """The preset's Study for `dataset`, with flat field overrides (None ignored)."""
    check_choice("preset", preset_name, PRESETS)
    base = PAPER if preset_name == "paper" else CPU
    dataset = dataset or base.dataset
    check_choice("dataset", dataset, DATASETS[preset_name])
    fields = {"dataset": dataset, "preset": preset_name}
    if preset_name == "long":
        fields.update(LONG)
    if preset_name == "cpu" and dataset in ("cifar10", "cifar100"):
        fields.update(model="convpool_cnn", width=0.25, augment="crop_flip",
                      attack_eps=0.5, fig3_eps=0.5, eps_grid=(0.1, 0.25, 0.5, 1.0))
    s = override_study(dataclasses.replace(base, **fields), overrides, "PGN")
    for flag, grid in (("eps_grid", s.eps_grid), ("c_l_grid", s.c_l_grid),
                       ("fig3_attack_eps", s.fig3_attack_eps),
                       ("fig3_c_l", s.fig3_c_l)):
        if not grid or min(grid) <= 0:
            raise UserError(f"--{flag}: give positive numbers, e.g. --{flag}=0.5,1,2")
    for flag in ("epochs", "timing_steps", "timing_rounds"):
        check_range(flag, getattr(s, flag), 0, low_inclusive=False)
    if s.curve_attack is not None:
        from tf_advnet.attacks.registry import parse_attack

        parse_attack(s.curve_attack, eps=0.0, eps_l2=s.attack_eps)
    check_range("attack_eps", s.attack_eps, 0.0, low_inclusive=False)
    if s.fig3_eps not in s.eps_grid:
        raise UserError(f"--fig3_eps={s.fig3_eps} must be one of --eps_grid="
                        f"{','.join(f'{e:g}' for e in s.eps_grid)}")
    return s


# ------------------------------------------------------------------------ models
