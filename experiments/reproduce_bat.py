"""Reproduce Bilateral Adversarial Training (Wang & Zhang, ICCV 2019).

  python experiments/reproduce_bat.py --dataset=fashion_mnist --preset=cpu
  python experiments/reproduce_bat.py --dataset=cifar10 --preset=paper --strategy=mirrored

Trains the study's models (Madry PGD-AT, R-MC-LA, R-MC-LS, Madry-LA, the one-step
variants of Table 3, an undefended and a second R-MC-LA model as black-box
surrogates, R-MC-LA at other budgets for Fig. 1) under runs/bat/<dataset>/<model>
(kill and rerun to resume; finished models are reused), attacks them and writes
results/bat/<dataset>/{bat.json,bat.md,acc_vs_steps.png}.
"""

from tf_advnet.utils.cli import positive_ints, quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

from tf_advnet.configs.base import STRATEGIES  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "fashion_mnist",
                               "fashion_mnist (cpu preset) | cifar10 | svhn (paper preset)")
_PRESET = flags.DEFINE_enum("preset", "cpu", ["cpu", "paper"], "hyper-parameter preset")
_STRATEGY = flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy")
_MODELS = flags.DEFINE_list("models", None, "subset of models (default: all)")
_WORK = flags.DEFINE_string("work_dir", "runs/bat", "root of the training dirs")
_OUT = flags.DEFINE_string("results_dir", None, "default results/bat/<dataset>")
_EPOCHS = flags.DEFINE_integer("epochs", None, "override the preset's epochs")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "evaluate on the first N test images")
_MODEL = flags.DEFINE_string("model", None, "classifier name (default: the preset's)")
_WIDTH = flags.DEFINE_float("width", None, "model width multiplier")
_BETA = flags.DEFINE_float("beta", None, "label-adversary beta (default 9)")
_EPS_Y = flags.DEFINE_float("eps_y", None, "label-smoothing budget of LS (default 0.5)")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")
_EXTRA_STEPS = flags.DEFINE_list("extra_steps", [],
                                 "more CE-k/CW-k step counts for the main models, e.g. 200,1000")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.bat import reproduce

    overrides = dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                     test_limit=_TEST_LIMIT.value, name=_MODEL.value, width=_WIDTH.value,
                     beta=_BETA.value, eps_y=_EPS_Y.value, data_dir=_DATA_DIR.value)
    results = reproduce(_DATASET.value, _PRESET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, models=_MODELS.value,
                        overrides=overrides, strategy=_STRATEGY.value,
                        extra_steps=positive_ints("extra_steps", _EXTRA_STEPS.value,
                                                  allow_empty=True))
    for key, value in results["findings"].items():
        print(f"[bat] {key}: {value}")


if __name__ == "__main__":
    run_main(main)
