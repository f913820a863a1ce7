"""The claims ledger (`tf_advnet.papers.ledger`, `tf-advnet ledger`): claim margins
agree with the verdicts of every committed result, the multi-seed rule on hand-made
claims, `build` on seed dirs made from a committed results JSON, `run_missing` on a
fake study, and the command's one-line errors."""

import copy
import dataclasses
import glob
import json
import os
import re
import statistics
import types

import pytest

from tf_advnet import cli
from tf_advnet.errors import UserError
from tf_advnet.papers import _study, ledger

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")


def _committed():
    """(path, study, results file name) of every committed study results JSON."""
    files = _study.results_files()
    return [(p, files[os.path.basename(p)], os.path.basename(p))
            for p in sorted(glob.glob(os.path.join(RESULTS, "**", "*.json"), recursive=True))
            if os.path.basename(p) in files]


def _md_verdicts(md_path):
    """The verdict column of a committed report's Claims table, in order."""
    with open(md_path) as f:
        text = f.read()
    section = text.split("\n## Claims\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"\| \*\*([a-z ]+)\*\* \|$", section, flags=re.M)


# Margins.

@pytest.mark.parametrize("x,bound,tie", [
    (1.0, 1.0, True), (-1.0, -1.0, True), (97.7, 97.8, False), (5e-12, 0.0, False),
    (0.0, 5e-12, False),
    # Equal up to round-off: a tie, whichever side the rounding fell on.
    (0.1 + 0.2, 0.3, True), (0.3, 0.1 + 0.2, True),
    (1.0, 100 * (0.802 - 0.792), True),  # 1 point of 500 test images
])
def test_margin_sign_is_the_comparison_ties_included(x, bound, tie):
    assert _study.supports(_study.at_least(x, bound)) == (tie or x >= bound)
    assert _study.supports(_study.above(x, bound)) == (not tie and x > bound)
    assert _study.supports(_study.at_least(x, bound, 100)) == (tie or x >= bound)


def test_worst_margin_is_none_where_one_is_unmeasured():
    assert _study.worst([0.5, 0.2, 1.0]) == 0.2
    assert _study.worst([0.5, float("nan")]) is None
    assert _study.worst([0.5, None]) is None
    assert not _study.supports(None)


@pytest.mark.parametrize("path,name,fname", _committed(),
                         ids=lambda v: os.path.relpath(v, RESULTS) if "/" in str(v) else v)
def test_committed_claims_keep_their_verdicts_and_agree_with_their_margins(path, name, fname):
    """Every claim recomputed from a committed results JSON: its verdict is the one
    its committed report shows (and the JSON, where it stored claims), and a run
    claim is held exactly when every margin is > 0."""
    with open(path) as f:
        results = json.load(f)
    claims = _study.load(name).claims_of(results, fname)
    for c in claims:
        if c.verdict == _study.NOT_RUN:
            assert c.margins == {}, c.id
        else:
            assert c.margins, c.id  # every run claim states its comparisons
            assert c.verdict == _study.verdict_of(c.margins), (c.id, c.margins)
            assert all(v is None or isinstance(v, float) for v in c.margins.values())
    if name == "report_card":  # its card shows no claims table: the rule, by hand
        rows = results["rows"].values()
        assert [c.verdict for c in claims] == [
            "held" if round(100 * (r["paper_protocol"]["worst_case"] - r["worst_case"]), 9)
            <= 1.0 else "not held" for r in rows]
    elif claims:
        assert [c.verdict for c in claims] == _md_verdicts(path[:-len(".json")] + ".md")
    if "claims" in results:  # those written before margins have none
        stored = [_study.Claim.from_dict(d) for d in results["claims"]]
        ids = {s.id for s in stored}
        # A claim added after the run cannot be answered by it: not run.
        assert all(c.verdict == _study.NOT_RUN for c in claims if c.id not in ids)
        claims = [c for c in claims if c.id in ids]
        assert [c.id for c in stored] == [c.id for c in claims]
        # A claim whose rule has changed since the run is answered anew by the rule of
        # today (the ledger recomputes every claim); one whose rule is the same must
        # give the run's own answer.
        same = [(s, c) for s, c in zip(stored, claims) if s.rule == c.rule]
        assert [s.verdict for s, _ in same] == [c.verdict for _, c in same]
        assert all(s.margins in ({}, json.loads(json.dumps(c.margins))) for s, c in same)


def test_every_ledger_claim_exists_and_is_flagged():
    for src in ledger.SPEC:
        assert src.study in _study.STUDY_NAMES
        for cid in src.claims:
            fl = ledger.flags(src.study, cid)
            assert set(fl) == {"comparative", "robustness"}
        if src.study != "report_card":
            pv = _study.paper_values(os.path.dirname(_study.load(src.study).__file__))
            assert set(src.claims) <= set(pv["claims"])
            assert all(isinstance(pv["claims"][c].get("comparative"), bool)
                       for c in src.claims)


# The multi-seed rule, by hand.

def _claim(margins, ours="o"):
    return _study.Claim(id="x", statement="s", paper="p", ours=ours, rule="r",
                        verdict=_study.verdict_of(margins), margins=margins)


def _seeds(*values, name="m"):
    return {k: _claim({name: v}) for k, v in enumerate(values)}


def test_aggregate_held_when_every_seed_holds_beyond_the_spread():
    e = ledger.aggregate(_seeds(2.0, 3.0, 4.0), comparative=True)
    m = e["margins"]["m"]
    assert (m["mean"], m["std"], m["min"], m["values"]) == (3.0, 1.0, 2.0, [2.0, 3.0, 4.0])
    assert e["verdict"] == "held" and e["seeds"] == [0, 1, 2]
    assert [r["verdict"] for r in e["per_seed"]] == ["held"] * 3


def test_aggregate_not_held_when_every_seed_fails_beyond_the_spread():
    e = ledger.aggregate(_seeds(-2.0, -3.0, -4.0), comparative=True)
    assert e["margins"]["m"]["mean"] == -3.0 and e["verdict"] == "not held"
    # A second margin that supports the claim does not rescue it: every seed fails.
    two = {k: _claim({"a": v, "b": 1.0}) for k, v in enumerate((-2.0, -3.0, -4.0))}
    assert ledger.aggregate(two)["verdict"] == "not held"


def test_aggregate_inconclusive_by_spread_and_by_mixed_seeds():
    # Every seed holds, but mean 1.1 - std 1.646 < 0: the spread covers 0.
    e = ledger.aggregate(_seeds(0.1, 0.2, 3.0), comparative=True)
    assert e["margins"]["m"]["std"] == pytest.approx(2.71 ** 0.5)
    assert e["verdict"] == "inconclusive"
    # Every seed fails, but mean -1.1 + std > 0.
    assert ledger.aggregate(_seeds(-0.1, -0.2, -3.0))["verdict"] == "inconclusive"
    # Seeds disagree, even with mean - std > 0.
    assert ledger.aggregate(_seeds(5.0, 6.0, -0.1, 5.5))["verdict"] == "inconclusive"


def test_aggregate_comparative_claim_needs_three_seeds():
    assert (ledger.aggregate(_seeds(2.0, 3.0), comparative=True)["verdict"]
            == "inconclusive (2 seeds; the rule needs 3)")
    assert (ledger.aggregate(_seeds(2.0), comparative=True)["verdict"]
            == "inconclusive (1 seed; the rule needs 3)")
    # One seed of a claim that compares nothing: its std is 0.
    one = ledger.aggregate(_seeds(2.0))
    assert one["verdict"] == "held" and one["margins"]["m"]["std"] == 0.0
    # A seed whose claim was not run is no seed.
    seeds = dict(_seeds(2.0, 3.0, 4.0))
    seeds[3] = _study.Claim(id="x", statement="s", paper="p", ours="—", rule="r",
                            verdict=_study.NOT_RUN)
    e = ledger.aggregate(seeds, comparative=True)
    assert e["seeds"] == [0, 1, 2] and e["verdict"] == "held" and len(e["per_seed"]) == 4
    nothing = {0: seeds[3].as_dict()}
    assert ledger.aggregate(nothing)["verdict"] == "not run"
    # A seed that ran but had nothing to compare (numbers, no verdict) says so.
    seeds[3] = dataclasses.replace(seeds[3], ours="outside at 0 of 0 points")
    e = ledger.aggregate(seeds, comparative=True)
    assert e["seeds"] == [0, 1, 2] and e["verdict"] == "held"
    assert [r["verdict"] for r in e["per_seed"]] == ["held"] * 3 + ["not testable"]


def test_aggregate_reads_claim_dicts_and_unmeasured_margins():
    seeds = {k: c.as_dict() for k, c in _seeds(2.0, 3.0, 4.0).items()}
    seeds[1]["margins"] = {"m": None}  # not measured in seed 1: that seed fails
    seeds[1]["verdict"] = _study.verdict_of(seeds[1]["margins"])
    e = ledger.aggregate(seeds, comparative=True)
    assert e["margins"]["m"]["values"] == [2.0, None, 4.0]
    assert e["margins"]["m"]["mean"] == 3.0 and e["verdict"] == "inconclusive"


# build() on seed dirs made from a committed results JSON.

ADVNET = os.path.join(RESULTS, "advnet", "mnist_5k", "advnet.json")
CARD = os.path.join(RESULTS, "report_card", "fashion_mnist", "report_card.json")
CLEAN_GAPS = (0.0, 0.005, 0.01)  # C - A clean accuracy per seed: 0, +0.5, +1 points
PGD_GAPS = (0.05, 0.10, 0.15)  # C - A PGD accuracy: 15, 10, 5 points short of 20


def _seed_results(k):
    with open(ADVNET) as f:
        r = json.load(f)
    t = r["table"]
    t["C"]["clean"] = t["A"]["clean"] + CLEAN_GAPS[k]
    t["C"]["pgd"] = t["A"]["pgd"] + PGD_GAPS[k]
    # The gamma = 0 ablation and the HVP timing, which the committed run predates.
    t["C[gamma=0]"] = dict(t["C"], pgd=t["C"]["pgd"] - 0.02)
    r["hvp_images_per_second"] = {"exact": 100.0, "finite_difference": 120.0 + k}
    r["provenance"] = dict(r["provenance"], seed=k,
                           command=f"tf-advnet ledger --seeds={k}", wall_time_s=10.0 + k)
    # C's PGD-10 curve: flat in seeds 0 and 1, still rising 5 points in seed 2.
    r["train"]["C"]["curve"] = ([0.1, 0.2, 0.3, 0.35, 0.4] if k == 2
                                else [0.1, 0.2, 0.3, 0.3, 0.3])
    return r


def test_build_aggregates_seed_dirs_and_renders_from_its_json(tmp_path):
    from tf_advnet.papers import advnet
    from tf_advnet.papers.advnet.claims import PAPER

    ids = tuple(PAPER["claims"])
    spec = (ledger.Source("advnet", "mnist_5k", ids, preset="cpu"),
            ledger.Source("report_card", "fashion_mnist",
                          (ledger.strong_claim_id("advnet"),), preset="cpu"))
    per_seed = {}
    for k in range(3):
        r = _seed_results(k)
        d = spec[0].seed_dir(str(tmp_path), k)
        os.makedirs(d)
        with open(os.path.join(d, "advnet.json"), "w") as f:
            json.dump(r, f)
        per_seed[k] = {c.id: c for c in advnet.claims_of(copy.deepcopy(r))}
    card_dir = spec[1].seed_dir(str(tmp_path), 0)
    os.makedirs(card_dir)
    with open(CARD) as f, open(os.path.join(card_dir, "report_card.json"), "w") as g:
        g.write(f.read())

    (tmp_path / "README.md").write_text("# x\n<!-- claims-ledger -->\nold\n"
                                        "<!-- /claims-ledger -->\nrest\n")
    out = ledger.build(spec, str(tmp_path), seeds=(0, 1, 2, 3), argv=["tf-advnet", "ledger"])
    with open(tmp_path / "results" / "claims.json") as f:
        saved = json.load(f)
    assert saved["claims"] == json.loads(json.dumps(out["claims"]))
    entries = {e["id"]: e for e in saved["claims"]}
    for cid in ids:
        e = entries[cid]
        assert e["seeds"] == [0, 1, 2]  # seed 3 has no dir: fewer seeds
        assert [r["ours"] for r in e["per_seed"]] == [per_seed[k][cid].ours for k in range(3)]
        assert e["statement"] == per_seed[0][cid].statement
        assert e["paper_number"] == per_seed[0][cid].paper
        for name, m in e["margins"].items():
            values = [per_seed[k][cid].margins[name] for k in range(3)]
            assert m["values"] == values
            assert m["mean"] == pytest.approx(statistics.mean(values))
            assert m["std"] == pytest.approx(statistics.stdev(values))
            assert m["min"] == min(values)
        assert [v["file"] for v in e["evidence"]] == [
            f"results/ledger/advnet/mnist_5k/seed{k}/advnet.json" for k in range(3)]
        assert [v["command"] for v in e["evidence"]] == [
            f"tf-advnet ledger --seeds={k}" for k in range(3)]
        assert e["preset"] == "cpu" and e["dataset"] == "mnist_5k" and e["rule"] == ledger.RULE
        assert e["converged"] == "2 of 3 curves converged (still rising: C)"
    conv = saved["runs"][0]["convergence"]
    assert [(c["seed"], c["curve"], c["converged"]) for c in conv] == [
        (0, "C", True), (1, "C", True), (2, "C", False)]
    assert conv[2]["gain"] == pytest.approx(5.0)
    keep = entries["c_keeps_clean_accuracy"]["margins"]["C - A + 1 (points)"]
    assert keep["values"] == pytest.approx([1.0, 1.5, 2.0])
    assert entries["c_keeps_clean_accuracy"]["verdict"] == "held"
    far = entries["c_far_above_a_white_box"]["margins"]["C - A - 20 (PGD points)"]
    assert far["mean"] == pytest.approx(-10.0) and far["std"] == pytest.approx(5.0)
    # Not held by the rule in every seed, but C (the claim's method) still rises in
    # seed 2: more epochs could turn it.
    gated = "inconclusive at this budget (not held by the rule; still rising: C)"
    assert entries["c_far_above_a_white_box"]["verdict"] == gated
    assert entries["c_far_above_a_white_box"]["curves_read"] == {
        "for": ["C"], "against": [], "rising": ["C"]}
    # The report card answered by one seed: it compares two protocols, so too few.
    card = entries[ledger.strong_claim_id("advnet")]
    assert card["verdict"] == "inconclusive (1 seed; the rule needs 3)"
    assert entries["c_far_above_a_white_box"]["strong_protocol"]["verdict"] == card["verdict"]
    assert "strong_protocol" not in entries["c_keeps_clean_accuracy"]  # not robustness

    md = (tmp_path / "results" / "CLAIMS.md").read_text()
    assert md == ledger.render_markdown(saved)
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert summary.count("\n| ") == len(saved["claims"]) + 1  # header + one row each
    assert f"| C - A - 20 (PGD points) | {far['mean']:.4g} ± {far['std']:.4g} |" in md
    assert "| advnet mnist_5k | 2 | C | robust accuracy | 5 | 40 | 5 | no |" in md

    # The README's headline: one line per paper claim, linking to its CLAIMS.md section.
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# x\n<!-- claims-ledger -->\n| paper | claim |")
    assert readme.endswith("<!-- /claims-ledger -->\nrest\n") and "\nold\n" not in readme
    far_line = next(line for line in readme.splitlines() if "c_far_above_a_white_box"
                    .replace("_", "-") in line)
    assert (f"**{gated}** (3 seeds); per seed: 0: not held, 1: not held, 2: not held"
            in far_line and "its curves: 0 of 1 converged (still rising: C)" in far_line)
    assert '<a id="advnet-c-far-above-a-white-box"></a>' in md
    assert ledger.check(str(tmp_path), spec=spec) == []
    # A seed run at settings its preset no longer has: stale (and unlike its peers).
    seed0 = os.path.join(spec[0].seed_dir(str(tmp_path), 0), "advnet.json")
    with open(seed0) as f:
        kept = f.read()
    changed = json.loads(kept)
    n = changed["study"]["advnet_epochs"]
    changed["study"]["advnet_epochs"] = n + 1
    with open(seed0, "w") as f:
        json.dump(changed, f)
    assert ("results/ledger/advnet/mnist_5k/seed0/advnet.json: records other settings than "
            f"preset cpu has now (study/advnet_epochs: {n + 1} vs {n}); run `tf-advnet ledger "
            "--studies=advnet --seeds=0 --preset=cpu`") in ledger.check(str(tmp_path), spec=spec)
    with open(seed0, "w") as f:
        f.write(kept)
    (tmp_path / "README.md").write_text(readme.replace(gated, "held"))
    assert ledger.check(str(tmp_path), spec=spec) == [
        "README.md's claims-ledger section is not what results/claims.json renders to"]
    (tmp_path / "README.md").write_text(readme)
    # An edited number, a lost evidence file, a hand-made verdict: each is found.
    saved["claims"][0]["margins"]["C - A + 1 (points)"]["mean"] += 1
    saved["claims"][1]["verdict"] = "held"
    with open(tmp_path / "results" / "claims.json", "w") as f:
        json.dump(saved, f)
    os.remove(spec[1].seed_dir(str(tmp_path), 0) + "/report_card.json")
    assert ledger.check(str(tmp_path), spec=spec) == [
        "results/CLAIMS.md is not what results/claims.json renders to",
        "README.md's claims-ledger section is not what results/claims.json renders to",
        "advnet/c_keeps_clean_accuracy: margins differs from its evidence",
        "advnet/c_far_above_a_white_box: verdict differs from its evidence",
        "report_card/advnet_holds_under_strong_protocol: evidence "
        "results/ledger/report_card/fashion_mnist/seed0/report_card.json is missing",
        "report_card/advnet_holds_under_strong_protocol: converged differs from its evidence",
        "report_card/advnet_holds_under_strong_protocol: seeds differs from its evidence",
        "report_card/advnet_holds_under_strong_protocol: per_seed differs from its evidence",
        "report_card/advnet_holds_under_strong_protocol: margins differs from its evidence",
        "report_card/advnet_holds_under_strong_protocol: verdict differs from its evidence",
        # The card's seed 0 gone: the comparisons on its rows lose that seed.
        "advnet/c_far_above_a_white_box: its comparison on the report card differs from "
        "the card's evidence",
        "advnet/b_best_white_box: its comparison on the report card differs from the "
        "card's evidence"]


def test_convergence_reads_every_curve_and_measures_the_last_fifth():
    """By hand: the rise over the last 20% of the epochs (at least one) of a
    least-squares line through the last 40% (at least 3 epochs), in points of robust
    accuracy or percent of rho_2's last value; DeepDefense's curve starts at its
    reference (epoch 0), which is not a fine-tuning epoch."""
    results = {
        "models": {"Madry": {"training": {"curve": [0.1, 0.3, 0.5, 0.55, 0.555]}},
                   "FGSM": {"training": {"curve": [0.5, 0.6, 0.7, 0.6, 0.4]}},
                   # Flat but noisy at the end: its last epoch is 1 point above the
                   # one two epochs before, the fitted line 0.2 points.
                   "noisy": {"training": {"curve": [0.5, 0.6, 0.65, 0.7, 0.7, 0.72,
                                                    0.68, 0.71, 0.69, 0.72]}},
                   "one": {"training": {"curve": [0.5]}}},
        # DeepDefense's results (deepdefense.pipeline): curves.methods.<method>.
        "curves": {"n_test": 500, "methods": {"dd": {
            "epoch": [0, 1, 2], "acc": [0.9, 0.9, 0.9], "rho_2": [0.1, 0.2, 0.21]}}},
        "provenance": {"curve": [0.0, 1.0]}}
    rows = {r["curve"]: r for r in ledger.convergence(results)}
    assert set(rows) == {"Madry", "FGSM", "noisy", "one", "dd"}
    # Five epochs: lag 1, the line through the last 3: slope (0.555 - 0.5) / 2.
    assert rows["Madry"]["gain"] == pytest.approx(2.75) and not rows["Madry"]["converged"]
    assert rows["FGSM"]["gain"] == pytest.approx(-15.0) and rows["FGSM"]["converged"]
    # Ten epochs: lag 2, the line through the last 5 (t = -2..2, sum t^2 = 10):
    # slope (-2 * .72 - .68 + .69 + 2 * .72) / 10 = 0.001, times 2 epochs.
    assert rows["noisy"]["gain"] == pytest.approx(0.2) and rows["noisy"]["converged"]
    assert rows["one"]["gain"] is None and rows["one"]["converged"] is None
    assert rows["dd"]["metric"] == "rho_2" and rows["dd"]["epochs"] == 2
    assert rows["dd"]["gain"] == pytest.approx(100 * 0.01 / 0.21)
    assert not rows["dd"]["converged"]
    # On a straight line the fitted rise is the endpoints' difference.
    assert ledger.gain("robust accuracy", [i / 100 for i in range(10)]) == pytest.approx(2)
    assert ledger.converged_text(list(rows.values())) == (
        "2 of 4 curves converged (still rising: Madry, dd)")
    assert ledger.converged_text([]) == "no per-epoch curve recorded"
    assert ledger.converged_text([], runs=0) == "—"  # no seed ran


@pytest.mark.skipif(not os.path.exists(os.path.join(RESULTS, "claims.json")),
                    reason="no committed ledger yet (results/claims.json)")
def test_committed_ledger_is_sound():
    """Every verdict of the committed ledger has its evidence files, its numbers are
    what they give, comparative claims have 3 seeds, CLAIMS.md renders from the JSON."""
    assert ledger.check(ROOT) == []


def test_build_refuses_a_seed_dir_of_another_preset(tmp_path):
    spec = (ledger.Source("advnet", "mnist_5k", ("c_keeps_clean_accuracy",)),)
    d = spec[0].seed_dir(str(tmp_path), 0)
    os.makedirs(d)
    with open(os.path.join(d, "advnet.json"), "w") as f:
        json.dump(_seed_results(0), f)
    with pytest.raises(UserError, match="is preset 'cpu', the ledger's 'long'"):
        ledger.build(spec, str(tmp_path), seeds=(0,))


# run_missing.

def _fake_study(calls):
    def run(preset_name, dataset, **kw):
        calls.append((preset_name, dataset, kw))

    return types.SimpleNamespace(PRESETS=("cpu",), RESULTS_FILES=("fake.json",), run=run)


def test_run_missing_runs_only_the_missing_seeds_with_their_seed(tmp_path):
    calls = []
    fake = _fake_study(calls)
    spec = (ledger.Source("fake", "d", ("x",), preset="cpu", model="m"),)
    done_dir = spec[0].seed_dir(str(tmp_path), 1)
    os.makedirs(done_dir)
    with open(os.path.join(done_dir, "fake.json"), "w") as f:
        json.dump({"provenance": {"preset": "cpu", "seed": 1}}, f)
    done = ledger.run_missing(spec, str(tmp_path), work_dir="w", progress=lambda _: None,
                              load=lambda name: fake)
    assert done == [spec[0].seed_dir(str(tmp_path), k) for k in (0, 2)]
    assert [(p, d, kw["overrides"], kw["results_dir"], kw["work_dir"], kw["model"])
            for p, d, kw in calls] == [
        ("cpu", "d", {"seed": k}, spec[0].seed_dir(str(tmp_path), k),
         os.path.join("w", "fake", f"seed{k}"), "m") for k in (0, 2)]


def test_missing_runs_the_studies_in_the_order_studies_names_them(tmp_path):
    """Study by study in --studies' order (the spec's sources of one study in theirs),
    seeds in --seeds' order."""
    calls = []
    fake = _fake_study(calls)
    spec = (ledger.Source("a", "d", ("x",), preset="cpu"),
            ledger.Source("b", "d", ("x",), preset="cpu", model="m1"),
            ledger.Source("b", "d", ("x",), preset="cpu", model="m2"))
    todo = ledger.missing(spec, str(tmp_path), seeds=(2, 0), studies=["b", "a"],
                          load=lambda name: fake)
    assert [(s.study, s.model, seed) for s, _, _, seed in todo] == [
        ("b", "m1", 2), ("b", "m1", 0), ("b", "m2", 2), ("b", "m2", 0),
        ("a", None, 2), ("a", None, 0)]
    # Without --studies: the spec's order.
    todo = ledger.missing(spec, str(tmp_path), seeds=(0,), load=lambda name: fake)
    assert [s.study for s, _, _, _ in todo] == ["a", "b", "b"]


def test_run_missing_reruns_a_seed_whose_evidence_records_another_preset(tmp_path):
    """A preset changed since a seed ran (more epochs): its committed JSON is stale,
    so the ledger runs it again; a field the JSON predates (added since, at its
    default) is no difference, one the preset now sets to another value is, and a
    model the JSON lacks beside recorded ones is."""
    calls, lines, asked = [], [], []
    now = {"study": {"epochs": 36, "eps": 0.5, "ema_decay": None}}

    def settings_(*args, **kw):
        asked.append((args, kw))
        return now

    fake = types.SimpleNamespace(PRESETS=("cpu", "long"), RESULTS_FILES=("fake.json",),
                                 run=_fake_study(calls).run, settings=settings_)
    spec = (ledger.Source("fake", "d", ("x",), preset="cpu", model="m"),)

    def commit(seed, epochs, preset="cpu"):
        d = spec[0].seed_dir(str(tmp_path), seed)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "fake.json"), "w") as f:
            json.dump({"study": {"epochs": epochs, "eps": 0.5, "seed": seed},
                       "provenance": {"preset": preset, "seed": seed}}, f)

    def recorded(seed):
        path = os.path.join(spec[0].seed_dir(str(tmp_path), seed), "fake.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    commit(0, 18)
    commit(1, 36)
    assert ledger.stale(spec[0], fake, 0, recorded(0)) == ["study/epochs: 18 vs 36"]
    assert asked == [(("cpu", "d"), {"overrides": {"seed": 0}, "model": "m"})]
    assert ledger.stale(spec[0], fake, 1, recorded(1)) == []  # ema_decay: not recorded
    # A field added since that the preset now sets to other than its default: the old
    # run ran at the default, so it differs.
    fake.setting_defaults = lambda: {"study": {"ema_decay": None, "eps": 0.25}}
    now["study"]["ema_decay"] = 0.998
    assert ledger.stale(spec[0], fake, 1, recorded(1)) == [
        "study/ema_decay: — (its default None) vs 0.998"]
    now["study"]["ema_decay"] = None
    del fake.setting_defaults
    assert ledger.stale(spec[0], fake, 2, recorded(2)) == []  # nothing committed
    done = ledger.run_missing(spec, str(tmp_path), seeds=(0, 1), work_dir="w",
                              progress=lines.append, load=lambda name: fake)
    assert done == [spec[0].seed_dir(str(tmp_path), 0)]
    assert [kw["overrides"] for _, _, kw in calls] == [{"seed": 0}]
    assert lines[0] == ("[ledger] fake d seed 0: its results JSON records other settings "
                        "than preset cpu has now (study/epochs: 18 vs 36): running it again")
    # A model added to the study: its keys are missing beside the recorded models'.
    now = {"models": {"A": {"config": {"lr": 1}}, "B": {"config": {"lr": 1}}}}
    with open(os.path.join(spec[0].seed_dir(str(tmp_path), 1), "fake.json"), "w") as f:
        json.dump({"models": {"A": {"config": {"lr": 1}}}, "provenance": {"preset": "cpu"}}, f)
    assert ledger.stale(spec[0], fake, 1, recorded(1)) == ["models/B/config/lr: — vs 1"]
    # Another preset's evidence is refused before anything runs, never overwritten.
    calls.clear()
    with pytest.raises(UserError, match="is preset 'cpu', the ledger's 'long'; move it "
                                        "away or pass --preset=cpu"):
        ledger.run_missing(spec, str(tmp_path), seeds=(0, 1, 2), preset="long",
                           work_dir="w", progress=lines.append, load=lambda name: fake)
    assert calls == []


def test_every_study_says_the_settings_its_committed_evidence_records():
    """Each ledger run's `settings` (what its results JSON records, computed without
    running) covers its committed evidence both ways: the staleness check compares
    real keys, and what it leaves out is only what the data decide."""
    from tf_advnet.papers import _study

    derived = {"n", "n_train", "n_test", "dataset", "model", "architecture", "preset", "eps"}
    checked = 0
    for src in ledger.SPEC:
        pkg = _study.load(src.study)
        path = os.path.join(src.seed_dir(ROOT, 0), src.results_file(pkg))
        if not os.path.exists(path):
            continue
        with open(path) as f:
            results = json.load(f)
        recorded = ledger.settings(results)
        now = ledger.settings(json.loads(json.dumps(pkg.settings(
            src.preset, src.dataset, overrides={"seed": 0}, **src.run_kwargs))))
        # A tree the JSON's format predates (the sweep's configs) cannot be compared.
        known = {k for k in now if k.split("/")[0] in {r.split("/")[0] for r in recorded}}
        shared = set(recorded) & known
        assert len(shared) >= 0.9 * len(known) and len(shared) >= 8, (src.study, src.label)
        assert set(recorded) - set(now) <= derived, (src.study, src.label)
        assert ledger.stale(src, pkg, 0, results) == [], (src.study, src.label)
        checked += 1
    assert checked >= len(ledger.SPEC) - 1  # at most one run's seed 0 under way


def test_a_sweep_source_runs_and_reads_its_own_results_file(tmp_path):
    """DeepDefense's Fig. 4 sweep is a second run of the study: its own seed dirs
    and results file (sweep.json, beside Table 1's deepdefense.json)."""
    calls = []
    fake = types.SimpleNamespace(PRESETS=("cpu",), RESULTS_FILES=("fake.json", "sweep.json"),
                                 run=_fake_study(calls).run)
    table, sweep = (ledger.Source("fake", "d", ("x",), preset="cpu", model="m"),
                    ledger.Source("fake", "d", ("y",), preset="cpu", model="m", sweep=True))
    assert sweep.seed_dir("r", 0) == os.path.join("r", "results", "ledger", "fake", "d", "m",
                                                  "sweep", "seed0")
    assert (table.results_file(fake), sweep.results_file(fake)) == ("fake.json", "sweep.json")
    assert (table.label, sweep.label) == ("m", "m Fig. 4 sweep")
    done_dir = table.seed_dir(str(tmp_path), 0)  # Table 1 ran: the sweep still runs
    os.makedirs(done_dir)
    open(os.path.join(done_dir, "sweep.json"), "w").close()
    ledger.run_missing((table, sweep), str(tmp_path), seeds=(0,), work_dir="w",
                       progress=lambda _: None, load=lambda name: fake)
    assert [(kw["results_dir"], kw.get("sweep")) for _, _, kw in calls] == [
        (table.seed_dir(str(tmp_path), 0), None), (sweep.seed_dir(str(tmp_path), 0), True)]


def test_deepdefense_run_dispatches_the_sweep(monkeypatch):
    from tf_advnet.papers import deepdefense
    from tf_advnet.papers.deepdefense import pipeline, sweep

    seen = []
    monkeypatch.setattr(sweep, "sweep", lambda *a, **kw: seen.append(("sweep", a, kw)))
    monkeypatch.setattr(pipeline, "reproduce", lambda *a, **kw: seen.append(("t1", a, kw)))
    deepdefense.run("long", "mnist_5k", "mlp", sweep=True, work_dir="w")
    deepdefense.run("long", "mnist_5k", "mlp", work_dir="w")
    assert seen == [("sweep", ("long", "mnist_5k", "mlp"), {"work_dir": "w"}),
                    ("t1", ("long", "mnist_5k", "mlp"), {"work_dir": "w"})]


def test_run_missing_refuses_a_study_without_the_preset_before_running(tmp_path):
    calls = []
    spec = (ledger.Source("fake", "d", ("x",)),)  # the ledger's preset: long
    with pytest.raises(UserError) as e:
        ledger.run_missing(spec, str(tmp_path), load=lambda name: _fake_study(calls))
    assert str(e.value) == ("--preset='long' is not a preset of the fake study; "
                            "allowed values: cpu")
    assert calls == []
    # Every study of the real spec has the ledger's preset (checked, never run here).
    from tf_advnet.papers import _study

    for src in ledger.SPEC:
        assert src.preset in _study.load(src.study).PRESETS, src.study


# Several seed runs at a time.

def _job(tmp_path, name, after=(), code=0):
    """A run_parallel Job whose process records when it ran and with how many
    threads, then exits with `code`."""
    import sys

    out = os.path.join(str(tmp_path), name.replace(" ", "_"))
    script = ("import os, sys, time, json; t0 = time.time(); time.sleep(0.4); "
              f"open({out + '.json'!r}, 'w').write(json.dumps([t0, time.time(), "
              "os.environ['TF_NUM_INTRAOP_THREADS']])); "
              f"print('ran {name}'); sys.exit({code})")
    return ledger.Job(name, (sys.executable, "-c", script),
                      os.path.join(str(tmp_path), "logs", name.replace(" ", "_") + ".log"),
                      after=after)


def _span(tmp_path, name):
    return json.loads((tmp_path / (name.replace(" ", "_") + ".json")).read_text())


def test_run_parallel_runs_each_job_in_its_own_process_at_most_workers_at_a_time(tmp_path):
    jobs = [_job(tmp_path, n) for n in ("a seed 0", "a seed 1", "b seed 0")]
    lines = []
    done = ledger.run_parallel(jobs, 2, cpus=4, progress=lines.append, poll_s=0.02)
    assert sorted(done) == sorted(j.name for j in jobs)
    spans = {j.name: _span(tmp_path, j.name) for j in jobs}
    for j in jobs:
        assert spans[j.name][2] == "2"  # 4 cores over 2 workers
        with open(j.log) as f:
            assert f.read() == f"ran {j.name}\n"
    # At no moment do three run together; the first two overlap.
    for t, _, _ in spans.values():
        assert sum(a <= t < b for a, b, _ in spans.values()) <= 2
    (a0, a1, _), (b0, b1, _) = spans["a seed 0"], spans["a seed 1"]
    assert max(a0, b0) < min(a1, b1)
    assert sum("started" in x for x in lines) == 3
    assert sum(": done in" in x for x in lines) == 3


def test_run_parallel_shows_each_running_jobs_last_log_line(tmp_path):
    import sys

    script = ("import sys, time; print('Epoch 1/3'); sys.stdout.write('1/9 - loss 2\\r"
              "5/9 - loss 1\\r'); sys.stdout.flush(); time.sleep(0.5)")
    job = ledger.Job("a seed 0", (sys.executable, "-c", script),
                     os.path.join(str(tmp_path), "a.log"))
    lines = []
    ledger.run_parallel([job], 1, progress=lines.append, poll_s=0.05, heartbeat_s=0.3)
    beats = [x for x in lines if x.startswith("[ledger] a seed 0: 0 min: ")]
    assert beats and beats[-1] == "[ledger] a seed 0: 0 min: 5/9 - loss 1"


def test_run_parallel_starts_a_job_only_after_the_jobs_it_waits_on(tmp_path):
    jobs = [_job(tmp_path, "card part 0"),
            _job(tmp_path, "card part 1", after=("card part 0",)),
            _job(tmp_path, "card", after=("card part 0", "card part 1")),
            _job(tmp_path, "other")]
    done = ledger.run_parallel(jobs, 3, progress=lambda _: None, poll_s=0.02)
    t = {j.name: _span(tmp_path, j.name) for j in jobs}
    assert t["card part 1"][0] >= t["card part 0"][1]
    assert t["card"][0] >= t["card part 1"][1]
    assert t["other"][0] < t["card part 0"][1]  # not held back by the card's order
    assert done.index("card part 0") < done.index("card part 1") < done.index("card")
    with pytest.raises(ValueError, match="jobs wait on jobs not given"):
        ledger.run_parallel([_job(tmp_path, "x", after=("y",))], 1, poll_s=0.02)


def test_run_parallel_names_each_failed_job_and_its_log_after_the_others(tmp_path):
    jobs = [_job(tmp_path, "bad", code=3), _job(tmp_path, "good"),
            _job(tmp_path, "after bad", after=("bad",))]
    lines = []
    with pytest.raises(UserError) as e:
        ledger.run_parallel(jobs, 2, progress=lines.append, poll_s=0.02)
    assert str(e.value) == (f"seed runs failed: bad ({jobs[0].log}); after bad "
                            f"({jobs[2].log}); rerun the same command to resume them")
    assert (tmp_path / "good.json").exists()
    assert not (tmp_path / "after_bad.json").exists()
    assert "[ledger] after bad: skipped (waits on a failed job)" in lines


def test_plan_keeps_a_studys_runs_of_one_seed_in_one_job_and_splits_the_card():
    dd = [s for s in ledger.SPEC if s.study == "deepdefense"]
    card = [s for s in ledger.SPEC if s.study == "report_card"]
    assert len(dd) == 3  # MLP, LeNet, the sweep: they share the standard model
    todo = [(src, None, "long", seed) for src in dd for seed in (0, 1)]
    todo += [(card[0], None, "long", 2), (ledger.SPEC[0], None, "long", 1)]
    jobs = ledger.plan(todo, preset="long", work_dir="w")
    assert [(j.name, j.after) for j in jobs] == [
        ("deepdefense seed 0", ()), ("deepdefense seed 1", ()),
        ("report_card seed 2 part 0", ()),
        ("report_card seed 2 part 1", ("report_card seed 2 part 0",)),
        ("report_card seed 2 part 2", ("report_card seed 2 part 0",)),
        ("report_card seed 2", tuple(f"report_card seed 2 part {i}" for i in range(3))),
        ("advnet seed 1", ())]
    assert jobs[0].argv[1:] == ("-m", "tf_advnet", "ledger", "--preset=long",
                                "--studies=deepdefense", "--seeds=0", "--work_dir=w",
                                "--noaggregate")
    assert jobs[0].log == os.path.join("w", "logs", "deepdefense.seed0.log")
    # The parts together train every row of the card, into the seed's work dir.
    from tf_advnet.papers.report_card.study import ROWS

    rows = [a.split("=", 1)[1].split(",") for j in jobs[2:5] for a in j.argv
            if a.startswith("--rows=")]
    assert sorted(r for part in rows for r in part) == sorted(ROWS)
    assert all(f"--work_dir={os.path.join('w', 'report_card', 'seed2')}" in j.argv
               and "--seed=2" in j.argv and "--dataset=fashion_mnist" in j.argv
               for j in jobs[2:5])


def test_each_job_command_parses_as_its_command(monkeypatch):
    """A worker is the ledger for one study and seed that does not aggregate; a card
    part is the report-card command on its rows (each parsed here, not run)."""
    from tf_advnet.cli import ledger as ledger_command
    from tf_advnet.cli import report_card as card_command

    card = [s for s in ledger.SPEC if s.study == "report_card"]
    jobs = ledger.plan([(card[0], None, "long", 2)], preset="long", work_dir="w")
    ran = []
    monkeypatch.setattr(ledger, "run_missing", lambda *a, **kw: ran.append(kw))
    monkeypatch.setattr(ledger, "build", lambda *a, **kw: pytest.fail("aggregated"))
    assert jobs[-1].argv[1:4] == ("-m", "tf_advnet", "ledger")
    assert cli.main(list(jobs[-1].argv[3:])) == 0
    assert ran == [{"seeds": (2,), "preset": "long", "studies": ["report_card"],
                    "work_dir": "w"}]
    assert ledger_command._AGGREGATE.value is False
    for job in jobs[:-1]:
        assert job.argv[1:4] == ("-m", "tf_advnet", "report-card")
        card_command.COMMAND.parse(list(job.argv[4:]))
        assert card_command.overrides()["seed"] == 2


def test_ledger_jobs_runs_the_missing_seeds_in_parallel_then_aggregates(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = []
    monkeypatch.setattr(ledger, "run_parallel", lambda jobs, n, **kw: got.append(
        ([j.name for j in jobs], n)))
    assert cli.main(["ledger", "--preset=long", "--studies=pgn", "--seeds=1,2",
                     "--jobs=2"]) == 0
    assert got == [(["pgn seed 1", "pgn seed 2"], 2)]
    assert (tmp_path / "results" / "claims.json").exists()
    # --studies' order, not the spec's (advnet comes before pgn there).
    assert [s.study for s in ledger.SPEC].index("advnet") < [
        s.study for s in ledger.SPEC].index("pgn")
    got.clear()
    assert cli.main(["ledger", "--preset=long", "--studies=pgn,advnet", "--seeds=2,1",
                     "--jobs=2", "--noaggregate"]) == 0
    assert got == [(["pgn seed 2", "pgn seed 1", "advnet seed 2", "advnet seed 1"], 2)]


def test_bat_seed_override_keeps_the_second_surrogates_offset():
    from tf_advnet.papers.bat.pipeline import bat_config, model_specs

    base, seed1 = model_specs(["R-MC-LA", "R-MC-LA_seed1"])
    assert bat_config("cpu", "fashion_mnist", base, {"seed": 5}).seed == 5
    assert bat_config("cpu", "fashion_mnist", seed1, {"seed": 5}).seed == 6
    assert bat_config("cpu", "fashion_mnist", seed1).seed == bat_config(
        "cpu", "fashion_mnist", base).seed + 1


# The command.

def test_ledger_command_renders_what_exists(tmp_path, monkeypatch, capsys):
    """--render_only on a tree without seed runs: every claim of the chosen study is
    in claims.json, not run, in paper_values.json's words."""
    from tf_advnet.papers.bat.claims import PAPER

    monkeypatch.chdir(tmp_path)
    assert cli.main(["ledger", "--render_only", "--preset=cpu", "--studies=bat"]) == 0
    with open(tmp_path / "results" / "claims.json") as f:
        saved = json.load(f)
    # --studies chooses what runs; the ledger covers every study of the spec.
    assert [e["id"] for e in saved["claims"] if e["study"] == "bat"] == list(PAPER["claims"])
    assert {e["study"] for e in saved["claims"]} == {s.study for s in ledger.SPEC}
    assert all(e["verdict"] == "not run" and e["seeds"] == [] for e in saved["claims"])
    assert all(e["statement"] == PAPER["claims"][e["id"]]["statement"]
               for e in saved["claims"] if e["study"] == "bat")
    assert saved["seeds"] == [0, 1, 2]
    assert "wrote results/claims.json" in capsys.readouterr().out
    assert (tmp_path / "results" / "CLAIMS.md").read_text() == ledger.render_markdown(saved)


@pytest.mark.parametrize("args,message", [
    (["--seeds=0,a"], "error: --seeds=0,a is not valid; allowed values: comma-separated "
                      "integers >= 0, e.g. 0,1,2"),
    (["--seeds=1,1"], "error: --seeds=1,1 is not valid; allowed values: distinct "
                      "integers >= 0, at least one"),
    (["--preset=huge"], "error: --preset='huge' is not valid; allowed values: cpu, long, "
                        "paper"),
    (["--studies=bat,trades"], "error: --studies='trades' is not valid; allowed values: "
                               "advnet, bat, deepdefense, l2lda, pgn, report_card"),
    (["--jobs=0"], "error: --jobs=0 is not valid; allowed values: integers >= 1"),
    (["--noaggregate"], "error: --render_only and --noaggregate together do nothing; "
                        "allowed: one of them"),
])
def test_ledger_command_errors_are_one_line(args, message, capsys):
    assert cli.main(["ledger", *args, "--render_only"]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_readme_card_is_the_long_card_over_its_seeds(tmp_path):
    """The README's fair report card: the card of every seed the ledger has, each cell
    mean ± sample std, linking each seed's card; `check` finds a hand-edited one."""
    from tf_advnet.papers.report_card.study import ROWS
    from tf_advnet.utils.markers import between

    spec = (ledger.Source("report_card", "fashion_mnist",
                          tuple(ledger.strong_claim_id(r) for r in ROWS), preset="cpu"),)
    with open(CARD) as f:
        card = json.load(f)
    for k in (0, 1):
        c = copy.deepcopy(card)
        c["provenance"]["seed"] = k
        c["rows"]["standard"]["clean"] += 0.02 * k  # 2 points apart: std 1.4 points
        d = spec[0].seed_dir(str(tmp_path), k)
        os.makedirs(d)
        with open(os.path.join(d, "report_card.json"), "w") as f:
            json.dump(c, f)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- report-card:ledger -->\nstale\n"
                      "<!-- /report-card:ledger -->\n")
    ledger.build(spec, str(tmp_path), seeds=(), argv=["tf-advnet", "ledger"])
    # No seed: the section says so (an earlier card would otherwise stay in place).
    assert between(str(readme), ledger.CARD_MARKER) == ledger.NO_CARD
    ledger.build(spec, str(tmp_path), seeds=(0, 1), argv=["tf-advnet", "ledger"])
    section = between(str(readme), ledger.CARD_MARKER)
    clean = 100 * card["rows"]["standard"]["clean"]
    row = next(line for line in section.splitlines() if line.startswith("| Standard |"))
    assert f" {clean + 1:.1f} ± 1.4 |" in row
    pgd = 100 * card["rows"]["pgd_at"]["worst_case"]
    assert f"| **{pgd:.1f} ± 0.0** |" in section  # the same in both seeds
    assert "Mean ± standard deviation over seeds 0, 1." in section
    assert ("[seed 1](results/ledger/report_card/fashion_mnist/seed1/report_card.md)"
            in section)
    assert ledger.check(str(tmp_path), spec=spec) == []
    readme.write_text(readme.read_text().replace(" ± 1.4 |", " ± 0.1 |"))
    assert ledger.check(str(tmp_path), spec=spec) == [
        "README.md's report-card:ledger section is not the report card's evidence files"]


def test_a_claim_answered_on_two_models_has_one_section_each():
    """DeepDefense's Table 1 claims on the MLP and on LeNet: two entries, each with
    its own anchor and its model in the statement."""
    with open(os.path.join(ROOT, ledger.JSON_FILE)) as f:
        led = json.load(f)
    anchors = [ledger.anchor(e) for e in led["claims"]]
    assert len(set(anchors)) == len(anchors)
    rho = {e["model"]: e for e in led["claims"] if e["id"] == "rho2_raised"}
    assert set(rho) == {"mlp", "lenet"}
    assert ledger.anchor(rho["lenet"]) == "deepdefense-lenet-rho2-raised"
    assert ledger.statement(rho["mlp"]).endswith("[mlp]")


def test_check_finds_seeds_that_ran_different_settings(tmp_path):
    """Two seeds of the card, one at other epochs (an old budget's seed left among
    new ones): `check` names the seeds and the setting; the seed itself and the
    paths that name a seed's directory are not settings."""
    from tf_advnet.papers.report_card.study import ROWS

    spec = (ledger.Source("report_card", "fashion_mnist",
                          tuple(ledger.strong_claim_id(r) for r in ROWS), preset="cpu"),)
    with open(CARD) as f:
        card = json.load(f)
    epochs = card["card"]["epochs"]
    for k in (0, 1):
        c = copy.deepcopy(card)
        c["card"]["seed"] = c["provenance"]["seed"] = k
        c["card"]["data_dir"] = f"/data/seed{k}"
        d = spec[0].seed_dir(str(tmp_path), k)
        os.makedirs(d)
        with open(os.path.join(d, "report_card.json"), "w") as f:
            json.dump(c, f)
    ledger.build(spec, str(tmp_path), seeds=(0, 1), argv=["tf-advnet", "ledger"])
    assert ledger.check(str(tmp_path), spec=spec) == []
    seed1 = os.path.join(spec[0].seed_dir(str(tmp_path), 1), "report_card.json")
    with open(seed1) as f:
        c = json.load(f)
    c["card"]["epochs"] = epochs + 8
    with open(seed1, "w") as f:
        json.dump(c, f)
    problems = ledger.check(str(tmp_path), spec=spec)
    expected = (f"seeds 0 and 1 ran different settings (card/epochs: {epochs} vs "
                f"{epochs + 8})")
    # Once per run (not once per claim of it), on its first claim.
    assert [p for p in problems if "different settings" in p] == [
        f"report_card/{ledger.strong_claim_id(ROWS[0])}: {expected}"]


def test_strong_comparison_asks_the_claim_of_the_cards_rows():
    """BAT against PGD-AT on the card, by hand: worst cases 30/35, 31/34, 29/36 % ->
    margins -5, -3, -7 points, mean -5 ± 2 (sample std): not held in every seed and
    mean + std < 0, so not held; two seeds are too few; a card without the row is no
    seed."""
    def card(a, b):
        return {"rows": {"bat": {"worst_case": a}, "pgd_at": {"worst_case": b}}}

    cards = {0: card(0.30, 0.35), 1: card(0.31, 0.34), 2: card(0.29, 0.36),
             3: {"rows": {"bat": {"worst_case": 0.5}}}}
    pair = ledger.STRONG_PAIRS[("bat", "r_mc_la_beats_madry")]
    c = ledger.strong_comparison(pair, cards)
    assert c["rows"] == ["bat", "pgd_at"] and c["seeds"] == [0, 1, 2]
    (m,) = c["margins"].values()
    assert m["values"] == pytest.approx([-5, -3, -7])
    assert m["mean"] == pytest.approx(-5) and m["std"] == pytest.approx(2)
    assert c["verdict"] == "not held"
    assert c["per_seed"][0]["ours"] == "30.0% vs 35.0% (-5.0)"
    two = ledger.strong_comparison(pair, {k: cards[k] for k in (0, 1)})
    assert two["verdict"] == "inconclusive (2 seeds; the rule needs 3)"
    sp = {"claim": "bat_holds_under_strong_protocol", "dataset": "fashion_mnist",
          "seeds": [0, 1, 2], "verdict": "held", "comparison": c}
    assert ledger.strong_text(sp) == ("BAT (R-MC-LA) > PGD-AT (Madry): not held; its own "
                                      "number holds: held (fashion_mnist)")
    assert ledger.strong_text(dict(sp, comparison=None)) == "held (fashion_mnist)"


# The budget gate: a verdict that more epochs of a rising curve could turn.

def _read(for_=(), against=(), rising=()):
    return {"for": list(for_), "against": list(against), "rising": list(rising)}


def test_a_rising_curve_on_the_side_that_could_turn_the_verdict_makes_it_inconclusive():
    held, failed = _seeds(2.0, 3.0, 4.0), _seeds(-2.0, -3.0, -4.0)
    # Held, the baseline still rising: it could catch up.
    e = ledger.aggregate(held, comparative=True,
                         curves_read=_read(["C"], ["A", "B"], rising=["B"]))
    assert e["verdict"] == ("inconclusive at this budget (held by the rule; still "
                            "rising: B)")
    # Held, only the claimed method still rising: more epochs would not undo it.
    assert ledger.aggregate(held, comparative=True, curves_read=_read(
        ["C"], ["A"], rising=["C"]))["verdict"] == "held"
    # Not held, the claimed method still rising: it could still get there.
    assert ledger.aggregate(failed, curves_read=_read(
        ["C"], ["A"], rising=["C"]))["verdict"].startswith(
        "inconclusive at this budget (not held by the rule")
    # Not held, only the baseline rising: that widens the gap.
    assert ledger.aggregate(failed, curves_read=_read(
        ["C"], ["A"], rising=["A"]))["verdict"] == "not held"
    # Too few seeds and a spread already inconclusive stay as they were.
    assert ledger.aggregate(_seeds(2.0), comparative=True, curves_read=_read(
        ["C"], ["A"], rising=["A"]))["verdict"] == "inconclusive (1 seed; the rule needs 3)"


def test_claim_curves_match_whole_names_over_every_seed():
    conv = [{"curve": "pgn_0.1", "converged": True, "seed": 0},
            {"curve": "pgn_0.1", "converged": False, "seed": 1},
            {"curve": "pgn_0.1_w2", "converged": False, "seed": 0},
            {"curve": "pgd_at_0.5", "converged": True, "seed": 0},
            {"curve": "standard", "converged": None, "seed": 0}]
    read = ledger.claim_rising(conv, {"for": ["pgn_[0-9.]+"], "against": ["pgd_at_.*"]})
    # "pgn_[0-9.]+" is not "pgn_0.1_w2"; a curve rising in one seed is rising.
    assert read == {"for": ["pgn_0.1"], "against": ["pgd_at_0.5"], "rising": ["pgn_0.1"]}
    assert ledger.claim_rising(conv, {"for": [], "against": []}) is None
    assert ledger.claim_rising(conv, {"for": ["C"], "against": ["A"]}) is None
    assert ledger.claim_converged_text(read, "run") == (
        "its curves: 1 of 2 converged (still rising: pgn_0.1)")
    assert ledger.claim_converged_text(None, "3 of 8 curves converged") == (
        "3 of 8 curves converged")
    many = _read([f"c{i}" for i in range(6)], rising=[f"c{i}" for i in range(6)])
    assert ledger.claim_converged_text(many, "run") == (
        "its curves: 0 of 6 converged (still rising: c0, c1, c2, c3, 2 more)")


def test_every_claims_curve_pattern_names_a_curve_of_its_committed_evidence():
    """A misspelt curve name would silently exempt a verdict from the budget gate:
    every pattern of paper_values.json matches a curve of the claim's evidence."""
    with open(os.path.join(ROOT, ledger.JSON_FILE)) as f:
        led = json.load(f)
    checked = 0
    for e in led["claims"]:
        spec = ledger.claim_curves(e["study"], e["id"])
        if not e["evidence"] or not any(spec.values()):
            continue
        names = set()
        for v in e["evidence"]:
            with open(os.path.join(ROOT, v["file"])) as f:
                names |= set(ledger.curves(json.load(f)))
        for p in spec["for"] + spec["against"]:
            assert any(re.fullmatch(p, n) for n in names), (e["study"], e["id"], p)
            checked += 1
        read = e["curves_read"]
        assert set(read["for"]) | set(read["against"]) <= names
    assert checked >= 20


def test_check_finds_a_verdict_that_ignores_a_rising_curve(tmp_path):
    """A ledger whose entry hides the curves it reads, or keeps a held verdict while
    its baseline still rises, is flagged by `check`."""
    from tf_advnet.papers.advnet.claims import PAPER

    spec = (ledger.Source("advnet", "mnist_5k", tuple(PAPER["claims"]), preset="cpu"),)
    for k in range(3):
        r = _seed_results(k)
        r["train"]["A"]["curve"] = [0.0, 0.0, 0.0, 0.0, 0.0]
        d = spec[0].seed_dir(str(tmp_path), k)
        os.makedirs(d)
        with open(os.path.join(d, "advnet.json"), "w") as f:
            json.dump(r, f)
    led = ledger.build(spec, str(tmp_path), seeds=(0, 1, 2), argv=["tf-advnet", "ledger"])
    assert ledger.check(str(tmp_path), spec=spec) == []
    e = next(e for e in led["claims"] if e["id"] == "c_far_above_a_white_box")
    # C rises 5 points in seed 2 (its fitted line), A is flat.
    assert e["curves_read"] == {"for": ["C"], "against": ["A"], "rising": ["C"]}
    path = os.path.join(str(tmp_path), ledger.JSON_FILE)
    with open(path) as f:
        saved = json.load(f)
    for x in saved["claims"]:
        if x["id"] == "c_far_above_a_white_box":
            x["curves_read"] = None
    with open(path, "w") as f:
        json.dump(saved, f)
    problems = ledger.check(str(tmp_path), spec=spec)
    assert "advnet/c_far_above_a_white_box: the curves it reads differ from its evidence" in problems
