"""Trainers: keras.Model subclasses whose `train_step` plays each defence.

  standard  -- `StandardTrainer`: cross-entropy on clean images.
  pgd_at    -- `PGDATTrainer`: Madry et al. (2018) PGD adversarial training.

`build_trainer(method, classifier, **kwargs)` resolves a method name.
"""

from tf_advnet.trainers.base import ClassifierTrainer
from tf_advnet.trainers.pgd_at import PGDATTrainer
from tf_advnet.trainers.standard import StandardTrainer

TRAINERS = {"standard": StandardTrainer, "pgd_at": PGDATTrainer}
METHOD_NAMES = tuple(TRAINERS)


def build_trainer(method, classifier, **kwargs):
    """Returns the trainer for `method` wrapping `classifier`."""
    from tf_advnet.errors import check_choice

    check_choice("method", method, METHOD_NAMES)
    return TRAINERS[method](classifier, **kwargs)


__all__ = ["ClassifierTrainer", "PGDATTrainer", "StandardTrainer", "TRAINERS",
           "METHOD_NAMES", "build_trainer"]
