r"""Evaluate saved classifiers under an attack list.

  tf-advnet evaluate --model_path=runs/fmnist_pgd/model.keras \
      --dataset=fashion_mnist --attacks=fgsm,pgd10,pgd100,cw100,deepfool --eps=0.1 \
      --metrics=rho2,rho_inf --out_dir=results/eval/fmnist_pgd

Several models: --model_path=std=runs/a/model.keras,adv=runs/b/model.keras
(add --transfer for the surrogate x target matrix). A strong, honest evaluation:
--attacks=strong (AutoAttack's standard version: APGD-CE, APGD-T and FAB-T with 9
targets, Square with 5,000 queries; --attacks=plus for its plus version) --checks (the
gradient-masking checks, each with its reason). --strategy=mirrored splits every attack
batch over the local GPUs; --strategy=multi_worker over a cluster (BUILD.md).

"""

from tf_advnet.cli._command import Command
from tf_advnet.configs.base import STRATEGIES
from tf_advnet.errors import UserError

COMMAND = Command("evaluate", __doc__)
C = COMMAND
_MODELS = C.string("model_path", None, "path.keras or name=path,name=path")
_DATASET = C.string("dataset", "fashion_mnist", "data set name")
_ATTACKS = C.string("attacks", "fgsm,pgd10,pgd100,cw100,deepfool",
                    "comma-separated attack specs")
_EPS = C.float("eps", 0.1, "L-inf budget in [0, 1]")
_EPS_L2 = C.float("eps_l2", None, "L2 budget for L2 attacks")
_METRICS = C.list("metrics", [], "rho2, rho_inf, eps_ref, rho_cw")
_EPS_REF_FROM = C.string("eps_ref_from", None, "model whose 50%-error FGS eps is eps_ref")
_TRANSFER = C.bool("transfer", False, "transfer matrix across the models")
_CHECKS = C.bool("checks", False, "run the gradient-masking checks per model")
_STEPS_GRID = C.list("steps_grid", ["1", "2", "5", "10", "20", "50"],
                     "PGD step counts for the accuracy-vs-steps plot")
_TEST_LIMIT = C.integer("test_limit", 1000, "first N test images (0 = all)")
_BATCH = C.integer("batch_size", 250, "attack batch size")
_SEED = C.integer("seed", 0, "seed of random starts")
_DATA_DIR = C.string("data_dir", None, "local data directory")
_OUT = C.string("out_dir", "results/eval", "output directory")
_STRATEGY = C.enum("strategy", "default", STRATEGIES,
                   "tf.distribute strategy the attack batches are split over")


def _parse_models(text):
    if not text:
        raise UserError("--model_path is required: path.keras or name=path,name=path")
    items = [t for t in text.split(",") if t]
    if len(items) == 1 and "=" not in items[0]:
        return {"model": items[0]}
    models = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--model_path: {item!r} must be name=path when giving "
                            "several models")
        name, path = item.split("=", 1)
        models[name] = path
    return models


def _check_attacks():
    """Parses --attacks up front: the registry's errors name the spec, not the flag."""
    from tf_advnet.attacks.registry import parse_attacks

    try:
        parse_attacks(_ATTACKS.value, eps=_EPS.value, eps_l2=_EPS_L2.value)
    except UserError as e:
        raise UserError(f"--attacks: {e}") from None


def main():
    from tf_advnet.pipelines import common

    # A multi-worker strategy must exist before any other TensorFlow op runs.
    strategy = common.get_strategy(_STRATEGY.value)
    from tf_advnet.configs import DataConfig, EvalConfig
    from tf_advnet.data import DATASET_NAMES
    from tf_advnet.errors import check_choice, check_range
    from tf_advnet.pipelines.evaluate import evaluate
    from tf_advnet.utils.cli import positive_ints

    check_choice("dataset", _DATASET.value, DATASET_NAMES)
    check_range("eps", _EPS.value, 0.0, 1.0)
    check_range("batch_size", _BATCH.value, 0, low_inclusive=False)
    check_range("test_limit", _TEST_LIMIT.value, 0)
    _check_attacks()
    data = DataConfig(dataset=_DATASET.value, test_limit=_TEST_LIMIT.value or None,
                      data_dir=_DATA_DIR.value)
    ev = EvalConfig(attacks=_ATTACKS.value, eps=_EPS.value, eps_l2=_EPS_L2.value,
                    batch_size=_BATCH.value,
                    eps_grid=tuple(round(_EPS.value * f, 6) for f in (0, .25, .5, 1, 1.5, 2)),
                    steps_grid=positive_ints("steps_grid", _STEPS_GRID.value))
    out_dir = common.task_dir(strategy, _OUT.value)
    with strategy.scope():  # the evaluator splits attack batches over its replicas
        evaluate(_parse_models(_MODELS.value), data, ev, out_dir, metrics=_METRICS.value,
                 transfer=_TRANSFER.value, eps_ref_from=_EPS_REF_FROM.value,
                 seed=_SEED.value, preset="custom", checks=_CHECKS.value)
    print(f"wrote {out_dir}/eval.json, eval.md, acc_vs_eps.png, acc_vs_steps.png")
