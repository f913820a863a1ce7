"""Reproduce the PGN paper (Lee, Han & Lee, ICLR 2020 submission): Table 2, Figs. 2-5.

  tf-advnet reproduce pgn --preset=cpu                  # Fashion-MNIST
  tf-advnet reproduce pgn --preset=paper --dataset=cifar100

Trains the undefended baseline, FGM-AT and PGD-AT (L2) over an eps grid, PGN over a
c_L grid (and wider classifiers), an independently seeded baseline for black-box
attacks, FGM-AT with per-epoch rho_cw (Fig. 2) and attack generators against fixed
FGM-AT / PGD-AT classifiers (Fig. 3), under runs/pgn/<dataset>/ (kill and rerun to
resume; finished models are reused); writes results/pgn/<dataset>/ (pgn.json,
pgn.md, robustness_curve.png, capacity.png, attack_strength.png,
fgm_overfitting.png). `--set` reaches every field of the study
(tf_advnet/papers/pgn/pipeline.py, Study).
"""

from tf_advnet.cli._command import PRESET_HELP, RESERVED_STUDY, Command
from tf_advnet.papers.pgn.study import PRESETS


def _schema():
    from tf_advnet.papers.pgn.pipeline import Study

    return Study


COMMAND = Command("reproduce pgn", __doc__, set_schema=_schema,
                  reserved=RESERVED_STUDY)
C = COMMAND
_PRESET = C.enum("preset", "cpu", PRESETS, PRESET_HELP)
_DATASET = C.string("dataset", None, "default: fashion_mnist (cpu, long), cifar100 (paper)")
_WORK = C.string("work_dir", "runs/pgn", "root of the training dirs")
_OUT = C.string("results_dir", None, "default results/pgn/<dataset>")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_EPOCHS = C.integer("epochs", None, "training epochs of every model")
_TRAIN_LIMIT = C.integer("train_limit", None, "first N training images")
_TEST_LIMIT = C.integer("test_limit", None, "first N test images")
_SEED = C.integer("seed", None, "random seed")
_EPS_GRID = C.list("eps_grid", None, "L2 eps of FGM-AT and PGD-AT")
_C_L_GRID = C.list("c_l_grid", None, "c_L values of PGN")
_WIDTHS = C.list("capacity_widths", None,
                 "classifier width multipliers of the capacity study (empty: skip)")
_CAP_C_L = C.list("capacity_c_l", None,
                  "c_L values of the capacity study (default: --c_l_grid)")
_GEN_WIDTH = C.integer("generator_width", None, "PGN generator channels")
_ATTACK_EPS = C.float("attack_eps", None, "L2 eps of Table 2's FGM and MIM")
_FIG3_EPS = C.float("fig3_eps", None, "eps of the FGM-AT / PGD-AT classifiers of Fig. 3")
_FIG3_C_L = C.list("fig3_c_l", None, "c_L values of the Fig. 3 generators")
_FIG3_ATTACK_EPS = C.list("fig3_attack_eps", None, "L2 eps of Fig. 3's FGM and PGD attacks")
_FIG2_EPOCHS = C.integer("fig2_epochs", None, "epochs of Fig. 2's FGM-AT")
_CW_ITERS = C.integer("cw_iterations", None, "C&W iterations (code: 100)")


def overrides():
    """The Study overrides of the named flags, then --set."""
    from tf_advnet.cli.overrides import flat_overrides
    from tf_advnet.utils.cli import positive_numbers

    def grid(flag, holder):
        return None if holder.value is None else positive_numbers(
            flag, holder.value, allow_empty=flag == "capacity_widths")

    out = dict(
        data_dir=_DATA_DIR.value, epochs=_EPOCHS.value, train_limit=_TRAIN_LIMIT.value,
        test_limit=_TEST_LIMIT.value, seed=_SEED.value,
        eps_grid=grid("eps_grid", _EPS_GRID), c_l_grid=grid("c_l_grid", _C_L_GRID),
        capacity_widths=grid("capacity_widths", _WIDTHS),
        capacity_c_l=grid("capacity_c_l", _CAP_C_L),
        generator_width=_GEN_WIDTH.value, attack_eps=_ATTACK_EPS.value,
        fig3_eps=_FIG3_EPS.value, fig3_c_l=grid("fig3_c_l", _FIG3_C_L),
        fig3_attack_eps=grid("fig3_attack_eps", _FIG3_ATTACK_EPS),
        fig2_epochs=_FIG2_EPOCHS.value, cw_iterations=_CW_ITERS.value)
    out.update(flat_overrides(COMMAND.sets()))
    return out


def main():
    from tf_advnet.papers.pgn.pipeline import reproduce

    results = reproduce(_PRESET.value, _DATASET.value, work_dir=_WORK.value,
                        results_dir=_OUT.value, overrides=overrides())
    for c in results["claims"]:
        print(f"[pgn] {c['verdict']}: {c['statement']} (ours: {c['ours']})")
