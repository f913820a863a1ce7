"""BAT's report: the paper's CIFAR-10 tables beside ours (Tables 1, 3, 5-7), Table 2's
gradient magnitudes, the training cost and Fig. 1, generated from the results dict of
`tf_advnet.papers.bat.pipeline.reproduce` (bat.json); never edit the outputs by hand."""

import os

from tf_advnet.papers._study import claims_and_provenance, paper_values

# The paper's CIFAR-10 numbers (accuracy %, eps = 8/255), keyed by our model names
# and column names (see the results' `attack_columns`).
PAPER = paper_values(os.path.dirname(__file__))["tables"]

def ours(results, name, column):
    """Our accuracy (%) of model `name` in a paper column, or None."""
    m = results["models"].get(name)
    if m is None:
        return None
    ev = m["eval"]
    if column == "clean":
        return 100 * ev["clean_acc"]
    bb = results.get("black_box", {}).get("transfer", {}).get(name, {})
    if column == "black":
        column = "undefended/FGSM"
    if "/" in column:
        sur, col = column.split("/")
        v = bb.get(f"{sur}/{col}")
        return None if v is None else 100 * v
    rec = ev["attacks"].get(results["attack_columns"][column])
    return None if rec is None else 100 * rec["acc"]


def _fmt(v):
    return "—" if v is None else f"{v:.1f}"


def _table(results, key, names):
    t = results["paper"][key]
    cols = t["columns"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in names:
        if name in results["models"]:
            lines.append(f"| {name} (ours) | "
                         + " | ".join(_fmt(ours(results, name, c)) for c in cols) + " |")
        paper_name = name if name in t["rows"] else None
        if paper_name:
            lines.append(f"| {name} (paper, CIFAR-10) | "
                         + " | ".join(_fmt(v) for v in t["rows"][paper_name]) + " |")
    for name, row in t["rows"].items():
        if name not in names:
            lines.append(f"| {name} (paper, CIFAR-10) | "
                         + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def render(results, out_dir, claims):
    """bat.md and acc_vs_steps.png from the results dict; returns their paths."""
    from tf_advnet.eval import plots

    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "bat.md")]
    ds, eps = results["dataset"], results["eps"]
    md = [f"# Bilateral Adversarial Training on {ds} ({results['preset']} preset)", "",
          f"Accuracy (%) on {results['n']} {ds} test images, white-box, untargeted, "
          f"L-inf eps = {eps:.4g}. FGSM: no random start, step eps; CE-k / CW-k: k "
          "PGD steps of eps/4 from a random start on the cross-entropy / the CW margin "
          "(kappa = 50). Paper rows are the paper's CIFAR-10 numbers (eps = 8/255), "
          "for reference. Generated from bat.json by tf_advnet.papers.bat.report; do not edit.",
          "", "## Stronger training attacks (Table 1): PGD7-2 (Madry) vs PGD2-8", "",
          _table(results, "table1", ["Madry", "Madry-PGD2-8"]),
          "## Label leaking, one-step training (Table 3)", "",
          _table(results, "table3", ["FGSM", "R-FGSM", "LL", "R-LL", "MC", "R-MC"]),
          "## Label smoothing and label adversary (Table 5)", "",
          _table(results, "table5", ["R-MC", "R-MC-LS", "R-MC-LA", "Madry", "Madry-LA"]),
          "## CE and CW attacks (Table 6)", "",
          _table(results, "table6", ["R-MC-LA", "R-MC-LS", "Madry", "Madry-LA"]
                 + [n for n in results["models"] if n.startswith("R-MC-LA_eps")]),
          "## Black-box (Table 7): FGSM / CE20 crafted on another model", "",
          _table(results, "table7", ["R-MC-LA", "R-MC-LS", "Madry"]),
          "## Gradient magnitude ||grad_x CE||_2^2 on the test images (Table 2)", "",
          "Pixels in [0, 1] (the paper's [-1, 1] scale gives 1/4 of these values).", "",
          "| model | set | n | min | mean | max |", "|---|---|---|---|---|---|"]
    for name, g in results.get("gradient_magnitude", {}).items():
        for subset, st in g.items():
            md.append(f"| {name} | {subset} | {st['n']} | " + " | ".join(
                "—" if st[k] is None else f"{st[k]:.3g}" for k in ("min", "mean", "max"))
                + " |")
    md += ["", "## Training cost", "",
          "| model | train eps | epochs | images/s | wall time (s) |", "|---|---|---|---|---|"]
    for name, m in results["models"].items():
        t = m["training"]
        md.append(f"| {name} | {m['train_eps']:.4g} | {t['epochs']} | "
                  f"{t['train_images_per_second']:.0f} | {t['wall_time_s']} |")
    md += claims_and_provenance(claims, results)
    with open(paths[0], "w") as f:
        f.write("\n".join(md))
    avs = results["acc_vs_steps"]
    if avs["ce"]:
        curves = {}
        for name, accs in avs["ce"].items():
            label = name
            if name.startswith("R-MC-LA") or name == "R-MC-LA":
                label = f"{name} (eps_x={results['models'][name]['train_eps']:.3g})"
            curves[label] = accs
        paths.append(os.path.join(out_dir, "acc_vs_steps.png"))
        plots.plot_curves(paths[-1], avs["steps"],
                          curves, logx=True,
                          xlabel=f"PGD steps (CE, eps={eps:.3g}, step eps/4)",
                          title=f"{ds}: accuracy vs attack steps (BAT Fig. 1)")
    return paths
