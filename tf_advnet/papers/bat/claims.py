"""BAT's claims (Tables 1, 3, 5, 6), answered from the results dict of
`tf_advnet.papers.bat.pipeline.reproduce`; the paper's statements and numbers are in
paper_values.json beside this file. A claim whose models were not run is `not run`."""

import os

from tf_advnet.papers._study import above, at_least, make_claim, paper_values
from tf_advnet.papers.bat.report import ours

PAPER = paper_values(os.path.dirname(__file__))
PGD2_8_POINTS = 2.0  # Table 1: 46.2 vs 47.2


def _fmt(pairs):
    return ", ".join(f"{k} {v:.1f}%" for k, v in pairs)


def claims(results):
    """[Claim] of the paper (accuracies in %)."""
    def acc(name, col):
        return ours(results, name, col)

    out = []
    leak = [(a, b) for a, b in (("R-FGSM", "FGSM"), ("R-MC", "MC"), ("R-LL", "LL"))
            if acc(a, "CE7") is not None and acc(b, "CE7") is not None]
    out.append(make_claim(
        PAPER, "random_start_prevents_label_leaking",
        ours=_fmt((n, acc(n, "CE7")) for pair in leak for n in reversed(pair)) or None,
        margins={f"{a} - {b} (CE7 points)": above(acc(a, "CE7"), acc(b, "CE7"))
                 for a, b in leak} if leak else None))

    margins = text = None
    if None not in (acc("R-MC-LA", "CE100"), acc("Madry", "CE100")):
        # Back-to-back step timings where the run recorded them (`speed`): a training's
        # own images/s also measures whatever else the machine ran meanwhile.
        speed = results.get("speed") or {
            n: results["models"][n]["training"]["train_images_per_second"]
            for n in ("R-MC-LA", "Madry")}
        ra, ma = speed["R-MC-LA"], speed["Madry"]
        margins = {f"R-MC-LA - Madry ({col} points)": above(acc("R-MC-LA", col),
                                                           acc("Madry", col))
                   for col in ("CE100", "CW100")}
        margins["R-MC-LA / Madry images/s - 1"] = above(ra, ma) / ma
        text = (f"CE100 {acc('R-MC-LA', 'CE100'):.1f}% vs {acc('Madry', 'CE100'):.1f}%, "
                f"CW100 {acc('R-MC-LA', 'CW100'):.1f}% vs {acc('Madry', 'CW100'):.1f}%; "
                f"training speed {ra / ma:.2f}x Madry's")
    out.append(make_claim(PAPER, "r_mc_la_beats_madry", ours=text, margins=margins))

    margins = text = None
    if None not in (acc("Madry", "CE100"), acc("Madry-PGD2-8", "CE100")):
        gap = abs(acc("Madry", "CE100") - acc("Madry-PGD2-8", "CE100"))
        margins = {"2 - |PGD2-8 - PGD7-2| (CE100 points)": at_least(PGD2_8_POINTS, gap)}
        text = _fmt((n, acc(n, "CE100")) for n in ("Madry-PGD2-8", "Madry"))
    out.append(make_claim(PAPER, "pgd2_8_close_to_pgd7_2", ours=text, margins=margins))

    names = ("R-MC", "R-MC-LS", "R-MC-LA")
    margins = text = None
    if all(acc(n, "CE20") is not None for n in names):
        margins = {f"{n} - R-MC (CE20 points)": above(acc(n, "CE20"), acc("R-MC", "CE20"))
                   for n in names[1:]}
        text = _fmt((n, acc(n, "CE20")) for n in names)
    out.append(make_claim(PAPER, "label_adversary_helps", ours=text, margins=margins))

    margins = text = None
    if acc("R-MC-LA", "CW100") is not None:
        margins = {"CE100 - CW100 (points)": above(acc("R-MC-LA", "CE100"),
                                                   acc("R-MC-LA", "CW100"))}
        text = f"CW100 {acc('R-MC-LA', 'CW100'):.1f}% vs CE100 {acc('R-MC-LA', 'CE100'):.1f}%"
    out.append(make_claim(PAPER, "cw_stronger_than_ce_on_bat", ours=text, margins=margins))
    return out
