r"""Train a classifier (any method of tf_advnet.trainers) with model.fit at a preset.

  tf-advnet train --method=pgd_at --dataset=fashion_mnist --preset=cpu \
      --out_dir=runs/fmnist_pgd
  tf-advnet train --method=deepdefense --set trainer.lam=5 --set train.trainer.c=15
  tf-advnet train --method=bat --set trainer.variant=R-MC-LS --set trainer.eps_y=0.4

Kill it and start the same command again: it resumes from the last backup.
`--set` reaches every field of ExperimentConfig (tf_advnet/configs/base.py), and
`train.trainer.*` every field of the method's own Config (tf_advnet/trainers/
registry.py); `--set train.method=...` switches the method and resets them.
"""

from tf_advnet.cli._command import Command
from tf_advnet.configs import PRESET_NAMES
from tf_advnet.configs.base import STRATEGIES


def _schema():
    from tf_advnet.configs import ExperimentConfig

    return ExperimentConfig


COMMAND = Command("train", __doc__, set_schema=_schema, reserved={
    "data.dataset": "use --dataset (the preset depends on it)", "preset": "use --preset"})
C = COMMAND
_METHOD = C.string("method", "standard",
                   "a method of tf_advnet/trainers/registry.py (standard, pgd_at, bat, "
                   "...; a wrong name lists them); its own hyper-parameters: --set "
                   "trainer.<key>=value, listed by --set=help")
_DATASET = C.string("dataset", "fashion_mnist", "data set name")
_PRESET = C.enum("preset", "cpu", PRESET_NAMES, "hyper-parameter preset")
_STRATEGY = C.enum("strategy", "default", STRATEGIES, "tf.distribute strategy")
_OUT = C.string("out_dir", None, "work dir (default runs/<dataset>_<method>)")
_SEED = C.integer("seed", None, "random seed (default: the preset's)")
_MODEL = C.string("model", None, "classifier name (default: the preset's)")
_WIDTH = C.float("width", None, "model width multiplier")
_EPS = C.float("eps", None, "L-inf budget in [0, 1] for training and eval")
_EPOCHS = C.integer("epochs", None, "epochs")
_BATCH = C.integer("batch_size", None, "global batch size")
_LR = C.float("learning_rate", None, "initial learning rate")
_OPT = C.string("optimizer", None, "sgd | adam")
_WD = C.float("weight_decay", None, "coupled L2 on kernels")
_STEPS = C.integer("attack_steps", None, "PGD steps in training")
_STEP = C.float("step_size", None, "PGD step in training (default eps/4)")
_NORM = C.string("norm", None, "threat model of --eps: inf | 2 (PGD-AT: eps is then L2)")
_RANDOM_START = C.bool("random_start", None,
                       "PGD-AT random start (--norandom_start with "
                       "--attack_steps=1 --step_size=<eps>: FGM-AT)")
_INIT = C.string("init_model", None,
                 "start from this .keras classifier's weights (L2L-DA: plain)")
_CLIPNORM = C.float("clipnorm", None, "global gradient-norm clip (L2L-DA: 1)")
_TRAIN_LIMIT = C.integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "use the first N test images")
_DATA_DIR = C.string("data_dir", None, "local data directory")


def config():
    """The ExperimentConfig the parsed flags describe (named flags, then --set)."""
    from tf_advnet.cli.overrides import apply_sets
    from tf_advnet.configs import override, preset

    flags = dict(
        seed=_SEED.value, name=_MODEL.value, width=_WIDTH.value, eps=_EPS.value,
        eval_eps=_EPS.value if _NORM.value in (None, "inf") else None,
        epochs=_EPOCHS.value, batch_size=_BATCH.value, learning_rate=_LR.value,
        optimizer=_OPT.value, weight_decay=_WD.value, attack_steps=_STEPS.value,
        step_size=_STEP.value, norm=_NORM.value, random_start=_RANDOM_START.value,
        init_model=_INIT.value, clipnorm=_CLIPNORM.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, data_dir=_DATA_DIR.value)
    # A flag left unset (None) keeps the preset's value.
    cfg = override(preset(_PRESET.value, _DATASET.value, _METHOD.value),
                   **{k: v for k, v in flags.items() if v is not None})
    return apply_sets(cfg, COMMAND.sets(base=cfg)).validate()


def main():
    from tf_advnet.pipelines.train import train

    cfg = config()
    out = _OUT.value or f"runs/{cfg.data.dataset}_{cfg.train.method}"
    train(cfg, out, strategy=_STRATEGY.value)
