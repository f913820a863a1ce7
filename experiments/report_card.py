"""One report card for every defence: each paper's protocol beside APGD and Square.

  python experiments/report_card.py --preset=cpu --dataset=fashion_mnist
  python experiments/report_card.py --preset=cpu --dataset=mnist_5k
  python experiments/report_card.py --preset=paper --dataset=cifar10      # GPUs

Trains standard, PGD-AT, BAT, the adversarial network, L2L-DA, PGN and DeepDefense on
one architecture, data set and eps under runs/report_card/<dataset>/ (kill and rerun
to resume: trained rows are reused and each evaluation resumes from its saved state),
evaluates each under its paper's attacks, APGD-CE, APGD-T, Square and the
gradient-masking checks, and writes results/report_card/<dataset>/
(report_card.json, report_card.md). `--readme` also refreshes the README's table.
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

_PRESET = flags.DEFINE_string("preset", "cpu", "cpu | paper")
_DATASET = flags.DEFINE_string("dataset", None,
                               "cpu: fashion_mnist (default), mnist_5k, synthetic; "
                               "paper: cifar10")
_WORK = flags.DEFINE_string("work_dir", "runs/report_card", "root of the training dirs")
_OUT = flags.DEFINE_string("results_dir", None, "default results/report_card/<dataset>")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")
_ROWS = flags.DEFINE_list("rows", None, "subset of standard,pgd_at,bat,advnet,l2lda,pgn,"
                                        "deepdefense (default: all)")
_SEED = flags.DEFINE_integer("seed", None, "random seed")
_EPS = flags.DEFINE_float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_EPOCHS = flags.DEFINE_integer("epochs", None, "epochs of the rows trained from scratch")
_FT_EPOCHS = flags.DEFINE_integer("finetune_epochs", None,
                                  "epochs of L2L-DA and DeepDefense (from standard)")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "first N test images")
_APGD_STEPS = flags.DEFINE_integer("apgd_steps", None, "APGD iterations (100)")
_APGD_TARGETS = flags.DEFINE_integer("apgd_targets", None, "APGD-T target classes (9)")
_APGD_RESTARTS = flags.DEFINE_integer("apgd_restarts", None, "APGD restarts (1)")
_SQUARE = flags.DEFINE_integer("square_queries", None, "Square's query budget")
_CHECKS = flags.DEFINE_integer("check_examples", None,
                               "test images the gradient-masking checks use")
_README = flags.DEFINE_string("readme", None,
                              "README whose report-card table to refresh (e.g. README.md)")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.report_card import reproduce
    from tf_advnet.runs.report_card_report import findings, update_readme

    overrides = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value, epochs=_EPOCHS.value,
        finetune_epochs=_FT_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, apgd_steps=_APGD_STEPS.value,
        apgd_targets=_APGD_TARGETS.value, apgd_restarts=_APGD_RESTARTS.value,
        square_queries=_SQUARE.value, check_examples=_CHECKS.value,
        rows=tuple(_ROWS.value) if _ROWS.value else None)
    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides)
    for row, text in findings(results).items():
        print(f"[card] {row}: {text}")
    if _README.value:
        import os

        out = _OUT.value or os.path.join("results", "report_card", results["card"]["dataset"])
        done = update_readme(_README.value, out)
        print(f"[card] README table {'refreshed' if done else 'markers not found'}")


if __name__ == "__main__":
    run_main(main)
