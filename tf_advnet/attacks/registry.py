"""Attack specs by name, so configs and flags stay plain strings.

A spec is `family[K][_l2|_inf][:key=value,...]`, e.g. `fgsm`, `pgd10`, `pgd100:step=eps/12`,
`pgd20_l2:eps=1.5`, `cwpgd100` (PGD on the CW margin, BAT's "CW-100"), `mim10`,
`cw100` (Carlini-Wagner L2 with 100 iterations, the PGN paper's rho_cw attack),
`cw100_inf` / `cw1000_inf` (mister_ed's L-inf Carlini-Wagner, L2L-DA's "C&W100" and
"C&W1000"), `deepfool`, `deepfool_inf`, `noise` (uniform noise in the ball; a sanity baseline),
`apgd100` / `apgddlr100` / `apgdt100` (Croce & Hein 2020: APGD on cross-entropy, APGD on the
DLR loss, and APGD-T, targeted DLR towards the top-9 other classes; `_l2` for L2),
`square1000` / `square1000_l2` (Andriushchenko et al. 2020's gradient-free Square Attack,
K = query budget per example, the init included; by default as AutoAttack calls it, p_init
0.8 and the halving points of a 10,000-iteration schedule not rescaled to K, so
`square5000` is AutoAttack's Square; `p` sets p_init, `resc=1` rescales the schedule to K).

Bounded attacks (fgsm, fgm, pgd, cwpgd, mim, noise, apgd, apgddlr, apgdt, square, fab, fabt,
and the L-inf C&W `cw<K>_inf`, which projects onto the eps-ball) stay within `eps` and
enter the per-example worst case. Minimal-perturbation attacks (L2 cw, deepfool) are unbounded:
their accuracy is reported with their perturbation sizes, and they stay out of the
worst case unless given a budget with `:eps=` (then a success larger than the budget
counts as robust).

`fab100` / `fab100_l2` and `fabt100` / `fabt100_l2`: Croce & Hein 2020's Fast Adaptive
Boundary attack (`fab.py`), K iterations per run, untargeted, or FAB-T towards the top
`targets` (default 9) other classes; a minimal-perturbation attack made bounded by
AutoAttack's check: a point counts as broken only if FAB's smallest adversarial is within
eps. `restarts` (default 1) adds runs from random starts at distance eps/2.

Iterative gradient attacks count a point as broken if ANY iterate fooled it (AutoAttack's
rule): `pgd`, `cwpgd` and `mim` default to `any=1` (`pgd(..., any_iterate=True)`: the
first fooling iterate, else the last one, or with `keep_best=1` the highest-loss one);
`any=0` returns the last iterate as the papers' own PGD code does. APGD, Square and the
L-inf C&W keep their first/best success anyway.

Options: `step` (a float or `eps/N`; PGD default 2.5*eps/K, Madry et al.'s rule, which
is eps/4 at K = 10), `restarts`, `random_start` (0/1), `keep_best` (0/1: the highest-loss
iterate, mister_ed's PGD), `any` (0/1, see above), `kappa`
(CW-margin cap; BAT uses 50), `eps` (override the budget), `decay` (MIM),
`bs` (C&W binary-search steps; default 5 for L2, 10 for L-inf), `conf` (C&W
confidence), `lr` and `const` (C&W learning rate and initial constant), `tau` and
`max_const` (L-inf C&W only: soft-L-inf threshold, default 8/255, and the cap on the
constant, default 128), `overshoot` and `max_iter` (DeepFool), `rho` (APGD checkpoint
threshold, default 0.75), `targets` (APGD-T, FAB-T: number of target classes, default 9), `p`
(Square: initial fraction of pixels per square, in (0, 1]; default 0.8, AutoAttack's; the
paper's ImageNet values are 0.05 L-inf, 0.1 L2), `resc` (Square, 0/1: rescale the halving
points to the budget K, the paper's rule; default 0, AutoAttack's `resc_schedule=False`). APGD
`restarts` rerun only the examples not fooled yet (for APGD-T: per target).
"""

import dataclasses
import re
from typing import Callable, Optional

from tf_advnet.errors import UserError

FAMILIES = ("fgsm", "fgm", "pgd", "cwpgd", "mim", "cw", "deepfool", "noise",
            "apgd", "apgddlr", "apgdt", "square", "fab", "fabt")
_APGD = {"apgd": ("ce", False), "apgddlr": ("dlr", False), "apgdt": ("dlr", True)}
_SPEC_RE = re.compile(r"^(?P<family>[a-z]+?)(?P<k>\d*)(?P<l2>_l2|_inf)?(?::(?P<opts>.*))?$")
_ALLOWED_OPTS = {
    "fgsm": {"eps"},
    "fgm": {"eps"},
    "pgd": {"eps", "step", "restarts", "random_start", "keep_best", "any"},
    "cwpgd": {"eps", "step", "restarts", "random_start", "keep_best", "any", "kappa"},
    "mim": {"eps", "step", "decay", "random_start", "any"},
    "cw": {"eps", "bs", "conf", "lr", "const"},
    "cw_inf": {"eps", "bs", "conf", "lr", "const", "tau", "max_const"},
    "deepfool": {"eps", "overshoot", "max_iter", "candidates"},
    "noise": {"eps"},
    "fab": {"eps", "restarts"},
    "fabt": {"eps", "restarts", "targets"},
    "apgd": {"eps", "restarts", "rho"},
    "apgddlr": {"eps", "restarts", "rho"},
    "apgdt": {"eps", "restarts", "rho", "targets"},
    "square": {"eps", "p", "resc"},
}
HELP = ("fgsm, fgm_l2, pgd<K>[_l2], cwpgd<K>, mim<K>, cw<K>[_inf], deepfool[_inf], noise, "
        "apgd<K>[_l2], apgddlr<K>[_l2], apgdt<K>[_l2], square<K>[_l2], fab<K>[_l2], "
        "fabt<K>[_l2] with optional ':key=value,...' (e.g. pgd100:step=eps/12,restarts=2; "
        "square<K> is AutoAttack's Square, p=0.8 with fixed halving points, resc=1 "
        "rescales them to K; pgd/cwpgd/mim count any fooling iterate, any=0 the last), "
        "or 'strong' (AutoAttack's standard version: apgd100, apgdt100, fabt100, "
        "square5000) or 'plus' (its plus version: apgd100 and apgddlr100 with 5 restarts, "
        "fab100 with 5, square5000, apgdt100, fabt100)")


@dataclasses.dataclass(frozen=True)
class Attack:
    """A resolved attack.

    Attributes:
      spec: the string it was parsed from.
      family: one of FAMILIES.
      norm: "inf" or "2".
      eps: the budget in that norm, or None for an unbounded minimal attack.
      bounded: whether its output lies in the eps-ball (enters the worst case).
      num_steps: iterations (0 where meaningless).
      fn: `fn(model_fn, x, y, seed) -> x_adv` on one batch.
    """

    spec: str
    family: str
    norm: str
    eps: Optional[float]
    bounded: bool
    num_steps: int
    fn: Callable = dataclasses.field(repr=False, compare=False)

    def __call__(self, model_fn, x, y, seed=None):
        return self.fn(model_fn, x, y, seed)


def _parse_opts(spec, family, text, eps, allowed_key=None):
    opts = {}
    if not text:
        return opts
    allowed = _ALLOWED_OPTS[allowed_key or family]
    for item in text.split(","):
        if "=" not in item:
            raise UserError(f"bad option {item!r} in {spec!r}; use key=value")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in allowed:
            raise UserError(
                f"option {key!r} is not valid for {family} in {spec!r}; "
                f"allowed: {', '.join(sorted(allowed))}")
        opts[key] = _parse_number(spec, key, value, eps)
    return opts


def _parse_number(spec, key, value, eps):
    m = re.fullmatch(r"eps/(\d+(?:\.\d+)?)", value)
    try:
        if m:
            if eps is None:
                raise UserError(f"{key}={value} in {spec!r} needs an eps")
            return eps / float(m.group(1))
        return float(value)
    except ValueError:
        raise UserError(
            f"{key}={value!r} in {spec!r} is not a number or eps/N") from None


def parse_attack(spec, *, eps, eps_l2=None):
    """Resolves one attack spec.

    Args:
      spec: attack spec string (see module docstring).
      eps: L-inf budget in [0, 1] pixel units used by L-inf attacks.
      eps_l2: L2 budget used by L2 attacks, if any.

    Returns:
      An `Attack`.

    Raises:
      UserError: unknown family, bad option, or missing budget.
    """
    # Attack modules are imported where used, so parsing a spec stays cheap.
    spec = spec.strip()
    m = _SPEC_RE.match(spec)
    if not m or m.group("family") not in FAMILIES:
        raise UserError(f"unknown attack {spec!r}; valid: {HELP}")
    family = m.group("family")
    k = int(m.group("k")) if m.group("k") else None
    norm = "2" if m.group("l2") == "_l2" else "inf"
    iterative = family in ("pgd", "cwpgd", "mim", "cw", "apgd", "apgddlr", "apgdt",
                           "square", "fab", "fabt")
    if iterative and k is None:
        raise UserError(f"{spec!r} needs a step count, e.g. {family}10")
    if not iterative and k is not None and family != "fgm":
        raise UserError(f"{family} takes no step count (got {spec!r})")
    cw_inf = family == "cw" and m.group("l2") == "_inf"
    if family in ("cwpgd", "cw", "noise", "fgsm") and m.group("l2") and not cw_inf:
        raise UserError(f"{family} has no norm suffix (got {spec!r})"
                        + ("; cw<K> is L2, cw<K>_inf is L-inf" if family == "cw" else ""))
    if (family == "cw" and not cw_inf) or (family == "fgm" and not m.group("l2")):
        norm = "2"  # C&W is L2; FGM without a suffix is the L2 fast gradient method
    if family == "deepfool":
        norm = "inf" if m.group("l2") == "_inf" else "2"
    base_eps = eps_l2 if norm == "2" else eps
    opts = _parse_opts(spec, family, m.group("opts"), base_eps,
                       allowed_key="cw_inf" if cw_inf else None)
    explicit_eps = "eps" in opts
    budget = opts.pop("eps", base_eps)
    minimal = family in ("cw", "deepfool") and not cw_inf
    if not minimal and budget is None:
        raise UserError(
            f"{spec!r} is an L2 attack and needs a budget: pass eps_l2 "
            f"or add ':eps=VALUE'")
    if budget is not None and budget < 0:
        raise UserError(f"eps must be >= 0 in {spec!r}, got {budget}")

    def _int(key, default):
        return int(opts.get(key, default))

    if family in ("fgsm", "fgm"):
        from tf_advnet.attacks.fgsm import fgm

        fgm_norm = "inf" if family == "fgsm" else norm

        def fn(model_fn, x, y, seed):
            return fgm(model_fn, x, y, eps=budget, norm=fgm_norm)
        return Attack(spec, family, fgm_norm, budget, True, 1, fn)

    if family in ("pgd", "cwpgd"):
        from tf_advnet.attacks.pgd import pgd

        step = opts.get("step", 2.5 * budget / k)
        loss = "cw" if family == "cwpgd" else "ce"
        kw = dict(eps=budget, step_size=step, num_steps=k, norm=norm, loss=loss,
                  random_start=bool(_int("random_start", 1)),
                  restarts=_int("restarts", 1), keep_best=bool(_int("keep_best", 0)),
                  any_iterate=bool(_int("any", 1)))
        if "kappa" in opts:
            kw["kappa"] = opts["kappa"]

        def fn(model_fn, x, y, seed):
            return pgd(model_fn, x, y, seed=seed, **kw)
        return Attack(spec, family, norm, budget, True, k, fn)

    if family in _APGD:
        from tf_advnet.attacks.apgd import apgd

        loss, targeted = _APGD[family]
        kw = dict(eps=budget, num_steps=k, norm=norm, loss=loss, targeted=targeted,
                  restarts=_int("restarts", 1), rho=opts.get("rho", 0.75))
        if targeted:
            kw["num_targets"] = _int("targets", 9)
        if kw["restarts"] < 1 or kw.get("num_targets", 1) < 1 or not 0 <= kw["rho"] <= 1:
            raise UserError(f"{spec!r} needs restarts >= 1, targets >= 1 and "
                            "0 <= rho <= 1")

        def fn(model_fn, x, y, seed):
            return apgd(model_fn, x, y, seed=seed, **kw)
        return Attack(spec, family, norm, budget, True, k, fn)

    if family in ("fab", "fabt"):
        from tf_advnet.attacks.fab import fab

        kw = dict(eps=budget, num_steps=k, norm=norm, targeted=family == "fabt",
                  restarts=_int("restarts", 1))
        if family == "fabt":
            kw["num_targets"] = _int("targets", 9)
        if kw["restarts"] < 1 or kw.get("num_targets", 1) < 1:
            raise UserError(f"{spec!r} needs restarts >= 1 and targets >= 1")

        def fn(model_fn, x, y, seed):
            return fab(model_fn, x, y, seed=seed, **kw)
        return Attack(spec, family, norm, budget, True, k, fn)

    if family == "mim":
        from tf_advnet.attacks.mim import mim

        step = opts.get("step", budget / k)
        kw = dict(eps=budget, step_size=step, num_steps=k, norm=norm,
                  decay=opts.get("decay", 1.0),
                  random_start=bool(_int("random_start", 0)),
                  any_iterate=bool(_int("any", 1)))

        def fn(model_fn, x, y, seed):
            return mim(model_fn, x, y, seed=seed, **kw)
        return Attack(spec, family, norm, budget, True, k, fn)

    if family == "square":
        from tf_advnet.attacks.square import square

        kw = dict(eps=budget, max_queries=k, norm=norm, p_init=opts.get("p"),
                  rescale_schedule=bool(_int("resc", 0)))
        if k < 1 or not (kw["p_init"] is None or 0 < kw["p_init"] <= 1):
            raise UserError(f"{spec!r} needs K >= 1 queries and 0 < p <= 1")

        def fn(model_fn, x, y, seed):
            return square(model_fn, x, y, seed=seed, **kw)
        return Attack(spec, family, norm, budget, True, k, fn)

    if family == "noise":
        from tf_advnet.attacks import _projections

        def fn(model_fn, x, y, seed):
            import tensorflow as tf

            delta = _projections.random_init(tf.shape(x), budget, norm, seed)
            return tf.clip_by_value(x + delta, 0.0, 1.0)
        return Attack(spec, family, norm, budget, True, 0, fn)

    if cw_inf:
        from tf_advnet.attacks.cw_linf import carlini_wagner_linf

        kw = dict(eps=budget, max_iterations=k, binary_search_steps=_int("bs", 10),
                  confidence=opts.get("conf", 0.0))
        for opt, arg in (("lr", "learning_rate"), ("const", "initial_const"),
                         ("tau", "tau"), ("max_const", "max_const")):
            if opt in opts:
                kw[arg] = opts[opt]

        def fn(model_fn, x, y, seed):
            return carlini_wagner_linf(model_fn, x, y, **kw)
        return Attack(spec, family, "inf", budget, True, k, fn)

    if family == "cw":
        from tf_advnet.attacks.cw import carlini_wagner_l2

        kw = dict(max_iterations=k, binary_search_steps=_int("bs", 5),
                  confidence=opts.get("conf", 0.0))
        if "lr" in opts:
            kw["learning_rate"] = opts["lr"]
        if "const" in opts:
            kw["initial_const"] = opts["const"]
        cw_budget = budget if explicit_eps else None

        def fn(model_fn, x, y, seed):
            return carlini_wagner_l2(model_fn, x, y, **kw)
        return Attack(spec, family, "2", cw_budget, cw_budget is not None, k, fn)

    from tf_advnet.attacks.deepfool import deepfool

    kw = dict(norm=norm, overshoot=opts.get("overshoot", 0.02),
              max_iter=_int("max_iter", 50))
    if "candidates" in opts:
        kw["num_candidates"] = _int("candidates", 10)
    df_budget = budget if explicit_eps else None

    def fn(model_fn, x, y, seed):
        return deepfool(model_fn, x, y, **kw).x_adv
    return Attack(spec, family, norm, df_budget, df_budget is not None,
                  kw["max_iter"], fn)


# Named attack lists, as AutoAttack's `set_version` (autoattack/autoattack.py, Croce &
# Hein 2020) in its order. "strong", the standard version: APGD-CE, APGD-T and FAB-T over
# 9 target classes, Square with 5,000 queries. "plus": APGD-CE and APGD-DLR with 5
# restarts, FAB with 5, Square (one run of 5,000 queries, as the code sets it), APGD-T
# and FAB-T over 9 targets.
ALIASES = {
    "strong": ("apgd100", "apgdt100:targets=9", "fabt100:targets=9", "square5000"),
    "plus": ("apgd100:restarts=5", "apgddlr100:restarts=5", "fab100:restarts=5",
             "square5000", "apgdt100:targets=9", "fabt100:targets=9"),
}


def parse_attacks(specs, *, eps, eps_l2=None):
    """Parses a comma-free list of specs (or one '+'/','-separated string); a name of
    ALIASES stands for its list."""
    if isinstance(specs, str):
        specs = split_specs(specs)
    if not specs:
        raise UserError(f"specs names no attack; valid: {HELP}")
    specs = [s for spec in specs for s in ALIASES.get(spec.strip(), (spec,))]
    return [parse_attack(s, eps=eps, eps_l2=eps_l2) for s in specs]


def split_specs(text):
    """Splits 'fgsm,pgd10:step=eps/4,restarts=2,cw100' into specs.

    A comma starts a new spec only when the next token does not look like an
    option (`key=value`), so options can be comma-separated too.
    """
    out = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if "=" in token and ":" not in token and out:
            out[-1] = out[-1] + "," + token
        else:
            out.append(token)
    return out
