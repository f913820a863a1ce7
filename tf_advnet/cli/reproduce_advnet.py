"""Reproduce Wang & Yu (ICLR 2019), adversarial networks: Tables 1-6 and 10-11.

  tf-advnet reproduce advnet --preset=cpu --dataset=mnist_5k
  tf-advnet reproduce advnet --preset=cpu --dataset=fashion_mnist
  tf-advnet reproduce advnet --preset=paper --dataset=cifar10

Trains A (standard), B (PGD-AT), C (adversarial network) and the surrogates A', B',
C' (other seed), ensemble adversarial training (Table 4), C with other generators
(Table 6), and generators trained against the fixed A, B, C (Tables 5, 10, 11),
under runs/advnet/<dataset>/ (kill and rerun to resume; finished models are reused);
writes results/advnet/<dataset>/ (advnet.json, advnet.md, table.png,
perturbations.png). `--set` reaches every field of the study
(tf_advnet/papers/advnet/pipeline.py, Study).
"""

from tf_advnet.cli._command import PRESET_HELP, RESERVED_STUDY, Command
from tf_advnet.papers.advnet.study import PRESETS


def _schema():
    from tf_advnet.papers.advnet.pipeline import Study

    return Study


COMMAND = Command("reproduce advnet", __doc__, set_schema=_schema,
                  reserved=RESERVED_STUDY)
C = COMMAND
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_DATASET = C.string("dataset", None, "default: mnist_5k (cpu, long), mnist (paper)")
_WORK = C.string("work_dir", "runs/advnet", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/advnet/<dataset>")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_SEED = C.integer("seed", None, "random seed (surrogates: seed + 1)")
_EPS = C.float("eps", None, "L-inf budget in [0, 1] (training and attacks)")
_EPOCHS = C.integer("epochs", None, "epochs of A (standard)")
_AT_EPOCHS = C.integer("at_epochs", None, "epochs of B (PGD-AT)")
_ADV_EPOCHS = C.integer("advnet_epochs", None, "epochs of C (adv. network)")
_EAT_EPOCHS = C.integer("eat_epochs", None, "epochs of ensemble AT")
_TRAIN_LIMIT = C.integer("train_limit", None, "first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "first N test images")
_GEN = C.string("generator", None, "C's generator, <kind>:<k>, e.g. g0:64")
_G_STEPS = C.integer("g_steps", None, "G steps per update (paper 5)")
_G_UPDATES = C.integer("g_updates", None, "G updates per D step (MNIST 5)")
_G_OPT = C.string("g_optimizer", None, "G's optimiser: sgd | adam")
_G_LR = C.float("g_learning_rate", None, "G's learning rate (paper 0.01 SGD)")
_GAMMA = C.float("gamma", None, "gradient regularisation (paper 0.01)")
_HVP = C.string("hvp", None, "finite_difference | exact | none")
_TABLE6 = C.list("table6_generators", None, "generators of Table 6's C models (empty: skip)")
_ATTACK_GENS = C.list("attack_generators", None,
                      "generators of Tables 5, 10, 11 (empty: skip)")
_ATTACK_EPOCHS = C.integer("attack_epochs", None, "epochs of each attack generator")


def overrides():
    """The Study overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import flat_overrides

    def specs(holder):
        return None if holder.value is None else tuple(v for v in holder.value if v)

    out = dict(
        data_dir=_DATA_DIR.value, seed=_SEED.value, eps=_EPS.value, epochs=_EPOCHS.value,
        at_epochs=_AT_EPOCHS.value, advnet_epochs=_ADV_EPOCHS.value,
        eat_epochs=_EAT_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, generator=_GEN.value, g_steps=_G_STEPS.value,
        g_updates=_G_UPDATES.value, g_optimizer=_G_OPT.value,
        g_learning_rate=_G_LR.value, gamma=_GAMMA.value, hvp=_HVP.value,
        table6_generators=specs(_TABLE6), attack_generators=specs(_ATTACK_GENS),
        attack_epochs=_ATTACK_EPOCHS.value)
    out.update(flat_overrides(COMMAND.sets()))
    return out


def main():
    from tf_advnet.papers.advnet.pipeline import reproduce

    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides())
    for c in results["claims"]:
        print(f"[advnet] {c['verdict']}: {c['statement']} (ours: {c['ours']})")
