"""Typed, frozen experiment configs and the `cpu` / `paper` presets.

Configs are data only (strings and numbers), so they are written verbatim into
every results JSON. `preset(name, dataset, method)` builds one; any field can then
be overridden with `override(config, **flat_fields)`; the method's own
hyper-parameters are `config.train.trainer`, an instance of the trainer module's
`Config` (`tf_advnet.trainers.registry`). `from_dict` reads a recorded config back,
in the current layout or the flat one of earlier results.
"""

from tf_advnet.configs.base import (DataConfig, EvalConfig, ExperimentConfig,
                                    ModelConfig, TrainConfig, from_dict, override,
                                    replace_trainer, to_dict, key_dict)
from tf_advnet.configs.presets import PRESET_NAMES, preset

__all__ = ["DataConfig", "EvalConfig", "ExperimentConfig", "ModelConfig",
           "TrainConfig", "from_dict", "override", "replace_trainer", "to_dict", "key_dict", "PRESET_NAMES", "preset"]
