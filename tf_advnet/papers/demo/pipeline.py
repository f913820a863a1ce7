"""The README's main job: standard vs PGD-AT vs BAT, trained and attacked; DeepDefense.

Trains the classifiers (BAT is its R-MC-LA variant, beta = 9) at a preset (`cpu` by
default, Fashion-MNIST), evaluates them under the preset's attacks, prints the
robustness table and writes `results_dir/eval.{json,md}`, `acc_vs_eps.png` and
`demo.json` (training cost and provenance). Then, on the MNIST-like cpu data sets,
DeepDefense's Table 1 for the MLP (`tf_advnet.papers.deepdefense.pipeline.reproduce`: reference,
Parseval, DeepFool-AT and DeepDefense) into `results_dir/deepdefense/`, and a
demo-sized PGN study (`tf_advnet.papers.pgn.pipeline.reproduce` with one eps and one c_L:
baseline, FGM-AT, PGD-AT and PGN at matched accuracy, rho_cw, the PGN attack) into
`results_dir/pgn/`, and a demo-sized Wang & Yu study (`tf_advnet.papers.advnet.pipeline.reproduce`
with its demo size: A, B, the adversarial network C, their surrogates and ensemble AT,
the 9-column white/black-box table, one generator attack per model) into
`results_dir/advnet/`, and a demo-sized L2L-DA study (`tf_advnet.papers.l2lda.pipeline.reproduce`
with its demo size: Table 2's six rows, its nine attacks and Min, Table 3, Fig. 2; no
Table 1 ablations) into `results_dir/l2lda/`. Later issues add their defences here.
"""

import os
import time

from tf_advnet.configs import override, preset
from tf_advnet.papers import _study
from tf_advnet.papers._study import given
from tf_advnet.pipelines.evaluate import evaluate
from tf_advnet.pipelines.train import train
from tf_advnet.utils.provenance import Provenance, write_json

METHODS = ("standard", "pgd_at", "bat")


# The paper studies of the main job, in order, each at its own demo size (the
# `demo_overrides` of its study.py).
STUDIES = ("deepdefense", "pgn", "advnet", "l2lda")


def demo(dataset="fashion_mnist", preset_name="cpu", *, work_dir="runs/demo",
         results_dir=None, overrides=None, deepdefense=True, pgn=True, advnet=True,
         l2lda=True, pgn_overrides=None, advnet_overrides=None, l2lda_overrides=None,
         argv=None, progress=print):
    """Runs the demo; returns the path of the Markdown table.

    `deepdefense`: also run DeepDefense's Table 1 for the MLP (cpu preset on
    mnist_5k / fashion_mnist / synthetic; skipped with a note elsewhere).
    `pgn`, `advnet`, `l2lda`: also run the demo-sized study (its study.py's
    `demo_overrides`, then `pgn_overrides` / `advnet_overrides` / `l2lda_overrides`).
    """
    prov = Provenance(seed=None, preset=preset_name, argv=argv)
    t_start = time.time()
    results_dir = results_dir or os.path.join("results", "demo", dataset)
    models, training = {}, {}
    config = None
    for method in METHODS:
        config = override(preset(preset_name, dataset, method), trainer_subset=True,
                          **given(overrides))
        config.validate()
        run = train(config, os.path.join(work_dir, dataset, method), argv=argv,
                    progress=progress, verbose=2)
        models[method] = run["model_path"]
        timing = run.get("train_timing", {})
        training[method] = {
            "test_clean_acc": run["test_clean_acc"],
            "train_images_per_second": run["train_images_per_second"],
            "wall_time_s": run["provenance"]["wall_time_s"],
            # model.fit's wall time and, within it, the warm steps and the tracing
            # steps (the rest: validation, checkpoints, logging).
            "fit_seconds": timing.get("fit_seconds"),
            "warm_steps_seconds": timing.get("warm_seconds"),
            "trace_steps_seconds": timing.get("trace_steps_seconds"),
            "config": run["config"],
            "commit": run["provenance"]["commit"],
        }
    t_eval = time.time()
    results = evaluate(models, config.data, config.eval, results_dir, seed=config.seed,
                       preset=preset_name, argv=argv, progress=progress,
                       title=f"Standard vs PGD-AT vs BAT on {dataset} ({preset_name} preset)")
    # Wall time of each part, so the main job's time budget can be checked per part.
    parts = {"standard_pgd_at_bat": round(time.time() - t_start, 2)}
    # Where the first part's time went: training (model.fit) and evaluation.
    split = {"train_s": round(t_eval - t_start, 2),
             "evaluate_s": round(time.time() - t_eval, 2)}
    summary = {"dataset": dataset, "preset": preset_name, "training": training,
               "eval_json": "eval.json", "part_wall_time_s": parts,
               "standard_pgd_at_bat_split_s": split}
    wanted = {"deepdefense": deepdefense, "pgn": pgn, "advnet": advnet, "l2lda": l2lda}
    extra = {"pgn": pgn_overrides, "advnet": advnet_overrides, "l2lda": l2lda_overrides}
    for name in STUDIES:
        if not wanted[name]:
            continue
        t = time.time()
        res = _run_study(name, dataset, preset_name, work_dir, results_dir,
                         dict(_study.load(name).demo_overrides(_sizing(overrides)),
                              **(extra.get(name) or {})), argv, progress)
        if res is not None:
            parts[name] = round(time.time() - t, 2)
            summary[name] = {"results": f"{name}/{name}.json", "claims": res["claims"]}
    summary["provenance"] = prov.finish()  # wall_time_s: the whole main job
    write_json(os.path.join(results_dir, "demo.json"), summary)
    md_path = os.path.join(results_dir, "eval.md")
    with open(md_path) as f:
        progress("\n" + f.read())
    eps = config.eval.eps
    accs = {m: results["models"][m]["attacks"] for m in METHODS}
    strongest = [s for s in accs["standard"] if s.startswith("pgd")][-1]
    progress(f"[demo] eps = {eps:g}, accuracy under {strongest}: " + ", ".join(
        f"{m} {100 * a[strongest]['acc']:.1f}%" for m, a in accs.items()))
    return md_path


def _sizing(overrides):
    """The main job's flags that also size its paper studies (those set)."""
    keep = ("epochs", "train_limit", "test_limit", "data_dir")
    return {k: v for k, v in given(overrides).items() if k in keep}


def _run_study(name, dataset, preset_name, work_dir, results_dir, overrides, argv,
               progress):
    """One paper study of the main job at the cpu preset, in its own work and results
    folders; None (with a note) where it does not take this data set or preset."""
    study = _study.load(name)
    if preset_name != "cpu" or dataset not in study.datasets("cpu"):
        progress(f"[demo] {study.TITLE} skipped: its cpu study takes "
                 f"{', '.join(study.datasets('cpu'))}; for {dataset} at the {preset_name} "
                 f"preset run tf-advnet reproduce {name}")
        return None
    res = study.run("cpu", dataset, work_dir=os.path.join(work_dir, name),
                    results_dir=os.path.join(results_dir, name), overrides=overrides,
                    argv=argv, progress=progress)
    progress(f"[demo] {study.summary_line(res)}")
    return res
