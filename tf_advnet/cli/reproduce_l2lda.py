"""Reproduce L2L-DA (Jang et al., ICCV 2019): Tables 1(a), 1(b), 2, 3 and Fig. 2.

  tf-advnet reproduce l2lda --preset=cpu --dataset=mnist_5k
  tf-advnet reproduce l2lda --preset=cpu --dataset=fashion_mnist
  tf-advnet reproduce l2lda --preset=paper --dataset=mnist

Trains a plain LeNet-5 and, starting from it, PGD10-, PGD100- and C&W100-AT, L2L*,
L2L-DA (full) and the ablations of Table 1, plus the surrogates of Table 3 (plain,
FGSM-AT, PGD10-AT with another seed), under runs/l2lda/<dataset>/ (kill and rerun to
resume: finished models, attack generators and table cells are reused); writes
results/l2lda/<dataset>/ (l2lda.json, l2lda.md, fig2.png, trajectories.png).
`--set` reaches every field of the study (tf_advnet/papers/l2lda/pipeline.py, Study).
"""

from tf_advnet.cli._command import PRESET_HELP, RESERVED_STUDY, Command
from tf_advnet.papers.l2lda.study import PRESETS


def _schema():
    from tf_advnet.papers.l2lda.pipeline import Study

    return Study


COMMAND = Command("reproduce l2lda", __doc__, set_schema=_schema,
                  reserved=RESERVED_STUDY)
C = COMMAND
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_DATASET = C.string("dataset", None, "default: mnist_5k (cpu, long), mnist (paper)")
_WORK = C.string("work_dir", "runs/l2lda", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/l2lda/<dataset>")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_SEED = C.integer("seed", None, "random seed (surrogates: seed + 1)")
_EPS = C.float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_PLAIN_EPOCHS = C.integer("plain_epochs", None, "epochs of the plain model")
_EPOCHS = C.integer("epochs", None, "epochs of every defence (from plain)")
_TRAIN_LIMIT = C.integer("train_limit", None, "first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "first N test images")
_WIDTH = C.integer("g_width", None, "the U-Net generator's width (paper 64)")
_STEPS = C.integer("num_steps", None, "recursive steps T (paper 10)")
_LAM = C.float("lam", None, "diversity weight lambda (code: 0.02 MNIST)")
_G_LR = C.float("g_learning_rate", None, "generator SGD learning rate (0.01)")
_CW_BS = C.integer("cw_binary_steps", None, "C&W binary-search steps (10)")
_SAMPLES = C.integer("attack_samples", None, "z samples of the L2L-DA attack")
_ATTACK_EPOCHS = C.integer("attack_epochs", None,
                           "fine-tuning epochs of each attack generator")
_TABLE1 = C.bool("table1", None, "train and evaluate Table 1's ablations")


def overrides():
    """The Study overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import flat_overrides

    out = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value,
        plain_epochs=_PLAIN_EPOCHS.value, epochs=_EPOCHS.value,
        train_limit=_TRAIN_LIMIT.value, test_limit=_TEST_LIMIT.value,
        g_width=_WIDTH.value, num_steps=_STEPS.value, lam=_LAM.value,
        g_learning_rate=_G_LR.value, cw_binary_steps=_CW_BS.value,
        attack_samples=_SAMPLES.value, attack_epochs=_ATTACK_EPOCHS.value,
        table1=_TABLE1.value)
    out.update(flat_overrides(COMMAND.sets()))
    return out


def main():
    from tf_advnet.papers.l2lda.pipeline import reproduce

    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides())
    for c in results["claims"]:
        print(f"[l2lda] {c['verdict']}: {c['statement']} (ours: {c['ours']})")
