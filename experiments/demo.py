"""The main job: standard vs PGD-AT vs BAT, trained, attacked, tabulated and plotted;
then DeepDefense's Table 1 for the MLP (--nodeepdefense skips it) and a demo-sized
PGN study (--nopgn skips it), a demo-sized Wang & Yu adversarial-network study
(--noadvnet skips it) and a demo-sized L2L-DA study (--nol2lda skips it).

  python experiments/demo.py                       # Fashion-MNIST, cpu preset
  python experiments/demo.py --dataset=mnist_5k    # the 5,000 real MNIST digits
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

from tf_advnet.configs import PRESET_NAMES  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "data set name")
_PRESET = flags.DEFINE_enum("preset", "cpu", PRESET_NAMES, "hyper-parameter preset")
_WORK = flags.DEFINE_string("work_dir", "runs/demo", "models, checkpoints, logs")
_RESULTS = flags.DEFINE_string("results_dir", None,
                               "tables and plots (default results/demo/<dataset>)")
_EPOCHS = flags.DEFINE_integer("epochs", None, "override the preset's epochs")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "first N test images")
_ATTACKS = flags.DEFINE_string("attacks", None, "override the preset's attack list")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")
_DEEPDEFENSE = flags.DEFINE_bool("deepdefense", True,
                                 "also run DeepDefense's Table 1 for the MLP (cpu preset)")
_PGN = flags.DEFINE_bool("pgn", True, "also run the demo-sized PGN study (cpu preset)")
_ADVNET = flags.DEFINE_bool("advnet", True,
                            "also run the demo-sized Wang & Yu study (cpu preset)")
_L2LDA = flags.DEFINE_bool("l2lda", True, "also run the demo-sized L2L-DA study (cpu preset)")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.demo import demo

    demo(_DATASET.value, _PRESET.value, work_dir=_WORK.value, results_dir=_RESULTS.value,
         overrides=dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                        test_limit=_TEST_LIMIT.value, attacks=_ATTACKS.value,
                        data_dir=_DATA_DIR.value),
         deepdefense=_DEEPDEFENSE.value, pgn=_PGN.value,
         advnet=_ADVNET.value, l2lda=_L2LDA.value)


if __name__ == "__main__":
    run_main(main)
