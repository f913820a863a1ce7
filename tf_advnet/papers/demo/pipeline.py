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
with DEMO_ADVNET: A, B, the adversarial network C, their surrogates and ensemble AT,
the 9-column white/black-box table, one generator attack per model) into
`results_dir/advnet/`, and a demo-sized L2L-DA study (`tf_advnet.papers.l2lda.pipeline.reproduce`
with DEMO_L2LDA: Table 2's six rows, its nine attacks and Min, Table 3, Fig. 2; no
Table 1 ablations) into `results_dir/l2lda/`. Later issues add their defences here.
"""

import os
import time

from tf_advnet.configs import override, preset
from tf_advnet.pipelines import common
from tf_advnet.pipelines.evaluate import evaluate
from tf_advnet.pipelines.train import train
from tf_advnet.utils.provenance import Provenance, write_json

METHODS = ("standard", "pgd_at", "bat")


# The PGN part of the main job: one point per method, fewer attacked images.
DEMO_PGN = dict(eps_grid=(1.0,), c_l_grid=(0.1,), capacity_widths=(), fig3_eps=1.0,
                fig3_c_l=(0.2,), fig3_attack_eps=(0.5, 1.0, 2.0), fig3_epochs=1,
                fig2_epochs=3, fig2_test_images=100, test_limit=200)


# The Wang & Yu part: fewer images and epochs, no Table 6, one attack generator.
DEMO_ADVNET = dict(train_limit=3000, test_limit=300, epochs=3, at_epochs=3,
                   advnet_epochs=3, eat_epochs=2, table6_generators=(),
                   attack_generators=("g0:32",), attack_epochs=1)


# The L2L-DA part: Table 2 and 3 only, a small generator, fewer images everywhere.
DEMO_L2LDA = dict(table1=False, train_limit=1000, test_limit=100, epochs=1, g_width=8,
                  attack_samples=2, attack_train_limit=300)


def demo(dataset="fashion_mnist", preset_name="cpu", *, work_dir="runs/demo",
         results_dir=None, overrides=None, deepdefense=True, pgn=True, advnet=True,
         l2lda=True, pgn_overrides=None, advnet_overrides=None, l2lda_overrides=None,
         argv=None, progress=print):
    """Runs the demo; returns the path of the Markdown table.

    `deepdefense`: also run DeepDefense's Table 1 for the MLP (cpu preset on
    mnist_5k / fashion_mnist / synthetic; skipped with a note elsewhere).
    `pgn`: also run the demo-sized PGN study (DEMO_PGN, then `pgn_overrides`).
    `advnet`: also run the demo-sized Wang & Yu study (DEMO_ADVNET, then
    `advnet_overrides`).
    `l2lda`: also run the demo-sized L2L-DA study (DEMO_L2LDA, then
    `l2lda_overrides`).
    """
    prov = Provenance(seed=None, preset=preset_name, argv=argv)
    t_start = time.time()
    results_dir = results_dir or os.path.join("results", "demo", dataset)
    models, training = {}, {}
    config = None
    for method in METHODS:
        config = override(preset(preset_name, dataset, method), trainer_subset=True,
                          **common.given(overrides))
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
    studies = (
        ("deepdefense", deepdefense, lambda: _deepdefense(
            dataset, preset_name, work_dir, results_dir, overrides, argv, progress)),
        ("pgn", pgn, lambda: _pgn(dataset, preset_name, work_dir, results_dir, overrides,
                                  pgn_overrides, argv, progress)),
        ("advnet", advnet, lambda: _advnet(dataset, preset_name, work_dir, results_dir,
                                           overrides, advnet_overrides, argv, progress)),
        ("l2lda", l2lda, lambda: _l2lda(dataset, preset_name, work_dir, results_dir,
                                        overrides, l2lda_overrides, argv, progress)),
    )
    for name, wanted, run_study in studies:
        t = time.time()
        res = run_study() if wanted else None
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


def _study_overrides(overrides):
    """The demo's flags that also size the DeepDefense and PGN studies (set ones)."""
    keep = ("epochs", "train_limit", "test_limit", "data_dir")
    return {k: v for k, v in (overrides or {}).items() if k in keep and v is not None}


def _deepdefense(dataset, preset_name, work_dir, results_dir, overrides, argv, progress):
    from tf_advnet.papers.deepdefense import pipeline as dd

    if preset_name != "cpu" or dataset not in dd.CPU_DATASETS:
        progress(f"[demo] DeepDefense skipped: its cpu study takes "
                 f"{', '.join(dd.CPU_DATASETS)}; for {dataset} run "
                 "experiments/reproduce_deepdefense.py")
        return None
    res = dd.reproduce("cpu", dataset, "mlp", work_dir=os.path.join(work_dir, "deepdefense"),
                       results_dir=os.path.join(results_dir, "deepdefense"),
                       overrides=_study_overrides(overrides),
                       argv=argv, progress=progress)
    ms = res["models"]
    progress("[demo] DeepDefense (MLP): rho_2 " + ", ".join(
        f"{ms[m]['label']} {ms[m]['metrics']['rho_2']:.3g}" for m in dd.METHODS)
        + f"; clean accuracy reference {100 * ms['reference']['metrics']['acc']:.1f}%, "
        f"DeepDefense {100 * ms['deepdefense']['metrics']['acc']:.1f}%")
    return res


def _pgn(dataset, preset_name, work_dir, results_dir, overrides, pgn_overrides, argv,
         progress):
    from tf_advnet.papers.pgn import pipeline as pgn

    if preset_name != "cpu" or dataset not in pgn.DATASETS["cpu"]:
        progress(f"[demo] PGN skipped: for {dataset} at the {preset_name} preset run "
                 "experiments/reproduce_pgn.py")
        return None
    ov = dict(DEMO_PGN, **_study_overrides(overrides), **(pgn_overrides or {}))
    res = pgn.reproduce("cpu", dataset, work_dir=os.path.join(work_dir, "pgn"),
                        results_dir=os.path.join(results_dir, "pgn"), overrides=ov,
                        argv=argv, progress=progress)
    t2 = res["table2"]
    progress("[demo] PGN (L2, matched benign accuracy): " + ", ".join(
        f"{m} acc {100 * r['acc']:.1f}% rho_cw "
        + ("—" if r["rho_cw"] is None else f"{r['rho_cw']:.3f}")
        for m, r in t2.items()))
    return res


def _advnet(dataset, preset_name, work_dir, results_dir, overrides, advnet_overrides,
            argv, progress):
    from tf_advnet.papers.advnet import pipeline as advnet

    if preset_name != "cpu" or dataset not in advnet.DATASETS["cpu"]:
        progress(f"[demo] adversarial networks skipped: for {dataset} at the "
                 f"{preset_name} preset run experiments/reproduce_advnet.py")
        return None
    sized = _study_overrides(overrides)
    ov = dict(DEMO_ADVNET, **sized, **(advnet_overrides or {}))
    if "epochs" in sized:  # one --epochs sizes every model
        ov.update(at_epochs=ov["epochs"], advnet_epochs=ov["epochs"],
                  eat_epochs=ov["epochs"])
    res = advnet.reproduce("cpu", dataset, work_dir=os.path.join(work_dir, "advnet"),
                           results_dir=os.path.join(results_dir, "advnet"), overrides=ov,
                           argv=argv, progress=progress)
    t, black = res["table"], "pgd(C')"
    progress(f"[demo] adversarial networks (eps {res['study']['eps']:g}): " + ", ".join(
        f"{r} clean {100 * t[r]['clean']:.1f}% PGD {100 * t[r]['pgd']:.1f}% black-box "
        f"PGD(C') {100 * t[r][black]:.1f}%" for r in ("A", "B", "C", "EAT")))
    return res


def _l2lda(dataset, preset_name, work_dir, results_dir, overrides, l2lda_overrides, argv,
           progress):
    from tf_advnet.papers.l2lda import pipeline as l2lda

    if preset_name != "cpu" or dataset not in l2lda.DATASETS["cpu"]:
        progress(f"[demo] L2L-DA skipped: for {dataset} at the {preset_name} preset run "
                 "experiments/reproduce_l2lda.py")
        return None
    sized = _study_overrides(overrides)
    if "epochs" in sized:  # one --epochs sizes the plain model too
        sized["plain_epochs"] = sized["epochs"]
    ov = dict(DEMO_L2LDA, **sized, **(l2lda_overrides or {}))
    res = l2lda.reproduce("cpu", dataset, work_dir=os.path.join(work_dir, "l2lda"),
                          results_dir=os.path.join(results_dir, "l2lda"), overrides=ov,
                          argv=argv, progress=progress)
    t2 = res["tables"]["table2"]
    progress(f"[demo] L2L-DA (eps {res['study']['eps']:g}, Table 2): " + ", ".join(
        f"{l2lda.LABELS[r]} clean {100 * t2[r]['clean']:.1f}% Min {100 * t2[r]['min']:.1f}%"
        for r in t2))
    return res
