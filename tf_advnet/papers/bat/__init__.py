"""Bilateral Adversarial Training (Wang & Zhang, ICCV 2019): Tables 1-3, 5-7 and Fig. 1
at a preset of `PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.bat.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "bat"
TITLE = "Wang & Zhang, ICCV 2019 — Bilateral Adversarial Training"
RESULTS_FILES = ("bat.json",)


def run(preset_name="cpu", dataset="fashion_mnist", **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.bat.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def settings(preset_name="cpu", dataset="fashion_mnist", overrides=None, models=None):
    """What the results JSON of `run(preset_name, dataset, overrides=..., models=...)`
    records of its settings (each model's training config), without running."""
    from tf_advnet.configs import to_dict
    from tf_advnet.papers.bat.pipeline import LONG_MODELS, bat_config, model_specs

    if models is None and preset_name == "long":
        models = LONG_MODELS
    return {"models": {spec.name: {"training": {"config": to_dict(
        bat_config(preset_name, dataset, spec, overrides))}} for spec in model_specs(models)}}


def claims_of(results, results_file=None):
    from tf_advnet.papers.bat.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None):
    """bat.md and acc_vs_steps.png from the results dict."""
    from tf_advnet.papers.bat.report import render as render_

    return render_(results, out_dir, claims_of(results))


def deviations(results):
    """The run's departures from the paper's recipe, each with its reason."""
    out = []
    if results["preset"] == "long":
        out.append(f"{results['dataset']} at the paper's eps {results['eps']:.4g} with the "
                   "suite's small CNN, Adam 1e-3 (x0.1 at 60% and 90% of the epochs, the "
                   "paper's schedule shape) for the same epochs per model (the paper: "
                   "WRN-28-10, SGD 0.1, 100 epochs): CPU budget; paper rows are CIFAR-10's.")
        return out
    if results["dataset"] not in ("cifar10", "svhn"):
        out.append(f"{results['dataset']} at eps {results['eps']:.4g} with the suite's small "
                   "CNN and Adam for a few epochs (the paper: CIFAR-10 / SVHN, WRN-28-10, "
                   "SGD, 100 epochs): CPU budget; paper rows are CIFAR-10's.")
    return out
