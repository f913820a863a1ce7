"""The l2lda study's configuration: its presets and its part of the main job."""

PRESETS = ("cpu", "paper")


# The L2L-DA part of the main job: Tables 2 and 3 only, a small generator, fewer
# images everywhere.
DEMO = dict(table1=False, train_limit=1000, test_limit=100, epochs=1, g_width=8,
            attack_samples=2, attack_train_limit=300)


def demo_overrides(sized):
    """Overrides of the main job's L2L-DA part: DEMO, then the main job's sizing
    flags `sized`; one --epochs sizes the plain model too."""
    ov = dict(DEMO, **sized)
    if "epochs" in sized:
        ov["plain_epochs"] = sized["epochs"]
    return ov
