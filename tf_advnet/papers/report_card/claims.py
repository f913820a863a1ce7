"""The report card's claims: for each defence, does the robust accuracy that its paper's
own evaluation protocol gives survive the strong protocol (AutoAttack's attacks, the
worst case over all)? Answered from the results dict of
`tf_advnet.papers.report_card.pipeline.reproduce`."""

from tf_advnet.papers._study import Claim, at_least, verdict_of
from tf_advnet.papers.report_card.report import LABELS

# The ledger's flags of every claim here (`tf_advnet.papers.ledger`; the studies'
# are in their paper_values.json): two evaluation protocols compared on one model,
# about robustness.
FLAGS = {"comparative": True, "robustness": True}
# The strong protocol may find a few more examples on any model; more than this is a
# robustness the paper's protocol overstated.
TOLERANCE_POINTS = 1.0
# What AutoAttack's own evaluation did to these defences' published numbers (the table
# of fra31/auto-attack's README: clean, reported, AutoAttack).
AUTOATTACK_TABLE = {
    "bat": "AutoAttack's table: CIFAR-10 WRN-28-10, 58.6% reported -> 29.35%",
    "l2lda": "AutoAttack's table: CIFAR-10 RN-20, 37.40% reported -> 34.95%; MNIST "
             "94.61% -> 87.99%",
}


def claims(results):
    """[Claim] per row: paper-protocol worst case against the strong worst case."""
    out = []
    for row, r in results["rows"].items():
        paper, strong = r["paper_protocol"]["worst_case"], r["worst_case"]
        gap = 100 * (paper - strong)
        margins = {"strong - paper protocol + 1 (points)": at_least(TOLERANCE_POINTS, gap)}
        out.append(Claim(
            id=f"{row}_holds_under_strong_protocol",
            statement=f"{LABELS[row]}: the paper protocol's robust accuracy holds under "
                      "the strong protocol",
            paper=f"{100 * paper:.1f}% (our run, the paper's own attacks)" + (
                f"; {AUTOATTACK_TABLE[row]}" if row in AUTOATTACK_TABLE else ""),
            ours=f"{100 * strong:.1f}% worst case ({-gap:+.1f} points)",
            rule=f"strong worst case >= paper protocol's - {TOLERANCE_POINTS:g} point "
                 f"(exactly {TOLERANCE_POINTS:g} lower holds)",
            verdict=verdict_of(margins), margins=margins))
    return out
