"""The PGN submission's claims (Table 2, Figs. 2, 3, 5), answered from the results dict
of `tf_advnet.papers.pgn.pipeline.reproduce`; the paper's statements and numbers are in
paper_values.json beside this file."""

import os

import numpy as np

from tf_advnet.papers._study import (above, make_claim, paper_values, supports,
                                     timing_text, worst)

PAPER = paper_values(os.path.dirname(__file__))
# Step timings on a shared CPU move by several percent from run to run.
FASTER = 1.1


def _interp(xs, ys, at):
    """Linear interpolation of the curve (xs, ys) at `at`; None outside its range."""
    order = np.argsort(xs)
    xs, ys = np.asarray(xs, float)[order], np.asarray(ys, float)[order]
    if len(xs) == 0 or at < xs[0] or at > xs[-1]:
        return None
    return float(np.interp(at, xs, ys))


def curve_gaps(curve, other):
    """Fig. 5: at each point of `curve` (points with acc, rho_cw), how far it lies
    outside `other`: where its accuracy lies in `other`'s range, its rho_cw minus
    `other`'s interpolated at that accuracy; where it lies above that range, its
    rho_cw minus `other`'s highest (> 0 exactly when it dominates every point of
    `other`: conservative, as `other`'s rho_cw at that accuracy is unknown but, on a
    trade-off curve, no higher); below that range it is not compared."""
    oa = [p["acc"] for p in other if p["rho_cw"] is not None]
    orho = [p["rho_cw"] for p in other if p["rho_cw"] is not None]
    gaps = []
    for p in curve:
        if p["rho_cw"] is None or not oa:
            continue
        ref = max(orho) if p["acc"] > max(oa) else _interp(oa, orho, p["acc"])
        if ref is not None:
            gaps.append(above(p["rho_cw"], ref))
    return gaps


def curve_outside(curve, other):
    """Fig. 5: is `curve` outside `other` where they overlap? (wins, compared) over
    the points of `curve_gaps`."""
    gaps = curve_gaps(curve, other)
    return sum(g > 0 for g in gaps), len(gaps)


def attack_gaps(points, other):
    """Fig. 3: at each PGN-attack point, `other`'s accuracy interpolated at its mean
    L2 minus its own."""
    gaps = []
    for p in points:
        ref = _interp([q["mean_l2"] for q in other], [q["acc"] for q in other],
                      p["mean_l2"])
        if ref is not None:
            gaps.append(above(ref, p["acc"]))
    return gaps


def attack_stronger(points, other):
    """Fig. 3: at each PGN-attack point, is its accuracy below `other`'s at that L2?
    (wins, compared) over the points of `attack_gaps`."""
    gaps = attack_gaps(points, other)
    return sum(g > 0 for g in gaps), len(gaps)


def _all_won(gaps):
    """{comparison: its worst gap} over the comparisons that had a point; None (not
    testable) when one had none and every other held, since a comparison that
    fails at a point fails the claim whatever the untestable one would say."""
    measured = {k: worst(g) for k, g in gaps.items() if g}
    if len(measured) < len(gaps) and all(map(supports, measured.values())):
        return None
    return measured


def claims(results):
    """[Claim] of the paper."""
    s = results["study"]
    base = [v for v in results["models"].values() if v["width"] == s["width"]]
    curves = {m: sorted((v for v in base if v["method"] == m), key=lambda v: v["acc"])
              for m in ("fgm_at", "pgd_at", "pgn")}
    gaps = {o: curve_gaps(curves["pgn"], curves[o]) for o in ("fgm_at", "pgd_at")}
    out = [make_claim(PAPER, "curve_outside_at",
                      ours=", ".join(f"outside {o} at {sum(g > 0 for g in gs)} of "
                                     f"{len(gs)} points" for o, gs in gaps.items()),
                      margins=_all_won({f"PGN - {o} rho_cw, worst point": gs
                                        for o, gs in gaps.items()}))]
    speed = results["speed"]
    pgn_ips, pgd_ips = speed.get("pgn"), speed.get("pgd_at")
    out.append(make_claim(
        PAPER, "trains_faster_than_pgd_at",
        ours=None if not (pgn_ips and pgd_ips) else
        f"{pgn_ips / pgd_ips:.2f}x (" + ", ".join(f"{m} {v:.0f}" for m, v in speed.items())
        + f" images/s, {timing_text(s.get('timing_steps', 10), s.get('timing_rounds'))})",
        margins=None if not (pgn_ips and pgd_ips) else
        {"PGN / PGD-AT images/s - 1.1": above(pgn_ips, FASTER * pgd_ips) / pgd_ips}))
    fgm = {f"FGM on {clf}": attack_gaps(res["pgn"], res["fgm"])
           for clf, res in results["fig3"].items()}
    out.append(make_claim(PAPER, "generator_beats_fgm",
                          ours=", ".join(f"below {k} at {sum(g > 0 for g in gs)} of {len(gs)}"
                                         for k, gs in fgm.items()) or None,
                          margins=_all_won({f"{k} - PGN attack accuracy, worst point": gs
                                            for k, gs in fgm.items()}) if fgm else None))
    wide = [v for v in results["models"].values()
            if v["method"] == "pgn" and v["width"] != s["width"]]
    # Fig. 5 (right) compares curves, not models of one c_L: a wider model may trade
    # accuracy for rho_cw along the curve and still lie right of the narrower one.
    wide_gaps = curve_gaps(wide, curves["pgn"])
    out.append(make_claim(
        PAPER, "wider_moves_curve_right",
        ours=(f"right of the narrower curve at {sum(g > 0 for g in wide_gaps)} of "
              f"{len(wide_gaps)} wider points in or above its accuracy range")
        if wide else None,
        margins=({"wider - narrower curve's rho_cw, worst point": worst(wide_gaps)}
                 if wide_gaps else None)))
    f2 = results["fig2"]
    margins = text = None
    if len(f2["epoch"]) >= 2 and None not in f2["rho_cw"]:
        acc_slope = float(np.polyfit(f2["epoch"], f2["acc"], 1)[0])
        rho_slope = float(np.polyfit(f2["epoch"], f2["rho_cw"], 1)[0])
        margins = {"accuracy slope (per epoch)": above(acc_slope, 0.0),
                   "-rho_cw slope (per epoch)": above(0.0, rho_slope)}
        text = f"accuracy {acc_slope:+.4f}, rho_cw {rho_slope:+.4f} per epoch"
    out.append(make_claim(PAPER, "fgm_at_overfits", ours=text, margins=margins))
    return out
