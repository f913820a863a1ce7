"""Wang & Yu reports: the 9-column table (Tables 1-4, 6), the generator attacks
(Tables 5, 10, 11), a bar chart and the generated perturbations, all generated
from the results dict of `tf_advnet.papers.advnet.pipeline.reproduce` (advnet.json); never
edit the outputs by hand."""

import os

import numpy as np

from tf_advnet.eval.report import pct
from tf_advnet.papers._study import claims_and_provenance, paper_values, timing_text
from tf_advnet.papers.advnet.study import GR_ABLATION

COLUMNS = ("clean", "fgs", "pgd", "fgs(A')", "pgd(A')", "fgs(B')", "pgd(B')", "fgs(C')",
           "pgd(C')")
HEADERS = ("No noise", "FGS", "PGD", "FGS(A')", "PGD(A')", "FGS(B')", "PGD(B')",
           "FGS(C')", "PGD(C')")
ROW_LABELS = {"A": "standard (A)", "B": "adversarial PGD (B)",
              "C": "adversarial network (C)", "EAT": "ensemble adv. training",
              GR_ABLATION: "adv. network, no gradient regularisation (gamma = 0)"}

# The paper's numbers (%): tables in COLUMNS order (Tables 1-4 and 7), and the
# generator attacks of Tables 5, 10, 11 (CIFAR-10 only): generator -> (target, A', B', C').
PAPER = paper_values(os.path.dirname(__file__))
GEN_LABELS = {"g0": "autoencoder", "g1": "autoencoder (residual)", "g2": "random Gaussian",
              "g3": "label"}


def gen_label(spec):
    kind, _, k = spec.partition(":")
    return GEN_LABELS[kind] + (f" k={k}" if k else "")


_pct = pct
HVP_LABELS = {"exact": "double back-propagation", "finite_difference":
              "finite difference (Eq. 9)"}


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


def _d_schedule(s):
    """"D step", or the official MNIST schedule's "batch, D on every 5th batch"."""
    k = s.get("d_every", 1)  # results written before `d_every` existed: 1
    return "D step" if k == 1 else f"batch, D on every {k}th batch"


def render(results, out_dir, claims, examples=None):
    """advnet.md, table.png and (given the generator's examples) perturbations.png,
    from the results dict; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [plot_table(results, os.path.join(out_dir, "table.png"))]
    s = results["study"]
    if examples is not None:
        paths.append(plot_examples(examples, os.path.join(out_dir, "perturbations.png"),
                                   s["eps"]))
    t = results["table"]
    md = [f"# Wang & Yu adversarial networks on {s['dataset']} ({s['preset']} preset)", "",
          f"{results['n_train']} training images, {results['n_test']} test images, "
          f"classifier `{s['model']}`, eps = {s['eps']:g} (L-inf, [0, 1] pixels), batch "
          f"{s['batch_size']}, D: {s['optimizer']} {s['learning_rate']:g}; C's generator "
          f"{gen_label(s['generator'])}, {s['g_steps']} G steps x {s['g_updates']} "
          f"update(s) per {_d_schedule(s)}, G: {s['g_optimizer']} "
          f"{s['g_learning_rate']:g}, gamma "
          f"{s['gamma']:g} ({s['hvp']}). Epochs: A {s['epochs']}, B {s['at_epochs']}, C "
          f"{s['advnet_epochs']}, EAT {s['eat_epochs']}. FGS: Eq. 10; PGD: Eq. 11 (random "
          f"start, {s['pgd_steps']} steps of eps/4). A', B', C': the same recipes with "
          "another seed. Generated from advnet.json by tf_advnet.papers.advnet.report; do "
          "not edit.", "",
          "## White box and black box (Tables 1-4; rows C[...]: Table 6)", "",
          "| training method \\ attack | " + " | ".join(HEADERS) + " |",
          "|---" * (len(HEADERS) + 1) + "|"]
    for r, row in t.items():
        label = (ROW_LABELS[r] if r in ROW_LABELS else
                 f"adv. network, G = {gen_label(r[2:-1])}" if r.startswith("C[") else r)
        md.append(f"| {label} | " + " | ".join(_pct(row[c]) for c in COLUMNS) + " |")
    paper = PAPER["tables"].get(PAPER["table_for_dataset"].get(s["dataset"], ""))
    if paper:
        title, rows = paper["title"], paper["rows"]
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
    for target, rows in PAPER["generator_attacks"].items():
        md.append(f"- against {ROW_LABELS[target]}: " + "; ".join(
            f"{k} " + "/".join(f"{v:.2f}" for v in vals) for k, vals in rows.items()))
    md += ["", "## Training", "", "| model | epochs | clean test acc (%) | train images/s "
           "| seconds (this invocation) |", "|---|---|---|---|---|"]
    for k, v in results["train"].items():
        md.append(f"| {k} | {v['epochs']} | {_pct(v['test_clean_acc'])} | "
                  f"{v['train_images_per_second']:.0f} | {v['seconds_this_invocation']:.0f} |")
    speed = results.get("hvp_images_per_second")
    if speed:
        md += ["", "C's training step with each Hessian-vector product of Eq. (8), "
               + timing_text(s["hvp_timing_steps"], s.get("hvp_timing_rounds")) + ": "
               + ", ".join(f"{HVP_LABELS[k]} {v:.0f} images/s" for k, v in speed.items())
               + "."]
    md += claims_and_provenance(claims, results)
    paths.append(os.path.join(out_dir, "advnet.md"))
    with open(paths[-1], "w") as f:
        f.write("\n".join(md))
    return paths
