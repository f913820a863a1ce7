"""Accuracy of a classifier under a list of attacks, and the per-example worst case.

`evaluate_attacks` attacks every test example with every attack (so each column is
that attack's own accuracy) and keeps a per-example "still robust" flag whose mean
over bounded attacks is the worst case ("Min" in L2L-DA's tables, but per example,
which is never higher than the minimum over columns).
"""

import time
import weakref

import numpy as np
import tensorflow as tf

from tf_advnet.data.validation import check_finite
from tf_advnet.eval.batching import map_batches


def as_model_fn(model):
    """Logits callable for a Keras model, in inference mode (BN uses moving stats)."""
    if hasattr(model, "predict_on_batch") or hasattr(model, "layers"):
        return lambda x: model(x, training=False)
    return model


# One compiled argmax per logits callable: a study that predicts with the same model
# many times (L2L-DA's ~160 table cells) would otherwise trace it on every call.
_PREDICT_FNS = weakref.WeakKeyDictionary()


def predict(model_fn, x, batch_size=256):
    """Predicted labels (int64) of `model_fn` on array x."""
    try:
        fn = _PREDICT_FNS.get(model_fn)
    except TypeError:  # not weak-referenceable: compile for this call only
        fn = tf.function(lambda xb: tf.argmax(model_fn(xb), axis=-1))
    if fn is None:
        # The graph holds model_fn weakly, so the cache entry dies with it.
        ref = weakref.ref(model_fn)
        fn = tf.function(lambda xb: tf.argmax(ref()(xb), axis=-1))
        _PREDICT_FNS[model_fn] = fn
    return map_batches(fn, x, batch_size=batch_size).astype(np.int64)


def success_l2(l2, success):
    """(mean, median) of the L2 norms `l2` over the successful examples (None, None
    if none succeeded): rho of the PGN paper's Eq. (6)."""
    if not np.any(success):
        return None, None
    return float(l2[success].mean()), float(np.median(l2[success]))


def per_example_norms(delta):
    """L2 and L-inf norms of each example of `delta` (numpy)."""
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    return np.linalg.norm(flat, axis=1), np.abs(flat).max(axis=1)


def run_attack(attack, model_fn, x, y, *, batch_size=256, seed=0):
    """Runs one `Attack` over an array in batches; returns x_adv (numpy).

    Batches get distinct seeds derived from `seed`, so a run is reproducible and
    batches do not share random starts.
    """
    counter = iter(range(10**9))

    def fn(xb, yb):
        batch_seed = None if seed is None else seed * 100003 + next(counter)
        return attack(model_fn, xb, yb, batch_seed)

    x_adv = map_batches(fn, x, y, batch_size=batch_size)
    if attack.family in ("cw", "deepfool") and attack.eps is not None:
        # A minimal-perturbation attack given a budget: a success larger than the
        # budget does not count, so the example keeps its clean image.
        l2, linf = per_example_norms(x_adv - x)
        size = l2 if attack.norm == "2" else linf
        x_adv = np.where((size > attack.eps + 1e-6)[:, None, None, None], x, x_adv)
    return x_adv


def evaluate_attacks(model, x, y, attacks, *, batch_size=256, seed=0,
                     progress=None):
    """Clean accuracy, accuracy under each attack, and the per-example worst case.

    Args:
      model: Keras model or logits callable.
      x: float32 images in [0, 1], NHWC.
      y: int labels.
      attacks: list of `tf_advnet.attacks.registry.Attack`.
      batch_size: attack batch size.
      seed: base seed for random starts.
      progress: optional callable(str) for progress lines.

    Returns:
      dict with "n", "clean_acc", "attacks" (spec -> metrics), "worst_case_acc",
      "worst_case_over" (specs that entered it).
    """
    check_finite(x, "x")
    model_fn = as_model_fn(model)
    y = np.asarray(y, np.int64)
    clean_pred = predict(model_fn, x, batch_size)
    correct = clean_pred == y
    robust = correct.copy()
    out = {"n": int(len(x)), "clean_acc": float(correct.mean()), "attacks": {}}
    worst_over = []
    for attack in attacks:
        t0 = time.time()
        x_adv = run_attack(attack, model_fn, x, y, batch_size=batch_size, seed=seed)
        adv_pred = predict(model_fn, x_adv, batch_size)
        still = (adv_pred == y) & correct
        l2, linf = per_example_norms(x_adv - x)
        success = adv_pred != y
        rec = {
            "acc": float(still.mean()),
            "family": attack.family,
            "norm": attack.norm,
            "eps": attack.eps,
            "num_steps": attack.num_steps,
            "bounded": attack.bounded,
            "mean_l2": float(l2.mean()),
            "max_linf": float(linf.max()) if len(linf) else 0.0,
            "seconds": round(time.time() - t0, 2),
        }
        if not attack.bounded:
            # rho of the PGN paper (Eq. 6): mean / median L2 over successful examples.
            rec["success_rate"] = float(success.mean())
            rec["rho_mean_l2"], rec["rho_median_l2"] = success_l2(l2, success)
        out["attacks"][attack.spec] = rec
        if attack.bounded:
            robust &= still
            worst_over.append(attack.spec)
        if progress:
            progress(f"  {attack.spec:<24s} acc {rec['acc']:.4f}  ({rec['seconds']:.1f}s)")
    out["worst_case_acc"] = float(robust.mean()) if worst_over else None
    out["worst_case_over"] = worst_over
    return out


def accuracy_vs_eps(model, x, y, attack_spec, eps_values, *, batch_size=256, seed=0,
                    norm="inf"):
    """Accuracy under `attack_spec` for each eps (for accuracy-vs-eps plots)."""
    from tf_advnet.attacks.registry import parse_attack

    model_fn = as_model_fn(model)
    accs = []
    for eps in eps_values:
        if eps == 0:
            accs.append(float((predict(model_fn, x, batch_size) == y).mean()))
            continue
        kw = {"eps": eps} if norm == "inf" else {"eps": None, "eps_l2": eps}
        attack = parse_attack(attack_spec, **kw)
        x_adv = run_attack(attack, model_fn, x, y, batch_size=batch_size, seed=seed)
        accs.append(float((predict(model_fn, x_adv, batch_size) == y).mean()))
    return accs


def accuracy_vs_steps(model, x, y, family, steps, *, eps, step_size=None,
                      batch_size=256, seed=0):
    """Accuracy under `family` (pgd or cwpgd) for each step count (BAT Fig. 1)."""
    from tf_advnet.attacks.registry import parse_attack

    model_fn = as_model_fn(model)
    accs = []
    for k in steps:
        spec = f"{family}{k}" + (f":step={step_size}" if step_size else "")
        attack = parse_attack(spec, eps=eps)
        x_adv = run_attack(attack, model_fn, x, y, batch_size=batch_size, seed=seed)
        accs.append(float((predict(model_fn, x_adv, batch_size) == y).mean()))
    return accs
