"""Re-measuring a DeepDefense cost table: configs round-trip, every row re-timed with
the warm-step timer, the superseded numbers kept, the Markdown rendered again."""

import json
import statistics

import pytest

from tf_advnet.configs import preset, to_dict
from tf_advnet.papers.deepdefense import pipeline as dd_run
from tf_advnet.papers.deepdefense.costs import config_from_dict, remeasure

TINY = dict(train_limit=256, test_limit=48, epochs=1, trainer={"num_iter": 2})


def test_config_from_dict_round_trips():
    ref = dd_run.reference_config("synthetic", "mlp", "cpu", TINY)
    for cfg in (ref, dd_run.finetune_config(ref, "synthetic", "deepdefense", TINY),
                preset("cpu", "fashion_mnist", "bat")):
        assert config_from_dict(json.loads(json.dumps(to_dict(cfg)))) == cfg


# The tests that use this fixture are marked slow: it alone takes about 12 s
# on 2 CPU cores (CI, commit e91f0ad).
@pytest.fixture(scope="module")
def remeasured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dd_costs")
    dd_run.reproduce("cpu", "synthetic", "mlp", work_dir=str(tmp / "runs"),
                     results_dir=str(tmp / "results"), overrides=TINY,
                     argv=["reproduce_deepdefense.py"], progress=lambda _: None)
    path = tmp / "results" / "deepdefense.json"
    before = json.loads(path.read_text())
    remeasure(str(path), work_dir=str(tmp / "runs"), plain_steps=6,
              deepdefense_steps=3, rounds=3, argv=["-m", "tf_advnet.papers.deepdefense.costs"],
              progress=lambda _: None)
    return before, json.loads(path.read_text()), (tmp / "results" / "deepdefense.md")


@pytest.mark.slow
def test_every_row_retimed_and_old_numbers_kept(remeasured):
    before, after, _ = remeasured
    cm = after["cost_measurement"]
    for m in dd_run.METHODS:
        assert cm["superseded"][m] == before["models"][m]["training"][
            "train_images_per_second"]
        runs = cm["runs"][m]
        assert len(runs) == 3  # one timing per round
        assert after["models"][m]["training"]["train_images_per_second"] == \
            statistics.median(r["images_per_second"] for r in runs)
        assert all(r["warm_steps"] == (1 if m == "deepdefense" else 2) for r in runs)
    assert len(cm["runs"]["clean"]) == 3
    st = after["step_throughput"]
    assert st["slowdown"] == pytest.approx(st["plain_images_per_second"]
                                           / st["deepdefense_images_per_second"])
    # Table 1's metrics are untouched.
    for m in dd_run.METHODS:
        assert after["models"][m]["metrics"] == before["models"][m]["metrics"]
    assert cm["provenance"]["command"].startswith("-m tf_advnet.papers.deepdefense.costs")


@pytest.mark.slow
def test_markdown_says_how_it_was_measured(remeasured):
    _, after, md = remeasured
    text = md.read_text()
    assert "re-measured at commit" in text and "Superseded images/s" in text
    ips = after["models"]["deepdefense"]["training"]["train_images_per_second"]
    assert f"| DeepDefense | 1 | {ips:.0f} |" in text


@pytest.mark.slow
def test_summary_lists_before_and_after_of_every_row(remeasured, tmp_path):
    from tf_advnet.papers.deepdefense.costs import summary

    before, after, md = remeasured
    table = summary([str(md.parent / "deepdefense.json")])
    rows = table.splitlines()[2:]
    assert len(rows) == len(dd_run.METHODS) + 1
    new = after["models"]["deepdefense"]["training"]["train_images_per_second"]
    old = before["models"]["deepdefense"]["training"]["train_images_per_second"]
    assert f"| deepdefense | {old:,.0f} | {new:,.0f} |" in table
    (tmp_path / "plain.json").write_text(json.dumps(before))  # never re-measured
    assert len(summary([str(tmp_path / "plain.json")]).splitlines()) == 2
