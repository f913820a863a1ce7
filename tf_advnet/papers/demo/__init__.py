"""The main job (`tf-advnet demo`): standard / PGD-AT / BAT under the attack suite, then
demo-sized DeepDefense, PGN, Wang & Yu and L2L-DA studies. The package is the study's
protocol (`tf_advnet.papers._study`); its claims are those of the studies it runs, each
in its own results JSON, and demo.json (the summary) has no report of its own: eval.json
renders through `tf_advnet.pipelines.evaluate`."""

from tf_advnet.papers.demo.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "demo"
TITLE = "The main job"
RESULTS_FILES = ("demo.json",)


def run(preset_name="cpu", dataset="fashion_mnist", **kwargs):
    """Runs the main job; `pipeline.demo`."""
    from tf_advnet.papers.demo.pipeline import demo

    return demo(dataset, preset_name, **kwargs)


def claims_of(results, results_file=None):
    return []


def render(results, out_dir, results_file=None):
    return []
