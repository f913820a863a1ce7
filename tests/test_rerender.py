"""Every committed report re-renders byte for byte from its results JSON
(`tf-advnet render`), so a report can never drift from the numbers it shows; and the
claims every study reports are well formed."""

import glob
import os
import shutil

import pytest

from tf_advnet.papers import _study

ROOT = os.path.join(os.path.dirname(__file__), os.pardir, "results")
_FILES = set(_study.results_files()) | {"eval.json"}
DIRS = sorted({os.path.relpath(os.path.dirname(p), ROOT)
               for p in glob.glob(os.path.join(ROOT, "**", "*.json"), recursive=True)
               if os.path.basename(p) in _FILES})


def test_every_study_dir_is_found():
    # One committed results dir of every kind at least, so the test below covers them.
    kinds = {os.path.basename(p) for d in DIRS for p in glob.glob(os.path.join(ROOT, d, "*.json"))}
    assert {"advnet.json", "bat.json", "deepdefense.json", "sweep.json", "l2lda.json",
            "pgn.json", "report_card.json", "eval.json"} <= kinds


@pytest.mark.parametrize("rel", DIRS)
def test_committed_report_rerenders_byte_for_byte(rel, tmp_path):
    src = os.path.join(ROOT, rel)
    for p in glob.glob(os.path.join(src, "*.json")):
        shutil.copy(p, tmp_path)
    written = _study.rerender(str(tmp_path))
    mds = [p for p in glob.glob(os.path.join(tmp_path, "*.md"))]
    assert mds and written
    for md in mds:
        with open(md, "rb") as f, open(os.path.join(src, os.path.basename(md)), "rb") as g:
            assert f.read() == g.read(), f"{rel}/{os.path.basename(md)} differs from its JSON"


def test_claims_are_well_formed_for_every_committed_study():
    import json

    for rel in DIRS:
        for fname, name in _study.results_files().items():
            path = os.path.join(ROOT, rel, fname)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                results = json.load(f)
            pkg = _study.load(name)
            if hasattr(pkg, "deviations") and fname != "sweep.json":
                devs = pkg.deviations(results)
                assert all(isinstance(d, str) and d.endswith((".", ")")) for d in devs)
            claims = pkg.claims_of(results, fname)
            ids = [c.id for c in claims]
            assert len(ids) == len(set(ids)), (rel, ids)
            assert all(c.verdict in _study.VERDICTS for c in claims)
            if name not in ("demo", "report_card"):
                assert claims, rel  # every paper study answers its claims


def test_claim_rejects_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict must be one of"):
        _study.Claim(id="x", statement="s", paper="p", ours="o", rule="r", verdict="maybe")


def test_claims_markdown_escapes_table_pipes_and_verdicts_map():
    c = _study.Claim(id="x", statement="a", paper="b", ours="c", rule="|x| <= 1",
                     verdict=_study.verdict_of({"x - 1": 0.5}))
    row = _study.claims_markdown([c])[-1]
    assert row == "| a | b | c | \\|x\\| <= 1 | **held** |"
    assert _study.verdict_of({"x - 1": -0.5}) == "not held"
    assert _study.verdict_of(None) == "not run"


def test_rerender_of_a_dir_without_results_is_one_line_error(tmp_path):
    from tf_advnet.errors import UserError

    with pytest.raises(UserError, match="holds none of"):
        _study.rerender(str(tmp_path))


def test_deviations_render_before_the_claims_only_where_the_results_list_them(tmp_path):
    """Each study lists its run's remaining departures from the paper's recipe
    (`deviations`); a results JSON written before they existed gets them from its
    recorded settings when re-rendered."""
    import json

    from tf_advnet.papers import advnet

    path = os.path.join(ROOT, "advnet", "fashion_mnist", "advnet.json")
    with open(path) as f:
        results = json.load(f)
    devs = advnet.deviations(results)
    assert any("clipped to [0, 1]" in d for d in devs)  # the cpu preset clips
    assert any("gamma's sign" in d for d in devs)
    advnet.render(dict(results, deviations=devs), str(tmp_path))
    md = (tmp_path / "advnet.md").read_text()
    assert md.index("## Deviations from the paper's recipe") < md.index("## Claims")
    assert all(f"- {d}" in md for d in devs)
    assert "deviations" not in results  # written before them: rerender derives them
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(path, old)
    _study.rerender(str(old))
    assert (old / "advnet.md").read_text() == md
    paper = dict(results, study=dict(results["study"], preset="paper", clip=False,
                                     d_every=5, dataset="mnist"))
    assert advnet.deviations(paper) == [d for d in devs if "gamma" in d]
