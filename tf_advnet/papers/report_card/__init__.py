"""The report card: every defence under its paper's evaluation protocol and under the
strong one, at a preset of `PRESETS`. The package is the study's protocol
(`tf_advnet.papers._study`)."""

from tf_advnet.papers.report_card.study import PRESETS  # noqa: F401  (the protocol's)

NAME = "report_card"
TITLE = "Report card — every defence under the strong protocol"
RESULTS_FILES = ("report_card.json",)
# `tf-advnet ledger --jobs` trains one seed's rows in these parts, each in its own
# process, the first before the others (L2L-DA and DeepDefense fine-tune its standard
# row), then writes the card from what they trained: the L2L-DA row alone costs about
# as much as the five others together.
PARTS = (("standard",), ("l2lda",), ("pgd_at", "bat", "advnet", "pgn", "deepdefense"))


def run(preset_name="cpu", dataset=None, **kwargs):
    """Trains every row and evaluates it under both protocols; `pipeline.reproduce`."""
    from tf_advnet.papers.report_card.pipeline import reproduce

    return reproduce(preset_name, dataset, **kwargs)


def settings(preset_name="cpu", dataset=None, overrides=None):
    """What the results JSON of `run(preset_name, dataset, overrides=...)` records of
    its settings, without running (the ledger's staleness check)."""
    import dataclasses

    from tf_advnet.papers.report_card.study import card

    return {"card": dataclasses.asdict(card(preset_name, dataset, overrides))}


def part_argv(rows, preset_name, dataset, seed, work_dir):
    """The command that trains and evaluates `rows` of one seed's card into
    `work_dir` (the seed's `run` then reuses them), its card under
    `work_dir`/part-<first row>."""
    import os
    import sys

    return [sys.executable, "-m", "tf_advnet", "report-card", f"--preset={preset_name}",
            f"--dataset={dataset}", f"--seed={seed}", f"--rows={','.join(rows)}",
            f"--work_dir={work_dir}",
            f"--results_dir={os.path.join(work_dir, 'part-' + rows[0])}"]


def claims_of(results, results_file=None):
    from tf_advnet.papers.report_card.claims import claims as claims_

    return claims_(results)


def render(results, out_dir, results_file=None):
    """report_card.md from the results dict."""
    from tf_advnet.papers.report_card.report import write_md

    return [write_md(results, out_dir)]


def deviations(results):
    """The card's departures from its papers' recipes, each with its reason."""
    c = results["card"]
    if c["preset"] == "paper":
        return []
    out = [f"every row on {c['model']} (the papers' own networks differ), "
           f"{c['dataset']} for the CIFAR-10 / SVHN papers, {c['optimizer']} "
           f"{c['learning_rate']:g}: one architecture and data set make the rows "
           "comparable on a CPU."]
    if c["train_limit"] is not None:
        out.append(f"the first {c['train_limit']:,} training images, {c['epochs']} "
                   "epochs per row: the L2L-DA row's cost (~17 img/s on 2 cores) bounds "
                   "the card; each row's PGD-10 curve shows how far it has converged.")
    return out
