"""Reproduce Bilateral Adversarial Training (Wang & Zhang, ICCV 2019).

  tf-advnet reproduce bat --dataset=fashion_mnist --preset=cpu
  tf-advnet reproduce bat --dataset=cifar10 --preset=paper --strategy=mirrored

Trains the study's models (Madry PGD-AT, R-MC-LA, R-MC-LS, Madry-LA, the one-step
variants of Table 3, an undefended and a second R-MC-LA model as black-box
surrogates, R-MC-LA at other budgets for Fig. 1) under runs/bat/<dataset>/<model>
(kill and rerun to resume; finished models are reused), attacks them and writes
results/bat/<dataset>/{bat.json,bat.md,acc_vs_steps.png}. `--set` reaches every
field of ExperimentConfig (tf_advnet/configs/base.py) of every model.
"""

from tf_advnet.cli._command import PRESET_HELP, Command
from tf_advnet.papers.bat.study import PRESETS
from tf_advnet.configs.base import STRATEGIES


def _schema():
    from tf_advnet.configs import ExperimentConfig

    return ExperimentConfig


COMMAND = Command("reproduce bat", __doc__, set_schema=_schema, reserved={
    "data.dataset": "use --dataset (the preset depends on it)",
    "train.method": "fixed per model of the study; choose models with --models",
    "preset": "use --preset"})
C = COMMAND
_DATASET = C.string("dataset", "fashion_mnist",
                    "fashion_mnist (cpu, long presets) | cifar10 | svhn (paper preset)")
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_STRATEGY = C.enum("strategy", "default", STRATEGIES, "tf.distribute strategy")
_MODELS = C.list("models", None, "subset of models (default: all)")
_WORK = C.string("work_dir", "runs/bat", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/bat/<dataset>")
_EPOCHS = C.integer("epochs", None, "override the preset's epochs")
_TRAIN_LIMIT = C.integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "evaluate on the first N test images")
_MODEL = C.string("model", None, "classifier name (default: the preset's)")
_WIDTH = C.float("width", None, "model width multiplier")
_BETA = C.float("beta", None, "label-adversary beta (default 9)")
_EPS_Y = C.float("eps_y", None, "label-smoothing budget of LS (default 0.5)")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_EXTRA_STEPS = C.list("extra_steps", [],
                      "more CE-k/CW-k step counts for the main models, e.g. 200,1000")


def overrides():
    """The flat ExperimentConfig overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import experiment_flat_name, flat_overrides

    out = dict(epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
               test_limit=_TEST_LIMIT.value, name=_MODEL.value, width=_WIDTH.value,
               data_dir=_DATA_DIR.value)
    # --beta and --eps_y: the BAT models' own config (a PGD-AT model has neither).
    bat = {k: v for k, v in (("beta", _BETA.value), ("eps_y", _EPS_Y.value))
           if v is not None}
    sets = flat_overrides(COMMAND.sets(), experiment_flat_name)
    out.update(sets, trainer=dict(bat, **sets.get("trainer", {})))
    return out


def main():
    from tf_advnet.papers.bat.pipeline import reproduce
    from tf_advnet.utils.cli import positive_ints

    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, models=_MODELS.value,
                        overrides=overrides(), strategy=_STRATEGY.value,
                        extra_steps=positive_ints("extra_steps", _EXTRA_STEPS.value,
                                                  allow_empty=True))
    for c in results["claims"]:
        print(f"[bat] {c['verdict']}: {c['statement']} (ours: {c['ours']})")
