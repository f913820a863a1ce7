"""One report card for every defence: each paper's protocol beside AutoAttack's.

  tf-advnet report-card --preset=cpu --dataset=fashion_mnist
  tf-advnet report-card --preset=cpu --dataset=mnist_5k --set dd_lambda=5
  tf-advnet report-card --preset=paper --dataset=cifar10      # GPUs

Trains standard, PGD-AT, BAT, the adversarial network, L2L-DA, PGN and DeepDefense on
one architecture, data set and eps under runs/report_card/<dataset>/ (kill and rerun
to resume: trained rows are reused and each evaluation resumes from its saved state),
evaluates each under its paper's attacks, APGD-CE, APGD-T, FAB-T, Square and the
gradient-masking checks, and writes results/report_card/<dataset>/
(report_card.json, report_card.md). `--readme` also refreshes the README's table.
`--set` reaches every field of the card (tf_advnet/papers/report_card/pipeline.py, Card).
"""

from tf_advnet.cli._command import PRESET_HELP, RESERVED_STUDY, Command
from tf_advnet.papers.report_card.study import PRESETS


def _schema():
    from tf_advnet.papers.report_card.pipeline import Card

    return Card


COMMAND = Command("report-card", __doc__, set_schema=_schema,
                  reserved=RESERVED_STUDY)
C = COMMAND
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_DATASET = C.string("dataset", None, "cpu: fashion_mnist (default), mnist_5k, synthetic; "
                                     "paper: cifar10; long: fashion_mnist")
_WORK = C.string("work_dir", "runs/report_card", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/report_card/<dataset>")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_ROWS = C.list("rows", None, "subset of standard,pgd_at,bat,advnet,l2lda,pgn,"
                             "deepdefense (default: all)")
_SEED = C.integer("seed", None, "random seed")
_EPS = C.float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_EPOCHS = C.integer("epochs", None, "epochs of the rows trained from scratch")
_FT_EPOCHS = C.integer("finetune_epochs", None,
                       "epochs of L2L-DA and DeepDefense (from standard)")
_TRAIN_LIMIT = C.integer("train_limit", None, "first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "first N test images")
_APGD_STEPS = C.integer("apgd_steps", None, "APGD iterations (100)")
_APGD_TARGETS = C.integer("apgd_targets", None, "APGD-T target classes (9)")
_APGD_RESTARTS = C.integer("apgd_restarts", None, "APGD restarts (1)")
_SQUARE = C.integer("square_queries", None, "Square's query budget")
_CHECKS = C.integer("check_examples", None, "test images the gradient-masking checks use")
_README = C.string("readme", None, "README whose report-card table to refresh (e.g. README.md)")


def overrides():
    """The Card overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import flat_overrides

    out = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value, epochs=_EPOCHS.value,
        finetune_epochs=_FT_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, apgd_steps=_APGD_STEPS.value,
        apgd_targets=_APGD_TARGETS.value, apgd_restarts=_APGD_RESTARTS.value,
        square_queries=_SQUARE.value, check_examples=_CHECKS.value,
        rows=tuple(_ROWS.value) if _ROWS.value else None)
    out.update(flat_overrides(COMMAND.sets()))
    return out


def main():
    from tf_advnet.papers.report_card.pipeline import reproduce
    from tf_advnet.papers.report_card.report import findings, update_readme

    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides())
    for row, text in findings(results).items():
        print(f"[card] {row}: {text}")
    if _README.value:
        import os

        out = _OUT.value or os.path.join("results", "report_card", results["card"]["dataset"])
        done = update_readme(_README.value, out)
        print(f"[card] README table {'refreshed' if done else 'markers not found'}")
