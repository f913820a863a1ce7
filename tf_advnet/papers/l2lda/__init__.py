"""L2L-DA (Jang et al., ICCV 2019): Tables 1(a), 1(b), 2, 3 and Fig. 2 at a preset of
`PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.l2lda.study import PRESETS, demo_overrides  # noqa: F401  (the protocol's)

NAME = "l2lda"
TITLE = "Jang et al., ICCV 2019 — L2L-DA"
RESULTS_FILES = ("l2lda.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.l2lda.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def settings(preset_name="cpu", dataset=None, overrides=None):
    """What the results JSON of `run(preset_name, dataset, overrides=...)` records of
    its settings, without running (the ledger's staleness check)."""
    import dataclasses

    from tf_advnet.papers.l2lda.study import study

    return {"study": dataclasses.asdict(study(preset_name, dataset, overrides))}


def setting_defaults():
    """The settings a results JSON ran at where it predates their field."""
    from tf_advnet.papers._study import study_defaults
    from tf_advnet.papers.l2lda.study import Study

    return study_defaults(Study)


def claims_of(results, results_file=None):
    from tf_advnet.papers.l2lda.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None, examples=None):
    """l2lda.md and fig2.png from the results dict (trajectories.png only given the
    generator's `examples`, which need the models)."""
    from tf_advnet.papers.l2lda.report import render as render_

    return render_(results, out_dir, claims_of(results), examples=examples)


def datasets(preset_name):
    """The data sets the study takes at `preset_name`."""
    from tf_advnet.papers.l2lda.pipeline import DATASETS

    return DATASETS[preset_name]


def summary_line(results):
    """One line of the study's headline numbers (what the main job prints)."""
    from tf_advnet.papers.l2lda.report import LABELS

    t2 = results["tables"]["table2"]
    return f"L2L-DA (eps {results['study']['eps']:g}, Table 2): " + ", ".join(
        f"{LABELS[r]} clean {100 * t2[r]['clean']:.1f}% Min {100 * t2[r]['min']:.1f}%"
        for r in t2)


def deviations(results):
    """The run's departures from the code's recipe, each with its reason."""
    s = results["study"]
    out = []
    if s["preset"] == "long":
        out.append(f"mnist_5k (4,000 training images), every defence {s['epochs']} epochs "
                   "from the plain model (the code: 60,000 images, 100k iterations): a CPU "
                   "budget; the per-epoch PGD-10 curves show how far robustness has "
                   "converged.")
        out.append(f"the plain model trains {s['plain_epochs']} epochs with "
                   f"{s['plain_optimizer']} {s['plain_learning_rate']:g} (the code "
                   "pre-trains it by SGD): only the starting point of every row.")
        if s["eps_warmup_epochs"]:
            out.append(f"the gradient-based AT baselines ramp eps over their first "
                       f"{s['eps_warmup_epochs']:g} epoch (the code: full eps): SGD from "
                       "the plain model at eps 0.3 collapsed PGD10-AT on MNIST.")
        if not s.get("table1b", True):
            out.append("no Table 1(b) (the generator without y and/or delta): three "
                       "L2L-DA-priced rows no claim of the ledger reads.")
    if s["optimizer"] != "sgd":
        out.append(f"the classifiers train with {s['optimizer']} {s['learning_rate']:g} "
                   "(the code: SGD 0.01, momentum 0.9, clip 1): SGD at ~125 steps left "
                   "PGD10-AT at 11% clean accuracy on MNIST.")
    if s.get("step_reduction", "mean") == "mean":
        out.append("the generator's losses are averaged over the T steps (Eq. 6); the code "
                   "sums them before its gradient clip: `step_reduction`.")
    if s.get("augment") is None:
        out.append("no pad-4 random crops (the code's augmentation): `augment`.")
    if s["g_width"] != 64:
        out.append(f"generator width {s['g_width']} (the paper's 64): CPU budget.")
    out.append("no 1,000 clean warm-up steps: the classifier starts from the plain model, "
               "as the paper's Sec. 5.1 says.")
    return out
