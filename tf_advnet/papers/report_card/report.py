"""The report card's Markdown, generated from report_card.json (never edit by hand).

`write_md(results, out_dir)` writes report_card.md (the pipeline writes the JSON
first; `tf-advnet render` regenerates the Markdown from it); `card_table(results)` is
the table alone, which `update_readme` puts between the README's
`<!-- report-card:<dataset> -->` markers.
"""

import collections
import functools
import json
import os
import statistics

from tf_advnet.eval.report import pct

LABELS = {"standard": "Standard", "pgd_at": "PGD-AT (Madry)", "bat": "BAT (R-MC-LA)",
          "advnet": "Adv. network (Wang & Yu)", "l2lda": "L2L-DA (Jang)",
          "pgn": "PGN", "deepdefense": "DeepDefense (Yan)"}

SHORT = {"apgd": "APGD-CE", "apgdt": "APGD-T", "fabt": "FAB-T", "square": "Square"}


_pct = functools.partial(pct, digits=1)


def _family(spec):
    head = spec.split(":")[0].rstrip("0123456789_l2inf")
    return SHORT.get(head, head)


def card_table(results, *more):
    """The card: one row per defence (Markdown). Given the cards of several seeds
    (`more`: the others, same rows and specs), each number is the mean ± the sample
    standard deviation over the seeds, and a check lists how many seeds it fired in."""
    cards = (results,) + more
    c = results["card"]
    # The strong columns follow the specs the card ran (cards before FAB-T have three).
    specs = next(iter(results["rows"].values()))["strong_protocol"]["specs"]
    head = ("| Defence | Train (img/s; wall) | Clean | Paper's protocol | "
            + "".join(f"{_family(s)} | " for s in specs) + "Worst case | Checks fired |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for row in results["rows"]:
        rs = [card["rows"][row] for card in cards]

        def mean(get, fmt=_pct):
            return _over_seeds([get(r) for r in rs], fmt)

        b = results["rows"][row]["budget"]
        cost = (f"{mean(lambda r: r['budget']['images_per_second'], _int)}; "
                f"{mean(lambda r: r['budget']['wall_time_s'] / 60, _minutes)} min")
        if "wall_time_s_with_standard" in b:
            cost += (" (+ standard: "
                     f"{mean(lambda r: r['budget']['wall_time_s_with_standard'] / 60, _minutes)})")
        diverged = sum(bool(r["budget"].get("diverged")) for r in rs)
        label = LABELS[row] + (" (**diverged**: NaN loss" + (
            f" in {diverged} of {len(rs)} seeds" if len(rs) > 1 else "") + ")"
            if diverged else "")
        cells = [label, cost, mean(lambda r: r["clean"]),
                 mean(lambda r: r["paper_protocol"]["worst_case"])]
        cells += [mean(lambda r, s=s: r["strong_protocol"]["acc"][s]) for s in specs]
        fired = collections.Counter(name for r in rs for name in r["fired"])
        cells += [f"**{mean(lambda r: r['worst_case'])}**",
                  ", ".join(n + (f" ({k} of {len(rs)} seeds)" if len(rs) > 1 else "")
                            for n, k in fired.items()) or "none"]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = ("" if not more else "Mean ± standard deviation over seeds "
             + ", ".join(str(card["provenance"]["seed"]) for card in cards) + ". ")
    note = (f"{c['dataset']}, L-inf eps = {c['eps']:g}, {results['n_test']} test images, "
            f"model `{c['model']}` for every row, {c['preset']} preset. {seeds}Accuracy (%) "
            "under each attack alone; worst case per example over every attack of both "
            "protocols. " + paper_rule(results))
    return "\n".join(lines) + "\n\n" + note


def _int(v):
    return f"{v:.0f}"


def _minutes(v):
    return f"{v:.1f}"


def _over_seeds(values, fmt):
    """One cell: the value of one seed, else mean ± sample std (`fmt` formats both)."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.mean(values))} ± {fmt(statistics.stdev(values))}"


def paper_rule(results):
    """One sentence: which iterate of the paper-protocol attacks counts."""
    rules = {row: r["paper_protocol"].get("any_iterate") for row, r in
             results["rows"].items()}
    if all(rules.values()):
        return ("Paper's protocol: a point counts as broken if any iterate of an attack "
                "fooled it (AutoAttack's rule; the papers' own code takes PGD's last "
                "iterate).")
    if not any(rules.values()):
        return ("Paper's protocol: PGD and MIM count only their last iterate (the papers' "
                "own rule), so a point fooled mid-run counts as robust.")
    last = ", ".join(LABELS[row] for row, rule in rules.items() if not rule)
    return ("Paper's protocol: a point counts as broken if any iterate of an attack "
            f"fooled it (AutoAttack's rule), except for {last}, where PGD and MIM count "
            "only their last iterate.")


def _protocols(results):
    out = ["| Defence | Paper's attacks (accuracy %) | Paper worst case | Strong worst "
           "case | Transfer (source) |", "|---|---|---|---|---|"]
    for row, r in results["rows"].items():
        p = r["paper_protocol"]
        attacks = ", ".join(f"`{s}` {_pct(a)}" for s, a in p["acc"].items())
        src = r.get("transfer_source")
        transfer = f"{_pct(r['transfer'])} ({src})" if src else "—"
        out.append(f"| {LABELS[row]} | {attacks} | {_pct(p['worst_case'])} | "
                   f"{_pct(r['strong_protocol']['worst_case'])} | {transfer} |")
    return "\n".join(out)


# A training attack that leaves the training accuracy within this many points of the
# clean one gave the row little adversarial signal, whatever its curve looks like.
BIT_POINTS = 1.0


def _training(results):
    """Each row's training, where the card recorded its per-epoch curve: epochs, its
    last epoch's training accuracy on clean inputs and under its own training attack,
    and its held-out curve's first and last values (None: no curve recorded)."""
    rows = results["rows"].items()
    if not any("curve" in r["budget"] for _, r in rows):
        return None
    out = ["| Defence | Epochs | Train clean | Train under its attack | Held-out "
           f"{results['card'].get('curve_attack') or 'curve'} (first -> last) |",
           "|---|---|---|---|---|"]
    for row, r in rows:
        b = r["budget"]
        clean, adv = b.get("train_clean_acc"), b.get("train_adv_acc")
        attack = "—" if adv is None else _pct(adv)
        if adv is not None and clean is not None and 100 * (clean - adv) < BIT_POINTS:
            attack += f" (within {BIT_POINTS:g} point of clean: the attack barely bit)"
        curve = b.get("curve")
        out.append(f"| {LABELS[row]} | {b['epochs']} | "
                   f"{'—' if clean is None else _pct(clean)} | {attack} | "
                   f"{'—' if not curve else f'{_pct(curve[0])} -> {_pct(curve[-1])}'} |")
    return "\n".join(out)


def _checks(results):
    out = []
    for row, r in results["rows"].items():
        out.append(f"**{LABELS[row]}**\n")
        for ch in r["checks"]:
            mark = "FIRED" if ch["fired"] else "passed"
            out.append(f"- `{ch['name']}` {mark}: {ch['reason']}")
        out.append("")
    return "\n".join(out)


def findings(results):
    """Per row: how far the strong protocol falls below the paper's."""
    out = {}
    for row, r in results["rows"].items():
        gap = r["paper_protocol"]["worst_case"] - r["worst_case"]
        out[row] = (f"paper protocol {_pct(r['paper_protocol']['worst_case'])}% -> worst "
                    f"case {_pct(r['worst_case'])}% ({100 * gap:.1f} points lower)"
                    if gap > 0 else
                    f"paper protocol {_pct(r['paper_protocol']['worst_case'])}% = worst "
                    f"case: the strong attacks found nothing more")
    return out


def render(results):
    c = results["card"]
    prov = results["provenance"]
    lines = [f"# Report card: {c['dataset']} ({c['preset']} preset)", "",
             card_table(results), "",
             "## Each paper's protocol and the strong one", "", _protocols(results), "",
             "Strong protocol: " + ", ".join(
                 f"`{s}`" for s in next(iter(results["rows"].values()))
                 ["strong_protocol"]["specs"]) + ".", "",
             "## What the strong protocol changes", ""]
    lines += [f"- {LABELS[row]}: {text}" for row, text in findings(results).items()]
    training = _training(results)
    if training:
        lines += ["", "## Training", "", training]
    lines += ["", "## Gradient-masking checks (every outcome)", "", _checks(results),
              f"Command `{prov['command']}`, commit `{prov['commit'][:10]}`, seed "
              f"{prov['seed']}, wall time {prov['wall_time_s'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def write_md(results, out_dir):
    """report_card.md from the results dict; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "report_card.md")
    with open(path, "w") as f:
        f.write(render(results))
    return path


def update_readme(readme_path, out_dir):
    """Replaces the table between `<!-- report-card:<dataset> -->` and
    `<!-- /report-card:<dataset> -->` in the README with the card of out_dir."""
    from tf_advnet.utils.markers import replace_between

    with open(os.path.join(out_dir, "report_card.json")) as f:
        results = json.load(f)
    return replace_between(readme_path, f"report-card:{results['card']['dataset']}",
                           card_table(results))


def compare_table(before, after):
    """Two cards of the same rows side by side (Markdown): each row's paper-protocol,
    Square, strong and overall worst case, before -> after, in %."""

    def square(r):
        accs = [v for s, v in r["strong_protocol"]["acc"].items() if s.startswith("square")]
        return min(accs) if accs else None

    def cell(a, b):
        return f"{_pct(a)} -> {_pct(b)}"

    head = ("| Defence | Clean | Paper's protocol | Square | Strong protocol | Worst case |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for row, b in after["rows"].items():
        a = before["rows"].get(row)
        if a is None:
            continue
        lines.append("| " + " | ".join([
            LABELS[row], cell(a["clean"], b["clean"]),
            cell(a["paper_protocol"]["worst_case"], b["paper_protocol"]["worst_case"]),
            cell(square(a), square(b)),
            cell(a["strong_protocol"]["worst_case"], b["strong_protocol"]["worst_case"]),
            cell(a["worst_case"], b["worst_case"])]) + " |")
    spec = " + ".join(next(iter(after["rows"].values()))["strong_protocol"]["specs"])
    old = " + ".join(next(iter(before["rows"].values()))["strong_protocol"]["specs"])
    return ("\n".join(lines) + f"\n\nBefore: strong = {old} (commit "
            f"`{before['provenance'].get('commit', '?')[:7]}`); after: strong = {spec} "
            f"(commit `{after['provenance'].get('commit', '?')[:7]}`).")


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tf_advnet.papers.report_card.report "
                         "BEFORE/report_card.json AFTER/report_card.json")
    with open(sys.argv[1]) as f1, open(sys.argv[2]) as f2:
        print(compare_table(json.load(f1), json.load(f2)))
