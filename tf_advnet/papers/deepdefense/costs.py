"""Re-measures the "Training cost" table of a committed DeepDefense results JSON.

The metrics of Table 1 stay as they are; only the images/s are measured again, with
`tf_advnet.utils.timing.time_fit` (warm steps, tracing apart), for the trainer and
batch of every row: the reference's standard training from scratch, and Parseval,
DeepFool-AT (a plain step on its DeepFool training set, timed here on the clean
images: the cost does not depend on the pixels), DeepDefense and clean fine-tuning
from the reference model (trained again from its recorded config, or reused). Each
trainer is traced once, then every row is timed in each of a few interleaved rounds
(median kept), so a change of machine load hits every row alike. The JSON keeps the superseded
numbers and the measurement's own provenance under "cost_measurement", and the
Markdown is rendered again from it.

    python -m tf_advnet.papers.deepdefense.costs \
        --results=results/deepdefense/fashion_mnist/mlp/deepdefense.json
"""

import json
import os
import statistics

from tf_advnet.papers.deepdefense.pipeline import METHODS

PLAIN_STEPS = 300  # warm steps of every plain-cost row
DEEPDEFENSE_STEPS = {"mlp": 100, "lenet": 40}  # ~1 min each on 2 quiet cores


def config_from_dict(d):
    """The validated ExperimentConfig that `tf_advnet.configs.to_dict` wrote as `d`,
    in the current layout or the flat one of earlier results
    (`tf_advnet.configs.from_dict`)."""
    from tf_advnet.configs import from_dict

    return from_dict(d).validate()


def _reference_trainer(cfg, x, y, steps):
    from tf_advnet.pipelines import common
    from tf_advnet.pipelines.train import build_classifier, build_trainer, compile_trainer

    common.set_seed(cfg.seed)
    clf = build_classifier(cfg, tuple(x.shape[1:]), int(y.max()) + 1, x)
    return compile_trainer(build_trainer(cfg, clf, steps), cfg, steps)


def _finetune_trainer(cfg, reference_path, steps):
    from tf_advnet.pipelines import common
    from tf_advnet.papers.deepdefense.pipeline import _compiled_trainer

    common.set_seed(cfg.seed)
    return _compiled_trainer(cfg, reference_path, steps)[1]


def remeasure(results_path, *, work_dir="runs/deepdefense", plain_steps=PLAIN_STEPS,
              deepdefense_steps=None, rounds=3, argv=None, progress=print):
    """Re-times every row of results_path's cost table; rewrites the JSON and the
    Markdown next to it. Returns the updated results dict."""
    from tf_advnet.pipelines import common
    from tf_advnet.papers import deepdefense as study_module
    from tf_advnet.papers._study import finish
    from tf_advnet.pipelines.train import train
    from tf_advnet.utils.provenance import Provenance
    from tf_advnet.utils.timing import time_fit

    with open(results_path) as f:
        res = json.load(f)
    prov = Provenance(seed=res["provenance"]["seed"], preset=res["preset"], argv=argv)
    dd_steps = deepdefense_steps or DEEPDEFENSE_STEPS.get(res["model"], 40)
    cfgs = {m: config_from_dict(c) for m, c in res["configs"].items()}
    ref_cfg = cfgs["reference"]
    root = os.path.join(work_dir, res["dataset"], res["model"])
    ref_run = train(ref_cfg, os.path.join(root, "reference"), argv=argv,
                    progress=progress, verbose=0)
    x, y = common.load_split(ref_cfg.data, "train")

    # Every trainer is built once; then `rounds` rounds time each in turn, so a
    # change of machine load hits every row alike; a row's number is its median.
    order = ["clean", "reference", "parseval", "deepfool_at", "deepdefense"]
    trainers = {m: _reference_trainer(ref_cfg, x, y, plain_steps) if m == "reference"
                else _finetune_trainer(cfgs[m], ref_run["model_path"], plain_steps)
                for m in order}
    runs = {m: [] for m in order}
    for r in range(rounds):
        for m in order:
            steps = max(1, (dd_steps if m == "deepdefense" else plain_steps) // rounds)
            out = time_fit(trainers[m], x, y, batch_size=cfgs[m].data.batch_size,
                           steps=steps)
            progress(f"[deepdefense costs] {res['dataset']}/{res['model']} round {r + 1}: "
                     f"{steps} warm {m} steps, {out['images_per_second']:.0f} images/s "
                     f"(tracing steps {out['trace_steps_seconds']:.1f} s)")
            runs[m].append(out)

    def ips(m):
        return statistics.median(r["images_per_second"] for r in runs[m])

    superseded = {m: res["models"][m]["training"]["train_images_per_second"]
                  for m in METHODS}
    superseded["step_throughput"] = res["step_throughput"]
    for m in METHODS:
        t = res["models"][m]["training"]
        t["train_images_per_second"] = ips(m)
        t["trace_steps_seconds"] = runs[m][0]["trace_steps_seconds"]
    clean = res["clean_finetune"]["training"]
    clean["train_images_per_second"] = ips("clean")
    clean["trace_steps_seconds"] = runs["clean"][0]["trace_steps_seconds"]
    dd, plain = ips("deepdefense"), ips("clean")
    res["step_throughput"] = {
        "batch_size": cfgs["deepdefense"].data.batch_size,
        "deepdefense_images_per_second": dd, "plain_images_per_second": plain,
        "slowdown": plain / dd}
    res["cost_measurement"] = {
        "method": "tf_advnet.papers.deepdefense.costs: warm steps of each row's trainer "
                  "and batch (tf_advnet.utils.timing.time_fit), one process, every row "
                  "timed in each of `rounds` interleaved rounds, the median kept",
        "steps": {"plain": plain_steps, "deepdefense": dd_steps}, "rounds": rounds,
        "runs": runs,
        "superseded": superseded,
        # Other processes on the machine slow every row alike; the ratios hold.
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "provenance": prov.finish(),
    }
    return finish(study_module, res, os.path.dirname(results_path))


def summary(paths):
    """Markdown: each re-measured file's rows, the superseded images/s beside the
    re-measured ones (what results/README reports as changed)."""
    lines = ["| results | row | images/s before | images/s re-measured |",
             "|---|---|---|---|"]
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        old = res.get("cost_measurement", {}).get("superseded")
        if old is None:
            continue
        name = os.path.relpath(os.path.dirname(path), "results")
        for m in METHODS:
            new = res["models"][m]["training"]["train_images_per_second"]
            lines.append(f"| {name} | {m} | {old[m]:,.0f} | {new:,.0f} |")
        st, st_old = res["step_throughput"], old["step_throughput"]
        lines.append(f"| {name} | DeepDefense step / plain step | "
                     f"{st_old['slowdown']:.1f}x | {st['slowdown']:.1f}x |")
    return "\n".join(lines)


def main(argv=None):
    import argparse
    import sys

    from tf_advnet.utils.cli import quiet_tensorflow

    quiet_tensorflow()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", required=True, nargs="+", help="deepdefense.json files")
    p.add_argument("--work_dir", default="runs/deepdefense")
    p.add_argument("--plain_steps", type=int, default=PLAIN_STEPS)
    p.add_argument("--deepdefense_steps", type=int, default=None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--summary", action="store_true",
                   help="print the before/after table of already re-measured files")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(args.results))
        return
    for path in args.results:
        res = remeasure(path, work_dir=args.work_dir, plain_steps=args.plain_steps,
                        deepdefense_steps=args.deepdefense_steps, rounds=args.rounds,
                        argv=["-m", "tf_advnet.papers.deepdefense.costs"]
                        + list(sys.argv[1:] if argv is None else argv))
        st = res["step_throughput"]
        print(f"{path}: DeepDefense {st['deepdefense_images_per_second']:.0f} images/s, "
              f"plain {st['plain_images_per_second']:.0f} ({st['slowdown']:.1f}x)")


if __name__ == "__main__":
    main()
