"""Reproduce Wang & Yu (ICLR 2019), adversarial networks: Tables 1-6 and 10-11.

  python experiments/reproduce_advnet.py --preset=cpu --dataset=mnist_5k
  python experiments/reproduce_advnet.py --preset=cpu --dataset=fashion_mnist
  python experiments/reproduce_advnet.py --preset=paper --dataset=cifar10

Trains A (standard), B (PGD-AT), C (adversarial network) and the surrogates A', B',
C' (other seed), ensemble adversarial training (Table 4), C with other generators
(Table 6), and generators trained against the fixed A, B, C (Tables 5, 10, 11),
under runs/advnet/<dataset>/ (kill and rerun to resume; finished models are reused);
writes results/advnet/<dataset>/ (advnet.json, advnet.md, table.png,
perturbations.png).
"""

from tf_advnet.utils.cli import quiet_tensorflow, run_main

quiet_tensorflow()

from absl import flags  # noqa: E402

_PRESET = flags.DEFINE_string("preset", "cpu", "cpu | paper")
_DATASET = flags.DEFINE_string("dataset", None,
                               "default: mnist_5k (cpu), mnist (paper)")
_WORK = flags.DEFINE_string("work_dir", "runs/advnet", "root of the training dirs")
_OUT = flags.DEFINE_string("results_dir", None, "default results/advnet/<dataset>")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "local data directory")
_SEED = flags.DEFINE_integer("seed", None, "random seed (surrogates: seed + 1)")
_EPS = flags.DEFINE_float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_EPOCHS = flags.DEFINE_integer("epochs", None, "epochs of A (standard)")
_AT_EPOCHS = flags.DEFINE_integer("at_epochs", None, "epochs of B (PGD-AT)")
_ADV_EPOCHS = flags.DEFINE_integer("advnet_epochs", None, "epochs of C (adv. network)")
_EAT_EPOCHS = flags.DEFINE_integer("eat_epochs", None, "epochs of ensemble AT")
_TRAIN_LIMIT = flags.DEFINE_integer("train_limit", None, "first N training images")
_TEST_LIMIT = flags.DEFINE_integer("test_limit", None, "first N test images")
_GEN = flags.DEFINE_string("generator", None, "C's generator, <kind>:<k>, e.g. g0:64")
_G_STEPS = flags.DEFINE_integer("g_steps", None, "G steps per update (paper 5)")
_G_UPDATES = flags.DEFINE_integer("g_updates", None, "G updates per D step (MNIST 5)")
_G_OPT = flags.DEFINE_string("g_optimizer", None, "G's optimiser: sgd | adam")
_G_LR = flags.DEFINE_float("g_learning_rate", None, "G's learning rate (paper 0.01 SGD)")
_GAMMA = flags.DEFINE_float("gamma", None, "gradient regularisation (paper 0.01)")
_HVP = flags.DEFINE_string("hvp", None, "finite_difference | exact | none")
_TABLE6 = flags.DEFINE_list("table6_generators", None,
                            "generators of Table 6's C models (empty: skip)")
_ATTACK_GENS = flags.DEFINE_list("attack_generators", None,
                                 "generators of Tables 5, 10, 11 (empty: skip)")
_ATTACK_EPOCHS = flags.DEFINE_integer("attack_epochs", None,
                                      "epochs of each attack generator")


def main(argv):
    del argv  # run_main rejects positional arguments
    from tf_advnet.runs.advnet import reproduce

    def specs(holder):
        return None if holder.value is None else tuple(v for v in holder.value if v)

    overrides = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value, epochs=_EPOCHS.value,
        at_epochs=_AT_EPOCHS.value, advnet_epochs=_ADV_EPOCHS.value,
        eat_epochs=_EAT_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, generator=_GEN.value, g_steps=_G_STEPS.value,
        g_updates=_G_UPDATES.value, g_optimizer=_G_OPT.value,
        g_learning_rate=_G_LR.value, gamma=_GAMMA.value, hvp=_HVP.value,
        table6_generators=specs(_TABLE6), attack_generators=specs(_ATTACK_GENS),
        attack_epochs=_ATTACK_EPOCHS.value)
    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides)
    for key, value in results["findings"].items():
        print(f"[advnet] {key}: {value}")


if __name__ == "__main__":
    run_main(main)
