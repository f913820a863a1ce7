"""Sanity checks that flag gradient masking in a robustness evaluation.

A defence can look robust because its gradients are useless to the attack
(masked, shattered or obfuscated) rather than because it is robust. These checks
look for the tell-tale signs listed in:

- Athalye, Carlini, Wagner. "Obfuscated Gradients Give a False Sense of
  Security: Circumventing Defenses to Adversarial Examples". ICML 2018, Sec. 3.1:
  black-box attacks beating white-box ones, unbounded attacks not reaching 100%
  success, random sampling finding adversarial examples that gradient attacks
  miss, and a larger distortion bound not increasing success.
- Carlini, Athalye, Papernot, Brendel, Rauber, Tsipras, Goodfellow, Madry,
  Kurakin. "On Evaluating Adversarial Robustness". arXiv:1902.06705, 2019,
  Sec. 5 checklist: attack the logits, not the softmax probabilities
  (Carlini & Wagner, arXiv:1607.04311, showed softmax saturation hid defensive
  distillation's weakness); accuracy must fall monotonically with the budget and
  reach 0 for a large one; more iterations must not help the model; random
  noise must not beat gradient attacks; gradient-free attacks must not beat
  gradient-based ones.

How the PGD runs are set up: the eps sweep and the noise comparison use the
registry's `pgd<K>` (step 2.5 eps / K, random start, a point counts as broken if
any iterate fooled it), the strongest plain PGD. The steps check changes only the
number of steps: both runs take the same step size and the same random start, so
the longer run continues the shorter one, and it compares their LAST iterates (with
the any-iterate rule the longer run could never do worse on a deterministic model);
a longer run that ends on fewer adversarial points means PGD does not settle, the
sign of shattered or misleading gradients, not of a smaller step. The noise check is
per example: it fires when noise breaks points that PGD keeps, even if PGD breaks
as many others.

Each check returns a `Check` whose `reason` is one sentence with the numbers.
A check that fires means "look closer", not proof of masking; one that passes
is no proof of robustness.

Example:
    for check in run_checks(model, x_test, y_test, eps=8 / 255,
                            accs=evaluate_ensemble(..., standalone=True)):
        print(("FIRED " if check.fired else "ok    ") + check.name, check.reason)
"""

import dataclasses
import math
import re
import weakref

import numpy as np
import tensorflow as tf

from tf_advnet.attacks import _projections
from tf_advnet.data.validation import check_finite
from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.gradients import input_gradient_stats
from tf_advnet.eval.robustness import as_model_fn, predict, run_attack

# run_checks looks at this many examples at most, so it costs a few seconds.
MAX_EXAMPLES = 200
# logits_check: outputs look like probabilities if all lie in [-PROB_ATOL, 1 +
# PROB_ATOL] and every row sums to 1 within PROB_SUM_TOL.
PROB_ATOL = 1e-6
PROB_SUM_TOL = 1e-3
# gradient_check: an example's gradient counts as zero if max |g| <= ZERO_GRAD_ATOL
# (a plain float32 CE gradient only gets there when the softmax saturates past a
# logit margin of ~46, or when the graph is cut); the check fires above
# ZERO_GRAD_FRACTION of such examples, or on any NaN/inf gradient.
ZERO_GRAD_ATOL = 1e-20
ZERO_GRAD_FRACTION = 0.1
# Accuracy comparisons between attack runs forgive this many examples, so noise
# in random starts does not fire a check.
TOL_EXAMPLES = 2
# eps_monotone_check: the budgets tried are eps * EPS_FACTORS and large_eps, where
# PGD accuracy must be at most LARGE_EPS_MAX_ACC. The default large budget is
# LARGE_EPS_INF for L-inf (every pixel can reach mid-grey) and sqrt(d), the
# diameter of the [0, 1]^d image cube, for L2 (every image can be reached).
EPS_FACTORS = (0.5, 1.0, 2.0)
LARGE_EPS_INF = 0.5
LARGE_EPS_MAX_ACC = 0.02
# noise_check: an example counts as broken by noise if any of NOISE_SAMPLES
# uniform draws from the ball breaks it (Athalye et al.'s random sampling).
NOISE_SAMPLES = 10
# blackbox_check: a black-box accuracy this far (absolute) below the white-box one
# fires; the caller's accuracies come without example counts.
BLACKBOX_TOL = 0.01

# Spec families by the knowledge they use; "noise" is neither (see noise_check).
WHITE_BOX_FAMILIES = frozenset(
    {"fgsm", "fgm", "pgd", "cwpgd", "mim", "cw", "deepfool", "apgd", "apgdt", "apgddlr",
     "whitebox", "white"})
BLACK_BOX_FAMILIES = frozenset({"square", "transfer", "blackbox", "black"})


@dataclasses.dataclass
class Check:
    """The outcome of one check.

    Attributes:
      name: the check's name, e.g. "logits".
      fired: whether it found a sign of gradient masking.
      reason: one sentence, with the numbers, why it fired or passed (or
        "not run: ..." when its inputs were missing).
      values: the numbers behind the decision.
    """

    name: str
    fired: bool
    reason: str
    values: dict


def run_checks(model, x, y, *, eps, norm="inf", accs=None, seed=0, batch_size=256,
               progress=None, large_eps=None, pgd_steps=(10, 100)):
    """Runs every check on up to MAX_EXAMPLES examples of (x, y).

    Args:
      model: Keras classifier (outputting logits) or logits callable.
      x: float32 images in [0, 1], NHWC.
      y: int labels.
      eps: the evaluation's budget, in the norm `norm`.
      norm: "inf" or "2".
      accs: optional accuracies for `blackbox_check`: a dict name -> accuracy, or
        the result of `evaluate_ensemble(..., standalone=True)` or
        `evaluate_attacks` (their per-attack "acc"s are used).
      seed: seeds the subset and the random starts.
      batch_size: attack batch size.
      progress: optional callable(str), called with one line per check.
      large_eps: budget at which PGD must break (almost) everything; default
        LARGE_EPS_INF for L-inf and sqrt(d) for L2.
      pgd_steps: increasing PGD step counts for `steps_check` (at the step size
        2.5 eps / pgd_steps[0]); the first is used for the eps sweep, the last to
        compare with noise.

    Returns:
      list of `Check`: logits, gradient, eps_monotone, steps, noise, blackbox.
    """
    check_finite(x, "x")
    _check_budget(eps, norm)
    pgd_steps = _check_steps(pgd_steps)
    x, y = _subset(np.asarray(x, np.float32), np.asarray(y, np.int64), seed)
    model_fn = _prepare(model)
    memo = {}
    kw = dict(norm=norm, seed=seed, batch_size=batch_size, memo=memo)
    checks = [
        logits_check(model_fn, x),
        gradient_check(model_fn, x, y, batch_size=batch_size),
        eps_monotone_check(model_fn, x, y, eps, large_eps, steps=pgd_steps[0], **kw),
        steps_check(model_fn, x, y, eps, pgd_steps=pgd_steps, **kw),
        noise_check(model_fn, x, y, eps, steps=pgd_steps[-1], **kw),
        blackbox_check(accs_from_results(accs) if accs is not None else None),
    ]
    for check in checks:
        if progress:
            progress(f"  [{'FIRED' if check.fired else 'ok'}] {check.name}: {check.reason}")
    return checks


# ----------------------------------------------------------------------------
# The checks.
# ----------------------------------------------------------------------------


def logits_check(model, x):
    """Fires if the model's outputs look like probabilities rather than logits, or
    are not finite.

    CE on softmax outputs (a softmax applied twice) saturates, so gradient
    attacks stall although the model is not robust.
    """
    out = np.asarray(_prepare(model)(tf.convert_to_tensor(x[:MAX_EXAMPLES])), np.float64)
    n, k = out.shape[0], out.shape[-1]
    nonfinite = int(np.count_nonzero(~np.all(np.isfinite(out), axis=-1)))
    if nonfinite:
        # A diverged model (NaN weights): every attack "fails" on it for no reason.
        return Check("logits", True, f"the outputs are NaN or inf for {nonfinite}/{n} "
                     "examples: the model is broken (diverged training?)",
                     {"n": n, "num_outputs": k, "nonfinite": nonfinite})
    in_unit = bool(np.all((out >= -PROB_ATOL) & (out <= 1 + PROB_ATOL)))
    dev = float(np.max(np.abs(out.sum(axis=-1) - 1.0)))
    values = {"n": n, "num_outputs": k, "min": float(out.min()), "max": float(out.max()),
              "max_row_sum_deviation": dev}
    fired = k > 1 and in_unit and dev <= PROB_SUM_TOL
    if fired:
        reason = (f"all {n} output rows lie in [0, 1] and sum to 1 within {dev:.2g} "
                  f"(<= {PROB_SUM_TOL:g}): the model outputs probabilities; attack its "
                  f"logits instead")
    else:
        reason = (f"outputs range over [{values['min']:.3g}, {values['max']:.3g}] with "
                  f"row sums up to {dev:.3g} away from 1 on {n} examples: not probabilities")
    return Check("logits", fired, reason, values)


def gradient_check(model, x, y, *, batch_size=256):
    """Fires on NaN/inf input gradients of the CE loss, or on many zero ones."""
    _, g_max, finite, _ = input_gradient_stats(_prepare(model), x, y,
                                               batch_size=batch_size)
    n = len(x)
    bad = int(np.count_nonzero(~finite))
    zero = int(np.count_nonzero(finite & (g_max <= ZERO_GRAD_ATOL)))
    values = {"n": n, "nonfinite": bad, "zero": zero, "zero_fraction": zero / n,
              "median_max_abs_grad": float(np.median(g_max[finite])) if n > bad else None}
    if bad:
        return Check("gradient", True,
                     f"the CE input gradient is NaN or inf for {bad}/{n} examples", values)
    if zero / n > ZERO_GRAD_FRACTION:
        return Check("gradient", True,
                     f"the CE input gradient is zero (max |g| <= {ZERO_GRAD_ATOL:g}) for "
                     f"{zero}/{n} examples ({zero / n:.0%} > {ZERO_GRAD_FRACTION:.0%}): "
                     f"the graph is cut or the loss saturates", values)
    return Check("gradient", False,
                 f"the CE input gradient is finite for all {n} examples and zero for "
                 f"{zero}/{n} ({zero / n:.0%} <= {ZERO_GRAD_FRACTION:.0%}); median max |g| "
                 f"{values['median_max_abs_grad']:.3g}", values)


def eps_monotone_check(model, x, y, eps, large_eps=None, *, norm="inf", steps=10, seed=0,
                       batch_size=256, memo=None):
    """Fires if PGD accuracy rises with the budget, or stays above
    LARGE_EPS_MAX_ACC at `large_eps`."""
    _check_budget(eps, norm)
    large = _default_large_eps(x, norm) if large_eps is None else float(large_eps)
    budgets = sorted({float(eps) * f for f in EPS_FACTORS} | {large})
    accs = [float(_flags(model, x, y, "pgd", e, steps, norm, seed, batch_size,
                         memo).mean()) for e in budgets]
    tol = TOL_EXAMPLES / len(x)
    rises = [(a, b, ea, eb) for (a, ea), (b, eb) in
             zip(zip(accs, budgets), zip(accs[1:], budgets[1:])) if b > a + tol]
    acc_large = accs[budgets.index(large)]
    values = {"eps": budgets, "acc": accs, "large_eps": large, "steps": steps,
              "tolerance": tol}
    sweep = ", ".join(f"{a:.3f} at {e:.3g}" for a, e in zip(accs, budgets))
    if rises:
        a, b, ea, eb = rises[0]
        return Check("eps_monotone", True,
                     f"PGD-{steps} accuracy rises from {a:.3f} at eps {ea:.3g} to {b:.3f} at "
                     f"eps {eb:.3g} (tolerance {TOL_EXAMPLES} examples = {tol:.3f}); sweep: "
                     f"{sweep}", values)
    if acc_large > LARGE_EPS_MAX_ACC:
        return Check("eps_monotone", True,
                     f"PGD-{steps} accuracy is still {acc_large:.3f} (> {LARGE_EPS_MAX_ACC}) at "
                     f"the large eps {large:.3g}, where any model breaks; sweep: {sweep}",
                     values)
    return Check("eps_monotone", False,
                 f"PGD-{steps} accuracy falls with eps and reaches {acc_large:.3f} "
                 f"(<= {LARGE_EPS_MAX_ACC}) at eps {large:.3g}; sweep: {sweep}", values)


def steps_check(model, x, y, eps, *, norm="inf", pgd_steps=(10, 100), step_size=None,
                seed=0, batch_size=256, memo=None):
    """Fires if PGD with more steps, at the same step size, leaves a higher accuracy.

    Every run takes `step_size` (default 2.5 eps / pgd_steps[0], Madry et al.'s rule
    for the shortest run: eps/4 at 10 steps) and the same random start, and is
    judged at its last iterate (module docstring).
    """
    _check_budget(eps, norm)
    pgd_steps = _check_steps(pgd_steps)
    step = 2.5 * float(eps) / pgd_steps[0] if step_size is None else float(step_size)
    if not step > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    accs = [float(_flags(model, x, y, "pgd", eps, k, norm, seed, batch_size, memo,
                         step=step, any_iterate=False).mean())
            for k in pgd_steps]
    tol = TOL_EXAMPLES / len(x)
    values = {"steps": list(pgd_steps), "acc": accs, "eps": float(eps),
              "step_size": step, "rule": "last iterate", "tolerance": tol}
    sweep = ", ".join(f"{a:.3f} with {k} steps" for a, k in zip(accs, pgd_steps))
    for (a, ka), (b, kb) in zip(zip(accs, pgd_steps), zip(accs[1:], pgd_steps[1:])):
        if b > a + tol:
            return Check("steps", True,
                         f"PGD accuracy at eps {eps:.3g} (step {step:.3g}, last iterate) "
                         f"rises from {a:.3f} with {ka} steps to {b:.3f} with {kb} "
                         f"(tolerance {TOL_EXAMPLES} examples = {tol:.3f}): continuing "
                         f"PGD undoes its successes, a sign of shattered or misleading "
                         f"gradients", values)
    return Check("steps", False,
                 f"more PGD steps at step {step:.3g} do not raise the accuracy at eps "
                 f"{eps:.3g} (last iterate): {sweep}", values)


def noise_check(model, x, y, eps, *, norm="inf", steps=10, seed=0, batch_size=256,
                memo=None):
    """Fires if uniform noise in the eps-ball breaks more than TOL_EXAMPLES points
    that PGD keeps (per example, Athalye et al.'s random sampling)."""
    _check_budget(eps, norm)
    pgd_ok = _flags(model, x, y, "pgd", eps, steps, norm, seed, batch_size, memo)
    noise_ok = _flags(model, x, y, "noise", eps, NOISE_SAMPLES, norm, seed, batch_size,
                      memo)
    noise_only = int(np.count_nonzero(pgd_ok & ~noise_ok))
    pgd_acc, noise_acc = float(pgd_ok.mean()), float(noise_ok.mean())
    values = {"pgd_acc": pgd_acc, "noise_acc": noise_acc, "noise_only": noise_only,
              "n": int(len(x)), "eps": float(eps), "pgd_steps": steps,
              "noise_samples": NOISE_SAMPLES, "tolerance_examples": TOL_EXAMPLES}
    counts = (f"(accuracy: noise {noise_acc:.3f}, PGD-{steps} {pgd_acc:.3f}, at eps "
              f"{eps:.3g})")
    if noise_only > TOL_EXAMPLES:
        return Check("noise", True,
                     f"uniform noise ({NOISE_SAMPLES} draws) breaks {noise_only}/{len(x)} "
                     f"examples that PGD-{steps} keeps (> {TOL_EXAMPLES}) {counts}: the "
                     f"gradients mislead PGD there", values)
    return Check("noise", False,
                 f"uniform noise ({NOISE_SAMPLES} draws) breaks {noise_only}/{len(x)} "
                 f"examples that PGD-{steps} keeps (<= {TOL_EXAMPLES}) {counts}", values)


def blackbox_check(accs, *, tol=BLACKBOX_TOL):
    """Fires if a black-box (Square, transfer) accuracy is below the white-box one.

    Args:
      accs: dict name -> accuracy (None entries are skipped). A name is classified
        by its family: "white_box" or a white-box spec (pgd100, apgd100, cw100_inf,
        ...) is white-box; "square", "transfer", "black_box" or a spec of those
        families is black-box; others (noise) are ignored. The white-box reference
        is the lowest white-box accuracy.
      tol: allowed shortfall (absolute accuracy).
    """
    if not accs:
        return Check("blackbox", False, "not run: no attack accuracies given", {})
    kinds = {name: _kind(name) for name, acc in accs.items() if acc is not None}
    white = {n: float(accs[n]) for n, k in kinds.items() if k == "white"}
    black = {n: float(accs[n]) for n, k in kinds.items() if k == "black"}
    values = {"white_box": white, "black_box": black, "tolerance": tol}
    if not white or not black:
        missing = "white-box" if not white else "black-box (Square, transfer)"
        return Check("blackbox", False, f"not run: no {missing} accuracy given", values)
    wb_name = min(white, key=white.get)
    wb, wb_label = white[wb_name], _label("white-box", wb_name)
    worse = {n: a for n, a in black.items() if a < wb - tol}
    if worse:
        bb_name = min(worse, key=worse.get)
        return Check("blackbox", True,
                     f"{_label('black-box', bb_name)} leaves accuracy {worse[bb_name]:.3f}, "
                     f"below the {wb_label} accuracy {wb:.3f} by more than {tol:g}: "
                     f"gradients mislead the white-box attacks", values)
    best = min(black, key=black.get)
    return Check("blackbox", False,
                 f"the lowest black-box accuracy ({_label('black-box', best)} "
                 f"{black[best]:.3f}) is not below the {wb_label} accuracy {wb:.3f} by more "
                 f"than {tol:g}", values)


def accs_from_results(results):
    """name -> accuracy from an evaluate_ensemble / evaluate_attacks result (their
    per-attack "acc"), or a plain dict of accuracies returned as it is."""
    per_attack = results.get("attacks") if isinstance(results, dict) else None
    if isinstance(per_attack, dict):
        return {spec: rec.get("acc") for spec, rec in per_attack.items()}
    return dict(results)


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------

# One wrapped callable per model, so compiled attack graphs are reused across checks.
_PREPARED = weakref.WeakKeyDictionary()


def _prepare(model):
    """Logits callable whose input gradient is never None.

    A graph cut (tf.round, stop_gradient) makes tape.gradient return None, which
    crashes the attacks; adding 0 * mean(x) turns it into the zero gradient the
    checks are there to report.
    """
    if getattr(model, "_masking_prepared", False):
        return model
    try:
        cached = _PREPARED.get(model)
    except TypeError:
        cached = None
    if cached is not None:
        return cached
    model_fn = as_model_fn(model)

    def fn(x):
        logits = model_fn(x)
        axes = list(range(1, len(x.shape)))
        return logits + 0.0 * tf.reduce_mean(x, axis=axes)[:, None]

    fn._masking_prepared = True
    try:
        _PREPARED[model] = fn
    except TypeError:
        pass
    return fn


def _flags(model, x, y, kind, eps, steps, norm, seed, batch_size, memo, *, step=None,
           any_iterate=True):
    """Per example: correct and still correct under PGD-`steps` (step `step`,
    default the registry's 2.5 eps / steps; any-iterate or last-iterate rule) or
    under `steps` noise draws; memoised in `memo` so checks share runs."""
    key = (kind, float(eps), int(steps), norm) + (
        (None if step is None else float(step), bool(any_iterate)) if kind == "pgd"
        else ())
    if memo is not None and key in memo:
        return memo[key]
    model_fn = _prepare(model)
    if memo is not None and "clean" in memo:
        ok = memo["clean"].copy()
    else:  # the checks share one clean pass through the memo
        ok = predict(model_fn, x, batch_size) == y
        if memo is not None:
            memo["clean"] = ok.copy()
    if kind == "pgd":
        from tf_advnet.attacks.registry import parse_attack

        opts = [f"any={int(any_iterate)}"] + ([] if step is None else [f"step={step!r}"])
        attack = parse_attack(f"pgd{steps}" + ("_l2" if norm == "2" else "") + ":"
                              + ",".join(opts), eps=eps, eps_l2=eps)
        x_adv = run_attack(attack, model_fn, x, y, batch_size=batch_size, seed=seed)
        ok &= predict(model_fn, x_adv, batch_size) == y
    else:
        for draw in range(steps):
            ok &= predict(model_fn, _noise(x, eps, norm, seed, draw, batch_size),
                          batch_size) == y
    if memo is not None:
        memo[key] = ok
    return ok


def _noise(x, eps, norm, seed, draw, batch_size):
    """x plus one uniform draw from the eps-ball, clipped to [0, 1]."""
    counter = iter(range(10**9))

    def fn(xb):
        s = tf.constant([seed * 1000003 + draw, next(counter)], tf.int64)
        delta = _projections.random_init(tf.shape(xb), eps, norm, seed=s)
        return tf.clip_by_value(xb + delta, 0.0, 1.0)

    return map_batches(fn, x, batch_size=batch_size)


def _kind(name):
    name = name.lower().replace("-", "_")
    if name in ("white_box", "whitebox"):
        return "white"
    if name in ("black_box", "blackbox"):
        return "black"
    m = re.match(r"[a-z]+", name)
    family = m.group(0) if m else ""
    if family in WHITE_BOX_FAMILIES:
        return "white"
    if family in BLACK_BOX_FAMILIES:
        return "black"
    return None


def _label(kind, name):
    generic = name.lower().replace("-", "_") in ("white_box", "whitebox", "black_box",
                                                  "blackbox")
    return kind if generic else f"{kind} {name}"


def _default_large_eps(x, norm):
    return LARGE_EPS_INF if norm == "inf" else math.sqrt(int(np.prod(np.shape(x)[1:])))


def _subset(x, y, seed):
    """At most MAX_EXAMPLES examples, drawn without replacement (sorted), so a
    class-ordered test set still gives a mixed subset."""
    if len(x) <= MAX_EXAMPLES:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), MAX_EXAMPLES, replace=False))
    return x[idx], y[idx]


def _check_budget(eps, norm):
    if norm not in ("inf", "2"):
        raise ValueError(f"norm must be 'inf' or '2', got {norm!r}")
    if not isinstance(eps, (int, float, np.floating, np.integer)) or not eps > 0:
        raise ValueError(f"eps must be a number > 0, got {eps!r}")


def _check_steps(pgd_steps):
    steps = tuple(int(k) for k in pgd_steps)
    if not steps or any(k <= 0 for k in steps) or list(steps) != sorted(set(steps)):
        raise ValueError(f"pgd_steps must be increasing positive ints, got {pgd_steps!r}")
    return steps
