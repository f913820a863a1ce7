"""The pgn study's configuration: its presets."""

PRESETS = ("cpu", "paper")
