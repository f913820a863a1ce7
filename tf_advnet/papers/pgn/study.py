"""The pgn study's configuration: its presets and its part of the main job."""

PRESETS = ("cpu", "paper")


# The PGN part of the main job: one point per method, fewer attacked images.
DEMO = dict(eps_grid=(1.0,), c_l_grid=(0.1,), capacity_widths=(), fig3_eps=1.0,
            fig3_c_l=(0.2,), fig3_attack_eps=(0.5, 1.0, 2.0), fig3_epochs=1,
            fig2_epochs=3, fig2_test_images=100, test_limit=200)


def demo_overrides(sized):
    """Overrides of the main job's PGN part: DEMO, then the main job's sizing flags
    `sized` (epochs, train_limit, test_limit, data_dir: those set)."""
    return dict(DEMO, **sized)
