"""The PGN submission's claims (Table 2, Figs. 2, 3, 5), answered from the results dict
of `tf_advnet.papers.pgn.pipeline.reproduce`; the paper's statements and numbers are in
paper_values.json beside this file."""

import os

import numpy as np

from tf_advnet.papers._study import make_claim, paper_values

PAPER = paper_values(os.path.dirname(__file__))
# Back-to-back timings on a shared CPU move by several percent from run to run.
FASTER = 1.1


def _interp(xs, ys, at):
    """Linear interpolation of the curve (xs, ys) at `at`; None outside its range."""
    order = np.argsort(xs)
    xs, ys = np.asarray(xs, float)[order], np.asarray(ys, float)[order]
    if len(xs) == 0 or at < xs[0] or at > xs[-1]:
        return None
    return float(np.interp(at, xs, ys))


def curve_outside(curve, other):
    """Fig. 5: is `curve` (points with acc, rho_cw) outside `other` where they overlap?

    Returns (wins, compared): at each point of `curve` whose accuracy lies in
    `other`'s range, `other`'s rho_cw interpolated at that accuracy is compared.
    """
    oa = [p["acc"] for p in other if p["rho_cw"] is not None]
    orho = [p["rho_cw"] for p in other if p["rho_cw"] is not None]
    wins = compared = 0
    for p in curve:
        ref = _interp(oa, orho, p["acc"]) if p["rho_cw"] is not None else None
        if ref is not None:
            compared += 1
            wins += p["rho_cw"] > ref
    return wins, compared


def attack_stronger(points, other):
    """Fig. 3: at each PGN-attack point, is its accuracy below `other`'s at that L2?"""
    wins = compared = 0
    for p in points:
        ref = _interp([q["mean_l2"] for q in other], [q["acc"] for q in other],
                      p["mean_l2"])
        if ref is not None:
            compared += 1
            wins += p["acc"] < ref
    return wins, compared


def _all_won(counts):
    """None (not testable: no overlap) when a comparison had no point, else all won."""
    return None if any(n == 0 for _, n in counts) else all(w == n for w, n in counts)


def claims(results):
    """[Claim] of the paper."""
    s = results["study"]
    base = [v for v in results["models"].values() if v["width"] == s["width"]]
    curves = {m: sorted((v for v in base if v["method"] == m), key=lambda v: v["acc"])
              for m in ("fgm_at", "pgd_at", "pgn")}
    counts = {o: curve_outside(curves["pgn"], curves[o]) for o in ("fgm_at", "pgd_at")}
    out = [make_claim(PAPER, "curve_outside_at",
                      ours=", ".join(f"outside {o} at {w} of {n} points"
                                     for o, (w, n) in counts.items()),
                      held=_all_won(counts.values()))]
    speed = results["speed"]
    pgn_ips, pgd_ips = speed.get("pgn"), speed.get("pgd_at")
    out.append(make_claim(
        PAPER, "trains_faster_than_pgd_at",
        ours=None if not (pgn_ips and pgd_ips) else
        f"{pgn_ips / pgd_ips:.2f}x (" + ", ".join(f"{m} {v:.0f}" for m, v in speed.items())
        + " images/s, back to back)",
        held=None if not (pgn_ips and pgd_ips) else pgn_ips > FASTER * pgd_ips))
    strong = {}
    for clf, res in results["fig3"].items():
        for other in ("fgm", "pgd"):
            strong[f"{other.upper()} on {clf}"] = attack_stronger(res["pgn"], res[other])
    fgm = {k: v for k, v in strong.items() if k.startswith("FGM")}
    out.append(make_claim(PAPER, "generator_beats_fgm",
                          ours=", ".join(f"below {k} at {w} of {n}" for k, (w, n) in fgm.items())
                          or None,
                          held=_all_won(fgm.values()) if fgm else None))
    wide = [v for v in results["models"].values()
            if v["method"] == "pgn" and v["width"] != s["width"]]
    narrow = {v["value"]: v for v in base if v["method"] == "pgn"}
    pairs = [(v, narrow[v["value"]]) for v in wide if v["value"] in narrow
             and v["rho_cw"] is not None and narrow[v["value"]]["rho_cw"] is not None]
    right = sum(w["rho_cw"] > n["rho_cw"] and w["acc"] >= n["acc"] for w, n in pairs)
    out.append(make_claim(PAPER, "wider_moves_curve_right",
                          ours=f"{right} of {len(pairs)} c_L values" if pairs else None,
                          held=right == len(pairs) if pairs else None))
    f2 = results["fig2"]
    held = text = None
    if len(f2["epoch"]) >= 2 and None not in f2["rho_cw"]:
        acc_slope = float(np.polyfit(f2["epoch"], f2["acc"], 1)[0])
        rho_slope = float(np.polyfit(f2["epoch"], f2["rho_cw"], 1)[0])
        held = acc_slope > 0 > rho_slope
        text = f"accuracy {acc_slope:+.4f}, rho_cw {rho_slope:+.4f} per epoch"
    out.append(make_claim(PAPER, "fgm_at_overfits", ours=text, held=held))
    return out
