"""DeepDefense's hyper-parameter study (Yan et al., NeurIPS 2018, Fig. 4).

Fig. 4 fine-tunes the MNIST LeNet with d = 5 fixed, c in {5, 10, ..., 45} and
lambda in {5, 15, 25}, and plots test accuracy against rho_2, one curve per lambda
whose points are the values of c. `sweep` does the same from our reference model
(trained or reused by `tf_advnet.papers.deepdefense.pipeline.reproduce`'s `train` call): one
DeepDefense fine-tuning per (lambda, c) under `<work_dir>/<dataset>/<model>/sweep/`,
each reused when finished, then accuracy and rho_2 on the test set, written to
`results/deepdefense/<dataset>/<model>/sweep.{json,md,png}`.

The cpu preset fine-tunes each point for 5 epochs (200 steps on mnist_5k) instead of
Table 1's ~600 steps, and uses c in {5, 15, 25, 35, 45}, so the 15 points fit in a
CPU session; the long preset (the claims ledger's) uses the same grid for 15 epochs
per point and records each point's per-epoch accuracy and rho_2 on held-out images
(Table 1's curves); the paper preset uses the paper's grid and Table 1's schedule.
"""

import os


from tf_advnet.errors import UserError

PAPER_C = (5, 10, 15, 20, 25, 30, 35, 40, 45)
CPU_C = (5, 15, 25, 35, 45)
LAMBDAS = (5, 15, 25)
# Fine-tuning epochs per point (the paper preset: Table 1's schedule); long: half of
# Table 1's long fine-tuning, for 15 points per seed.
SWEEP_EPOCHS = {"cpu": 5, "long": 15}


def _point_dir(root, lam, c):
    return os.path.join(root, "sweep", f"lambda{lam:g}_c{c:g}")


def sweep(preset_name="cpu", dataset="mnist_5k", model="lenet", *, cs=None,
          lambdas=LAMBDAS, work_dir="runs/deepdefense", results_dir=None, overrides=None,
          finetune_overrides=None, argv=None, progress=print):
    """Fine-tunes DeepDefense for every (lambda, c); returns the sweep.json dict.

    Args:
      preset_name, dataset, model, work_dir, overrides, argv, progress: as in
        `tf_advnet.papers.deepdefense.pipeline.reproduce` (the reference is shared with it).
      cs: values of c (default: the preset's grid, CPU_C or PAPER_C).
      lambdas: values of lambda.
      results_dir: default results/deepdefense/<dataset>/<model>.
      finetune_overrides: overrides of the fine-tunings only (cpu default: 5 epochs).
    """
    from tf_advnet.papers import deepdefense as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.papers.deepdefense import pipeline as dd
    from tf_advnet.pipelines import common
    from tf_advnet.pipelines.train import train
    from tf_advnet.utils.compiled import Twins
    from tf_advnet.utils.provenance import Provenance

    ref_cfg, cs, lambdas, ft = _grid(preset_name, dataset, model, cs, lambdas, overrides,
                                     finetune_overrides)
    prov = Provenance(seed=ref_cfg.seed, preset=preset_name, argv=argv)
    root = os.path.join(work_dir, dataset, model)
    results_dir = results_dir or os.path.join("results", "deepdefense", dataset, model)
    ref_run = train(ref_cfg, os.path.join(root, "reference"), argv=argv,
                    progress=progress, verbose=2)
    x_train, y_train = common.load_split(ref_cfg.data, "train")
    x_test, y_test = common.load_split(ref_cfg.data, "test")
    bs = ref_cfg.eval.batch_size
    # The long preset's convergence evidence: each point's per-epoch curve.
    curve_data = (dd.curve_subset(preset_name, x_test, y_test, overrides)
                  if preset_name == "long" else None)
    curves = {}

    twins = Twins()  # every point of the sweep shares the compiled DeepFool

    def point(model_path):
        m = twins(common.load_keras_model(model_path))
        res = dd.evaluate_model(m, x_test, y_test, batch_size=bs)
        return {"acc": res["acc"], "rho_2": res["rho_2"], "rho_inf": res["rho_inf"]}

    progress("[deepdefense sweep] evaluating the reference")
    points = [{"lambda": None, "c": None, **point(ref_run["model_path"])}]
    n = len(cs) * len(lambdas)
    for i, (lam, c) in enumerate(((lam, c) for lam in lambdas for c in cs)):
        cfg = _point_config(ref_cfg, dataset, ft, lam, c)
        progress(f"[deepdefense sweep] point {i + 1}/{n}: lambda={lam:g}, c={c:g}")
        run = dd.finetune(cfg, ref_run["model_path"], x_train, y_train,
                          _point_dir(root, lam, c), curve_data=curve_data,
                          progress=progress, verbose=2)
        if run.get("curve"):
            curves[f"lambda{lam:g}_c{c:g}"] = run["curve"]
        points.append({"lambda": float(lam), "c": float(c), **point(run["model_path"]),
                       "wall_time_s": run["wall_time_s"]})
    results = {**_recorded(dataset, model, preset_name, ref_cfg, cfg, cs, lambdas),
               "n_test": int(len(x_test)), "n_train": int(len(x_train)), "points": points}
    if curves:  # Table 1's layout (deepdefense.json), which the ledger reads
        results["curves"] = {"n_test": int(len(curve_data[0])), "methods": curves}
    results["provenance"] = prov.finish()
    return finish(study_module, results, results_dir, results_file="sweep.json")


def _grid(preset_name, dataset, model, cs, lambdas, overrides, finetune_overrides):
    """The sweep's reference config, its c and lambda grids and the fine-tunings'
    flat overrides (the preset's epochs, then `overrides`, then `finetune_overrides`)."""
    from tf_advnet.papers.deepdefense import pipeline as dd

    cs = tuple(cs or (PAPER_C if preset_name == "paper" else CPU_C))
    lambdas = tuple(lambdas)
    if not cs or not lambdas or min(cs) <= 0 or min(lambdas) < 0:
        raise UserError("--sweep_c and --sweep_lambda: give positive numbers, "
                        "e.g. --sweep_c=5,15,25 --sweep_lambda=5,15")
    ref_cfg = dd.reference_config(dataset, model, preset_name, overrides)
    ft = {"epochs": SWEEP_EPOCHS[preset_name]} if preset_name in SWEEP_EPOCHS else {}
    ft.update({k: v for k, v in (overrides or {}).items() if v is not None})
    ft.update({k: v for k, v in (finetune_overrides or {}).items() if v is not None})
    return ref_cfg, cs, lambdas, ft


def _point_config(ref_cfg, dataset, ft, lam, c):
    """The DeepDefense fine-tuning config of one (lambda, c) point."""
    from tf_advnet.papers.deepdefense import pipeline as dd

    return dd.finetune_config(ref_cfg, dataset, "deepdefense", dict(
        ft, trainer=dict(ft.get("trainer", {}), lam=float(lam), c=float(c))))


def _recorded(dataset, model, preset_name, ref_cfg, cfg, cs, lambdas):
    """The settings sweep.json records: the grid and recipe at its top, and the
    reference's and the last point's configs (`cfg`; the points differ in lambda and
    c only)."""
    from tf_advnet.configs import to_dict

    return {"dataset": dataset, "model": model, "preset": preset_name,
            "d": cfg.train.trainer.d, "epochs": cfg.train.epochs,
            "learning_rate": cfg.train.learning_rate, "cs": list(cs),
            "lambdas": list(lambdas),
            "configs": {"reference": to_dict(ref_cfg), "point": to_dict(cfg)}}


def settings(preset_name="cpu", dataset="mnist_5k", model="lenet", *, cs=None,
             lambdas=LAMBDAS, overrides=None, finetune_overrides=None):
    """What sweep.json of `sweep(...)` with these arguments records of its settings,
    without running."""
    ref_cfg, cs, lambdas, ft = _grid(preset_name, dataset, model, cs, lambdas, overrides,
                                     finetune_overrides)
    return _recorded(dataset, model, preset_name, ref_cfg,
                     _point_config(ref_cfg, dataset, ft, lambdas[-1], cs[-1]), cs, lambdas)


def render(results, out_dir, claims):
    """sweep.md and sweep.png (accuracy against rho_2, a curve per lambda) from the
    sweep's results dict; returns their paths."""
    from tf_advnet.eval.plots import plot_panels
    from tf_advnet.papers._study import claims_and_provenance

    os.makedirs(out_dir, exist_ok=True)
    ref = results["points"][0]
    curves = {}
    for lam in results["lambdas"]:
        curve = sorted((p for p in results["points"][1:] if p["lambda"] == lam),
                       key=lambda p: -p["c"])
        curves[f"lambda={lam:g}"] = ([p["rho_2"] for p in curve],
                                     [100 * p["acc"] for p in curve])
    curves["reference"] = ([ref["rho_2"]], [100 * ref["acc"]])
    paths = [os.path.join(out_dir, "sweep.md"), os.path.join(out_dir, "sweep.png")]
    plot_panels(paths[1], [("test accuracy (%)", curves)],
                xlabel="test rho_2",
                title=f"{results['dataset']}, {results['model']}: c and lambda (d = "
                      f"{results['d']:g})")
    md = [f"# DeepDefense hyper-parameters on {results['dataset']}, {results['model']} "
          f"({results['preset']} preset; paper Fig. 4)", "",
          f"DeepDefense fine-tuned from the reference for {results['epochs']} epochs "
          f"(lr {results['learning_rate']:g}) per (lambda, c), d = {results['d']:g}; "
          f"accuracy and rho_2 on {results['n_test']} test images. Plot: sweep.png "
          "(points on a curve: c decreasing from left to right, as in Fig. 4). "
          "Generated from sweep.json by tf_advnet.papers.deepdefense.sweep; do not edit.",
          "", "| lambda | c | acc (%) | rho_2 | rho_inf |", "|---|---|---|---|---|",
          f"| reference | — | {100 * ref['acc']:.2f} | {ref['rho_2']:.3g} | "
          f"{ref['rho_inf']:.3g} |"]
    for p in results["points"][1:]:
        md.append(f"| {p['lambda']:g} | {p['c']:g} | {100 * p['acc']:.2f} | "
                  f"{p['rho_2']:.3g} | {p['rho_inf']:.3g} |")
    md += claims_and_provenance(claims, results)
    with open(paths[0], "w") as f:
        f.write("\n".join(md))
    return paths
