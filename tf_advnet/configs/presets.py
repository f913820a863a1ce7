"""`cpu` and `paper` presets for standard training and PGD-AT.

`paper` follows Wang & Yu (ICLR 2019) Sec. 4 and their official code's defaults
(`whxbergkamp/RobustDL_GAN`, `*/run_gan_*.py` and `*/train_*.py`), whose baselines A (standard) and B (PGD-AT, 10 steps of eps/4, random start) are the
foundation's two methods: batch 64, 200k iterations, D's learning rate divided by 10
after 100k, SGD with momentum 0.9, weight decay as listed. Iterations are converted
to epochs of the training set. Fashion-MNIST is not in that paper: it reuses the
MNIST recipe with eps = 0.1, the budget common in the Fashion-MNIST literature.

`cpu` finishes in minutes on 2 cores: a small CNN, a subset of the training set,
Adam, and few epochs. Its numbers are a demonstration, not a reproduction.
"""

import math

from tf_advnet.configs.base import (DataConfig, EvalConfig, ExperimentConfig,
                                    ModelConfig, TrainConfig)
from tf_advnet.errors import check_choice

PRESET_NAMES = ("cpu", "paper")

# Training-set sizes used to turn Wang & Yu's 200k iterations into epochs.
_PAPER = {
    # dataset: (model, eps, lr, weight_decay, train_size, augment, svhn_extra)
    "mnist": ("advnet_d1", 0.3, 0.01, 1e-5, 55000, None, 0),
    "fashion_mnist": ("advnet_d1", 0.1, 0.01, 1e-5, 60000, None, 0),
    "cifar10": ("advnet_resnet", 8 / 255, 0.1, 1e-5, 50000, "crop_flip", 0),
    "cifar100": ("advnet_resnet", 8 / 255, 0.1, 1e-5, 50000, "crop_flip", 0),
    "svhn": ("advnet_resnet", 0.05, 0.01, 1e-4, 73257 + 80000, None, 80000),
}
_PAPER_ITERS, _PAPER_BATCH = 200_000, 64

_CPU = {
    # dataset: (eps, train_limit, test_limit, epochs, PGD-AT eps warm-up epochs)
    # At MNIST's eps = 0.3 a small CNN trained by PGD-AT from scratch stays at the
    # uniform prediction unless the budget is ramped up (see PGDATTrainer).
    "fashion_mnist": (0.1, None, 1000, 4, 0),
    "mnist": (0.3, None, 1000, 4, 1),
    "mnist_5k": (0.3, None, None, 20, 10),
    "synthetic": (0.1, None, None, 1, 0),
    "cifar10": (8 / 255, 10000, 500, 3, 0),
    "cifar100": (8 / 255, 10000, 500, 3, 0),
    "svhn": (8 / 255, 10000, 500, 3, 0),
}


def preset(name, dataset, method="standard"):
    """Returns the ExperimentConfig of preset `name` for `dataset` and `method`.

    Raises:
      UserError: unknown preset or data set (one line, naming the flag).
    """
    check_choice("preset", name, PRESET_NAMES)
    if name == "paper":
        check_choice("dataset", dataset, tuple(_PAPER))
        model, eps, lr, wd, n, augment, extra = _PAPER[dataset]
        epochs = math.ceil(_PAPER_ITERS * _PAPER_BATCH / n)
        if dataset == "mnist":
            n_limit = 55000  # the TF-tutorial split: 5k held out for validation
        else:
            n_limit = None
        return ExperimentConfig(
            data=DataConfig(dataset=dataset, train_limit=n_limit, batch_size=_PAPER_BATCH,
                            augment=augment, svhn_extra=extra),
            model=ModelConfig(name=model, variant="svhn" if dataset == "svhn" else None),
            train=TrainConfig(method=method, epochs=epochs, optimizer="sgd",
                              learning_rate=lr, momentum=0.9, weight_decay=wd,
                              lr_boundaries=(epochs // 2,), lr_factor=0.1, eps=eps,
                              attack_steps=10),
            eval=EvalConfig(attacks="fgsm,pgd10,pgd100,cw100,deepfool", eps=eps,
                            batch_size=256, eps_grid=_grid(eps)),
            seed=20180526, preset=name)
    check_choice("dataset", dataset, tuple(_CPU))
    eps, train_limit, test_limit, epochs, warmup = _CPU[dataset]
    is_color = dataset in ("cifar10", "cifar100", "svhn")
    return ExperimentConfig(
        data=DataConfig(dataset=dataset, train_limit=train_limit, test_limit=test_limit,
                        batch_size=128, augment="crop_flip" if dataset.startswith("cifar")
                        else None),
        model=ModelConfig(name="resnet20" if is_color else "small_cnn"),
        train=TrainConfig(method=method, epochs=epochs, optimizer="adam",
                          learning_rate=1e-3, eps=eps, attack_steps=7,
                          eps_warmup_epochs=warmup),
        eval=EvalConfig(attacks="fgsm,pgd10,pgd40,mim10,cwpgd40,cw100,deepfool", eps=eps,
                        batch_size=250,
                        eps_grid=_grid(eps)),
        seed=0, preset=name)


def _grid(eps):
    return tuple(round(eps * f, 6) for f in (0.0, 0.25, 0.5, 1.0, 1.5, 2.0))
