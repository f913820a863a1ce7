"""Reproduce L2L-DA (Jang et al., ICCV 2019): Tables 1(a), 1(b), 2, 3 and Fig. 2.

  python experiments/reproduce_l2lda.py --preset=cpu --dataset=mnist_5k
  python experiments/reproduce_l2lda.py --preset=cpu --dataset=fashion_mnist
  python experiments/reproduce_l2lda.py --preset=paper --dataset=mnist

Trains a plain LeNet-5 and, starting from it, PGD10-, PGD100- and C&W100-AT, L2L*,
L2L-DA (full) and the ablations of Table 1, plus the surrogates of Table 3 (plain,
FGSM-AT, PGD10-AT with another seed), under runs/l2lda/<dataset>/ (kill and rerun to
resume: finished models, attack generators and table cells are reused); writes
results/l2lda/<dataset>/ (l2lda.json, l2lda.md, fig2.png, trajectories.png).
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

_PRESET = flags.DEFINE_string("preset", "cpu", "cpu | paper")
_DATASET = flags.DEFINE_string("dataset", None, "default: mnist_5k (cpu), mnist (paper)")
_WORK = flags.DEFINE_string("work_dir", "runs/l2lda", "root of the training dirs")
_OUT = flags.DEFINE_string("results_dir", None, "default results/l2lda/<dataset>")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")
_SEED = flags.DEFINE_integer("seed", None, "random seed (surrogates: seed + 1)")
_EPS = flags.DEFINE_float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_PLAIN_EPOCHS = flags.DEFINE_integer("plain_epochs", None, "epochs of the plain model")
_EPOCHS = flags.DEFINE_integer("epochs", None, "epochs of every defence (from plain)")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "first N test images")
_WIDTH = flags.DEFINE_integer("g_width", None, "the U-Net generator's width (paper 64)")
_STEPS = flags.DEFINE_integer("num_steps", None, "recursive steps T (paper 10)")
_LAM = flags.DEFINE_float("lam", None, "diversity weight lambda (code: 0.02 MNIST)")
_G_LR = flags.DEFINE_float("g_learning_rate", None, "generator SGD learning rate (0.01)")
_CW_BS = flags.DEFINE_integer("cw_binary_steps", None, "C&W binary-search steps (10)")
_SAMPLES = flags.DEFINE_integer("attack_samples", None, "z samples of the L2L-DA attack")
_ATTACK_EPOCHS = flags.DEFINE_integer("attack_epochs", None,
                                      "fine-tuning epochs of each attack generator")
_TABLE1 = flags.DEFINE_bool("table1", None, "train and evaluate Table 1's ablations")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.l2lda import reproduce

    overrides = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value,
        plain_epochs=_PLAIN_EPOCHS.value, epochs=_EPOCHS.value,
        train_limit=_TRAIN_LIMIT.value, test_limit=_TEST_LIMIT.value,
        g_width=_WIDTH.value, num_steps=_STEPS.value, lam=_LAM.value,
        g_learning_rate=_G_LR.value, cw_binary_steps=_CW_BS.value,
        attack_samples=_SAMPLES.value, attack_epochs=_ATTACK_EPOCHS.value,
        table1=_TABLE1.value)
    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides)
    for key, value in results["findings"].items():
        print(f"[l2lda] {key}: {value}")


if __name__ == "__main__":
    run_main(main)
