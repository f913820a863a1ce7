"""Wang & Yu (ICLR 2019), adversarial networks: Tables 1-6, 10, 11 at a preset of
`PRESETS`. The package is the study's protocol (`tf_advnet.papers._study`)."""

from tf_advnet.papers.advnet.study import PRESETS, demo_overrides  # noqa: F401  (the protocol's)

NAME = "advnet"
TITLE = "Wang & Yu, ICLR 2019 — adversarial networks"
RESULTS_FILES = ("advnet.json",)


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains and evaluates every model of the study; `pipeline.reproduce`."""
    from tf_advnet.papers.advnet.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def settings(preset_name="cpu", dataset=None, overrides=None):
    """What the results JSON of `run(preset_name, dataset, overrides=...)` records of
    its settings, without running (the ledger's staleness check)."""
    import dataclasses

    from tf_advnet.papers.advnet.study import study

    return {"study": dataclasses.asdict(study(preset_name, dataset, overrides))}


def setting_defaults():
    """The settings a results JSON ran at where it predates their field."""
    from tf_advnet.papers._study import study_defaults
    from tf_advnet.papers.advnet.study import Study

    return study_defaults(Study)


def claims_of(results, results_file=None):
    from tf_advnet.papers.advnet.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None, examples=None):
    """advnet.md and its figures from the results dict (perturbations.png only given
    the generator's `examples`, which need the models)."""
    from tf_advnet.papers.advnet.report import render as render_

    return render_(results, out_dir, claims_of(results), examples=examples)


def datasets(preset_name):
    """The data sets the study takes at `preset_name`."""
    from tf_advnet.papers.advnet.pipeline import DATASETS

    return DATASETS[preset_name]


def summary_line(results):
    """One line of the study's headline numbers (what the main job prints)."""
    t, black = results["table"], "pgd(C')"
    return f"adversarial networks (eps {results['study']['eps']:g}): " + ", ".join(
        f"{r} clean {100 * t[r]['clean']:.1f}% PGD {100 * t[r]['pgd']:.1f}% black-box "
        f"PGD(C') {100 * t[r][black]:.1f}%" for r in ("A", "B", "C", "EAT") if r in t)


def deviations(results):
    """The run's departures from the paper's recipe (`study.py`'s presets), each with
    its reason."""
    s = results["study"]
    out = []
    if s["preset"] == "long":
        out.append(f"mnist_5k (4,000 training images) for {s['epochs']} epochs of SGD "
                   f"{s['learning_rate']:g} without the code's x0.1 step (the code: "
                   "55,000 images, 200k iterations, decay at half): a CPU budget; the "
                   "per-epoch PGD-10 curves show whether robustness has converged.")
        if s["generator"] != "g0:64":
            out.append(f"generator {s['generator']} (the code's MNIST G0 has 64 filters): "
                       "G takes 5 steps on every batch, so its width sets the cost.")
        if s["eat_epochs"] != s["advnet_epochs"]:
            out.append(f"EAT trains {s['eat_epochs']} epochs, C {s['advnet_epochs']}: "
                       "EAT is the slowest row per image.")
        if s.get("eps_warmup_epochs"):
            out.append(f"PGD-AT (B) ramps eps over its first {s['eps_warmup_epochs']:g} "
                       "epochs (the code: full eps from the start): from scratch at eps "
                       "0.3 on 4,000 images.")
    elif s["preset"] != "paper":
        out.append(f"D trains with {s['optimizer']} {s['learning_rate']:g} for "
                   f"{s['epochs']}-{s['advnet_epochs']} epochs (the code: SGD 0.01, "
                   "momentum 0.9, 200k iterations): the few thousand steps a CPU affords.")
    if s.get("clip", True):
        out.append("x + eps G(x) is clipped to [0, 1] in training (the code never clips; "
                   "the clip passes no gradient to G on saturated pixels): `clip`.")
    if s.get("d_every", 1) == 1 and s["dataset"] in ("mnist", "mnist_5k"):
        out.append("D steps on every batch (the MNIST code: on every 5th, G on each): "
                   "`d_every`.")
    out.append("gamma's sign follows the paper's Eq. (8); the code's is the opposite "
               "(first-order effect about one G step).")
    return out
