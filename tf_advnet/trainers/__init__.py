"""Trainers: keras.Model subclasses whose `train_step` plays each defence.

  standard  -- `StandardTrainer`: cross-entropy on clean images.
  pgd_at    -- `PGDATTrainer`: Madry et al. (2018) PGD adversarial training.
  bat       -- `BATTrainer`: Wang & Zhang (2019) bilateral adversarial training
               (kwargs: variant, eps, num_steps, step_size, beta, gamma, eps_y, seed).
  deepdefense -- `DeepDefenseTrainer`: Yan et al. (2018) DeepFool-based regulariser
               (kwargs: lam, c, d, num_iter, overshoot, norm_eps, regularized_layers).
  parseval  -- `ParsevalTrainer`: Cisse et al. (2017) Parseval retraction (beta, seed).
  pgn       -- `PGNTrainer`: Lee et al. (ICLR 2020 sub.) perturbation generator network
               (kwargs: generator, c_l, ema_decay, generator_width, generator_units).
  advnet    -- `AdvNetTrainer`: Wang & Yu (2019) generator vs classifier minimax with
               gradient regularisation (kwargs: generator, eps, lam, gamma, g_steps,
               g_updates, hvp, fd_h, clip, g_weight_decay).
  ensemble_at -- `EnsembleATTrainer`: Tramer et al. (2018) static-model ensemble
               adversarial training, Wang & Yu's Table 4 baseline (sources, eps).
  l2lda     -- `L2LDATrainer`: Jang et al. (2019) recursive stochastic generator vs
               classifier (kwargs: generator, eps, num_steps, lam, recursive,
               diversity, normalize_grad, seed).
  cw_at     -- `CWATTrainer`: adversarial training on L-inf C&W examples, L2L-DA's
               "C&W100" baseline (eps, max_iterations, initial_const).

Each trainer module also defines `Config`, the frozen dataclass of the method's own
hyper-parameters; `registry.REGISTRY` maps a method name to (trainer class, Config).
`build_trainer(method, classifier, **kwargs)` resolves a method name.
"""

from tf_advnet.errors import UserError
from tf_advnet.trainers.advnet import AdvNetTrainer
from tf_advnet.trainers.base import ClassifierTrainer
from tf_advnet.trainers.bat import BATTrainer
from tf_advnet.trainers.cw_at import CWATTrainer
from tf_advnet.trainers.deepdefense import DeepDefenseTrainer
from tf_advnet.trainers.ensemble_at import EnsembleATTrainer
from tf_advnet.trainers.l2lda import L2LDATrainer
from tf_advnet.trainers.parseval import ParsevalTrainer
from tf_advnet.trainers.pgd_at import PGDATTrainer
from tf_advnet.trainers.pgn import PGNTrainer
from tf_advnet.trainers.standard import StandardTrainer
from tf_advnet.trainers.registry import METHOD_NAMES, REGISTRY

TRAINERS = {name: cls for name, (cls, _) in REGISTRY.items()}


def build_trainer(method, classifier, **kwargs):
    """Returns the trainer for `method` wrapping `classifier` (keyword arguments of
    its class; `build_from_config` builds one from a `TrainConfig`)."""
    from tf_advnet.trainers.registry import trainer_class

    return trainer_class(method)(classifier, **kwargs)


def build_from_config(train, classifier, *, seed=0, steps_per_epoch=1):
    """The trainer of `train` (a `tf_advnet.configs.TrainConfig`): its method's
    `Config.build` with the shared fields as context."""
    trainer = train.trainer.build(classifier, train, seed=seed,
                                  steps_per_epoch=steps_per_epoch)
    if train.ema_decay is not None:
        if trainer.ema_decay is not None:
            raise UserError("ema_decay is set twice (train.ema_decay and "
                            "train.trainer.ema_decay): set one")
        trainer.enable_ema(train.ema_decay)
    return trainer


__all__ = ["AdvNetTrainer", "BATTrainer", "CWATTrainer", "EnsembleATTrainer",
           "L2LDATrainer", "ClassifierTrainer", "DeepDefenseTrainer", "ParsevalTrainer", "PGDATTrainer", "PGNTrainer", "StandardTrainer", "TRAINERS",
           "METHOD_NAMES", "REGISTRY", "build_trainer", "build_from_config"]
