"""Reproduce DeepDefense (Yan, Guo & Zhang, NeurIPS 2018), Table 1.

  python experiments/reproduce_deepdefense.py --dataset=mnist_5k --model=mlp --preset=cpu
  python experiments/reproduce_deepdefense.py --dataset=cifar10 --model=convnet --preset=paper

Trains the reference model under runs/deepdefense/<dataset>/<model>/reference, then
fine-tunes DeepDefense, Parseval, DeepFool adversarial training and a clean-objective
control from it (kill and rerun to resume; finished models are reused), evaluates the
four of Table 1 (accuracy, rho_2, rho_inf, FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref)
and writes results/deepdefense/<dataset>/<model>/{deepdefense.json,deepdefense.md,
curves.png} (the per-epoch curves of Figs. 2 and 6).

  python experiments/reproduce_deepdefense.py --dataset=mnist_5k --model=lenet --sweep

fine-tunes DeepDefense for each (lambda, c) of Fig. 4 from the same reference and
writes sweep.{json,md,png} there.
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
_SWEEP = flags.DEFINE_bool("sweep", False,
                           "run the (c, lambda) study of Fig. 4 instead of Table 1")
_SWEEP_C = flags.DEFINE_list("sweep_c", None,
                             "values of c (default 5,15,25,35,45 cpu; 5,10,...,45 paper)")
_SWEEP_LAMBDA = flags.DEFINE_list("sweep_lambda", "5,15,25", "values of lambda")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.deepdefense import reproduce
    from tf_advnet.runs.deepdefense_sweep import sweep
    from tf_advnet.utils.cli import positive_numbers

    common = dict(work_dir=_WORK.value, results_dir=_OUT.value,
                  overrides=dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                                 test_limit=_TEST_LIMIT.value, data_dir=_DATA_DIR.value),
                  finetune_overrides=dict(epochs=_FT_EPOCHS.value,
                                          learning_rate=_FT_LR.value))
    if _SWEEP.value:
        cs = _SWEEP_C.value and positive_numbers("sweep_c", _SWEEP_C.value)
        lambdas = positive_numbers("sweep_lambda", _SWEEP_LAMBDA.value)
        results = sweep(_DATASET.value, _MODEL.value, _PRESET.value, cs=cs,
                        lambdas=lambdas, **common)
    else:
        results = reproduce(_DATASET.value, _MODEL.value, _PRESET.value, **common)
    for key, value in results["findings"].items():
        print(f"[deepdefense] {key}: {value}")


if __name__ == "__main__":
    run_main(main)
