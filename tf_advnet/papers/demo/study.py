"""The main job's configuration: its presets (those of `tf_advnet.configs.presets`)."""

from tf_advnet.configs.presets import PRESET_NAMES as PRESETS  # noqa: F401
