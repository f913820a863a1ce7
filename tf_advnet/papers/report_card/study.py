"""The report_card study's configuration: its presets."""

PRESETS = ("cpu", "paper")
