"""Wang & Yu (ICLR 2019), adversarial networks: Tables 1-6, 10, 11 at a preset of
`PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.advnet.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "advnet"
TITLE = "Wang & Yu, ICLR 2019 — adversarial networks"
RESULTS_FILES = ("advnet.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.advnet.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def claims_of(results, results_file=None):
    from tf_advnet.papers.advnet.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None, examples=None):
    """advnet.md and its figures from the results dict (perturbations.png only given
    the generator's `examples`, which need the models)."""
    from tf_advnet.papers.advnet.report import render as render_

    return render_(results, out_dir, claims_of(results), examples=examples)
