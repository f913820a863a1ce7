"""Method name -> (trainer class, its `Config` dataclass).

The one place that lists the methods: `METHOD_NAMES`, `tf_advnet.configs` (the
default `TrainConfig.trainer` of a method, the legacy keys of recorded configs),
`tf_advnet.pipelines.train` and the command line all look a method up here. A new
trainer is its module (the `keras.Model` and a frozen `Config` subclassing
`tf_advnet.trainers.base.TrainerConfig`) plus one line below.
"""

from tf_advnet.errors import check_arg_choice
from tf_advnet.trainers import (advnet, bat, cw_at, deepdefense, ensemble_at, l2lda,
                                parseval, pgd_at, pgn, standard)

REGISTRY = {
    "standard": (standard.StandardTrainer, standard.Config),
    "pgd_at": (pgd_at.PGDATTrainer, pgd_at.Config),
    "bat": (bat.BATTrainer, bat.Config),
    "deepdefense": (deepdefense.DeepDefenseTrainer, deepdefense.Config),
    "parseval": (parseval.ParsevalTrainer, parseval.Config),
    "pgn": (pgn.PGNTrainer, pgn.Config),
    "advnet": (advnet.AdvNetTrainer, advnet.Config),
    "ensemble_at": (ensemble_at.EnsembleATTrainer, ensemble_at.Config),
    "l2lda": (l2lda.L2LDATrainer, l2lda.Config),
    "cw_at": (cw_at.CWATTrainer, cw_at.Config),
}
METHOD_NAMES = tuple(REGISTRY)


def trainer_class(method):
    """The trainer class of `method` (UserError naming the allowed methods)."""
    check_arg_choice("method", method, METHOD_NAMES)
    return REGISTRY[method][0]


def config_class(method):
    """The `Config` dataclass of `method`'s own hyper-parameters."""
    check_arg_choice("method", method, METHOD_NAMES)
    return REGISTRY[method][1]


def method_of(trainer_config):
    """The method whose `Config` type `trainer_config` has (None if none)."""
    for name, (_, cls) in REGISTRY.items():
        if type(trainer_config) is cls:
            return name
    return None
