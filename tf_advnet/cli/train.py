r"""Train a classifier (any method of tf_advnet.trainers) with model.fit at a preset.

  tf-advnet train --method=pgd_at --dataset=fashion_mnist --preset=cpu \
      --out_dir=runs/fmnist_pgd
  tf-advnet train --method=deepdefense --set dd_lambda=5 --set train.dd_c=15

Kill it and start the same command again: it resumes from the last backup.
`--set` reaches every field of ExperimentConfig (tf_advnet/configs/base.py).
"""

from tf_advnet.cli._command import Command
from tf_advnet.configs import PRESET_NAMES
from tf_advnet.configs.base import STRATEGIES


def _schema():
    from tf_advnet.configs import ExperimentConfig

    return ExperimentConfig


COMMAND = Command("train", __doc__, set_schema=_schema, reserved={
    "data.dataset": "use --dataset (the preset depends on it)",
    "train.method": "use --method (the preset depends on it)", "preset": "use --preset"})
C = COMMAND
_METHOD = C.string("method", "standard",
                   "standard | pgd_at | bat | deepdefense | parseval | pgn | "
                   "advnet | ensemble_at | l2lda | cw_at")
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
_BAT_VARIANT = C.string("bat_variant", None,
                        "BAT variant, e.g. R-MC-LA, R-MC-LS, R-FGSM, Madry-LA")
_BAT_STEPS = C.integer("bat_steps", None, "attack steps of one-step BAT variants")
_BETA = C.float("beta", None, "BAT label-adversary beta (Eq. 16; paper 9)")
_EPS_Y = C.float("eps_y", None, "BAT label budget (LS smoothing, default 0.5)")
_NORM = C.string("norm", None, "PGD-AT threat model: inf | 2 (eps is then L2)")
_RANDOM_START = C.bool("random_start", None,
                       "PGD-AT random start (--norandom_start with "
                       "--attack_steps=1 --step_size=<eps>: FGM-AT)")
_C_L = C.float("c_l", None, "PGN perturbation penalty c_L (Eq. 4; paper 50)")
_EMA = C.float("ema_decay", None, "PGN weight EMA decay (code: 0.998)")
_GEN = C.string("advnet_generator", None,
                "advnet generator: g0 | g1 | g2 (Gaussian z) | g3 (label)")
_K = C.integer("advnet_k", None, "advnet generator width k (default 64; g3 16)")
_GAMMA = C.float("advnet_gamma", None,
                 "advnet gradient regularisation gamma (Eq. 8; paper 0.01)")
_HVP = C.string("advnet_hvp", None,
                "advnet Hessian-vector product: finite_difference | exact | none")
_G_STEPS = C.integer("g_steps", None, "advnet generator steps per update (5)")
_G_UPDATES = C.integer("g_updates", None,
                       "advnet generator updates per classifier step (MNIST 5)")
_G_OPT = C.string("g_optimizer", None, "advnet generator optimiser: sgd | adam")
_G_LR = C.float("g_learning_rate", None, "advnet generator learning rate")
_EAT = C.list("eat_sources", None,
              "ensemble_at: .keras files of pre-trained undefended models")
_INIT = C.string("init_model", None,
                 "start from this .keras classifier's weights (L2L-DA: plain)")
_CLIPNORM = C.float("clipnorm", None, "global gradient-norm clip (L2L-DA: 1)")
_L2L_GEN = C.string("l2lda_generator", None, "l2lda | l2l_star")
_L2L_WIDTH = C.integer("l2lda_width", None, "L2L-DA U-Net width (paper 64)")
_L2L_STEPS = C.integer("l2lda_steps", None, "L2L-DA recursive steps T (10)")
_L2L_LAM = C.float("l2lda_lambda", None, "L2L-DA diversity weight (MNIST 0.02)")
_L2L_REC = C.bool("l2lda_recursive", None, "L2L-DA recursion (R); --no: one shot")
_L2L_DIV = C.bool("l2lda_diversity", None, "L2L-DA diversity loss (D)")
_L2L_DELTA = C.bool("l2lda_delta", None, "the L2L-DA generator takes delta")
_L2L_LABEL = C.bool("l2lda_label", None, "the L2L-DA generator takes y (CBN)")
_L2L_NORM = C.bool("l2lda_normalize", None, "normalise the gradient input")
_CW_STEPS = C.integer("cw_steps", None, "cw_at: L-inf C&W Adam steps (100)")
_TRAIN_LIMIT = C.integer("train_limit", None, "use the first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "use the first N test images")
_DATA_DIR = C.string("data_dir", None, "local data directory")


def config():
    """The ExperimentConfig the parsed flags describe (named flags, then --set)."""
    from tf_advnet.cli.overrides import apply_sets
    from tf_advnet.configs import override, preset

    cfg = override(
        preset(_PRESET.value, _DATASET.value, _METHOD.value), seed=_SEED.value,
        name=_MODEL.value, width=_WIDTH.value, eps=_EPS.value,
        eval_eps=_EPS.value if _NORM.value in (None, "inf") else None,
        epochs=_EPOCHS.value, batch_size=_BATCH.value,
        learning_rate=_LR.value, optimizer=_OPT.value, weight_decay=_WD.value,
        attack_steps=_STEPS.value, step_size=_STEP.value,
        bat_variant=_BAT_VARIANT.value, bat_steps=_BAT_STEPS.value, beta=_BETA.value,
        eps_y=_EPS_Y.value, norm=_NORM.value, random_start=_RANDOM_START.value,
        c_l=_C_L.value, ema_decay=_EMA.value, advnet_generator=_GEN.value,
        advnet_k=_K.value, advnet_gamma=_GAMMA.value, advnet_hvp=_HVP.value,
        g_steps=_G_STEPS.value, g_updates=_G_UPDATES.value, g_optimizer=_G_OPT.value,
        g_learning_rate=_G_LR.value,
        eat_sources=None if _EAT.value is None else tuple(_EAT.value),
        init_model=_INIT.value, clipnorm=_CLIPNORM.value,
        l2lda_generator=_L2L_GEN.value, l2lda_width=_L2L_WIDTH.value,
        l2lda_steps=_L2L_STEPS.value, l2lda_lambda=_L2L_LAM.value,
        l2lda_recursive=_L2L_REC.value, l2lda_diversity=_L2L_DIV.value,
        l2lda_delta=_L2L_DELTA.value, l2lda_label=_L2L_LABEL.value,
        l2lda_normalize=_L2L_NORM.value, cw_steps=_CW_STEPS.value,
        train_limit=_TRAIN_LIMIT.value, test_limit=_TEST_LIMIT.value,
        data_dir=_DATA_DIR.value)
    return apply_sets(cfg, COMMAND.sets()).validate()


def main():
    from tf_advnet.pipelines.train import train

    cfg = config()
    out = _OUT.value or f"runs/{cfg.data.dataset}_{cfg.train.method}"
    train(cfg, out, strategy=_STRATEGY.value)
