"""The report card's configuration (`Card`, `card()`, its rows) and presets."""

import dataclasses
from typing import Optional, Tuple

from tf_advnet.errors import check_choice, check_range
from tf_advnet.papers._study import override_study

PRESETS = ("cpu", "paper", "long")
ROWS = ("standard", "pgd_at", "bat", "advnet", "l2lda", "pgn", "deepdefense")
# Rows trained from the standard row's weights (their papers fine-tune a plain model).
FINETUNED = ("l2lda", "deepdefense")


@dataclasses.dataclass(frozen=True)
class Card:
    """Every setting of one report card (flat, so flags can override each field)."""

    dataset: str
    eps: float
    model: str
    train_limit: Optional[int]
    test_limit: Optional[int]
    batch_size: int
    epochs: int
    finetune_epochs: int
    optimizer: str
    learning_rate: float
    eps_warmup_epochs: float
    attack_steps: int
    advnet_generator: str
    l2lda_width: int
    pgn_c_l: float
    pgn_width: int
    dd_lambda: float
    dd_learning_rate: float
    apgd_steps: int
    apgd_restarts: int
    apgd_targets: int
    square_queries: int
    check_examples: int
    rows: Tuple[str, ...] = ROWS
    seed: int = 0
    data_dir: Optional[str] = None
    eval_batch_size: int = 250
    preset: str = "cpu"
    # The L2L-DA row's recursive steps T (its code's 10); tracing the T-step recursion
    # and its gradient is most of a tiny card's time, so a smoke test can lower it.
    l2lda_steps: int = 10
    # Binary-search steps of the L2L-DA row's L-inf C&W columns; None keeps the
    # attack's own 10 (L2L-DA's code), 10 x 1,000 Adam steps per image.
    cw_binary_steps: Optional[int] = None
    # An attack spec ("pgd10"): every row records its accuracy under it on held-out
    # test images after each epoch (`pipelines.train.curve_callbacks`); None: none.
    curve_attack: Optional[str] = None


# cpu: the suite's small CNN, minutes per row on 2 cores. The strong protocol is
# AutoAttack's standard version at its own budgets (APGD and FAB 100 steps, 9 targets,
# Square 5,000 queries), so the cpu card's strong columns compare with AutoAttack's.
CPU = Card(
    dataset="fashion_mnist", eps=0.1, model="small_cnn", train_limit=10000,
    test_limit=500, batch_size=128, epochs=4, finetune_epochs=1, optimizer="adam",
    learning_rate=1e-3, eps_warmup_epochs=0.0, attack_steps=7, advnet_generator="g0:16",
    l2lda_width=16, pgn_c_l=0.1, pgn_width=32, dd_lambda=15.0, dd_learning_rate=5e-3, apgd_steps=100,
    apgd_restarts=1, apgd_targets=9, square_queries=5000, check_examples=200)

DATASETS = {"cpu": ("fashion_mnist", "mnist_5k", "synthetic"), "paper": ("cifar10",),
            "long": ("fashion_mnist",)}

# long: Fashion-MNIST at the CIFAR-10 papers' eps 8/255, every row the same epochs
# (the fine-tuned rows, L2L-DA and DeepDefense, fine-tune the standard row for as many
# epochs as the others train from scratch), each row's PGD-10 curve recorded. The
# first 20,000 training images for 12 epochs (1,884 steps of 128): the first seed's
# 5,000 images x 4 epochs (160 steps; results/report_card/long_v1_seed0) left 5 of 7
# curves rising (PGD-AT 57 -> 70.5% PGD-10 over its 4 epochs), while PGD-AT and BAT
# trained on these 20,000 images flatten after 4-7 epochs (PGD-AT 70.5, 78.5, 80.5 %
# at epochs 1, 3, 4, then 77.5-82 %). The L2L-DA row (~50 img/s on 2 cores) decides the
# card's cost: about 4 h per seed, evaluation included.
LONG_EPOCHS = 12
LONG = dict(dataset="fashion_mnist", eps=8 / 255, train_limit=20000, epochs=LONG_EPOCHS,
            finetune_epochs=LONG_EPOCHS, curve_attack="pgd10", preset="long")


def card(preset_name="cpu", dataset=None, overrides=None):
    """The preset's Card for `dataset`, with flat field overrides (None ignored)."""
    check_choice("preset", preset_name, PRESETS)
    dataset = dataset or DATASETS[preset_name][0]
    check_choice("dataset", dataset, DATASETS[preset_name])
    if preset_name == "long":
        c = dataclasses.replace(CPU, **LONG)
    elif preset_name == "paper":
        # CIFAR-10 at 8/255 on BAT's WRN-28-10, where RobustBench lists BAT and
        # L2L-DA; AutoAttack's standard budgets (APGD 100 steps, 9 targets, Square
        # 5,000 queries) on the whole test set.
        c = dataclasses.replace(
            CPU, dataset=dataset, eps=8 / 255, model="wide_resnet", train_limit=None,
            test_limit=None, epochs=100, finetune_epochs=10, optimizer="sgd",
            learning_rate=0.1, attack_steps=7, advnet_generator="g1:64", l2lda_width=64,
            pgn_c_l=50.0, pgn_width=128, square_queries=5000, check_examples=500,
            eval_batch_size=200, preset="paper")
    else:
        fields = {"dataset": dataset}
        if dataset == "mnist_5k":
            # eps 0.3 from scratch needs PGD-AT's budget ramp (presets.py).
            fields.update(eps=0.3, train_limit=None, epochs=10, eps_warmup_epochs=5.0)
        elif dataset == "synthetic":
            fields.update(train_limit=None, test_limit=None, epochs=1, advnet_generator="g0:4",
                          l2lda_width=4, pgn_width=4, apgd_steps=10, apgd_targets=2,
                          square_queries=50, check_examples=40)
        c = dataclasses.replace(CPU, **fields)
    c = override_study(c, overrides, "report card")
    return validate(c)


def validate(c):
    check_range("eps", c.eps, 0, 1, low_inclusive=False)
    for flag in ("epochs", "finetune_epochs", "attack_steps", "apgd_steps", "apgd_restarts",
                 "apgd_targets", "square_queries", "check_examples", "batch_size",
                 "eval_batch_size", "l2lda_steps"):
        check_range(flag, getattr(c, flag), 0, low_inclusive=False)
    if c.curve_attack is not None:
        from tf_advnet.attacks.registry import parse_attack

        parse_attack(c.curve_attack, eps=c.eps)
    if c.cw_binary_steps is not None:
        check_range("cw_binary_steps", c.cw_binary_steps, 0, low_inclusive=False)
    rows = (c.rows.split(",") if isinstance(c.rows, str) else list(c.rows))
    for row in rows:
        check_choice("rows", row, ROWS)
    if any(r in FINETUNED for r in rows) and "standard" not in rows:
        rows.insert(0, "standard")  # the fine-tuned rows start from it
    return dataclasses.replace(c, rows=tuple(r for r in ROWS if r in rows))


# ------------------------------------------------------------------------ training
