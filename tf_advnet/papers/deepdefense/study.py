"""The DeepDefense study's configuration: its presets."""

PRESETS = ("cpu", "paper")
