"""L2L-DA (Jang et al., ICCV 2019): Tables 1(a), 1(b), 2, 3 and Fig. 2 at a preset of
`PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.l2lda.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "l2lda"
TITLE = "Jang et al., ICCV 2019 — L2L-DA"
RESULTS_FILES = ("l2lda.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.l2lda.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def claims_of(results, results_file=None):
    from tf_advnet.papers.l2lda.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None, examples=None):
    """l2lda.md and fig2.png from the results dict (trajectories.png only given the
    generator's `examples`, which need the models)."""
    from tf_advnet.papers.l2lda.report import render as render_

    return render_(results, out_dir, claims_of(results), examples=examples)
