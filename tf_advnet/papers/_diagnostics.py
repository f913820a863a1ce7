"""Discriminating runs: one question about a study's verdict, several arms that differ
in one setting each, every arm trained with `tf_advnet.pipelines.train.train` (so it
resumes and is reused when its config is unchanged) and attacked by the same attacks;
`results/<paper>/diagnostics/<name>.{json,md}` holds the numbers and a verdict:

  "budget"        the method needs more training than the preset gives it,
  "design"        the method behaves so under its own recipe,
  "our deviation" a setting of ours, not the paper's, decides the outcome.

A study's `diagnostics.py` defines the arms (name -> ExperimentConfig) and the rule
that turns the numbers into a verdict; `run_arms` and `write` do the rest.
"""

import os

from tf_advnet.errors import check_choice

VERDICTS = ("budget", "design", "our deviation", "inconclusive")


def run_arms(arms, attacks, *, work_dir, test_limit=None, curve=None, curve_limit=200,
             progress=print, argv=None):
    """Trains every arm ({name: ExperimentConfig}) and evaluates it under `attacks`
    (attack specs) at its config's eval eps on the same test images.

    `curve` (an attack spec, e.g. "pgd10"): also the accuracy under it on the last
    `curve_limit` test images (not those attacked at the end) after every epoch
    (`trainers.callbacks.RobustAccuracy`).

    Returns {name: {"clean": acc, "attacks": {spec: acc}, "worst_case": acc,
    "train_images_per_second": ..., "history_last": {...}, "curve": [acc per epoch]
    or None, "config": {...}}}.
    """
    from tf_advnet.attacks.registry import parse_attacks
    from tf_advnet.eval.robustness import evaluate_attacks
    from tf_advnet.pipelines import common
    from tf_advnet.pipelines.train import curve_callbacks, curve_of, train

    out = {}
    for name, cfg in arms.items():
        run = train(cfg, os.path.join(work_dir, name), argv=argv, progress=progress,
                    verbose=2, callbacks=curve_callbacks(cfg, curve, limit=curve_limit))
        model = common.load_keras_model(run["model_path"])
        x, y = common.load_split(cfg.data, "test")
        if test_limit is not None:
            x, y = x[:test_limit], y[:test_limit]
        progress(f"[diagnostics] attacking {name}")
        ev = evaluate_attacks(model, x, y, parse_attacks(list(attacks), eps=cfg.eval.eps),
                              batch_size=cfg.eval.batch_size, seed=0, progress=progress)
        out[name] = {"clean": ev["clean_acc"],
                     "attacks": {s: ev["attacks"][s]["acc"] for s in ev["attacks"]},
                     "worst_case": ev.get("worst_case_acc"),
                     "n_test": int(len(x)),
                     "train_images_per_second": run["train_images_per_second"],
                     "history_last": {k: v[-1] for k, v in run["history"].items() if v},
                     "curve": curve_of(run, curve),
                     "config": run["config"]}
    return out


def write(results, out_dir, name, *, title, question, verdict, reason, prov,
          render_fn=None):
    """`<name>.json` (the arms, the verdict, provenance) and `<name>.md`, by
    `render_fn(doc)` (default `render`: a table of the arms under each attack, then
    the verdict and its reason)."""
    from tf_advnet.utils.provenance import write_json

    check_choice("verdict", verdict, VERDICTS)
    os.makedirs(out_dir, exist_ok=True)
    doc = {"title": title, "question": question, "arms": results, "verdict": verdict,
           "reason": reason, "provenance": prov}
    write_json(os.path.join(out_dir, f"{name}.json"), doc)
    with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
        f.write((render_fn or render)(doc))
    return doc


LAST_FRACTION = 0.2  # the end of a budget: its last 20% of epochs (at least one)


def look_back(curve):
    """(last, earlier) in points: the curve's last value and the one LAST_FRACTION
    of its epochs (at least one) before it; None with fewer than two epochs. How far
    a robust-accuracy curve still climbs at the end of a budget (the diagnostics'
    rules and the claims ledger's convergence)."""
    if not curve or len(curve) < 2:
        return None
    lag = max(1, round(LAST_FRACTION * len(curve)))
    return 100 * curve[-1], 100 * curve[-1 - lag]


def pct(v):
    """A fraction as a percentage with one decimal; "—" for None or not finite."""
    import math

    return "—" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def attack_table(doc, before=()):
    """The title, the question, and the arms under each attack: clean, every attack,
    the worst case, training images/s; `before`: (header, arm -> text) columns
    after the arm's name."""
    arms = doc["arms"]
    specs = list(next(iter(arms.values()))["attacks"])
    heads = [h for h, _ in before] + ["clean"] + specs + ["worst case", "train img/s"]
    lines = [f"# {doc['title']}", "", doc["question"], "",
             "| arm | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name, a in arms.items():
        cells = ([fn(a) for _, fn in before] + [pct(a["clean"])]
                 + [pct(a["attacks"][s]) for s in specs]
                 + [pct(a["worst_case"]), f"{a['train_images_per_second']:.0f}"])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render(doc):
    """The diagnostic's Markdown from its JSON: `attack_table`, then `closing`."""
    return "\n".join(attack_table(doc) + closing(doc))


def closing(doc):
    """The verdict with its reason, then the provenance: every diagnostic's last
    lines."""
    from tf_advnet.eval.report import provenance_markdown

    return (["", f"**Verdict: {doc['verdict']}.** {doc['reason']}", ""]
            + provenance_markdown(doc["provenance"]))


STUDY_ORDER = ("advnet", "l2lda", "pgn", "deepdefense", "bat")


def index(root="results"):
    """`results/diagnostics.md`: every committed diagnostic (`<root>/<study>/
    diagnostics/*.json`), one row each — the study, the question, the verdict and
    its reason — linking its report; generated from the JSON alone."""
    import glob
    import json

    rows = []
    for study in STUDY_ORDER:
        for path in sorted(glob.glob(os.path.join(root, study, "diagnostics", "*.json"))):
            with open(path) as f:
                doc = json.load(f)
            rel = os.path.relpath(path, root)[:-len(".json")] + ".md"
            rows.append(f"| {study} | [{doc['title']}]({rel}) | **{doc['verdict']}** | "
                        f"{doc['reason'].replace('|', '/')} |")
    return "\n".join(
        ["# Diagnostics: budget, design, or our deviation?", "",
         "Each row is one discriminating run (`tf_advnet.papers.<study>.diagnostics`): "
         "arms that differ in one setting each, and a verdict by the rule its report "
         "states. " + " ".join(f"**{v}**: {t}." for v, t in zip(VERDICTS[:3], (
             "the method needs more training than the preset gives it",
             "the method behaves so under its own recipe",
             "a setting of ours, not the paper's, decides the outcome"))), "",
         "Generated from the JSON by `tf-advnet render --results_dir=results` "
         "(`_diagnostics.index`).", "",
         "| study | diagnostic | verdict | why |", "|---|---|---|---|"] + rows) + "\n"


def write_index(root="results"):
    """Writes `<root>/diagnostics.md` (`index`); returns its path."""
    path = os.path.join(root, "diagnostics.md")
    with open(path, "w") as f:
        f.write(index(root))
    return path


def rerender_all(root="results"):
    """Re-renders every diagnostic under `root` from its JSON (by its study's
    `diagnostics.render`, else `render`) and the index; returns the paths written
    (none where `root` holds no diagnostic)."""
    import glob
    import importlib
    import json

    written = []
    for path in sorted(glob.glob(os.path.join(root, "*", "diagnostics", "*.json"))):
        study = os.path.basename(os.path.dirname(os.path.dirname(path)))
        mod = importlib.import_module(f"tf_advnet.papers.{study}.diagnostics")
        with open(path) as f:
            doc = json.load(f)
        md = path[:-len(".json")] + ".md"
        with open(md, "w") as f:
            f.write(getattr(mod, "render", render)(doc))
        written.append(md)
    return written + [write_index(root)] if written else []
