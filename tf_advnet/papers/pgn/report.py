"""PGN reports: Table 2, the robustness curves (Fig. 5), attack strength (Fig. 3) and
FGM-AT over epochs (Fig. 2), all generated from the results dict of
`tf_advnet.papers.pgn.pipeline.reproduce` (pgn.json); never edit the outputs by hand."""

import functools
import os

from tf_advnet.eval.report import pct

LABELS = {"standard": "Baseline (no defence)", "fgm_at": "FGM-AT (Goodfellow)",
          "pgd_at": "PGD-AT (Madry)", "pgn": "PGN (ours = this suite's run)"}
SHORT = {"standard": "baseline", "fgm_at": "FGM-AT", "pgd_at": "PGD-AT", "pgn": "PGN"}


def _f(v, fmt="{:.3f}"):
    return "—" if v is None else fmt.format(v)


_pct = functools.partial(pct, digits=1)


def plot_figures(results, out_dir):
    """robustness_curve.png, capacity.png, attack_strength.png, fgm_overfitting.png."""
    from tf_advnet.eval.plots import plot_panels

    s = results["study"]
    models = results["models"]
    paths = []

    def curve(method, width):
        pts = sorted((v for v in models.values()
                      if v["method"] == method and v["width"] == width
                      and v["rho_cw"] is not None), key=lambda v: v["rho_cw"])
        return [p["rho_cw"] for p in pts], [100 * p["acc"] for p in pts]

    base = {SHORT[m]: curve(m, s["width"]) for m in ("fgm_at", "pgd_at", "pgn")}
    std = models["standard"]
    base["baseline"] = ([std["rho_cw"]], [100 * std["acc"]])
    paths.append(plot_panels(os.path.join(out_dir, "robustness_curve.png"),
                             [("benign accuracy (%)", base)], xlabel="rho_cw (mean L2)",
                             title="Fig. 5 (left): robustness curves"))
    if s["capacity_widths"]:
        cap = {f"PGN, width {s['width'] or 1:g}": curve("pgn", s["width"])}
        for w in s["capacity_widths"]:
            cap[f"PGN, width {w:g}"] = curve("pgn", w)
        paths.append(plot_panels(os.path.join(out_dir, "capacity.png"),
                                 [("benign accuracy (%)", cap)],
                                 xlabel="rho_cw (mean L2)",
                                 title="Fig. 5 (right): classifier capacity"))
    panels = []
    for clf, res in results["fig3"].items():
        lines = {a.upper(): ([p["mean_l2"] for p in sorted(res[a],
                                                           key=lambda p: p["mean_l2"])],
                             [100 * p["acc"] for p in sorted(res[a],
                                                             key=lambda p: p["mean_l2"])])
                 for a in ("fgm", "pgd", "pgn")}
        panels.append((f"accuracy (%) of {SHORT[clf]} (eps {s['fig3_eps']:g})", lines))
    paths.append(plot_panels(os.path.join(out_dir, "attack_strength.png"), panels,
                             xlabel="mean perturbation L2",
                             title="Fig. 3: attack strength"))
    f2 = results["fig2"]
    paths.append(plot_panels(
        os.path.join(out_dir, "fgm_overfitting.png"),
        [("benign accuracy (%)", {"FGM-AT": (f2["epoch"], [100 * a for a in f2["acc"]])}),
         ("rho_cw", {"FGM-AT": (f2["epoch"], f2["rho_cw"])})],
        xlabel="epoch", title=f"Fig. 2 (right): FGM-AT, eps {f2['eps']:g}"))
    return paths


def render(results, out_dir, claims):
    """pgn.md and the figures from the results dict; returns their paths."""
    from tf_advnet.papers._study import claims_and_provenance

    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "pgn.md")] + plot_figures(results, out_dir)
    s = results["study"]
    m = results["matching"]
    md = [f"# PGN on {s['dataset']} ({s['preset']} preset)", "",
          f"{results['n_train']} training images, {results['n_test']} test images, "
          f"classifier `{s['model']}`"
          + (f" (width {s['width']:g})" if s["width"] else "")
          + f", {s['epochs']} epochs, {s['optimizer']} {s['learning_rate']:g}, batch "
          f"{s['batch_size']}. L2 budgets in [0, 1] pixel units. rho_cw (Eq. 6): mean "
          f"L2 over the test images C&W-L2 ({s['cw_iterations']} iterations, "
          f"{s['cw_binary_steps']} binary steps) misclassifies. Generated from pgn.json "
          "by tf_advnet.papers.pgn.report; do not edit.", "",
          "## Table 2 at matched benign accuracy", "",
          f"Matching target: the baseline's benign accuracy, {_pct(m['target_acc'])}%. "
          "Chosen models: " + ", ".join(f"{SHORT[k]} `{v}`" for k, v in m["chosen"].items())
          + f". FGM / MIM: L2 eps = {s['attack_eps']:g} (MIM: 10 steps of eps/10); "
          f"black-box examples crafted on `{results['black_box_source']}`. The paper's "
          "Table 2 values are not in our copy of the paper.", "",
          "| defence | benign acc (%) | FGM white (%) | MIM white (%) | FGM black (%) | "
          "MIM black (%) | DeepFool mean L2 | DeepFool median L2 | C&W mean L2 | "
          "C&W median L2 |", "|---" * 10 + "|"]
    for method, row in results["table2"].items():
        md.append(f"| {SHORT[method]} (`{row['model']}`) | {_pct(row['acc'])} | "
                  f"{_pct(row['white_fgm'])} | {_pct(row['white_mim'])} | "
                  f"{_pct(row['black_fgm'])} | {_pct(row['black_mim'])} | "
                  f"{_f(row['deepfool_mean'])} | {_f(row['deepfool_median'])} | "
                  f"{_f(row['rho_cw'])} | {_f(row['rho_cw_median'])} |")
    md += ["", "## Robustness curves (Fig. 5)", "",
           "Every trained model: benign accuracy and rho_cw. Plots: robustness_curve.png, "
           "capacity.png.", "",
           "| model | method | eps or c_L | width | benign acc (%) | rho_cw mean | "
           "rho_cw median | train images/s |", "|---" * 8 + "|"]
    for name, v in results["models"].items():
        md.append(f"| `{name}` | {SHORT[v['method']]} | "
                  f"{'—' if v['value'] is None else format(v['value'], 'g')} | "
                  f"{v['width'] or 1:g} | {_pct(v['acc'])} | {_f(v['rho_cw'])} | "
                  f"{_f(v['rho_cw_median'])} | {v['train_images_per_second']:.0f} |")
    md += ["", f"## Attack strength (Fig. 3), classifiers trained at eps = "
           f"{s['fig3_eps']:g}", "",
           "PGN attack: a generator trained alone against the fixed classifier for "
           f"{s['fig3_epochs']} epochs per c_L. Plot: attack_strength.png.", "",
           "| classifier | attack | eps or c_L | mean L2 | accuracy (%) |",
           "|---|---|---|---|---|"]
    for clf, res in results["fig3"].items():
        for attack in ("fgm", "pgd", "pgn"):
            for p in res[attack]:
                val = p.get("eps", p.get("c_l"))
                md.append(f"| {SHORT[clf]} | {attack.upper()} | {val:g} | "
                          f"{p['mean_l2']:.3f} | {_pct(p['acc'])} |")
    f2 = results["fig2"]
    md += ["", f"## FGM-AT over epochs (Fig. 2 right), eps = {f2['eps']:g}, "
           f"{f2['n_test']} test images", "",
           "| epoch | " + " | ".join(str(e) for e in f2["epoch"]) + " |",
           "|---" * (len(f2["epoch"]) + 1) + "|",
           "| benign acc (%) | " + " | ".join(_pct(a) for a in f2["acc"]) + " |",
           "| rho_cw | " + " | ".join(_f(r) for r in f2["rho_cw"]) + " |"]
    md += claims_and_provenance(claims, results)
    with open(paths[0], "w") as f:
        f.write("\n".join(md))
    return paths
