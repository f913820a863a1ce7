"""L2L-DA reports: Tables 1(a), 1(b), 2 and 3 beside the paper's numbers, Fig. 2
and the perturbation trajectories, all generated from the results dict of
`tf_advnet.papers.l2lda.pipeline.reproduce` (l2lda.json); never edit the outputs by hand."""

import os

import numpy as np

from tf_advnet.papers._study import claims_and_provenance, paper_values

TABLE2_ROWS = ("plain", "pgd10", "pgd100", "cw100", "l2l_star", "l2lda")
TABLE1A_ROWS = ("l2l_star", "rx_dx", "rx_do", "ro_dx", "l2lda")
TABLE1B_ROWS = ("l2lda", "dO_yX", "dX_yO", "dX_yX")
SURROGATES = {"A": "plain_s2", "B": "fgsm_s2", "C": "pgd10_s2"}
TABLE2_COLUMNS = ("fgsm", "pgd10", "pgd100", "cw100", "cw1000", "advgan", "gap", "l2lda")
TABLE1_COLUMNS = ("fgsm", "pgd100", "cw1000")
TABLE3_ATTACKS = ("l2lda", "pgd10", "pgd100")
LABELS = {"plain": "Plain", "pgd10": "PGD10", "pgd100": "PGD100", "cw100": "C&W100",
          "l2l_star": "L2L*", "l2lda": "L2L-DA (full)", "rx_dx": "L2L-DA (R X, D X)",
          "rx_do": "L2L-DA (R X, D O)", "ro_dx": "L2L-DA (R O, D X)",
          "dO_yX": "L2L-DA (delta O, y X)", "dX_yO": "L2L-DA (delta X, y O)",
          "dX_yX": "L2L-DA (delta X, y X)"}

HEADERS = {"clean": "Natural", "fgsm": "FGSM", "pgd10": "PGD10", "pgd100": "PGD100",
           "cw100": "C&W100", "cw1000": "C&W1000", "advgan": "AdvGAN", "gap": "GAP",
           "l2lda": "L2L-DA", "min": "Min"}
# The paper's numbers (%), in the column order of each table: MNIST (Tables 1-3)
# and CIFAR-10 (Table 2).
_VALUES = paper_values(os.path.dirname(__file__))
PAPER = _VALUES["tables"]
PAPER_CIFAR10 = _VALUES["tables_cifar10"]
TABLE3_COLUMNS = tuple(f"{a}({s})" for a in ("l2lda", "pgd10", "pgd100")
                       for s in SURROGATES) + ("min",)
TITLES = {"table1a": "Table 1(a): recursion (R) and diversity (D)",
          "table1b": "Table 1(b): the generator's inputs delta and y",
          "table2": "Table 2: white box",
          "table3": "Table 3: black box (surrogates A plain, B FGSM-AT, C PGD10-AT, "
                    "another seed)"}


def _columns(name):
    if name == "table2":
        return ("clean",) + TABLE2_COLUMNS + ("min",)
    if name == "table3":
        return TABLE3_COLUMNS
    return ("clean",) + TABLE1_COLUMNS + ("min",)


def _header(col):
    if "(" in col:
        a, s = col[:-1].split("(")
        return f"{HEADERS[a]} ({s})"
    return HEADERS[col]


def table_markdown(name, rows, paper=True, dataset=None):
    """Our table, then the paper's beside it (CIFAR-10's where `dataset` is cifar10
    and the paper has the table, else MNIST's), as markdown lines."""
    cols = _columns(name)
    md = [f"### {TITLES[name]}", "", "| defence \\ attack | "
          + " | ".join(_header(c) for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    md += [f"| {LABELS[r]} | " + " | ".join(f"{100 * cells[c]:.2f}" for c in cols) + " |"
           for r, cells in rows.items()]
    cifar = dataset == "cifar10"
    if paper and (not cifar or name in PAPER_CIFAR10):
        source, caption = ((PAPER_CIFAR10, "CIFAR-10, eps 8/255") if cifar
                           else (PAPER, "MNIST, eps 0.3"))
        md += ["", f"Paper ({caption}):", "", "| defence \\ attack | "
               + " | ".join(_header(c) for c in cols) + " |",
               "|---" * (len(cols) + 1) + "|"]
        md += [f"| {LABELS[r]} | " + " | ".join(f"{v:.2f}" for v in vals) + " |"
               for r, vals in source[name].items()]
    return md + [""]


def plot_fig2(results, path):
    """Fig. 2: mean max loss per step (std as the lower error bar), per classifier."""
    from tf_advnet.eval.plots import _plt

    plt = _plt()
    panels = results["fig2"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), dpi=120,
                             squeeze=False)
    names = {"pgd": "PGD", "l2l": "L2L*", "l2lda": "L2L-DA"}
    for ax, (row, curves) in zip(axes[0], panels.items()):
        for method, c in curves.items():
            steps = np.arange(1, len(c["max"]) + 1)
            ax.errorbar(steps, c["max"], yerr=[c["std"], np.zeros(len(steps))],
                        marker="o", capsize=2, label=names[method])
        ax.set_xlabel("attack step")
        ax.set_ylabel("mean over images of the max loss")
        ax.set_title(f"classifier: {LABELS[row]}", fontsize="small")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_trajectories(examples, path, eps):
    """Per image, two rows (z1, z2): x_adv^(t) - x for t = 1..T (grey = 0)."""
    from tf_advnet.eval.plots import _plt

    plt = _plt()
    x, trajs = examples["x"], examples["trajectories"]
    n, steps = trajs[0].shape[:2]
    fig, axes = plt.subplots(2 * n, steps + 1, figsize=(1.0 * (steps + 1), 2.1 * n),
                             dpi=110, squeeze=False)
    for i in range(n):
        for k, traj in enumerate(trajs):
            r = 2 * i + k
            axes[r][0].imshow(x[i][..., 0] if x.shape[-1] == 1 else x[i], cmap="gray",
                              vmin=0, vmax=1)
            axes[r][0].set_ylabel(f"img {i}, z{k + 1}", fontsize="x-small")
            for t in range(steps):
                d = traj[i, t] - x[i]
                show = d[..., 0] if d.shape[-1] == 1 else (d + eps) / (2 * eps)
                axes[r][t + 1].imshow(show, cmap="seismic" if d.shape[-1] == 1 else None,
                                      vmin=-eps, vmax=eps)
                if r == 0:
                    axes[r][t + 1].set_title(f"t={t + 1}", fontsize="x-small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render(results, out_dir, claims, examples=None):
    """l2lda.md, fig2.png and (given the generator's examples, which need the models)
    trajectories.png from the results dict; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    s = results["study"]
    paths = [os.path.join(out_dir, "l2lda.md"),
             plot_fig2(results, os.path.join(out_dir, "fig2.png"))]
    if examples is not None:
        paths.append(plot_trajectories(examples, os.path.join(out_dir, "trajectories.png"),
                                       s["eps"]))
    in_paper = s["dataset"] in ("mnist", "mnist_5k", "cifar10")
    md = [f"# L2L-DA on {s['dataset']} ({s['preset']} preset)", "",
          f"{results['n_train']} training images, {results['n_test']} test images, "
          f"`{s['model']}`, eps = {s['eps']:g} (L-inf, [0, 1] pixels), batch "
          f"{s['batch_size']}. Plain model: {s['plain_epochs']} epoch(s) of "
          f"{s['plain_optimizer']} {s['plain_learning_rate']:g}; every defence starts "
          f"from it and trains {s['epochs']} epoch(s) ({s['optimizer']} "
          f"{s['learning_rate']:g}, weight decay {s['weight_decay']:g}, gradient-norm "
          f"clip {s['clipnorm']:g}; gradient-AT baselines ramp eps over "
          f"{s['eps_warmup_epochs']:g} epoch(s)). Generator: U-Net width {s['g_width']}, z_dim "
          f"{s['z_dim']}, T = {s['num_steps']}, eps_step = eps/4, lambda {s['lam']:g}, "
          f"SGD {s['g_learning_rate']:g} (momentum 0.9). Attacks: C&W with {s['cw_binary_steps']} "
          f"binary-search steps; AdvGAN, GAP and the L2L-DA attack fine-tuned "
          f"{s['attack_epochs']} epoch(s) against each classifier; L2L-DA attack with "
          f"{s['attack_samples']} z samples. Generated from l2lda.json by "
          "tf_advnet.papers.l2lda.report; do not edit.", ""]
    if not in_paper:
        md += [f"The paper has no {s['dataset']} experiment; its MNIST numbers (eps 0.3) "
               "are shown as the nearest reference.", ""]
    for name in ("table1a", "table1b", "table2", "table3"):
        if name in results["tables"]:
            md += table_markdown(name, results["tables"][name], dataset=s["dataset"])
    md += ["## Fig. 2: loss along the attacks", "",
           f"{results['fig2_images']} test images, 10 attacks each (PGD, L2L*: random "
           "starts; L2L-DA: z samples), the trained generators as they are (not "
           "fine-tuned). Mean over images of the max over attacks (std: lower error "
           "bar) at each step: fig2.png; the paper's dotted line is at 1.64 (CIFAR-10).",
           "", "| classifier | attack | step 1 | step T | std at step T |",
           "|---|---|---|---|---|"]
    for row, curves in results["fig2"].items():
        for method, c in curves.items():
            md.append(f"| {LABELS[row]} | {method} | {c['max'][0]:.3f} | "
                      f"{c['max'][-1]:.3f} | {c['std'][-1]:.3f} |")
    md += ["", "Perturbation trajectories x_adv^(t) - x of the L2L-DA generator for two "
           "z samples on the L2L-DA classifier: trajectories.png.", "",
           "## Training", "", "| model | epochs | clean test acc (%) | train images/s | "
           "seconds (this invocation) |", "|---|---|---|---|---|"]
    for k, v in results["train"].items():
        md.append(f"| {k} | {v['epochs']} | {100 * v['test_clean_acc']:.2f} | "
                  f"{v['train_images_per_second']:.0f} | "
                  f"{v['seconds_this_invocation']:.0f} |")
    md += claims_and_provenance(claims, results)
    with open(paths[0], "w") as f:
        f.write("\n".join(md))
    return paths
