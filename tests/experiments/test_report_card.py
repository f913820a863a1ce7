"""Report card (`tf_advnet.papers.report_card.pipeline`): every row trained on one architecture and
evaluated under its paper's protocol and the strong one on a tiny synthetic card; the
worst case per example, reuse on rerun, the README table, configs and one-line errors."""

import json

import pytest

from tests.experiments._run import assert_one_line_error, run_binary
from tf_advnet.errors import UserError

TINY = dict(train_limit=96, test_limit=24, epochs=1, finetune_epochs=1, apgd_steps=4,
            apgd_targets=2, square_queries=10, check_examples=16, eval_batch_size=24,
            advnet_generator="g0:4", l2lda_width=4, l2lda_steps=2, pgn_width=4,
            cw_binary_steps=1)


# The tests that use this fixture are marked slow: it alone takes about 31 s
# on 2 CPU cores (CI, commit e91f0ad).
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tf_advnet.papers.report_card.pipeline import reproduce

    tmp = tmp_path_factory.mktemp("card")
    lines = []
    res = reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                    results_dir=str(tmp / "results"), overrides=TINY,
                    argv=["report_card.py", "--dataset=synthetic"], progress=lines.append)
    return tmp, res, lines


@pytest.mark.slow
def test_every_row_is_trained_evaluated_and_reported(tiny):
    from tf_advnet.papers.report_card.pipeline import PAPER_PROTOCOL, ROWS

    tmp, res, _ = tiny
    saved = json.loads((tmp / "results" / "report_card.json").read_text())
    assert list(saved["rows"]) == list(ROWS)
    for row, r in saved["rows"].items():
        paper = r["paper_protocol"]
        assert len(paper["specs"]) == len(PAPER_PROTOCOL[row])
        strong = r["strong_protocol"]["acc"]
        assert [s.rstrip("0123456789").split(":")[0].rstrip("0123456789")
                for s in strong] == ["apgd", "apgdt", "fabt", "square"]
        columns = list(paper["acc"].values()) + list(strong.values())
        # The worst case is per example: never above any column, nor above either
        # protocol's own worst case, nor above clean accuracy.
        assert r["worst_case"] <= min(columns) + 1e-9
        assert r["worst_case"] <= min(paper["worst_case"],
                                      r["strong_protocol"]["worst_case"]) + 1e-9
        assert paper["worst_case"] <= min(paper["acc"].values()) + 1e-9
        assert all(0.0 <= v <= r["clean"] + 1e-9 for v in columns)
        assert r["budget"]["images_per_second"] > 0 and r["budget"]["wall_time_s"] > 0
        names = {ch["name"] for ch in r["checks"]}
        assert len(names) >= 6 and set(r["fired"]) <= names
        assert all(ch["reason"] for ch in r["checks"])
    assert saved["rows"]["l2lda"]["paper_protocol"]["specs"][-2:] == [
        "cw100_inf:bs=1", "cw1000_inf:bs=1"]
    assert saved["rows"]["standard"]["transfer_source"] == "pgd_at"
    assert saved["rows"]["bat"]["transfer_source"] == "standard"
    assert "wall_time_s_with_standard" in saved["rows"]["l2lda"]["budget"]
    md = (tmp / "results" / "report_card.md").read_text()
    assert "| Defence |" in md and "APGD-T" in md and "Gradient-masking checks" in md
    assert md.count("FIRED") + md.count("passed") == sum(
        len(r["checks"]) for r in saved["rows"].values())
    assert "--dataset=synthetic" in saved["provenance"]["command"]


@pytest.mark.slow
def test_markdown_is_regenerated_from_the_json(tiny, tmp_path):
    import shutil

    tmp, _, _ = tiny
    out = tmp_path / "card"
    shutil.copytree(tmp / "results", out)
    md = (out / "report_card.md").read_text()
    (out / "report_card.md").unlink()
    proc = run_binary("render.py", f"--results_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "report_card.md").read_text() == md


@pytest.mark.slow
def test_finetuned_rows_start_from_the_standard_row(tiny):
    tmp, _, _ = tiny
    runs = tmp / "runs" / "synthetic"
    for row, method in (("l2lda", "l2lda"), ("deepdefense", "deepdefense")):
        cfg = json.loads((runs / row / "train_results.json").read_text())["config"]
        assert cfg["train"]["method"] == method
        assert cfg["train"]["init_model"].endswith("standard/model.keras")
    # The same architecture, data and eps for every row.
    cfgs = [json.loads((runs / r / "train_results.json").read_text())["config"]
            for r in ("standard", "pgd_at", "bat", "advnet", "pgn")]
    assert len({c["model"]["name"] for c in cfgs}) == 1
    assert len({json.dumps(c["data"]["train_limit"]) for c in cfgs}) == 1


@pytest.mark.slow
def test_rerun_reuses_rows_and_evaluations(tiny, tmp_path):
    from tf_advnet.papers.report_card.pipeline import ROWS, reproduce

    tmp, first, _ = tiny
    lines = []
    again = reproduce("cpu", "synthetic", work_dir=str(tmp / "runs"),
                      results_dir=str(tmp_path), overrides=TINY, progress=lines.append)
    assert sum("already trained" in line for line in lines) == len(ROWS)
    for row in ROWS:
        a, b = again["rows"][row], first["rows"][row]
        assert (a["worst_case"], a["paper_protocol"], a["strong_protocol"]) == (
            b["worst_case"], b["paper_protocol"], b["strong_protocol"])
        # The rerun ran no attack, yet each attack's cost is the first run's (kept in
        # the saved state), and the row's evaluation cost counts them.
        spent = sum(sum(a[k]["seconds"].values()) for k in ("paper_protocol",
                                                             "strong_protocol"))
        assert spent > 0 and a["eval_seconds"] >= spent and b["eval_seconds"] >= spent


@pytest.mark.slow
def test_readme_table_is_refreshed_between_markers(tiny, tmp_path):
    from tf_advnet.papers.report_card.report import update_readme

    tmp, _, _ = tiny
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- report-card:synthetic -->\nold\n"
                      "<!-- /report-card:synthetic -->\nend\n")
    assert update_readme(str(readme), str(tmp / "results"))
    text = readme.read_text()
    assert "old" not in text and "| Defence |" in text and text.endswith("end\n")
    other = tmp_path / "OTHER.md"
    other.write_text("no markers\n")
    assert not update_readme(str(other), str(tmp / "results"))


def test_presets_and_rows():
    from tf_advnet.papers.report_card.pipeline import (card, paper_specs, row_config,
                                                        strong_specs)

    cpu = card("cpu", "fashion_mnist")
    assert (cpu.eps, cpu.model, cpu.apgd_steps, cpu.apgd_targets) == (0.1, "small_cnn",
                                                                      100, 9)
    assert card("cpu", "mnist_5k").eps == 0.3
    paper = card("paper")
    assert (paper.dataset, paper.model, paper.square_queries) == ("cifar10",
                                                                  "wide_resnet", 5000)
    assert abs(paper.eps - 8 / 255) < 1e-9
    # AutoAttack's standard version, in its order, at its own budgets.
    assert strong_specs(cpu) == ("apgd100:restarts=1", "apgdt100:targets=9,restarts=1",
                                 "fabt100:targets=9,restarts=1", "square5000")
    assert paper_specs(cpu, "deepdefense")[1] == "deepfool_inf:eps=0.1"
    # The L2L-DA row: its code's T = 10 and C&W binary search unless a card cuts them.
    assert paper_specs(cpu, "l2lda")[-2:] == ("cw100_inf", "cw1000_inf")
    assert row_config(cpu, "l2lda", init_model="s.keras").train.trainer.num_steps == 10
    # BAT: two steps of eps/2 from 16/255 up (its paper's large-budget recipe), one below
    assert row_config(cpu, "bat").train.trainer.num_steps == 2  # Fashion-MNIST 0.1
    assert row_config(card("cpu", "fashion_mnist", {"eps": 8 / 255}),
                      "bat").train.trainer.num_steps is None
    small = card("cpu", "synthetic", {"l2lda_steps": 2, "cw_binary_steps": 1})
    assert paper_specs(small, "l2lda")[-2:] == ("cw100_inf:bs=1", "cw1000_inf:bs=1")
    assert row_config(small, "l2lda", init_model="s.keras").train.trainer.num_steps == 2
    # A fine-tuned row brings the standard row it starts from.
    assert card("cpu", "synthetic", {"rows": ("l2lda",)}).rows == ("standard", "l2lda")


@pytest.mark.parametrize("args, message", [
    (["--dataset=cifar10"], "--dataset='cifar10' is not valid"),
    (["--rows=standard,trades"], "--rows='trades' is not valid"),
    (["--eps=2"], "--eps=2.0 is out of range"),
])
def test_binary_one_line_errors(args, message, cli):
    status, _, err = cli("report-card", *args)
    assert_one_line_error(status, err, message)


def test_binary_one_line_error_in_a_fresh_process():
    """The binary itself, after TensorFlow's start-up: one line, nothing on stdout."""
    proc = run_binary("report_card.py", "--eps=2")
    assert_one_line_error(proc.returncode, proc.stderr, "--eps=2.0 is out of range")
    assert not proc.stdout, proc.stdout[-2000:]


def test_budget_marks_a_diverged_row():
    from tf_advnet.papers.report_card.pipeline import budget

    def run(losses):
        return {"provenance": {"wall_time_s": 60.0}, "train_images_per_second": 100.0,
                "config": {"train": {"epochs": 1}}, "history": {"loss": losses}}

    runs = {"standard": run([0.5]), "deepdefense": run([0.4, float("nan")])}
    assert budget(runs, "deepdefense")["diverged"] is True
    assert budget(runs, "deepdefense")["wall_time_s_with_standard"] == 120.0
    assert "diverged" not in budget(runs, "standard")


def test_budget_records_the_last_epochs_training_accuracies():
    """A row's budget keeps its last epoch's training accuracy on clean and on
    adversarial inputs (the attack it trains against), where its history has them."""
    from tf_advnet.papers.report_card.pipeline import budget

    hist = {"loss": [0.9, 0.5], "clean_acc": [0.81234, 0.93751],
            "adv_acc": [0.925, 0.87906]}
    run = {"provenance": {"wall_time_s": 60.0}, "train_images_per_second": 100.0,
           "config": {"train": {"epochs": 2}}, "history": hist}
    b = budget({"pgd_at": run}, "pgd_at")
    assert (b["train_clean_acc"], b["train_adv_acc"]) == (0.9375, 0.8791)
    plain = dict(run, history={"loss": [0.5], "clean_acc": [0.9]})
    assert "train_adv_acc" not in budget({"standard": plain}, "standard")


def test_deepdefense_row_uses_the_finetuning_recipe():
    from tf_advnet.papers.report_card.pipeline import card, row_config

    c = card("cpu", "mnist_5k")
    cfg = row_config(c, "deepdefense", init_model="std.keras")
    t = cfg.train
    assert (t.method, t.optimizer, t.learning_rate, t.init_model) == (
        "deepdefense", "sgd", c.dd_learning_rate, "std.keras")
    assert t.epochs == c.finetune_epochs and cfg.model.name == c.model


def test_unknown_field():
    from tf_advnet.papers.report_card.pipeline import card

    with pytest.raises(UserError, match="unknown report card study field"):
        card("cpu", "synthetic", {"g_width": 3})


def test_compare_table_puts_two_cards_side_by_side():
    """Each row's numbers of both cards, before -> after, straight from the JSON."""
    import copy
    import pathlib

    from tf_advnet.papers.report_card.report import compare_table

    path = pathlib.Path(__file__).parents[2] / "results/report_card/mnist_5k/report_card.json"
    after = json.loads(path.read_text())
    before = copy.deepcopy(after)
    before["rows"]["pgd_at"]["worst_case"] = 0.5
    text = compare_table(before, after)
    pgd = next(line for line in text.splitlines() if line.startswith("| PGD-AT"))
    worst = 100 * after["rows"]["pgd_at"]["worst_case"]
    assert pgd.endswith(f"| 50.0 -> {worst:.1f} |")
    assert text.count("\n| ") == len(after["rows"])  # one line per row below the head


def test_training_section_flags_an_attack_that_barely_bit():
    """The card's Training table, by hand: a row whose training attack leaves it
    within 1 point of its clean training accuracy is named; a card without curves has
    no such section."""
    from tf_advnet.papers.report_card.report import _training

    def row(curve, clean=None, adv=None):
        b = {"epochs": 12, "curve": curve}
        b.update({k: v for k, v in (("train_clean_acc", clean), ("train_adv_acc", adv))
                  if v is not None})
        return {"budget": b}

    results = {"card": {"curve_attack": "pgd10"}, "rows": {
        "pgd_at": row([0.69, 0.785], 0.8914, 0.8116),
        "advnet": row([0.595, 0.41], 0.9261, 0.9219),
        "standard": row([0.6, 0.395], 0.9288)}}
    lines = _training(results).splitlines()
    assert lines[2] == "| PGD-AT (Madry) | 12 | 89.1 | 81.2 | 69.0 -> 78.5 |"
    assert lines[3] == ("| Adv. network (Wang & Yu) | 12 | 92.6 | 92.2 (within 1 point of "
                        "clean: the attack barely bit) | 59.5 -> 41.0 |")
    assert lines[4] == "| Standard | 12 | 92.9 | — | 60.0 -> 39.5 |"
    for r in results["rows"].values():
        del r["budget"]["curve"]
    assert _training(results) is None
