"""The BAT study's configuration: its presets."""

PRESETS = ("cpu", "paper")
