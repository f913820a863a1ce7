"""The DeepDefense study's configuration: its presets and its part of the main job."""

PRESETS = ("cpu", "paper", "long")


def demo_overrides(sized):
    """Overrides of the main job's DeepDefense part (Table 1 for the MLP at the cpu
    preset) from the main job's sizing flags `sized` (epochs, train_limit,
    test_limit, data_dir: those set)."""
    return dict(sized)
