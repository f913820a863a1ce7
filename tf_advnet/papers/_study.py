"""The shape every study shares, and the claims it reports.

Each `tf_advnet/papers/<name>/` holds the same files:

  __init__.py       the protocol: NAME, TITLE, RESULTS_FILES (the first is what `run`
                    writes), PRESETS, and
                    run(preset_name, dataset, **kw) -> results dict (trains and
                    evaluates, writes the results JSON and the report),
                    render(results, out_dir, results_file=None) -> paths (the Markdown
                    and figures, from the results dict alone, never the models),
                    claims_of(results, results_file=None) -> [Claim],
                    deviations(results) -> [str] (the run's remaining departures from
                    the paper's recipe, each with its reason; listed in the report),
                    and, for the studies the claims ledger runs,
                    settings(preset_name, dataset, overrides=None, **kw) -> dict (what
                    `run`'s results JSON records of its settings, computed without
                    running: the ledger reruns a seed whose JSON records others);
                    optionally setting_defaults() -> dict (the values of settings
                    whose field a JSON predates: what its run ran at);
                    optionally PARTS and part_argv(rows, preset, dataset, seed,
                    work_dir) -> argv: the processes `tf-advnet ledger --jobs` splits
                    one seed's run into (the first before the others), whose trained
                    models the seed's `run` then reuses
  study.py          the study's configuration and presets
  pipeline.py       what `run` does: the models, attacks and tables the paper needs
  report.py         the Markdown tables and figures
  claims.py         the paper's claims, each answered from the results
  paper_values.json the paper's statements and numbers the claims compare with

`render(results)` reads only the results dict, so a committed results JSON
re-renders its report after any change of code that does not change the numbers
(`tf-advnet render --results_dir=...`).
"""

import dataclasses
import importlib
import json
import math
import os

from tf_advnet.errors import UserError, check_choice

STUDY_NAMES = ("advnet", "bat", "deepdefense", "l2lda", "pgn", "report_card", "demo")

HELD, NOT_HELD, INCONCLUSIVE, NOT_RUN = "held", "not held", "inconclusive", "not run"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE, NOT_RUN)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a paper, answered from our numbers.

    Attributes:
      id: a stable identifier (`c_keeps_clean_accuracy`), what tests and the claims
        ledger refer to.
      statement: the claim as the paper makes it, in a few words.
      paper: the paper's number(s) behind it, with the table or figure.
      ours: our number(s), formatted.
      rule: how `verdict` follows from `ours` (e.g. "C - A >= -1 point").
      verdict: one of VERDICTS; `not run` when the results lack the rows it needs.
      margins: {name: signed margin} of each comparison the rule makes, in the
        claim's own units (the name says which), > 0 where the comparison supports
        the claim; a run claim is `held` exactly when every margin is > 0
        (`supports`). None marks a comparison whose number was not measured. Empty
        for a claim that was not run (and in results written before margins).
    """

    id: str
    statement: str
    paper: str
    ours: str
    rule: str
    verdict: str
    margins: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, "
                             f"got {self.verdict!r}")

    def as_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """The Claim of `as_dict`'s output, also of a results JSON written before
        claims had margins."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# An inclusive comparison (x >= bound) holds at a tie, a strict one (x > bound) does
# not; a margin must be > 0 exactly when its comparison holds, so `at_least` gives a
# tie this margin (`above` its negative), far below any difference of two measured
# numbers. A tie is equality up to round-off: accuracies are counts of test images
# turned into fractions and percentages, so 100 * (0.802 - 0.792) is
# 1.0000000000000009 where the images say exactly 1 point.
TIE = 1e-9


def _tie(x, bound):
    return math.isclose(x, bound, rel_tol=1e-9, abs_tol=1e-12)


def study_defaults(study_class):
    """{"study": {field: default}} of a study's dataclass, the fields that have one:
    its package's `setting_defaults`, the values a results JSON recorded before a
    field existed ran at (`tf_advnet.papers.ledger.stale`)."""
    return {"study": {f.name: f.default for f in dataclasses.fields(study_class)
                      if f.default is not dataclasses.MISSING}}


def timing_text(steps, rounds):
    """How a study timed its methods' training steps, for a claim or report:
    `rounds` interleaved rounds of `steps` steps (`pipelines.train.
    interleaved_images_per_second`), or back to back where its JSON predates the
    rounds (`rounds` None)."""
    return (f"{steps} steps each, timed back to back" if rounds is None else
            f"median of {rounds} interleaved rounds of {steps} steps")


def above(x, bound, scale=1.0):
    """The margin of `x > bound`: scale * (x - bound), or -TIE where x equals bound
    up to round-off."""
    return -TIE if _tie(x, bound) else scale * (x - bound)


def at_least(x, bound, scale=1.0):
    """The margin of `x >= bound`: scale * (x - bound), or TIE where x equals bound
    up to round-off."""
    return TIE if _tie(x, bound) else scale * (x - bound)


def worst(margins):
    """The smallest of several margins of one comparison repeated (every point of a
    curve, every row): > 0 exactly when all are; None when one was not measured."""
    margins = [None if m is None or m != m else m for m in margins]
    return None if None in margins else min(margins)


def supports(margin):
    """Whether a margin supports its claim: measured and > 0."""
    return margin is not None and margin > 0


def verdict_of(margins):
    """NOT_RUN for None, else HELD exactly when every margin `supports` the claim."""
    if margins is None:
        return NOT_RUN
    return HELD if all(supports(m) for m in margins.values()) else NOT_HELD


def _margins(margins):
    """Plain floats; NaN (a number that was not measured) as None."""
    if margins is None:
        return None
    out = {}
    for k, v in margins.items():
        v = None if v is None else float(v)
        out[k] = None if v is not None and math.isnan(v) else v
    return out


def paper_values(study_dir):
    """The study's paper_values.json (its paper's statements and numbers)."""
    with open(os.path.join(study_dir, "paper_values.json")) as f:
        return json.load(f)


def make_claim(paper, claim_id, *, ours, margins, rule=None):
    """A Claim whose statement, paper number and default rule come from the study's
    paper_values.json entry `claims.<claim_id>`; its verdict follows from `margins`
    ({name: margin}, see `Claim`; None: not run)."""
    entry = paper["claims"][claim_id]
    margins = _margins(margins)
    return Claim(id=claim_id, statement=entry["statement"], paper=entry["paper"],
                 ours="—" if ours is None else ours,
                 rule=rule if rule is not None else entry["rule"],
                 verdict=verdict_of(margins), margins=margins or {})


def claims_markdown(claims):
    """The "Claims" section of a report: one table row per claim."""
    out = ["", "## Claims", ""]
    if not claims:
        return out + ["- (not run)"]
    out += ["| claim | paper | ours | rule | verdict |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(_cell(v) for v in (c.statement, c.paper, c.ours, c.rule))
            + f" | **{c.verdict}** |" for c in claims]
    return out


def claims_and_provenance(claims, results):
    """The closing sections of a study's report: "Deviations from the paper's recipe"
    (where the results list them), "Claims" and "Provenance"."""
    from tf_advnet.eval.report import provenance_markdown

    out = []
    if results.get("deviations"):
        out += ["", "## Deviations from the paper's recipe", ""]
        out += [f"- {d}" for d in results["deviations"]]
    return (out + claims_markdown(claims) + [""]
            + provenance_markdown(results["provenance"]))


def finish(study, results, out_dir, *, results_file=None, **render_kw):
    """The end of every study's run: its claims into the results dict, the results
    JSON (`results_file`, default `study.RESULTS_FILES[0]`) written, the report
    rendered; returns results."""
    from tf_advnet.utils.provenance import write_json

    os.makedirs(out_dir, exist_ok=True)
    results_file = results_file or study.RESULTS_FILES[0]
    if hasattr(study, "deviations") and "deviations" not in results:
        results["deviations"] = list(study.deviations(results))
    results["claims"] = [c.as_dict() for c in study.claims_of(results, results_file)]
    write_json(os.path.join(out_dir, results_file), results)
    study.render(results, out_dir, results_file=results_file, **render_kw)
    return results


def _cell(text):
    return str(text).replace("|", "\\|")


def given(overrides):
    """The entries of a study's flat `overrides` dict that were given: None there
    means an unset flag (the preset's value stays), while
    `tf_advnet.configs.override` sets a None it receives."""
    return {k: v for k, v in (overrides or {}).items() if v is not None}


def override_study(study, overrides, label):
    """`study` (a frozen dataclass) with flat field overrides; None values are
    ignored, so unset flags keep the preset's value.

    Raises:
      UserError: an unknown field (one line naming the study `label`).
    """
    names = {f.name for f in dataclasses.fields(study)}
    updates = {}
    for key, value in given(overrides).items():
        if key not in names:
            raise UserError(f"unknown {label} study field {key!r}")
        updates[key] = value
    return dataclasses.replace(study, **updates)


def load(name):
    """The study package `tf_advnet.papers.<name>` (its protocol)."""
    check_choice("study", name, STUDY_NAMES)
    return importlib.import_module(f"tf_advnet.papers.{name}")


def results_files():
    """{results file name: study name}, the file that identifies a results dir."""
    out = {}
    for name in STUDY_NAMES:
        for f in load(name).RESULTS_FILES:
            out[f] = name
    return out


def rerender(results_dir):
    """Re-renders every study report found in `results_dir` from its JSON; returns
    the paths written. Raises UserError when the directory holds no study's JSON."""
    written = []
    for fname, name in results_files().items():
        path = os.path.join(results_dir, fname)
        if os.path.exists(path):
            with open(path) as f:
                results = json.load(f)
            study = load(name)
            if "deviations" not in results and hasattr(study, "deviations"):
                # A run from before deviations were recorded: they follow from its
                # recorded settings, so its report names them too.
                results["deviations"] = list(study.deviations(results))
            written += list(study.render(results, results_dir, results_file=fname))
    if os.path.exists(os.path.join(results_dir, "eval.json")):  # tf-advnet evaluate, demo
        from tf_advnet.pipelines.evaluate import render

        render(results_dir)
        written.append(os.path.join(results_dir, "eval.md"))
    from tf_advnet.papers._diagnostics import rerender_all

    written += rerender_all(results_dir)  # the results root: every diagnostic, the index
    if not written:
        raise UserError(f"--results_dir={results_dir} holds none of "
                        + ", ".join(sorted(results_files()) + ["eval.json"])
                        + ", <study>/diagnostics/*.json")
    return written
