"""Markdown tables generated from results JSON (never edited by hand)."""


def pct(v, digits=2):
    """An accuracy in [0, 1] as a percentage with `digits` decimals; "—" for None."""
    return "—" if v is None else f"{100 * v:.{digits}f}"


_pct = pct


def robustness_table(results, *, paper=None):
    """Markdown table: rows = models, columns = clean, each attack, worst case.

    Args:
      results: dict model_name -> output of `evaluate_attacks`.
      paper: optional dict model_name -> {column: percent} of the paper's numbers,
        printed as an extra row per model.
    """
    specs = []
    for r in results.values():
        for s in r["attacks"]:
            if s not in specs:
                specs.append(s)
    header = ["model", "n", "clean"] + specs + ["worst case"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * len(header)) + "|"]
    for name, r in results.items():
        row = [name, str(r["n"]), _pct(r["clean_acc"])]
        row += [_pct(r["attacks"][s]["acc"]) if s in r["attacks"] else "—"
                for s in specs]
        row.append(_pct(r.get("worst_case_acc")))
        lines.append("| " + " | ".join(row) + " |")
        if paper and name in paper:
            p = paper[name]
            prow = [f"{name} (paper)", "", _fmt(p.get("clean"))]
            prow += [_fmt(p.get(s)) for s in specs] + [_fmt(p.get("worst case"))]
            lines.append("| " + " | ".join(prow) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v):
    return "—" if v is None else f"{v:.2f}"


def attack_legend(results):
    """One line per attack: norm, eps, steps, and rho for unbounded attacks."""
    seen = {}
    for r in results.values():
        for s, a in r["attacks"].items():
            seen.setdefault(s, a)
    lines = []
    for s, a in seen.items():
        eps = "unbounded" if a["eps"] is None else f"eps={a['eps']:.4g}"
        lines.append(f"- `{s}`: L{a['norm']} {eps}, {a['num_steps']} steps"
                     + ("" if a["bounded"] else " (minimal-perturbation attack; "
                        "not in the worst case)"))
    return "\n".join(lines) + "\n"


def minimal_attack_table(results):
    """Markdown table of the minimal-perturbation attacks (C&W, DeepFool).

    Success rate and the mean / median L2 of successful perturbations (rho of the
    PGN paper, Eq. (6)); None where nothing succeeded.
    """
    rows = []
    for name, r in results.items():
        for spec, a in r["attacks"].items():
            if a["bounded"]:
                continue
            rows.append(f"| {name} | {spec} | {_pct(a['success_rate'])} | "
                        f"{_num(a['rho_mean_l2'])} | {_num(a['rho_median_l2'])} |")
    if not rows:
        return ""
    return "\n".join(["| model | attack | success (%) | mean L2 | median L2 |",
                      "|---|---|---|---|---|"] + rows) + "\n"


def _num(v):
    return "—" if v is None else f"{v:.4f}"


def transfer_table(matrix):
    """Markdown table of `tf_advnet.attacks.transfer.transfer_matrix` output."""
    cols = []
    for row in matrix["transfer"].values():
        for c in row:
            if c not in cols:
                cols.append(c)
    header = ["target", "clean"] + cols
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * len(header)) + "|"]
    for target, row in matrix["transfer"].items():
        cells = [target, _pct(matrix["clean"][target])]
        cells += [_pct(row.get(c)) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def provenance_markdown(p):
    """The "Provenance" section of a generated report, from a provenance block."""
    return ["## Provenance", "", f"- command: `{p['command']}`", f"- commit: `{p['commit']}`",
            f"- seed: {'per model (see each config)' if p['seed'] is None else p['seed']}, "
            f"preset: {p['preset']}, wall time: {p['wall_time_s']} s",
            f"- versions: {p['versions']}", ""]
