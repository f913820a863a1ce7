"""DeepDefense reports: the paper's Table 1 beside ours, the claims, curves (Figs. 2, 6).

Everything here is generated from the results dict that `tf_advnet.papers.deepdefense.pipeline`
writes as deepdefense.json; `render` rewrites deepdefense.md and curves.png from it
(never edit the outputs by hand).
"""

import math
import os

from tf_advnet.papers._study import claims_and_provenance, paper_values

MNIST_LIKE = ("mnist", "mnist_5k", "fashion_mnist", "synthetic")
METHODS = ("reference", "parseval", "deepfool_at", "deepdefense")
METHOD_LABELS = {"reference": "Reference", "parseval": "Par. Train",
                 "deepfool_at": "Adv. Train (DeepFool)", "deepdefense": "DeepDefense",
                 "clean": "Clean"}


def _family(dataset):
    return "mnist_like" if dataset in MNIST_LIKE else "cifar10"


# Table 1 of the paper: acc (%), rho_2, rho_inf, Acc@0.2 / 0.5 / 1.0 eps_ref (%).
PAPER_COLUMNS = ("acc", "rho_2", "rho_inf", "acc@0.2", "acc@0.5", "acc@1.0")
_PAPER = paper_values(os.path.dirname(__file__))
PAPER = _PAPER["table1"]


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


def render(results, out_dir, claims):
    """deepdefense.md and curves.png from the results dict; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "deepdefense.md")]
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
    md += claims_and_provenance(claims, results)
    if results.get("curves"):
        paths.append(plot_convergence(results, os.path.join(out_dir, "curves.png")))
    with open(paths[0], "w") as f:
        f.write("\n".join(md))
    return paths
