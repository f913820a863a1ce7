"""BAT's claims (Tables 1, 3, 5, 6), answered from the results dict of
`tf_advnet.papers.bat.pipeline.reproduce`; the paper's statements and numbers are in
paper_values.json beside this file. A claim whose models were not run is `not run`."""

import os

from tf_advnet.papers._study import make_claim, paper_values
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
        held=all(acc(a, "CE7") > acc(b, "CE7") for a, b in leak) if leak else None))

    held = text = None
    if None not in (acc("R-MC-LA", "CE100"), acc("Madry", "CE100")):
        ra = results["models"]["R-MC-LA"]["training"]["train_images_per_second"]
        ma = results["models"]["Madry"]["training"]["train_images_per_second"]
        held = (acc("R-MC-LA", "CE100") > acc("Madry", "CE100")
                and acc("R-MC-LA", "CW100") > acc("Madry", "CW100") and ra > ma)
        text = (f"CE100 {acc('R-MC-LA', 'CE100'):.1f}% vs {acc('Madry', 'CE100'):.1f}%, "
                f"CW100 {acc('R-MC-LA', 'CW100'):.1f}% vs {acc('Madry', 'CW100'):.1f}%; "
                f"training speed {ra / ma:.2f}x Madry's")
    out.append(make_claim(PAPER, "r_mc_la_beats_madry", ours=text, held=held))

    held = text = None
    if None not in (acc("Madry", "CE100"), acc("Madry-PGD2-8", "CE100")):
        held = abs(acc("Madry", "CE100") - acc("Madry-PGD2-8", "CE100")) <= PGD2_8_POINTS
        text = _fmt((n, acc(n, "CE100")) for n in ("Madry-PGD2-8", "Madry"))
    out.append(make_claim(PAPER, "pgd2_8_close_to_pgd7_2", ours=text, held=held))

    names = ("R-MC", "R-MC-LS", "R-MC-LA")
    held = text = None
    if all(acc(n, "CE20") is not None for n in names):
        held = all(acc(n, "CE20") > acc("R-MC", "CE20") for n in names[1:])
        text = _fmt((n, acc(n, "CE20")) for n in names)
    out.append(make_claim(PAPER, "label_adversary_helps", ours=text, held=held))

    held = text = None
    if acc("R-MC-LA", "CW100") is not None:
        held = acc("R-MC-LA", "CW100") < acc("R-MC-LA", "CE100")
        text = f"CW100 {acc('R-MC-LA', 'CW100'):.1f}% vs CE100 {acc('R-MC-LA', 'CE100'):.1f}%"
    out.append(make_claim(PAPER, "cw_stronger_than_ce_on_bat", ours=text, held=held))
    return out
