"""The Wang & Yu study's configuration: its presets."""

PRESETS = ("cpu", "paper")
