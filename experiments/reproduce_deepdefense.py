"""Reproduce DeepDefense (Yan, Guo & Zhang, NeurIPS 2018), Table 1.

  python experiments/reproduce_deepdefense.py --dataset=mnist_5k --model=mlp --preset=cpu
  python experiments/reproduce_deepdefense.py --dataset=cifar10 --model=convnet --preset=paper

Trains the reference model under runs/deepdefense/<dataset>/<model>/reference, then
fine-tunes DeepDefense, Parseval, DeepFool adversarial training and a clean-objective
control from it (kill and rerun to resume; finished models are reused), evaluates the
four of Table 1 (accuracy, rho_2, rho_inf, FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref)
and writes results/deepdefense/<dataset>/<model>/{deepdefense.json,deepdefense.md,
curves.png} (the per-epoch curves of Figs. 2 and 6).
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402


_DATASET = flags.DEFINE_string("dataset", "mnist_5k",
                               "mnist_5k | fashion_mnist (cpu preset); mnist | cifar10 "
                               "(paper preset)")
_MODEL = flags.DEFINE_string("model", "mlp", "mlp | lenet (MNIST-like); convnet | nin "
                             "(CIFAR-10)")
_PRESET = flags.DEFINE_string("preset", "cpu", "cpu | paper")
_EPOCHS = flags.DEFINE_integer("epochs", None,
                               "override the reference's and the fine-tuning epochs")
_FT_EPOCHS = flags.DEFINE_integer("finetune_epochs", None,
                                  "override the fine-tuning epochs only")
_FT_LR = flags.DEFINE_float("finetune_lr", None,
                            "fine-tuning learning rate (default 2e-2; the paper's 5e-4 "
                            "is for 0-255 pixels)")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "evaluate on the first N test images")
_WORK = flags.DEFINE_string("work_dir", "runs/deepdefense", "root of the training dirs")
_OUT = flags.DEFINE_string("results_dir", None,
                           "default results/deepdefense/<dataset>/<model>")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.deepdefense import reproduce

    overrides = dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                     test_limit=_TEST_LIMIT.value, data_dir=_DATA_DIR.value)
    results = reproduce(_DATASET.value, _MODEL.value, _PRESET.value,
                        work_dir=_WORK.value, results_dir=_OUT.value,
                        overrides=overrides,
                        finetune_overrides=dict(epochs=_FT_EPOCHS.value,
                                                learning_rate=_FT_LR.value))
    for key, value in results["findings"].items():
        print(f"[deepdefense] {key}: {value}")


if __name__ == "__main__":
    run_main(main)
