"""Wang & Yu reports: the 9-column table (Tables 1-4, 6), the generator attacks
(Tables 5, 10, 11), a bar chart and the generated perturbations, all generated
from the results dict of `tf_advnet.papers.advnet.pipeline.reproduce` (advnet.json); never
edit the outputs by hand."""

import os

import numpy as np

from tf_advnet.eval.report import pct

COLUMNS = ("clean", "fgs", "pgd", "fgs(A')", "pgd(A')", "fgs(B')", "pgd(B')", "fgs(C')",
           "pgd(C')")
HEADERS = ("No noise", "FGS", "PGD", "FGS(A')", "PGD(A')", "FGS(B')", "PGD(B')",
           "FGS(C')", "PGD(C')")
ROW_LABELS = {"A": "standard (A)", "B": "adversarial PGD (B)",
              "C": "adversarial network (C)", "EAT": "ensemble adv. training"}

# The paper's numbers (%), in COLUMNS order: Tables 1-4 and 7.
PAPER_TABLES = {
    "mnist": ("Table 1 and Table 4 (MNIST, eps 0.3)", {
        "A": (99.40, 23.70, 0.00, 39.49, 3.41, 90.56, 86.10, 94.21, 91.36),
        "B": (98.70, 95.46, 92.92, 95.78, 96.18, 95.58, 95.01, 97.05, 96.48),
        "C": (99.32, 94.66, 87.09, 95.75, 96.19, 96.15, 95.24, 96.96, 95.78),
        "EAT": (98.65, 2.52, 0.00, 90.91, 93.91, 90.94, 88.12, 90.79, 89.61)}),
    "svhn": ("Table 2 and Table 4 (SVHN, eps 0.05)", {
        "A": (96.34, 64.64, 3.69, 69.47, 49.92, 56.46, 44.25, 89.71, 83.02),
        "B": (87.45, 55.94, 42.96, 85.21, 83.46, 59.09, 48.20, 87.41, 83.23),
        "C": (96.34, 91.51, 37.97, 90.02, 88.04, 75.34, 57.52, 91.48, 81.68),
        "EAT": (95.30, 79.16, 2.74, 95.32, 93.88, 67.97, 54.81, 95.60, 93.21)}),
    "cifar10": ("Table 3 and Table 4 (CIFAR-10, eps 8/256)", {
        "A": (91.59, 57.31, 1.32, 67.99, 22.88, 77.13, 75.06, 73.34, 55.34),
        "B": (75.30, 47.63, 41.16, 74.04, 74.23, 57.73, 55.72, 73.31, 73.09),
        "C": (91.08, 72.81, 44.28, 81.74, 79.48, 77.23, 74.04, 78.51, 66.74),
        "EAT": (87.17, 57.91, 11.35, 85.01, 85.19, 68.76, 67.41, 79.64, 70.98)}),
    "cifar100": ("Table 7 (CIFAR-100, eps 8/256)", {
        "A": (70.11, 31.27, 4.61, 44.24, 32.55, 53.65, 50.51, 47.82, 34.99),
        "B": (55.53, 32.13, 28.48, 53.91, 54.62, 41.80, 40.61, 54.55, 53.57),
        "C": (70.99, 41.86, 18.25, 58.11, 56.94, 53.15, 51.87, 53.35, 46.61)}),
}
PAPER_FOR = {"mnist": "mnist", "mnist_5k": "mnist", "svhn": "svhn", "cifar10": "cifar10",
             "cifar100": "cifar100"}
# Tables 5, 10, 11 (CIFAR-10 only in the paper): generator -> (target, A', B', C').
PAPER_GENERATOR_ATTACKS = {
    "A": {"original": (91.59, 90.54, 75.71, 89.21), "autoencoder k=8": (31.07, 41.40, 74.56, 84.59),
          "autoencoder k=64": (6.08, 14.74, 75.52, 86.64),
          "random Gaussian": (45.27, 58.68, 75.02, 87.33), "label": (11.17, 23.29, 74.78, 82.43)},
    "B": {"original": (75.30, 90.54, 75.71, 89.21), "autoencoder k=8": (72.74, 88.38, 73.07, 87.89),
          "autoencoder k=64": (71.26, 87.64, 71.98, 87.02),
          "random Gaussian": (74.13, 88.71, 74.70, 88.45), "label": (70.15, 84.95, 70.10, 84.96)},
    "C": {"original": (91.08, 90.54, 75.71, 89.21), "autoencoder k=8": (74.66, 66.95, 74.42, 80.55),
          "autoencoder k=64": (53.68, 46.37, 73.08, 72.18),
          "random Gaussian": (85.91, 71.00, 75.00, 86.55), "label": (81.46, 77.46, 73.09, 83.98)},
}
GEN_LABELS = {"g0": "autoencoder", "g1": "autoencoder (residual)", "g2": "random Gaussian",
              "g3": "label"}


def gen_label(spec):
    kind, _, k = spec.partition(":")
    return GEN_LABELS[kind] + (f" k={k}" if k else "")


_pct = pct


def plot_table(results, path):
    """Grouped bars: accuracy of each row under each of the 9 columns."""
    from tf_advnet.eval.plots import _plt

    plt = _plt()
    t = results["table"]
    rows = list(t)
    fig, ax = plt.subplots(figsize=(10, 3.8), dpi=120)
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar(np.arange(len(COLUMNS)) + i * width, [100 * t[r][c] for c in COLUMNS],
               width, label=ROW_LABELS.get(r, r))
    ax.set_xticks(np.arange(len(COLUMNS)) + 0.4 - width / 2)
    ax.set_xticklabels(HEADERS, fontsize="small")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    s = results["study"]
    ax.set_title(f"{s['dataset']}, eps {s['eps']:g}: white box | black box")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_examples(examples, path, eps):
    """Rows: clean image, perturbation eps * G (grey = 0), adversarial image."""
    from tf_advnet.eval.plots import _plt

    plt = _plt()
    x, delta, xa = examples
    n = len(x)
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n, 4.2), dpi=120, squeeze=False)
    for j in range(n):
        for i, (img, lo, hi) in enumerate(((x[j], 0, 1), (delta[j], -eps, eps),
                                           (xa[j], 0, 1))):
            ax = axes[i][j]
            show = img[..., 0] if img.shape[-1] == 1 else (img - lo) / (hi - lo)
            kw = {"cmap": "gray", "vmin": lo, "vmax": hi} if img.shape[-1] == 1 else {}
            ax.imshow(show, **kw)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][j].set_title(str(j), fontsize="x-small")
    for i, name in enumerate(("x", "eps G(x)", "x + eps G(x)")):
        axes[i][0].set_ylabel(name, fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(results, out_dir, examples=None):
    """advnet.json, advnet.md, table.png and (with examples) perturbations.png."""
    from tf_advnet.eval import report
    from tf_advnet.utils.provenance import write_json

    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "advnet.json"), results)
    plot_table(results, os.path.join(out_dir, "table.png"))
    s = results["study"]
    if examples is not None:
        plot_examples(examples, os.path.join(out_dir, "perturbations.png"), s["eps"])
    t = results["table"]
    md = [f"# Wang & Yu adversarial networks on {s['dataset']} ({s['preset']} preset)", "",
          f"{results['n_train']} training images, {results['n_test']} test images, "
          f"classifier `{s['model']}`, eps = {s['eps']:g} (L-inf, [0, 1] pixels), batch "
          f"{s['batch_size']}, D: {s['optimizer']} {s['learning_rate']:g}; C's generator "
          f"{gen_label(s['generator'])}, {s['g_steps']} G steps x {s['g_updates']} "
          f"update(s) per D step, G: {s['g_optimizer']} {s['g_learning_rate']:g}, gamma "
          f"{s['gamma']:g} ({s['hvp']}). Epochs: A {s['epochs']}, B {s['at_epochs']}, C "
          f"{s['advnet_epochs']}, EAT {s['eat_epochs']}. FGS: Eq. 10; PGD: Eq. 11 (random "
          f"start, {s['pgd_steps']} steps of eps/4). A', B', C': the same recipes with "
          "another seed. Generated from advnet.json by tf_advnet.papers.advnet.report; do "
          "not edit.", "",
          "## White box and black box (Tables 1-4; rows C[...]: Table 6)", "",
          "| training method \\ attack | " + " | ".join(HEADERS) + " |",
          "|---" * (len(HEADERS) + 1) + "|"]
    for r, row in t.items():
        label = ROW_LABELS.get(r, f"adv. network, G = {gen_label(r[2:-1])}"
                               if r.startswith("C[") else r)
        md.append(f"| {label} | " + " | ".join(_pct(row[c]) for c in COLUMNS) + " |")
    paper = PAPER_TABLES.get(PAPER_FOR.get(s["dataset"], ""))
    if paper:
        title, rows = paper
        md += ["", f"Paper, {title}:", "", "| training method \\ attack | "
               + " | ".join(HEADERS) + " |", "|---" * (len(HEADERS) + 1) + "|"]
        md += [f"| {ROW_LABELS[r]} | " + " | ".join(f"{v:.2f}" for v in vals) + " |"
               for r, vals in rows.items()]
    else:
        md += ["", f"The paper has no {s['dataset']} experiment; its MNIST Table 1 is "
               "the nearest reference."]
    md += ["", "Plot: table.png. Perturbations of C's generator on test images: "
           "perturbations.png.", "",
           "## Generators as attacks (Tables 5, 10, 11)", "",
           f"Each generator trained alone against the fixed model for "
           f"{s['attack_epochs']} epoch(s), then its perturbations (eps {s['eps']:g}) "
           "applied to that model and transferred to A', B' and C'. Accuracy (%):", ""]
    for target, rows in results["generator_attacks"].items():
        cols = list(rows["original"])
        md += [f"Against {ROW_LABELS[target]}:", "", "| generator | "
               + " | ".join(f"{c} (trained on)" if c == target else c for c in cols) + " |",
               "|---" * (len(cols) + 1) + "|"]
        for spec, accs in rows.items():
            label = "original accuracy" if spec == "original" else gen_label(spec)
            md.append(f"| {label} | " + " | ".join(_pct(accs[c]) for c in cols) + " |")
        md.append("")
    md += ["Paper (CIFAR-10, D2, G1; columns: target, A', B', C'):", ""]
    for target, rows in PAPER_GENERATOR_ATTACKS.items():
        md.append(f"- against {ROW_LABELS[target]}: " + "; ".join(
            f"{k} " + "/".join(f"{v:.2f}" for v in vals) for k, vals in rows.items()))
    md += ["", "## Training", "", "| model | epochs | clean test acc (%) | train images/s "
           "| seconds (this invocation) |", "|---|---|---|---|---|"]
    for k, v in results["train"].items():
        md.append(f"| {k} | {v['epochs']} | {_pct(v['test_clean_acc'])} | "
                  f"{v['train_images_per_second']:.0f} | {v['seconds_this_invocation']:.0f} |")
    md += report.findings_and_provenance(results)
    with open(os.path.join(out_dir, "advnet.md"), "w") as f:
        f.write("\n".join(md))
    return out_dir
