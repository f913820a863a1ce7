"""The perturbation generator network (ICLR 2020 submission): Table 2, Figs. 2, 3, 5 at
a preset of `PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.pgn.study import PRESETS, demo_overrides  # noqa: F401  (the protocol's)

NAME = "pgn"
TITLE = "ICLR 2020 submission — perturbation generator network"
RESULTS_FILES = ("pgn.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.pgn.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def settings(preset_name="cpu", dataset=None, overrides=None):
    """What the results JSON of `run(preset_name, dataset, overrides=...)` records of
    its settings, without running (the ledger's staleness check)."""
    import dataclasses

    from tf_advnet.papers.pgn.study import study

    return {"study": dataclasses.asdict(study(preset_name, dataset, overrides))}


def setting_defaults():
    """The settings a results JSON ran at where it predates their field."""
    from tf_advnet.papers._study import study_defaults
    from tf_advnet.papers.pgn.study import Study

    return study_defaults(Study)


def claims_of(results, results_file=None):
    from tf_advnet.papers.pgn.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None):
    """pgn.md and its figures from the results dict."""
    from tf_advnet.papers.pgn.report import render as render_

    return render_(results, out_dir, claims_of(results))


def datasets(preset_name):
    """The data sets the study takes at `preset_name`."""
    from tf_advnet.papers.pgn.pipeline import DATASETS

    return DATASETS[preset_name]


def summary_line(results):
    """One line of the study's headline numbers (what the main job prints)."""
    return "PGN (L2, matched benign accuracy): " + ", ".join(
        f"{m} acc {100 * r['acc']:.1f}% rho_cw "
        + ("—" if r["rho_cw"] is None else f"{r['rho_cw']:.3f}")
        for m, r in results["table2"].items())


def deviations(results):
    """The run's departures from the paper's recipe, each with its reason."""
    s = results["study"]
    out = []
    if s["preset"] == "long":
        out.append(f"{s['model']} on {s['dataset']} (the paper: CIFAR-100 / CIFAR-10 "
                   "ConvPool-CNN with crops and flips) at the paper's Adam "
                   f"{s['learning_rate']:g} and weight EMA, {s['epochs']} epochs: CPU "
                   "budget; the per-epoch L2 PGD-10 curves show how far each model has "
                   "converged.")
    if s.get("generator_width", 128) != 128:
        out.append(f"generator width {s['generator_width']} (the paper's 128) and "
                   f"{s['epochs']} epochs (~78k steps in the paper): CPU budget.")
    if s["dataset"] in ("fashion_mnist", "mnist_5k", "mnist"):
        out.append("28x28 data where 50-81% of the pixels are exactly 0 or 1, which the "
                   "tanh change of variables (Eq. 5) moves only with a large step and "
                   "FGM / PGD move at once; the PGN diagnostic finds this costs Fig. 3 "
                   "a few points at most, the generator's training budget far more.")
    return out
