"""The report card: every defence under its paper's evaluation protocol and under the
strong one, at a preset of `PRESETS`. The package is the study's protocol
(`tf_advnet.papers._study`)."""

from tf_advnet.papers.report_card.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "report_card"
TITLE = "Report card — every defence under the strong protocol"
RESULTS_FILES = ("report_card.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains every row and evaluates it under both protocols; `pipeline.reproduce`."""
    from tf_advnet.papers.report_card.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def claims_of(results, results_file=None):
    from tf_advnet.papers.report_card.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None):
    """report_card.md from the results dict."""
    from tf_advnet.papers.report_card.report import write_md

    return [write_md(results, out_dir)]
