"""Reproduce DeepDefense (Yan, Guo & Zhang, NeurIPS 2018), Table 1.

  tf-advnet reproduce deepdefense --dataset=mnist_5k --model=mlp --preset=cpu
  tf-advnet reproduce deepdefense --dataset=cifar10 --model=convnet --preset=paper

Trains the reference model under runs/deepdefense/<dataset>/<model>/reference, then
fine-tunes DeepDefense, Parseval, DeepFool adversarial training and a clean-objective
control from it (kill and rerun to resume; finished models are reused), evaluates the
four of Table 1 (accuracy, rho_2, rho_inf, FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref)
and writes results/deepdefense/<dataset>/<model>/{deepdefense.json,deepdefense.md,
curves.png} (the per-epoch curves of Figs. 2 and 6).

  tf-advnet reproduce deepdefense --dataset=mnist_5k --model=lenet --sweep

fine-tunes DeepDefense for each (lambda, c) of Fig. 4 from the same reference and
writes sweep.{json,md,png} there. `--set` reaches every field of ExperimentConfig
(tf_advnet/configs/base.py): `all.<path>` of the reference and the fine-tunings,
`finetune.<path>` of the fine-tunings only, e.g.
`--set finetune.trainer.num_iter=3 --set all.data.batch_size=64` (a `trainer.*` key
applies to the runs whose method has it).
"""

import dataclasses

from tf_advnet.cli._command import PRESET_HELP, Command
from tf_advnet.papers.deepdefense.study import PRESETS
from tf_advnet.configs import ExperimentConfig


@dataclasses.dataclass(frozen=True)
class Runs:
    """What `--set` edits: `all.<path>` the reference and the fine-tunings (as
    --epochs does), `finetune.<path>` the fine-tunings only (they win)."""

    all: ExperimentConfig
    finetune: ExperimentConfig


_RESERVED = {"data.dataset": "use --dataset (the preset depends on it)",
             "model.name": "use --model (the preset depends on it)",
             "train.method": "fixed by the study (the four models of Table 1)",
             "preset": "use --preset"}
COMMAND = Command("reproduce deepdefense", __doc__, set_schema=lambda: Runs, reserved={
    f"{part}.{path}": why for part in ("all", "finetune") for path, why in _RESERVED.items()})
C = COMMAND
_DATASET = C.string("dataset", "mnist_5k",
                    "mnist_5k | fashion_mnist (cpu preset); mnist | cifar10 (paper); mnist_5k (long)")
_MODEL = C.string("model", "mlp", "mlp | lenet (MNIST-like); convnet | nin (CIFAR-10)")
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_EPOCHS = C.integer("epochs", None, "override the reference's and the fine-tuning epochs")
_FT_EPOCHS = C.integer("finetune_epochs", None, "override the fine-tuning epochs only")
_FT_LR = C.float("finetune_lr", None,
                 "fine-tuning learning rate (default 2e-2; the paper's 5e-4 is for 0-255 "
                 "pixels)")
_TRAIN_LIMIT = C.integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "evaluate on the first N test images")
_WORK = C.string("work_dir", "runs/deepdefense", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/deepdefense/<dataset>/<model>")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_SWEEP = C.bool("sweep", False, "run the (c, lambda) study of Fig. 4 instead of Table 1")
_SWEEP_C = C.list("sweep_c", None,
                  "values of c (default 5,15,25,35,45 cpu; 5,10,...,45 paper)")
_SWEEP_LAMBDA = C.list("sweep_lambda", "5,15,25", "values of lambda")


def overrides():
    """(overrides, finetune_overrides) of tf_advnet.papers.deepdefense.pipeline: the flat
    ExperimentConfig overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import experiment_flat_name, flat_overrides

    both = dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
                test_limit=_TEST_LIMIT.value, data_dir=_DATA_DIR.value)
    finetune = dict(epochs=_FT_EPOCHS.value, learning_rate=_FT_LR.value)
    for path, value in COMMAND.sets().items():
        part, _, rest = path.partition(".")
        target = both if part == "all" else finetune
        flat = flat_overrides({rest: value}, experiment_flat_name)
        if "trainer" in flat:
            flat["trainer"] = dict(target.get("trainer", {}), **flat["trainer"])
        target.update(flat)
    return both, finetune


def main():
    from tf_advnet.papers.deepdefense.pipeline import reproduce
    from tf_advnet.papers.deepdefense.sweep import sweep
    from tf_advnet.utils.cli import positive_numbers

    both, finetune = overrides()
    common = dict(work_dir=_WORK.value, results_dir=_OUT.value, overrides=both,
                  finetune_overrides=finetune)
    if _SWEEP.value:
        cs = _SWEEP_C.value and positive_numbers("sweep_c", _SWEEP_C.value)
        lambdas = positive_numbers("sweep_lambda", _SWEEP_LAMBDA.value)
        results = sweep(_PRESET.value, _DATASET.value, _MODEL.value, cs=cs,
                        lambdas=lambdas, **common)
    else:
        results = reproduce(_PRESET.value, _DATASET.value, _MODEL.value, **common)
    for c in results["claims"]:
        print(f"[deepdefense] {c['verdict']}: {c['statement']} (ours: {c['ours']})")
