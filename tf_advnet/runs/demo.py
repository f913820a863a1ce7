"""The README's main job: standard vs PGD-AT vs BAT, trained and attacked.

Trains the classifiers (BAT is its R-MC-LA variant, beta = 9) at a preset (`cpu` by default, Fashion-MNIST), evaluates them
under the preset's attacks, prints the robustness table and writes
`results_dir/eval.{json,md}`, `acc_vs_eps.png` and `demo.json` (training cost and
provenance). Later paper issues add their defences to `METHODS`.
"""

import os

from tf_advnet.configs import override, preset
from tf_advnet.runs.evaluate import evaluate
from tf_advnet.runs.train import train
from tf_advnet.utils.provenance import Provenance, write_json

METHODS = ("standard", "pgd_at", "bat")


def demo(dataset="fashion_mnist", preset_name="cpu", *, work_dir="runs/demo",
         results_dir=None, overrides=None, argv=None, progress=print):
    """Runs the demo; returns the path of the Markdown table."""
    prov = Provenance(seed=None, preset=preset_name, argv=argv)
    results_dir = results_dir or os.path.join("results", "demo", dataset)
    models, training = {}, {}
    config = None
    for method in METHODS:
        config = override(preset(preset_name, dataset, method), **(overrides or {}))
        config.validate()
        run = train(config, os.path.join(work_dir, dataset, method), argv=argv,
                    progress=progress, verbose=2)
        models[method] = run["model_path"]
        training[method] = {
            "test_clean_acc": run["test_clean_acc"],
            "train_images_per_second": run["train_images_per_second"],
            "wall_time_s": run["provenance"]["wall_time_s"],
            "config": run["config"],
            "commit": run["provenance"]["commit"],
        }
    results = evaluate(models, config.data, config.eval, results_dir, seed=config.seed,
                       preset=preset_name, argv=argv, progress=progress,
                       title=f"Standard vs PGD-AT vs BAT on {dataset} ({preset_name} preset)")
    summary = {"dataset": dataset, "preset": preset_name, "training": training,
               "eval_json": "eval.json", "provenance": prov.finish()}
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
