"""DeepDefense reports: the paper's Table 1 beside ours, findings, curves (Figs. 2, 6).

Everything here is generated from the results dict that `tf_advnet.papers.deepdefense.pipeline`
writes as deepdefense.json; `write_report` rewrites deepdefense.md and curves.png from
it (`experiments/render.py` style: never edit the outputs by hand).
"""

import math
import os

from tf_advnet.eval import report

MNIST_LIKE = ("mnist", "mnist_5k", "fashion_mnist", "synthetic")
METHODS = ("reference", "parseval", "deepfool_at", "deepdefense")
METHOD_LABELS = {"reference": "Reference", "parseval": "Par. Train",
                 "deepfool_at": "Adv. Train (DeepFool)", "deepdefense": "DeepDefense",
                 "clean": "Clean"}


def _family(dataset):
    return "mnist_like" if dataset in MNIST_LIKE else "cifar10"


# Table 1 of the paper: acc (%), rho_2, rho_inf, Acc@0.2 / 0.5 / 1.0 eps_ref (%).
PAPER_COLUMNS = ("acc", "rho_2", "rho_inf", "acc@0.2", "acc@0.5", "acc@1.0")
PAPER = {
    "MNIST": {
        "mlp": {"reference": [98.31, 0.111, 0.0540, 72.76, 29.08, 3.31],
                "parseval": [98.32, 0.111, 0.0578, 77.44, 28.95, 2.96],
                "deepfool_at": [98.49, 0.162, 0.0946, 87.70, 59.69, 22.55],
                "deepdefense": [98.65, 0.225, 0.153, 95.04, 88.93, 50.00]},
        "lenet": {"reference": [99.02, 0.205, 0.129, 90.95, 53.88, 19.75],
                  "parseval": [99.10, 0.203, 0.150, 91.68, 66.48, 19.64],
                  "deepfool_at": [99.18, 0.263, 0.205, 95.20, 74.82, 41.40],
                  "deepdefense": [99.34, 0.284, 0.236, 96.51, 88.93, 50.00]}},
    "CIFAR-10": {
        "convnet": {"reference": [79.74, 0.0259, 0.00527, 61.62, 37.84, 23.85],
                    "parseval": [80.48, 0.0342, 0.00802, 69.19, 50.43, 22.13],
                    "deepfool_at": [80.65, 0.0305, 0.00637, 65.16, 45.03, 35.53],
                    "deepdefense": [81.70, 0.0532, 0.0158, 72.15, 59.02, 50.00]},
        "nin": {"reference": [89.64, 0.0420, 0.0105, 75.61, 49.22, 33.56],
                "parseval": [88.20, 0.0433, 0.0107, 75.39, 49.75, 17.74],
                "deepfool_at": [89.87, 0.0525, 0.0176, 78.87, 58.85, 45.90],
                "deepdefense": [89.96, 0.0558, 0.0215, 80.70, 70.73, 50.00]}},
}


def paper_rows(dataset, model):
    """{"dataset": "MNIST" | "CIFAR-10", "columns", "rows": {method: [...]}}."""
    name = "MNIST" if _family(dataset) == "mnist_like" else "CIFAR-10"
    return {"dataset": name, "columns": list(PAPER_COLUMNS),
            "rows": PAPER[name].get(model, {})}


def _row(metrics_):
    at = metrics_["acc_at_eps_ref"] or {}
    def pct(v):
        return None if v is None else 100 * v
    return [pct(metrics_["acc"]), metrics_["rho_2"], metrics_["rho_inf"],
            pct(at.get("0.2")), pct(at.get("0.5")), pct(at.get("1"))]


def _fmt_row(row):
    out = []
    for i, v in enumerate(row):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append("—")
        elif PAPER_COLUMNS[i].startswith("rho"):
            out.append(f"{v:.3g}")
        else:
            out.append(f"{v:.2f}")
    return out


def findings(results):
    """The paper's claims about Table 1 (robustness and accuracy against the
    baselines), answered from our numbers."""
    ms = {m: results["models"][m]["metrics"] for m in METHODS}
    rows = {m: _row(ms[m]) for m in METHODS}
    dd, ref = rows["deepdefense"], rows["reference"]
    out = {}
    diverged = [m for m in METHODS if results["models"][m]["training"].get("diverged")]
    if diverged:
        out["fine-tunings that diverged (NaN loss; their rows are meaningless)"] = (
            ", ".join(diverged))
    ratio = (dd[1] / ref[1] if ref[1] and math.isfinite(ref[1]) and ref[1] > 0
             else None)
    out["DeepDefense rho_2 / reference rho_2 (paper: ~2x)"] = (
        None if ratio is None else round(ratio, 2))
    out["DeepDefense raises rho_2 ~2x (>= 1.5x) over the reference"] = (
        ratio is not None and ratio >= 1.5)
    out["DeepDefense clean accuracy minus reference (points)"] = round(dd[0] - ref[0], 2)
    out["DeepDefense keeps the reference's clean accuracy (within 0.5 points)"] = (
        dd[0] >= ref[0] - 0.5)
    cols = {"rho_2": 1, "rho_inf": 2, "Acc@0.2 eps_ref": 3, "Acc@0.5 eps_ref": 4,
            "Acc@1.0 eps_ref": 5}
    beats = {}
    for other in ("parseval", "deepfool_at"):
        for name, i in cols.items():
            a, b = dd[i], rows[other][i]
            beats[f"{other}/{name}"] = (a is not None and b is not None and a > b)
    out["DeepDefense beats Parseval and DeepFool-AT on rho_2, rho_inf and the eps_ref "
        "accuracies"] = all(beats.values())
    lost = [k for k, v in beats.items() if not v]
    out["comparisons DeepDefense does not win"] = ", ".join(lost) if lost else "none"
    return out


def plot_convergence(results, path):
    """Figs. 2 / 6: test accuracy (%) and rho_2 per fine-tuning epoch, per method."""
    from tf_advnet.eval.plots import plot_panels

    methods = {m: c for m, c in results["curves"]["methods"].items() if c}
    if not methods:
        return None
    acc = {METHOD_LABELS[m]: (c["epoch"], [100 * v for v in c["acc"]])
           for m, c in methods.items()}
    rho = {METHOD_LABELS[m]: (c["epoch"], c["rho_2"]) for m, c in methods.items()}
    return plot_panels(path, [("test accuracy (%)", acc), ("test rho_2", rho)],
                       xlabel="fine-tuning epoch",
                       title=f"{results['dataset']}, {results['model']}: convergence")


def _curve_lines(results):
    cv = results.get("curves") or {}
    methods = {m: c for m, c in (cv.get("methods") or {}).items() if c}
    if not methods:
        return []
    out = ["", "## Convergence (Figs. 2 and 6)", "",
           f"Test accuracy and rho_2 on the first {cv['n_test']} test images after each "
           "fine-tuning epoch (epoch 0: the reference). \"Clean\": fine-tuning on clean "
           "images with the plain objective, as in Fig. 2. Plot: curves.png.", "",
           "| method | epoch | " + " | ".join(str(e) for e in
                                          next(iter(methods.values()))["epoch"]) + " |"]
    n = len(next(iter(methods.values()))["epoch"])
    out.append("|---" * (n + 2) + "|")
    for m, c in methods.items():
        out.append(f"| {METHOD_LABELS[m]} | acc (%) | "
                   + " | ".join(f"{100 * v:.1f}" for v in c["acc"]) + " |")
        out.append(f"| {METHOD_LABELS[m]} | rho_2 | "
                   + " | ".join(f"{v:.3g}" for v in c["rho_2"]) + " |")
    return out


def write_report(results, out_dir):
    """Writes deepdefense.json, deepdefense.md and curves.png from the results dict."""
    from tf_advnet.utils.provenance import write_json

    os.makedirs(out_dir, exist_ok=True)
    results["findings"] = findings(results)
    write_json(os.path.join(out_dir, "deepdefense.json"), results)
    paper = results["paper"]
    ds, model = results["dataset"], results["model"]
    cols = ["Acc. (%)", "rho_2", "rho_inf", "Acc.@0.2 eps_ref (%)",
            "Acc.@0.5 eps_ref (%)", "Acc.@1.0 eps_ref (%)"]
    md = [f"# DeepDefense on {ds}, {model} ({results['architecture']}; "
          f"{results['preset']} preset)", "",
          f"Table 1's metrics on {results['n_test']} {ds} test images, models "
          f"fine-tuned from the reference on {results['n_train']} training images. "
          "rho_2: mean ||Delta||_2 / ||x||_2 under DeepFool (from the predicted label, "
          "unclipped); rho_inf: the 50%-error FGS eps over ||x||_inf; eps_ref = "
          f"{results['eps_ref']:.4g}, the DeepDefense model's 50%-error FGS eps, used "
          "for every model. Pixels are in [0, 1] (the paper's are mean-subtracted), so "
          f"rho values compare only roughly. Paper rows: Table 1, {paper['dataset']} "
          f"{model}. Generated from deepdefense.json by tf_advnet.papers.deepdefense.report; "
          "do not edit.", "",
          "| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m in METHODS:
        label = METHOD_LABELS[m]
        md.append(f"| {label} (ours) | "
                  + " | ".join(_fmt_row(_row(results["models"][m]["metrics"]))) + " |")
        if m in paper["rows"]:
            md.append(f"| {label} (paper, {paper['dataset']}) | "
                      + " | ".join(_fmt_row(paper["rows"][m])) + " |")
    st = results["step_throughput"]
    md += ["", "## Training cost", "",
           "| model | epochs | images/s (warm steps) | tracing steps (s) | "
           "wall time of the training (s) |", "|---|---|---|---|---|"]
    for m in METHODS:
        t = results["models"][m]["training"]
        trace = t.get("trace_steps_seconds")
        md.append(f"| {METHOD_LABELS[m]} | {t['epochs']} | "
                  f"{t['train_images_per_second']:.0f} | "
                  f"{'—' if trace is None else f'{trace:.1f}'} | {t['wall_time_s']} |")
    slow = st["slowdown"]
    md += ["", f"One training step at batch {st['batch_size']}: DeepDefense "
           f"{st['deepdefense_images_per_second']:.0f} images/s, a plain cross-entropy "
           f"step {st['plain_images_per_second']:.0f} images/s"
           + ("" if slow is None else f" ({slow:.1f}x slower)") + "."]
    cm = results.get("cost_measurement")
    if cm:
        p = cm["provenance"]
        md += ["", f"Images/s re-measured at commit `{p['commit'][:7]}` "
               f"({p['started'][:10]}, {p['device']['cpu_count']} CPU cores) by "
               f"`{p['command']}`: {cm['steps']['plain']} warm steps per plain row, "
               f"{cm['steps']['deepdefense']} DeepDefense steps, tracing apart, load "
               f"average {cm.get('load_average_1min_at_end', '?')} at the end. The "
               "images/s are those of the code at that commit; the wall times are "
               "those of the original training, on the code of the run's own commit "
               f"(`{results['provenance']['commit'][:7]}`). Superseded images/s: "
               + ", ".join(f"{METHOD_LABELS[m]} {cm['superseded'][m]:.3g}"
                           for m in METHODS) + "."]
    else:
        md += ["", "Images/s: warm training steps only "
               "(`tf_advnet.utils.timing.StepTimer`), the tracing steps apart."]
    md += [""]
    md += _curve_lines(results)
    md += report.findings_and_provenance(results)
    if results.get("curves"):
        plot_convergence(results, os.path.join(out_dir, "curves.png"))
    with open(os.path.join(out_dir, "deepdefense.md"), "w") as f:
        f.write("\n".join(md))
    return out_dir
