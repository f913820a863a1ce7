"""DeepDefense (Yan et al., NeurIPS 2018): Table 1, Figs. 2 and 6 (`pipeline`) and
Fig. 4's (lambda, c) sweep (`sweep`) at a preset of `PRESETS`. The package is the
study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.deepdefense.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "deepdefense"
TITLE = "Yan et al., NeurIPS 2018 — DeepDefense"
RESULTS_FILES = ("deepdefense.json", "sweep.json")


def run(preset_name="cpu", dataset="fashion_mnist", model="mlp", **kwargs):
    """Trains and evaluates Table 1's models; `pipeline.reproduce`."""
    from tf_advnet.papers.deepdefense.pipeline import reproduce

    return reproduce(preset_name, dataset, model, **kwargs)


def claims_of(results, results_file=None):
    """Table 1's claims, or Fig. 4's for a sweep's results (sweep.json)."""
    from tf_advnet.papers.deepdefense import claims as claims_

    if results_file == "sweep.json" or "points" in results:
        return claims_.sweep_claims(results)
    return claims_.claims(results)


def render(results, out_dir, results_file=None):
    """deepdefense.md and curves.png, or sweep.md and sweep.png, from the results."""
    from tf_advnet.papers.deepdefense import report, sweep

    found = claims_of(results, results_file)
    if results_file == "sweep.json" or "points" in results:
        return sweep.render(results, out_dir, found)
    return report.render(results, out_dir, found)
