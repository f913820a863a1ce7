"""The Wang & Yu study's configuration: its presets and its part of the main job."""

PRESETS = ("cpu", "paper")


# The Wang & Yu part of the main job: fewer images and epochs, no Table 6, one
# attack generator.
DEMO = dict(train_limit=3000, test_limit=300, epochs=3, at_epochs=3, advnet_epochs=3,
            eat_epochs=2, table6_generators=(), attack_generators=("g0:32",),
            attack_epochs=1)


def demo_overrides(sized):
    """Overrides of the main job's Wang & Yu part: DEMO, then the main job's sizing
    flags `sized`; one --epochs sizes every model (A, B, C and EAT)."""
    ov = dict(DEMO, **sized)
    if "epochs" in sized:
        ov.update(at_epochs=ov["epochs"], advnet_epochs=ov["epochs"],
                  eat_epochs=ov["epochs"])
    return ov
