"""The perturbation generator network (ICLR 2020 submission): Table 2, Figs. 2, 3, 5 at
a preset of `PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.pgn.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "pgn"
TITLE = "ICLR 2020 submission — perturbation generator network"
RESULTS_FILES = ("pgn.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.pgn.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def claims_of(results, results_file=None):
    from tf_advnet.papers.pgn.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None):
    """pgn.md and its figures from the results dict."""
    from tf_advnet.papers.pgn.report import render as render_

    return render_(results, out_dir, claims_of(results))
