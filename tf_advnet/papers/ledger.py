"""The claims ledger: the papers' headline claims answered over several seeds, each
with its evidence (`tf-advnet ledger`).

`SPEC` says which study run (study, data set, preset) answers which claim ids. Each
seed k of a run is the study's own `run(preset, dataset, overrides={"seed": k})`
with its results in `results/ledger/<study>/<dataset>/seed<k>/` (`run_missing` runs
the seeds whose results JSON is missing or stale, `run_parallel` several processes at
a time; a study reuses what it already trained, so an interrupted ledger resumes).
`build` recomputes every claim of every seed from its results JSON (the study's
`claims_of`, as its report does), aggregates each claim over the seeds (`aggregate`,
the rule `RULE`) and writes `results/claims.json` and `results/CLAIMS.md`, which
`render_markdown` makes from the JSON alone.

A claim's margins (`tf_advnet.papers._study.Claim.margins`) are what the seeds are
aggregated over: each comparison of the claim's rule as a signed number, > 0 where it
supports the claim, so the spread over seeds can be set against how far the claim
holds. Each verdict is then asked whether it rests on a training still under way
(`claim_curves`, `claim_rising`, `BUDGET_RULE`): the per-epoch curves of the claim's
method and baselines, named in its study's paper_values.json.
"""

import dataclasses
import importlib
import json
import math
import os
import re
from typing import Optional

from tf_advnet.errors import UserError, check_choice
from tf_advnet.papers import _study
from tf_advnet.papers._diagnostics import LAST_FRACTION
from tf_advnet.papers.report_card.report import LABELS as CARD_LABELS
from tf_advnet.papers.report_card.study import ROWS as CARD_ROWS
from tf_advnet.utils.provenance import jsonable

SEEDS = (0, 1, 2)
MIN_SEEDS = 3  # of a claim that compares two methods
PRESET = "long"
LEDGER_DIR = os.path.join("results", "ledger")
JSON_FILE = os.path.join("results", "claims.json")
MD_FILE = os.path.join("results", "CLAIMS.md")
README = "README.md"
README_MARKER = "claims-ledger"  # the README's generated summary
CARD_MARKER = "report-card:ledger"  # the README's long report card, over its seeds
NO_CARD = ("No seed of the report card's `long` run yet: `tf-advnet ledger "
           "--studies=report_card --seeds=0` makes one.")
# A verdict must not rest on a training still under way: which curves count for a
# claim (its method's) and which against it (its baselines') is in the claim's entry of
# its study's paper_values.json ("curves": {"for": [...], "against": [...]}, regular
# expressions matched against the whole names of `curves`). A held verdict with an
# "against" curve still rising in some seed, or a not-held one with a "for" curve still
# rising, could turn with more epochs of the same recipe.
BUDGET = "at this budget"
BUDGET_RULE = (f"A held verdict becomes inconclusive {BUDGET} where a curve that counts "
               "against the claim (its baseline's) is still rising in some seed, a "
               "not-held one where a curve that counts for it (its method's) is: more "
               "epochs could turn them.")
RULE = ("held: every seed holds the claim's rule and every margin's mean - std > 0 "
        "over the seeds; not held: every seed fails it and some margin's mean + std < 0; "
        "otherwise inconclusive (std: the sample standard deviation, 0 for one seed). "
        f"A claim that compares two methods needs >= {MIN_SEEDS} seeds, else it is "
        "inconclusive. " + BUDGET_RULE)
# Convergence (the test of a budget): a training's per-epoch curve on held-out
# images gains less than CONVERGED_GAIN over the last LAST_FRACTION of its epochs. The
# gain is read off a least-squares line through the last 40% of the epochs, not off
# two single epochs: a curve on 200 held-out images moves ~3 points between epochs by
# sampling alone, which two endpoints would read as a trend.
CONVERGED_GAIN = 1.0
CONVERGENCE_RULE = (
    f"converged: the per-epoch curve on held-out images gains < {CONVERGED_GAIN:g} over "
    f"the last {LAST_FRACTION:.0%} of the epochs (at least one), read off a "
    "least-squares line through the last twice as many epochs (at least 3): robust "
    "accuracy in points, DeepDefense's rho_2 (its claims' metric; its fine-tunings "
    "record no PGD curve) in percent of its last value. A fall counts as converged: "
    "more epochs of the same recipe would not raise it.")
# A paper study's defence is the report card's row of its name, whose claim is its
# robustness claims' verdict under the strong protocol (AutoAttack's attacks, the
# worst case per example).


def strong_claim_id(row):
    """The report card's claim id of `row` (`report_card.claims`)."""
    return f"{row}_holds_under_strong_protocol"


@dataclasses.dataclass(frozen=True)
class Source:
    """One study run that answers claims, repeated over seeds.

    Attributes:
      study: the study package's name (`tf_advnet.papers._study.STUDY_NAMES`).
      dataset: the `dataset` of its `run`.
      claims: the claim ids this run answers.
      preset: the study's preset.
      model: DeepDefense's architecture (its `run`'s `model`), else None.
      sweep: DeepDefense's Fig. 4 sweep (its `run`'s `sweep`, sweep.json) instead of
        its Table 1.
      deviation: how the run departs from the paper's experiment for these claims
        (shown with each claim), else None.
    """

    study: str
    dataset: str
    claims: tuple
    preset: str = PRESET
    model: Optional[str] = None
    sweep: bool = False
    deviation: Optional[str] = None

    @property
    def run_kwargs(self):
        kw = {} if self.model is None else {"model": self.model}
        return dict(kw, sweep=True) if self.sweep else kw

    @property
    def label(self):
        """The model and part of the study the run is (None: the whole study)."""
        parts = [self.model] if self.model else []
        return " ".join(parts + (["Fig. 4 sweep"] if self.sweep else [])) or None

    def results_file(self, pkg):
        """The name of the results JSON its run writes (its study package `pkg`)."""
        return "sweep.json" if self.sweep else pkg.RESULTS_FILES[0]

    def train_dir(self, work_dir, seed):
        """Where one seed of the study trains (its `run`'s work_dir), under
        `work_dir`: shared by the study's runs of that seed."""
        return os.path.join(work_dir, self.study, f"seed{seed}")

    def seed_dir(self, root, seed):
        """The results dir of one seed, under `root` (the repository)."""
        parts = ([self.study, self.dataset] + ([self.model] if self.model else [])
                 + (["sweep"] if self.sweep else []))
        return os.path.join(root, LEDGER_DIR, *parts, f"seed{seed}")


SPEC = (
    Source("advnet", "mnist_5k", (
        "c_keeps_clean_accuracy", "c_far_above_a_white_box", "b_best_white_box",
        "c_comparable_to_b_black_box", "eat_below_c_white_box", "generator_attack_on_a",
        "gradient_regulariser_helps", "fd_hvp_cheaper")),
    Source("bat", "fashion_mnist", (
        "random_start_prevents_label_leaking", "r_mc_la_beats_madry",
        "pgd2_8_close_to_pgd7_2", "label_adversary_helps", "cw_stronger_than_ce_on_bat")),
    Source("deepdefense", "mnist_5k", (
        "rho2_raised", "clean_accuracy_kept", "beats_baselines", "no_divergence"),
        model="mlp"),
    Source("deepdefense", "mnist_5k", (
        "rho2_raised", "clean_accuracy_kept", "beats_baselines", "no_divergence"),
        model="lenet"),
    Source("deepdefense", "mnist_5k", ("sweep_raises_rho2", "sweep_c_tradeoff"),
           model="mlp", sweep=True,
           deviation="Fig. 4 fine-tunes the LeNet; the MLP here (a DeepDefense step "
                     "costs ~10x less on it), 15 epochs per point, c in 5, 15, ..., 45"),
    Source("l2lda", "mnist_5k", (
        "recursion_helps", "diversity_helps", "l2lda_best_min", "l2l_star_collapses",
        "l2lda_beats_l2l_star", "pgd_at_overfits_its_attack", "l2lda_best_black_box",
        "attack_loss_rises")),
    Source("pgn", "fashion_mnist", (
        "curve_outside_at", "trains_faster_than_pgd_at", "generator_beats_fgm",
        "wider_moves_curve_right", "fgm_at_overfits")),
    Source("report_card", "fashion_mnist", tuple(strong_claim_id(r) for r in CARD_ROWS)),
)


def _entry(study, claim_id):
    """The claim's entry in the study's paper_values.json ({} without one)."""
    folder = os.path.dirname(_study.load(study).__file__)
    if not os.path.exists(os.path.join(folder, "paper_values.json")):
        return {}
    return _study.paper_values(folder)["claims"].get(claim_id, {})


def flags(study, claim_id):
    """{"comparative", "robustness"} of a claim: its entry in the study's
    paper_values.json, or the `FLAGS` of a study without one (the report card)."""
    entry = _entry(study, claim_id) or importlib.import_module(
        f"tf_advnet.papers.{study}.claims").FLAGS
    return {k: bool(entry.get(k, False)) for k in ("comparative", "robustness")}


def claim_curves(study, claim_id):
    """{"for": patterns, "against": patterns} of a claim (paper_values.json; the
    report card's claims, one model under two protocols, have none)."""
    entry = _entry(study, claim_id).get("curves") or {}
    return {side: list(entry.get(side, ())) for side in ("for", "against")}


def claim_rising(conv, spec):
    """{"for": names, "against": names, "rising": names} of the curves of `conv`
    (`convergence` rows over seeds) that `spec`'s patterns match, and of those the
    ones still rising in some seed; None where `spec` names no curve or the run
    recorded none of them."""
    if not any(spec.values()):
        return None
    out = {}
    for side in ("for", "against"):
        out[side] = sorted({r["curve"] for r in conv if any(
            re.fullmatch(p, r["curve"]) for p in spec[side])})
    read = set(out["for"] + out["against"])
    if not read:
        return None
    out["rising"] = sorted({r["curve"] for r in conv
                            if r["converged"] is False and r["curve"] in read})
    return out


RISING_SHOWN = 4  # a table cell names this many rising curves, then counts the rest


def claim_converged_text(curves_read, run_text):
    """The budget column of one claim: its own curves (`claim_rising`) where it names
    some, else its run's line."""
    if not curves_read:
        return run_text
    names, rising = curves_read["for"] + curves_read["against"], curves_read["rising"]
    text = f"its curves: {len(names) - len(rising)} of {len(names)} converged"
    if not rising:
        return text
    shown = rising[:RISING_SHOWN] + ([f"{len(rising) - RISING_SHOWN} more"]
                                     if len(rising) > RISING_SHOWN else [])
    return text + f" (still rising: {', '.join(shown)})"


_GENERIC_KEYS = {"models", "training", "train", "rows", "budget", "finetunes", "curves",
                 "methods", "curve"}


def curves(results, _path=()):
    """{name: (metric, values)} of every per-epoch curve a study's results record:
    a list of numbers under a key "curve" (robust accuracy as a fraction, metric
    "robust accuracy") or DeepDefense's {"epoch", "acc", "rho_2"} (its
    `curves.methods.<method>`: rho_2, whose first value, epoch 0, is the reference's,
    before fine-tuning); named by the keys leading to it, the generic ones left out."""
    out = {}
    if not isinstance(results, dict):
        return out
    for k, v in results.items():
        path = _path + (str(k),)
        name = "/".join(p for p in path if p not in _GENERIC_KEYS) or "model"
        if (k == "curve" and isinstance(v, list) and v
                and all(isinstance(t, (int, float)) for t in v)):
            out[name] = ("robust accuracy", [float(t) for t in v])
        elif isinstance(v, dict) and v.get("rho_2") and "epoch" in v:
            out[name] = ("rho_2", [float(t) for t in v["rho_2"][1:]])
        elif k != "provenance":
            out.update(curves(v, path))
    return out


def fitted_rise(values):
    """The rise of a least-squares line over the curve's last `lag` epochs, lag =
    LAST_FRACTION of them (at least one), the line fitted through the last 2 lag + 1
    values (at least 3, all of them if fewer); None under 2 values. On a straight
    line it is the last value minus the one `lag` epochs before it."""
    if len(values) < 2:
        return None
    lag = max(1, round(LAST_FRACTION * len(values)))
    window = values[-max(2 * lag + 1, 3):]
    n = len(window)
    t_mean = (n - 1) / 2
    v_mean = math.fsum(window) / n
    slope = (math.fsum((t - t_mean) * (v - v_mean) for t, v in enumerate(window))
             / math.fsum((t - t_mean) ** 2 for t in range(n)))
    return slope * lag


def gain(metric, values):
    """How much the curve rose over its last LAST_FRACTION of epochs (`fitted_rise`),
    in points of accuracy or percent of rho_2's last value (None: under 2 epochs)."""
    rise = fitted_rise(values)
    if rise is None:
        return None
    if metric == "rho_2":
        return 100 * rise / abs(values[-1]) if values[-1] else None
    return 100 * rise


def convergence(results):
    """[{curve, metric, epochs, last, gain, converged}] of one results dict, by
    `CONVERGENCE_RULE`."""
    out = []
    for name, (metric, values) in curves(results).items():
        g = gain(metric, values)
        out.append({"curve": name, "metric": metric, "epochs": len(values),
                    "last": values[-1] if values else None, "gain": g,
                    "converged": None if g is None else bool(g < CONVERGED_GAIN)})
    return out


def converged_text(rows, runs=1):
    """One line over a run's convergence rows (all its `runs` seeds, "—" for none):
    how many curves converged."""
    if not runs:
        return "—"
    known = [r for r in rows if r["converged"] is not None]
    if not known:
        return "no per-epoch curve recorded"
    rising = sorted({r["curve"] for r in known if not r["converged"]})
    ok = sum(r["converged"] for r in known)
    text = f"{ok} of {len(known)} curves converged"
    return text + (f" (still rising: {', '.join(rising)})" if rising else "")


def _stats(values):
    """mean, sample std (0 for one value) and min of the measured values."""
    if not values:
        return {"mean": None, "std": None, "min": None}
    n = len(values)
    mean = math.fsum(values) / n
    std = (math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
           if n > 1 else 0.0)
    return {"mean": mean, "std": std, "min": min(values)}


def too_few(n):
    """The verdict of a comparative claim answered by `n` < MIN_SEEDS seeds."""
    return (f"{_study.INCONCLUSIVE} ({n} seed{'' if n == 1 else 's'}; the rule needs "
            f"{MIN_SEEDS})")


NOT_TESTABLE = "not testable"


def seed_verdict(claim):
    """A seed's verdict as the ledger shows it: a claim its run answered with numbers
    but no verdict (e.g. two curves without an overlapping point) is `NOT_TESTABLE`
    there, not "not run"."""
    if claim.verdict == _study.NOT_RUN and claim.ours not in ("—", ""):
        return NOT_TESTABLE
    return claim.verdict


def aggregate(per_seed, *, comparative=False, curves_read=None):
    """One ledger entry from one claim's answers over seeds, by `RULE`.

    Args:
      per_seed: {seed: Claim or its dict}; a seed whose claim was not run (or not
        testable, `seed_verdict`) counts as no seed.
      comparative: whether the claim compares two methods (then it needs MIN_SEEDS).
      curves_read: the claim's curves (`claim_rising`) or None: a held (not held)
        verdict with a rising "against" ("for") curve is inconclusive `BUDGET`.

    Returns:
      {"seeds": the seeds that answered, "per_seed": [{seed, verdict, ours, margins}],
       "margins": {name: {values (per answering seed, None where not measured),
       mean, std, min}} (over the measured values), "verdict", "rule", "comparative"}.
    """
    runs = [(s, c if isinstance(c, _study.Claim) else _study.Claim.from_dict(c))
            for s, c in sorted(per_seed.items())]
    ran = [(s, c) for s, c in runs if c.verdict != _study.NOT_RUN]
    margins = {}
    for name in dict.fromkeys(k for _, c in ran for k in c.margins):
        values = [c.margins.get(name) for _, c in ran]
        margins[name] = {"values": values,
                         **_stats([v for v in values if v is not None])}
    verdicts = [c.verdict for _, c in ran]
    if not ran:
        verdict = _study.NOT_RUN
    elif comparative and len(ran) < MIN_SEEDS:
        verdict = too_few(len(ran))
    elif (all(v == _study.HELD for v in verdicts)
          and all(m["mean"] is not None and m["mean"] - m["std"] > 0
                  for m in margins.values())):
        verdict = _study.HELD
    elif (all(v == _study.NOT_HELD for v in verdicts)
          and any(m["mean"] is not None and m["mean"] + m["std"] < 0
                  for m in margins.values())):
        verdict = _study.NOT_HELD
    else:
        verdict = _study.INCONCLUSIVE
    if curves_read and verdict in (_study.HELD, _study.NOT_HELD):
        side = "against" if verdict == _study.HELD else "for"
        turn = [c for c in curves_read[side] if c in curves_read["rising"]]
        if turn:
            verdict = (f"{_study.INCONCLUSIVE} {BUDGET} ({verdict} by the rule; still "
                       f"rising: {', '.join(turn)})")
    return {"seeds": [s for s, _ in ran],
            "per_seed": [{"seed": s, "verdict": seed_verdict(c), "ours": c.ours,
                          "margins": c.margins} for s, c in runs],
            "margins": margins, "verdict": verdict, "rule": RULE,
            "comparative": comparative}


def select(spec, studies=None):
    """The sources of `spec` whose study is in `studies` (all for None); raises
    UserError naming --studies and the allowed values."""
    names = list(dict.fromkeys(s.study for s in spec))
    for name in studies or ():
        check_choice("studies", name, names)
    return [s for s in spec if studies is None or s.study in studies]


def _evidence(src, root, seed, preset, load):
    """(results file path, results dict) of one seed, or None when not run; raises
    UserError where the file is another preset's or another seed's."""
    path = os.path.join(src.seed_dir(root, seed), src.results_file(load(src.study)))
    if not os.path.exists(path):
        return None
    rel = os.path.relpath(path, root)
    with open(path) as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as err:
            raise UserError(f"{rel} is not valid JSON ({err}); move it away to run the "
                            "seed again") from None
    prov = results.get("provenance", {})
    if prov.get("preset") != preset:
        raise UserError(f"{rel} is preset {prov.get('preset')!r}, the ledger's "
                        f"{preset!r}; move it away or pass --preset={prov.get('preset')}")
    if prov.get("seed") is not None and prov["seed"] != seed:
        raise UserError(f"{rel} records seed {prov['seed']}, its directory seed {seed}")
    return path, results


def build(spec=SPEC, root=".", *, seeds=SEEDS, preset=None, studies=None, argv=None,
          load=_study.load):
    """Aggregates every claim of `spec` over the seed dirs that exist under `root`,
    writes `root`/results/claims.json and CLAIMS.md; returns the ledger dict.

    Args:
      preset: every source's preset (default each source's own).
      studies: the study names to include (default all of `spec`).
      argv: the command recorded in the ledger's provenance.
      load: study name -> study package (tests pass fakes).
    """
    from tf_advnet.utils.provenance import Provenance

    prov = Provenance(seed=None, preset=preset, argv=argv)
    entries, runs, cards = [], [], {}
    for src in select(spec, studies):
        pkg, p = load(src.study), preset or src.preset
        found = {}
        for seed in seeds:
            ev = _evidence(src, root, seed, p, load)
            if ev is not None:
                path, results = ev
                claims = {c.id: c for c in pkg.claims_of(results, os.path.basename(path))}
                found[seed] = (path, results, claims)
        if src.study == "report_card":
            cards = {seed: results for seed, (_, results, _) in found.items()}
        conv = [dict(row, seed=seed) for seed, (_, results, _) in found.items()
                for row in convergence(results)]
        runs.append({"study": src.study, "dataset": src.dataset, "model": src.label,
                     "preset": p, "convergence": conv})
        for cid in src.claims:
            per_seed = {s: claims[cid] for s, (_, _, claims) in found.items()
                        if cid in claims}
            fl = flags(src.study, cid)
            read = claim_rising(conv, claim_curves(src.study, cid))
            entry = aggregate(per_seed, comparative=fl["comparative"], curves_read=read)
            # No seed answered: the words of paper_values.json, where the study has it.
            first = next(iter(per_seed.values()), None) or _study.Claim.from_dict(dict(
                {"statement": cid, "paper": "—", "rule": "—"}, **_entry(src.study, cid),
                id=cid, ours="—", verdict=_study.NOT_RUN))
            entries.append({
                "paper": pkg.TITLE, "study": src.study, "id": cid,
                "statement": first.statement, "paper_number": first.paper,
                "claim_rule": first.rule,
                "robustness": fl["robustness"], "preset": p, "dataset": src.dataset,
                "model": src.label, "deviation": src.deviation,
                "converged": converged_text(conv, len(found)), "curves_read": read,
                "evidence": [{"seed": s, "file": os.path.relpath(path, root),
                              "command": r["provenance"].get("command"),
                              "commit": r["provenance"].get("commit"),
                              "wall_time_s": r["provenance"].get("wall_time_s")}
                             for s, (path, r, _) in found.items()],
                **entry})
    _link_strong(entries, cards)
    ledger = {"rule": RULE, "min_seeds": MIN_SEEDS, "seeds": list(seeds),
              "convergence_rule": CONVERGENCE_RULE, "claims": entries, "runs": runs,
              "provenance": prov.finish()}
    write(ledger, root)
    return ledger


# A comparative robustness claim asked again of the report card, whose rows train
# alike: (the defence's row, its baseline's row), compared by their worst case per
# example over both protocols, per card seed. PGN's is a proxy (its paper's curve is
# L2 rho_cw against accuracy; the card's is the L-inf worst case); claims whose
# baseline is no row of the card (EAT, L2L*, Parseval, C[gamma=0]) have none.
STRONG_PAIRS = {
    ("advnet", "c_far_above_a_white_box"): ("advnet", "standard"),
    ("advnet", "b_best_white_box"): ("pgd_at", "advnet"),
    ("bat", "r_mc_la_beats_madry"): ("bat", "pgd_at"),
    ("l2lda", "l2lda_best_min"): ("l2lda", "pgd_at"),
    ("pgn", "curve_outside_at"): ("pgn", "pgd_at"),
    ("deepdefense", "rho2_raised"): ("deepdefense", "standard"),
}


def strong_comparison(pair, cards):
    """The ledger entry (`aggregate`, comparative) of "row a's worst case above row
    b's" over the report card's seeds (`cards`: {seed: card results})."""
    a, b = pair
    la, lb = CARD_LABELS[a], CARD_LABELS[b]
    name = f"{la} - {lb}, worst case (points)"
    per_seed = {}
    for seed, card in cards.items():
        rows = card["rows"]
        if a not in rows or b not in rows:
            continue
        wa, wb = rows[a]["worst_case"], rows[b]["worst_case"]
        margin = round(100 * (wa - wb), 6)
        per_seed[seed] = _study.Claim(
            id=f"{a}_above_{b}", statement=f"{la} above {lb}", paper="—",
            ours=f"{100 * wa:.1f}% vs {100 * wb:.1f}% ({margin:+.1f})",
            rule=f"{la} worst case > {lb}'s",
            verdict=_study.HELD if margin > 0 else _study.NOT_HELD,
            margins={name: margin})
    conv = [row for card in cards.values() for row in convergence(card)]
    read = claim_rising(conv, {"for": [re.escape(a)], "against": [re.escape(b)]})
    out = aggregate(per_seed, comparative=True, curves_read=read)
    return {"rows": [a, b], "seeds": out["seeds"], "per_seed": out["per_seed"],
            "margins": out["margins"], "verdict": out["verdict"], "curves_read": read}


def _link_strong(entries, cards):
    """Each robustness claim of a paper gets the report card's verdict for its
    defence under the strong protocol (None where the ledger has no such row) and,
    where `STRONG_PAIRS` names one, the claim's comparison on the card's rows
    (`cards`: {seed: the card's results})."""
    rc = {e["id"]: e for e in entries if e["study"] == "report_card"}
    for e in entries:
        if e["study"] == "report_card" or not e["robustness"]:
            continue
        row = rc.get(strong_claim_id(e["study"]))
        e["strong_protocol"] = None if row is None else {
            "claim": row["id"], "dataset": row["dataset"], "seeds": row["seeds"],
            "verdict": row["verdict"]}
        pair = STRONG_PAIRS.get((e["study"], e["id"]))
        if row is not None and pair is not None:
            e["strong_protocol"]["comparison"] = strong_comparison(pair, cards)


def write(ledger, root="."):
    """Writes claims.json, then CLAIMS.md rendered from the file just written;
    returns their paths."""
    from tf_advnet.utils.provenance import write_json

    json_path, md_path = os.path.join(root, JSON_FILE), os.path.join(root, MD_FILE)
    from tf_advnet.utils.markers import replace_between

    write_json(json_path, ledger)
    with open(json_path) as f:
        saved = json.load(f)
    with open(md_path, "w") as f:
        f.write(render_markdown(saved))
    readme = os.path.join(root, README)
    if os.path.exists(readme):
        replace_between(readme, README_MARKER, readme_summary(saved))
        replace_between(readme, CARD_MARKER, card_section(saved, root))
    return json_path, md_path


def card_section(ledger, root="."):
    """The README's fair report card: the report card's long run over every seed the
    ledger has (`report_card.report.card_table`), read from the evidence files of its
    claims; `NO_CARD` before any seed ran."""
    from tf_advnet.papers.report_card.report import card_table

    files = sorted({(v["seed"], v["file"]) for e in ledger["claims"]
                    if e["study"] == "report_card" for v in e["evidence"]
                    if os.path.exists(os.path.join(root, v["file"]))})  # else: check()'s
    cards = []
    for _, rel in files:
        with open(os.path.join(root, rel)) as f:
            cards.append(json.load(f))
    if not cards:
        return NO_CARD
    links = ", ".join(f"[seed {seed}]({os.path.dirname(rel)}/report_card.md)"
                      for seed, rel in files)
    return card_table(*cards) + f" Each seed's card: {links}."


# What a results JSON records of the settings that produced it: whole subtrees under
# SETTINGS_TREES, and these top-level values (the sweep records its grid at the top).
SETTINGS_TREES = ("study", "card", "config", "configs")
SETTINGS_TOP = ("dataset", "model", "architecture", "preset", "eps", "n", "n_train",
                "n_test", "epochs", "learning_rate", "d", "cs", "lambdas")
# Per seed by design: the seed itself, and paths that name the seed's directory.
PER_SEED = ("seed", "data_dir", "init_model", "model_path")


def settings(results):
    """{path: value} of every setting a results JSON records (`SETTINGS_TREES`,
    `SETTINGS_TOP`) but the per-seed ones: what must agree between two seeds of one
    claim for their spread to be a seed spread."""
    out = {}

    def walk(node, path, inside):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in PER_SEED or k == "provenance":
                    continue
                walk(v, path + (str(k),), inside or k in SETTINGS_TREES)
        elif inside:
            out["/".join(path)] = node

    for k in SETTINGS_TOP:
        if k in results and not isinstance(results[k], dict):
            out[k] = results[k]
    walk(results, (), False)
    return out


def settings_differ(a, b, limit=3):
    """The first `limit` settings (path: a vs b) two results JSONs disagree on."""
    sa, sb = settings(a), settings(b)
    diff = [f"{k}: {sa.get(k, '—')} vs {sb.get(k, '—')}" for k in sorted(set(sa) | set(sb))
            if sa.get(k) != sb.get(k)]
    return _first(diff, limit)


def _first(diff, limit):
    """The first `limit` of `diff`, and how many more there are."""
    return diff[:limit] + ([f"and {len(diff) - limit} more"] if len(diff) > limit else [])


def stale(src, pkg, seed, results, preset=None):
    """Where one seed's committed results JSON (`results`, the dict read from it)
    records other settings than its study would run now (`pkg.settings` of the same
    arguments, the preset's definition of today): ["path: recorded vs now", ...], []
    when it agrees, when there is no JSON (None) or when the study cannot say its
    settings without running.

    A setting the JSON does not record is a difference where the JSON records its
    tree but nothing beside it (a model or method added to the study), and where it
    is a field added since to a recorded config that the preset now sets to other
    than the field's default, the value the old run ran at (`pkg.setting_defaults`,
    where the study has it); a field added since at its default, and a tree the old
    JSON format lacks altogether, are not.
    """
    if results is None or not hasattr(pkg, "settings"):
        return []

    def flat(tree):
        return settings(json.loads(json.dumps(tree, default=jsonable)))

    recorded = settings(results)
    now = flat(pkg.settings(preset or src.preset, src.dataset, overrides={"seed": seed},
                            **src.run_kwargs))
    defaults = flat(pkg.setting_defaults()) if hasattr(pkg, "setting_defaults") else {}
    parents = {k.rsplit("/", 1)[0] for k in recorded if "/" in k}
    trees = {k.split("/", 1)[0] for k in recorded}
    out = []
    for k, v in sorted(now.items()):
        if k in recorded:
            if recorded[k] != v:
                out.append(f"{k}: {recorded[k]} vs {v}")
        elif "/" in k and k.split("/", 1)[0] in trees and k.rsplit("/", 1)[0] not in parents:
            out.append(f"{k}: — vs {v}")
        elif k in defaults and defaults[k] != v:
            out.append(f"{k}: — (its default {defaults[k]}) vs {v}")
    return out


def stale_text(diff, limit=3):
    """The first `limit` differences of `stale`, "; "-joined."""
    return "; ".join(_first(diff, limit))


def anchor(e):
    """The HTML id of a claim's section in CLAIMS.md (the model named where a study
    answers a claim on several: DeepDefense's MLP and LeNet)."""
    model = [e["model"].split()[0]] if e.get("model") else []
    return "-".join([e["study"], *model, e["id"]]).replace("_", "-")


def _with_model(text, e):
    return text + (f" [{e['model']}]" if e.get("model") else "")


def statement(e):
    """A claim's statement, with the model of its run where the source names one."""
    return _with_model(e["statement"], e)


def readme_summary(ledger):
    """The README's headline: one line per claim (verdict, strong protocol, budget),
    each linking to its section of CLAIMS.md; from the ledger dict alone."""
    n = sorted({len(e["seeds"]) for e in ledger["claims"]})
    out = ["| paper | claim | verdict | strong protocol | converged |",
           "|---|---|---|---|---|"]
    for e in ledger["claims"]:
        if e["study"] == "report_card":
            continue  # its verdicts are the strong-protocol column
        sp = e.get("strong_protocol")
        short = e["paper"].split(" — ")[0]
        verdict = f"**{e['verdict']}**"
        if "seed" not in e["verdict"]:
            verdict += f" ({len(e['seeds'])} seed{'' if len(e['seeds']) == 1 else 's'})"
        if e["verdict"] != _study.NOT_RUN and e["verdict"] not in (_study.HELD,
                                                                   _study.NOT_HELD):
            verdict += "; per seed: " + ", ".join(
                f"{r['seed']}: {r['verdict']}" for r in e["per_seed"])
        out.append(f"| {_cell(short)} | [{_cell(statement(e))}]({MD_FILE}#{anchor(e)}) | "
                   f"{verdict} | {_cell(strong_text(sp))} | {_cell(_budget_cell(e))} |")
    out += ["", f"{len(out) - 2} claims, {'/'.join(str(k) for k in n)} seed(s) each, "
            f"preset(s) {', '.join(sorted({e['preset'] for e in ledger['claims']}))}; "
            f"rule: {ledger['rule']} Generated by `tf-advnet ledger` from "
            f"[`{JSON_FILE}`]({JSON_FILE})."]
    return "\n".join(out)


def check(root=".", *, spec=SPEC, load=_study.load):
    """The problems of the ledger written under `root` (none: a sound ledger): a
    CLAIMS.md that is not what claims.json renders to, an evidence file missing, an
    entry whose numbers or verdict differ from what its evidence files give today, seeds
    of one run whose recorded settings differ (`settings`: an old budget's seed among
    new ones), evidence whose settings are not its preset's of today (`stale`), a
    comparative claim held or not held on fewer than MIN_SEEDS seeds."""
    with open(os.path.join(root, JSON_FILE)) as f:
        led = json.load(f)
    problems = []
    with open(os.path.join(root, MD_FILE)) as f:
        if f.read() != render_markdown(led):
            problems.append(f"{MD_FILE} is not what {JSON_FILE} renders to")
    readme = os.path.join(root, README)
    if os.path.exists(readme):
        from tf_advnet.utils.markers import between

        section = between(readme, README_MARKER)
        if section is not None and section != readme_summary(led):
            problems.append(f"{README}'s {README_MARKER} section is not what "
                            f"{JSON_FILE} renders to")
        card, shown = card_section(led, root), between(readme, CARD_MARKER)
        if shown is not None and shown != card:
            problems.append(f"{README}'s {CARD_MARKER} section is not the report card's "
                            "evidence files")
    checked, cards, read_once = set(), {}, {}

    def evidence(path):
        """The results dict of an evidence file, read once however many claims cite it
        (None: missing)."""
        path = os.path.normpath(path)
        if path not in read_once:
            read_once[path] = None
            if os.path.exists(path):
                with open(path) as f:
                    read_once[path] = json.load(f)
        return read_once[path]

    for e in led["claims"]:
        name = _with_model(f"{e['study']}/{e['id']}", e)
        per_seed, loaded = {}, {}
        for v in e["evidence"]:
            path = os.path.join(root, v["file"])
            results = evidence(path)
            if results is None:
                problems.append(f"{name}: evidence {v['file']} is missing")
                continue
            loaded[v["seed"]] = results
            found = {c.id: c for c in load(e["study"]).claims_of(
                results, os.path.basename(path))}
            if e["id"] in found:
                per_seed[v["seed"]] = found[e["id"]]
        # As build() saw them: through JSON, as claims.json holds them.
        conv = json.loads(json.dumps([dict(row, seed=seed) for seed, results in loaded.items()
                                      for row in convergence(results)]))
        read = claim_rising(conv, claim_curves(e["study"], e["id"]))
        again = json.loads(json.dumps(aggregate(per_seed, comparative=e["comparative"],
                                                 curves_read=read)))
        if read != e.get("curves_read"):
            problems.append(f"{name}: the curves it reads differ from its evidence")
        files = tuple(v["file"] for v in e["evidence"] if v["seed"] in loaded)
        if files not in checked and len(files) > 1:
            checked.add(files)
            first, *others = sorted(loaded)
            for seed in others:
                diff = settings_differ(loaded[first], loaded[seed])
                if diff:
                    problems.append(f"{name}: seeds {first} and {seed} ran different "
                                    f"settings ({'; '.join(diff)})")
        if converged_text(conv, len(loaded)) != e.get("converged"):
            problems.append(f"{name}: converged differs from its evidence")
        for key in ("seeds", "per_seed", "margins", "verdict"):
            if again[key] != e[key]:
                problems.append(f"{name}: {key} differs from its evidence")
        if (e["comparative"] and e["verdict"] in (_study.HELD, _study.NOT_HELD)
                and len(e["seeds"]) < MIN_SEEDS):
            problems.append(f"{name}: {e['verdict']} on {len(e['seeds'])} seed(s)")
        if e["study"] == "report_card":
            cards.update(loaded)
    built = {(r["study"], r["dataset"], r.get("model")): r["preset"]
             for r in led.get("runs", [])}
    for src in spec:
        pkg = load(src.study)
        p = built.get((src.study, src.dataset, src.label), src.preset)
        for seed in sorted({v["seed"] for e in led["claims"] if e["study"] == src.study
                            for v in e["evidence"]}):
            try:
                diff = stale(src, pkg, seed, evidence(os.path.join(
                    src.seed_dir(root, seed), src.results_file(pkg))), p)
            except (UserError, ValueError, TypeError) as err:
                diff = [f"its settings could not be compared: {err}"]
            if diff:
                flag = "" if p == PRESET else f" --preset={p}"
                problems.append(
                    f"{os.path.join(src.seed_dir('', seed), src.results_file(pkg))}: "
                    f"records other settings than preset {p} has now ({stale_text(diff)});"
                    f" run `tf-advnet ledger --studies={src.study} --seeds={seed}{flag}`")
    for e in led["claims"]:
        c = (e.get("strong_protocol") or {}).get("comparison")
        if c and json.loads(json.dumps(strong_comparison(tuple(c["rows"]), cards))) != c:
            problems.append(f"{_with_model(e['study'] + '/' + e['id'], e)}: its comparison "
                            "on the report card differs from the card's evidence")
    return problems


def _num(v):
    return "—" if v is None else f"{v:.4g}"


def strong_text(sp):
    """A claim's strong-protocol cell: its comparison on the card's rows where it has
    one, and whether its defence's own number holds, with the card's data set."""
    if not sp:
        return "—"
    c = sp.get("comparison")
    if not c:
        return f"{sp['verdict']} ({sp['dataset']})"
    la, lb = (CARD_LABELS[r] for r in c["rows"])
    return (f"{la} > {lb}: {c['verdict']}; its own number holds: "
            f"{sp['verdict']} ({sp['dataset']})")


def _budget_cell(e):
    """A claim's convergence cell: its own curves where it names some, else its run's
    count."""
    return claim_converged_text(e.get("curves_read"), e["converged"].split(" (")[0])


def _cell(text):
    return str(text).replace("|", "\\|")


def render_markdown(ledger):
    """CLAIMS.md from the ledger dict (claims.json) alone."""
    out = ["# Claims ledger", "",
           "Generated by `tf-advnet ledger` from `results/claims.json`; every number "
           "below is in it. Each claim is answered by its study's run over seeds "
           f"{', '.join(str(s) for s in ledger['seeds'])}, one results JSON per seed "
           "(the evidence). A margin is one comparison of the claim's rule in the "
           "claim's own units, > 0 where it supports the claim.", "",
           f"Rule: {ledger['rule']}", "",
           f"Convergence: {ledger['convergence_rule']}", "", "## Summary", "",
           "| paper | claim | seeds | verdict | strong protocol | converged |",
           "|---|---|---|---|---|---|"]
    for e in ledger["claims"]:
        sp = e.get("strong_protocol")
        out.append(f"| {_cell(e['paper'])} | {_cell(statement(e))} (`{e['id']}`) | "
                   f"{len(e['seeds'])} | **{e['verdict']}** | {_cell(strong_text(sp))} | "
                   f"{_cell(_budget_cell(e))} |")
    for paper in dict.fromkeys(e["paper"] for e in ledger["claims"]):
        out += ["", f"## {paper}"]
        for e in (e for e in ledger["claims"] if e["paper"] == paper):
            out += _entry_markdown(e)
    out += _convergence_markdown(ledger["runs"])
    p = ledger["provenance"]
    out += ["", "## Provenance", "", f"- command: `{p['command']}`",
            f"- commit: `{p['commit']}`", ""]
    return "\n".join(out)


def _convergence_markdown(runs):
    out = ["", "## Convergence", "",
           "Each training's per-epoch curve on held-out images: its last value and its "
           "gain over the last epochs (the rule above).", "",
           "| run | seed | curve | metric | epochs | last | gain | converged |",
           "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        run = f"{r['study']} {r['dataset']}" + (f" {r['model']}" if r.get("model") else "")
        for c in r["convergence"]:
            last = c["last"] if c["metric"] == "rho_2" or c["last"] is None else 100 * c["last"]
            out.append(f"| {run} | {c['seed']} | {_cell(c['curve'])} | {c['metric']} | "
                       f"{c['epochs']} | {_num(last)} | {_num(c['gain'])} | "
                       f"{'—' if c['converged'] is None else 'yes' if c['converged'] else 'no'} |")
    return out


def _curves_markdown(read, indent=""):
    """The line naming the curves a verdict rests on (none where the claim names
    none)."""
    if not read:
        return []
    def names(side):
        return ", ".join(f"{c} (rising)" if c in read["rising"] else c
                         for c in read[side]) or "none"
    return [f"{indent}- its curves: for the claim {names('for')}; against it "
            f"{names('against')}"]


def _comparison_markdown(c):
    """The lines of a claim's comparison on the report card's rows (none without)."""
    if not c:
        return []
    la, lb = (CARD_LABELS[r] for r in c["rows"])
    out = [f"- the same comparison on the report card ({la} against {lb}, "
           f"trained alike; worst case per example over both protocols; "
           f"{len(c['seeds'])} seed(s)): **{c['verdict']}**",
           *_curves_markdown(c.get("curves_read"), "  ")]
    if c["per_seed"]:
        out += ["", "| card seed | ours | verdict |", "|---|---|---|"]
        out += [f"| {r['seed']} | {_cell(r['ours'])} | {r['verdict']} |"
                for r in c["per_seed"]]
        out += [f"| margin: {_cell(name)} | {_num(m['mean'])} ± {_num(m['std'])} | "
                f"min {_num(m['min'])} |" for name, m in c["margins"].items()]
        out.append("")
    return out


def _entry_markdown(e):
    run = e["dataset"] + (f", model {e['model']}" if e.get("model") else "")
    out = ["", f'<a id="{anchor(e)}"></a>', "", f"### {statement(e)} (`{e['id']}`)", "",
           f"- paper: {e['paper_number']}",
           f"- run: {e['study']} study, preset `{e['preset']}`, {run}; "
           f"{len(e['seeds'])} seed(s)" + (", compares two methods" if e["comparative"]
                                           else ""),
           *([f"- deviation: {e['deviation']}"] if e.get("deviation") else []),
           f"- claim's rule (each seed): {e['claim_rule']}",
           f"- verdict: **{e['verdict']}**",
           f"- budget: {e['converged']}",
           *_curves_markdown(e.get("curves_read"))]
    sp = e.get("strong_protocol")
    if sp:
        out.append(f"- under the strong protocol (report card `{sp['claim']}`, "
                   f"{sp['dataset']}, {len(sp['seeds'])} seed(s)): **{sp['verdict']}**")
        out += _comparison_markdown(sp.get("comparison"))
    elif e["robustness"] and "strong_protocol" in e:
        out.append("- under the strong protocol: not in the ledger")
    if e["per_seed"]:
        out += ["", "| seed | ours | verdict |", "|---|---|---|"]
        out += [f"| {r['seed']} | {_cell(r['ours'])} | {r['verdict']} |"
                for r in e["per_seed"]]
    if e["margins"]:
        out += ["", "| margin | mean ± std | min | per seed |", "|---|---|---|---|"]
        out += [f"| {_cell(name)} | {_num(m['mean'])} ± {_num(m['std'])} | "
                f"{_num(m['min'])} | {', '.join(_num(v) for v in m['values'])} |"
                for name, m in e["margins"].items()]
    if e["evidence"]:
        out += ["", "Evidence:", ""]
        out += [f"- seed {v['seed']}: `{v['file']}` (`{v['command']}`, commit "
                f"`{v['commit']}`, {_num(v['wall_time_s'])} s)" for v in e["evidence"]]
    return out


def missing(spec=SPEC, root=".", *, seeds=SEEDS, preset=None, studies=None,
            progress=print, load=_study.load):
    """The (source, study package, preset, seed) of each seed run of `spec` whose
    results JSON is missing or stale (`stale`: it records other settings than the
    preset has now), saying why a stale one runs again; study by study in the order
    `studies` names them (the spec's without it), each study's seeds in `seeds`'
    order, so the run closest to done can go first.

    Raises:
      UserError: a study without the preset (one line naming --preset and the
        study's presets), before anything runs; another preset's evidence
        (`_evidence`: never overwritten).
    """
    todo = []
    order = list(studies or ())
    for src in sorted(select(spec, studies), key=lambda s: order.index(s.study)
                      if s.study in order else 0):
        pkg, p = load(src.study), preset or src.preset
        fname = src.results_file(pkg)
        for seed in seeds:
            if not os.path.exists(os.path.join(src.seed_dir(root, seed), fname)):
                todo.append((src, pkg, p, seed))
            elif p in pkg.PRESETS:
                _, results = _evidence(src, root, seed, p, load)
                diff = stale(src, pkg, seed, results, p)
                if diff:
                    progress(f"[ledger] {src.study} {src.dataset} seed {seed}: its results "
                             f"JSON records other settings than preset {p} has now "
                             f"({stale_text(diff)}): running it again")
                    todo.append((src, pkg, p, seed))
    for src, pkg, p, _ in todo:
        if p not in pkg.PRESETS:
            raise UserError(f"--preset={p!r} is not a preset of the {src.study} study; "
                            f"allowed values: {', '.join(pkg.PRESETS)}")
    return todo


def run_missing(spec=SPEC, root=".", *, seeds=SEEDS, preset=None, studies=None,
                work_dir=os.path.join("runs", "ledger"), argv=None, progress=print,
                load=_study.load):
    """Runs each (study run, seed) of `missing(...)` in this process, with the study's
    `run(preset, dataset, results_dir=<seed dir>, overrides={"seed": k})`; returns the
    results dirs written.

    Each seed trains in its own `<work_dir>/<study>/seed<k>`, where the study reuses
    what it trained before, so an interrupted call resumes.
    """
    todo = missing(spec, root, seeds=seeds, preset=preset, studies=studies,
                   progress=progress, load=load)
    done = []
    for src, pkg, p, seed in todo:
        out = src.seed_dir(root, seed)
        progress(f"[ledger] {src.study} {src.dataset} preset {p} seed {seed} -> {out}")
        pkg.run(p, src.dataset, results_dir=out, work_dir=src.train_dir(work_dir, seed),
                overrides={"seed": seed}, argv=argv, progress=progress, **src.run_kwargs)
        done.append(out)
    return done


@dataclasses.dataclass(frozen=True)
class Job:
    """One process of `run_parallel`: its command, its log, and the jobs (by name)
    that must have finished before it starts."""

    name: str
    argv: tuple
    log: str
    after: tuple = ()


def worker_argv(study, seed, preset, work_dir):
    """The ledger itself for one study and one seed, without writing the ledger (the
    parent does, once every job has run)."""
    import sys

    return (sys.executable, "-m", "tf_advnet", "ledger", f"--preset={preset}",
            f"--studies={study}", f"--seeds={seed}", f"--work_dir={work_dir}",
            "--noaggregate")


def plan(todo, *, preset, work_dir=os.path.join("runs", "ledger"), log_dir=None,
         load=_study.load):
    """The `run_parallel` jobs of `missing`'s runs: one per (study, seed) (a study's
    runs of one seed share its work dir, e.g. DeepDefense's standard model, so they
    stay in one process), and before it, for a study whose package has `PARTS`
    (the report card), one job per part (`part_argv`), the first before the others."""
    log_dir = log_dir or os.path.join(work_dir, "logs")
    first = {}  # (study, seed) -> its first source: the job runs them all
    for src, _, _, seed in todo:
        first.setdefault((src.study, seed), src)
    jobs = []
    for (study, seed), src in first.items():
        pkg, name = load(study), f"{study} seed {seed}"
        parts = [Job(f"{name} part {i}",
                     tuple(pkg.part_argv(rows, preset, src.dataset, seed,
                                         src.train_dir(work_dir, seed))),
                     os.path.join(log_dir, f"{study}.seed{seed}.part{i}.log"),
                     after=(f"{name} part 0",) if i else ())
                 for i, rows in enumerate(getattr(pkg, "PARTS", ()))]
        jobs += parts + [Job(name, worker_argv(study, seed, preset, work_dir),
                             os.path.join(log_dir, f"{study}.seed{seed}.log"),
                             after=tuple(j.name for j in parts))]
    return jobs


def _last_line(path, limit=120):
    """The last non-empty line of a log (Keras's progress lines end in a carriage
    return), cut to `limit` characters."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [x.strip() for x in re.split(r"[\r\n]", tail) if x.strip()]
    return lines[-1][:limit] if lines else ""


def run_parallel(jobs, workers, *, cpus=None, progress=print, poll_s=5.0,
                 heartbeat_s=600.0):
    """Runs each of `jobs` (`Job`) in its own process, `workers` at a time, in order
    but for those still waiting on another, each with cpus // workers TensorFlow
    threads (one process per core trains faster than one process on every core: the
    models are small), each logging to its `log`; every `heartbeat_s` it prints each
    running job's time so far and the last line of its log.

    Returns the names of the jobs that ran; raises UserError naming each failed job
    and its log (and each job skipped because one it waits on failed) once the
    others have finished (each resumes when run again).
    """
    import subprocess
    import time

    threads = str(max(1, (cpus or os.cpu_count() or 1) // max(1, workers)))
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1",
               OMP_NUM_THREADS=threads)
    queue, running, done, failed = list(jobs), {}, [], []
    beat = time.monotonic()
    try:
        while queue or running:
            for job in [j for j in queue if any(a in failed for a in j.after)]:
                queue.remove(job)
                failed.append(job.name)
                progress(f"[ledger] {job.name}: skipped (waits on a failed job)")
            ready = [j for j in queue if all(a in done for a in j.after)]
            if queue and not ready and not running:
                raise ValueError(f"jobs wait on jobs not given: {[j.name for j in queue]}")
            while ready and len(running) < workers:
                job = ready.pop(0)
                queue.remove(job)
                os.makedirs(os.path.dirname(job.log) or ".", exist_ok=True)
                with open(job.log, "w") as f:
                    proc = subprocess.Popen(list(job.argv), stdout=f,
                                            stderr=subprocess.STDOUT, env=env)
                running[proc] = (job, time.monotonic())
                progress(f"[ledger] {job.name}: started ({threads} thread(s); log "
                         f"{job.log})")
            for proc in [p for p in running if p.poll() is not None]:
                job, t0 = running.pop(proc)
                (failed if proc.returncode else done).append(job.name)
                progress(f"[ledger] {job.name}: "
                         f"{'failed' if proc.returncode else 'done'} in "
                         f"{(time.monotonic() - t0) / 60:.1f} min ({len(queue)} waiting, "
                         f"{len(running)} running)")
            if running and time.monotonic() - beat >= heartbeat_s:
                beat = time.monotonic()
                for job, t0 in running.values():
                    progress(f"[ledger] {job.name}: {(beat - t0) / 60:.0f} min: "
                             f"{_last_line(job.log)}")
            if running:
                time.sleep(poll_s)
    finally:
        for proc in running:
            proc.terminate()
    if failed:
        logs = {j.name: j.log for j in jobs}
        raise UserError("seed runs failed: " + "; ".join(
            f"{n} ({logs[n]})" for n in failed) + "; rerun the same command to resume "
            "them")
    return done
