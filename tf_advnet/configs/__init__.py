"""Typed, frozen experiment configs and the `cpu` / `paper` presets.

Configs are data only (strings and numbers), so they are written verbatim into
every results JSON. `preset(name, dataset, method)` builds one; any field can then
be overridden with `override(config, **flat_fields)`.
"""

from tf_advnet.configs.base import (DataConfig, EvalConfig, ExperimentConfig,
                                    ModelConfig, TrainConfig, override, to_dict)
from tf_advnet.configs.presets import PRESET_NAMES, preset

__all__ = ["DataConfig", "EvalConfig", "ExperimentConfig", "ModelConfig",
           "TrainConfig", "override", "to_dict", "PRESET_NAMES", "preset"]
