"""Benign-accuracy matching before comparing robustness (PGN paper, Sec. 4.2).

Lee, Han & Lee (ICLR 2020 submission, https://openreview.net/forum?id=S1xXiREKDB)
note that the C&W distortion rho_cw (Eq. 6) grows as benign accuracy falls, so
defences are compared at matched benign accuracy: each method is trained for
several values of its hyper-parameter (eps for FGM/PGD-AT, c_L for PGN) and the
model whose clean accuracy is closest to a target (Table 2: the undefended
baseline's) is kept. `match_benign_accuracy` makes that choice for one method,
`pick_per_method` for several.

Ties (two candidates equally far from the target) go to the one with the
HIGHER accuracy: since rho_cw rises as accuracy falls, the lower-accuracy
candidate would flatter the method's robustness; preferring the higher one
keeps the comparison conservative. Exact duplicates keep the first in the
mapping's order.

Example:
    best = match_benign_accuracy({20.0: 0.70, 50.0: 0.66, 70.0: 0.63}, 0.655)  # 50.0
"""

import math

from tf_advnet.errors import UserError

ACC_KEYS = ("acc", "clean_acc")


def _accuracy(value, key):
    """The accuracy of one candidate: a number or a dict with "acc"/"clean_acc"."""
    if isinstance(value, dict):
        for k in ACC_KEYS:
            if k in value:
                value = value[k]
                break
        else:
            raise UserError(f"candidate {key!r} has no accuracy; expected a number or "
                            "a dict with one of the keys: " + ", ".join(ACC_KEYS))
    try:
        acc = float(value)
    except (TypeError, ValueError):
        acc = math.nan
    if not math.isfinite(acc):
        raise UserError(f"candidate {key!r} has accuracy {value!r}; expected a finite "
                        "number")
    return acc


def match_benign_accuracy(candidates, target_acc, *, tolerance=None):
    """The hyper-parameter value whose clean accuracy is closest to `target_acc`.

    Args:
      candidates: mapping hyper-parameter value -> clean accuracy, or -> dict
        holding it under "acc" (or "clean_acc"). Accuracies and the target must
        share units (fractions or percent).
      target_acc: the accuracy to match (e.g. the undefended baseline's).
      tolerance: if set, the largest allowed |accuracy - target|.

    Returns:
      The key of the chosen candidate (ties: the higher accuracy, see above).

    Raises:
      UserError: one line, for no candidates, a malformed accuracy, or no
        candidate within `tolerance`.
    """
    if not candidates:
        raise UserError("no candidates to match the benign accuracy against")
    target = float(target_acc)
    best_key, best = None, None
    for key, value in candidates.items():
        acc = _accuracy(value, key)
        rank = (abs(acc - target), -acc)  # nearer first, then higher accuracy
        if best is None or rank < best:
            best_key, best = key, rank
    if tolerance is not None and best[0] > float(tolerance):
        raise UserError(
            f"no candidate within tolerance={tolerance} of target accuracy {target}: "
            f"the closest ({best_key!r}, accuracy {-best[1]}) is {best[0]:.4g} away")
    return best_key


def pick_per_method(results_by_method, target_acc, *, tolerance=None):
    """`match_benign_accuracy` for each method.

    Args:
      results_by_method: mapping method name -> candidates (as above).
      target_acc: the common target accuracy.
      tolerance: as in `match_benign_accuracy`.

    Returns:
      dict method -> chosen hyper-parameter value.

    Raises:
      UserError: as `match_benign_accuracy`, naming the method.
    """
    chosen = {}
    for method, candidates in results_by_method.items():
        try:
            chosen[method] = match_benign_accuracy(candidates, target_acc,
                                                   tolerance=tolerance)
        except UserError as err:
            raise UserError(f"{method}: {err}") from None
    return chosen
