"""The main job (README): standard vs PGD-AT vs BAT, then four demo-sized paper studies.

Standard vs PGD-AT vs BAT, trained, attacked, tabulated and plotted; then
DeepDefense's Table 1 for the MLP (--nodeepdefense skips it) and a demo-sized PGN
study (--nopgn skips it), a demo-sized Wang & Yu adversarial-network study
(--noadvnet skips it) and a demo-sized L2L-DA study (--nol2lda skips it).

  tf-advnet demo                       # Fashion-MNIST, cpu preset
  tf-advnet demo --dataset=mnist_5k    # the 5,000 real MNIST digits
"""

from tf_advnet.cli._command import Command
from tf_advnet.configs import PRESET_NAMES

COMMAND = Command("demo", __doc__)
C = COMMAND
_DATASET = C.string("dataset", "fashion_mnist", "data set name")
_PRESET = C.enum("preset", "cpu", PRESET_NAMES, "hyper-parameter preset")
_WORK = C.string("work_dir", "runs/demo", "models, checkpoints, logs")
_RESULTS = C.string("results_dir", None, "tables and plots (default results/demo/<dataset>)")
_EPOCHS = C.integer("epochs", None, "override the preset's epochs")
_TRAIN_LIMIT = C.integer("train_limit", None, "first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "first N test images")
_ATTACKS = C.string("attacks", None, "override the preset's attack list")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_DEEPDEFENSE = C.bool("deepdefense", True,
                      "also run DeepDefense's Table 1 for the MLP (cpu preset)")
_PGN = C.bool("pgn", True, "also run the demo-sized PGN study (cpu preset)")
_ADVNET = C.bool("advnet", True, "also run the demo-sized Wang & Yu study (cpu preset)")
_L2LDA = C.bool("l2lda", True, "also run the demo-sized L2L-DA study (cpu preset)")


def main():
    from tf_advnet.papers.demo.pipeline import demo

    demo(_DATASET.value, _PRESET.value, work_dir=_WORK.value, results_dir=_RESULTS.value,
         overrides=dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                        test_limit=_TEST_LIMIT.value, attacks=_ATTACKS.value,
                        data_dir=_DATA_DIR.value),
         deepdefense=_DEEPDEFENSE.value, pgn=_PGN.value,
         advnet=_ADVNET.value, l2lda=_L2LDA.value)
