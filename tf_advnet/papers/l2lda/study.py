"""The l2lda study's configuration: its presets."""

PRESETS = ("cpu", "paper")
