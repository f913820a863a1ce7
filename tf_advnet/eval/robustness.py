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
from tf_advnet.eval.batching import map_batches, map_batches_distributed
from tf_advnet.utils.compiled import per_model


def as_model_fn(model, strategy=None):
    """Logits callable for a Keras model, in inference mode (BN uses moving stats).

    With a strategy of several replicas (`strategy`, else the one in scope), a Keras
    model whose weights live on one device is first copied into the strategy
    (`replicated`): a replica runs its attack as one graph on its own device, and
    that graph cannot read a variable of another device.
    """
    if isinstance(model, InferenceFn):
        return model
    if hasattr(model, "predict_on_batch") or hasattr(model, "layers"):
        model = replicated(model, strategy)
        fn = vars(model).get(_FN_ATTR)
        if fn is None:
            fn = InferenceFn(model)
            # Kept on the model (a cycle the garbage collector frees with it), so
            # the callable lives exactly as long as the model does.
            object.__setattr__(model, _FN_ATTR, fn)
        return fn
    return model


_FN_ATTR = "_tf_advnet_inference_fn"


class InferenceFn:
    """`model(x, training=False)` as a logits callable (what `as_model_fn` returns).

    `as_model_fn` returns one per model for the model's lifetime: tf.function keys a
    Python argument by a weak reference to that very object, so a fresh callable
    per call (a lambda) traced every compiled attack and `predict` again for each
    call on the same model.
    """

    __slots__ = ("model", "__weakref__")

    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        return self.model(x, training=False)


def replicated(model, strategy=None):
    """`model`, or a copy with the same weights whose variables are mirrored on every
    replica of `strategy` (None: the one in scope) when it has several replicas
    and the model was not built in its scope.

    Raises:
      UserError: a model that `keras.models.clone_model` cannot copy (a subclassed
        model): build it inside `strategy.scope()` instead.
    """
    import keras

    from tf_advnet.errors import UserError

    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1 or not model.weights or all(
            isinstance(w.value, tf.distribute.DistributedValues) for w in model.weights):
        return model
    with strategy.scope():
        try:
            copy = keras.models.clone_model(model)
        except Exception as e:  # clone_model raises several types for subclasses
            raise UserError(
                f"cannot copy model {model.name!r} onto the {strategy.num_replicas_in_sync} "
                f"replicas of {type(strategy).__name__} ({type(e).__name__}); build or "
                "load it inside strategy.scope()") from None
        copy.set_weights(model.get_weights())
    return copy


@per_model(reduce_retracing=True)
def _argmax(model_fn, x):
    # One graph per model: a study that predicts with the same model many times
    # (L2L-DA's ~160 table cells, DeepDefense's per-epoch curves) traces it once,
    # and after the second call (the last, short batch) one trace serves every size.
    return tf.argmax(model_fn(x), axis=-1)


def predict(model_fn, x, batch_size=256):
    """Predicted labels (int64) of `model_fn` on array x."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and x.dtype != np.float32:
        x = x.astype(np.float32)  # float64 arrays (numpy arithmetic) would trace again
    return map_batches(_argmax.for_model(model_fn), x,
                       batch_size=batch_size).astype(np.int64)


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


def run_attack(attack, model_fn, x, y, *, batch_size=256, seed=0, strategy=None):
    """Runs one `Attack` over an array in batches; returns x_adv (numpy).

    Batches get distinct seeds derived from `seed`, so a run is reproducible and
    batches do not share random starts.

    With a strategy of several replicas (`strategy`, else the one in scope), each
    batch is split over the replicas (`batching.map_batches_distributed`): the
    same x_adv for a deterministic attack; a randomised one draws its starts per
    shard (reproducible for a given number of replicas).
    """
    def batch_seed(b):
        return None if seed is None else seed * 100003 + b

    x_adv = map_batches_distributed(_replica_attack(attack, model_fn, strategy), x, y,
                                    batch_size=batch_size, strategy=strategy,
                                    batch_seed=batch_seed)
    if attack.family in ("cw", "deepfool") and attack.eps is not None:
        # A minimal-perturbation attack given a budget: a success larger than the
        # budget does not count, so the example keeps its clean image.
        l2, linf = per_example_norms(x_adv - x)
        size = l2 if attack.norm == "2" else linf
        x_adv = np.where((size > attack.eps + 1e-6)[:, None, None, None], x, x_adv)
    return x_adv


# One compiled per-replica attack per (logits callable, attack) under a strategy of
# several replicas: `strategy.run` reuses a tf.function's trace, and the ensemble
# evaluator calls run_attack once per batch.
_REPLICA_FNS = weakref.WeakKeyDictionary()


def _replica_attack(attack, model_fn, strategy):
    """`attack` as fn(x, y, seed): plain on one replica, else a cached tf.function."""
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return lambda xb, yb, s: attack(model_fn, xb, yb, s)
    try:
        per_model = _REPLICA_FNS.setdefault(model_fn, {})
    except TypeError:  # not weak-referenceable: compile for this call only
        return tf.function(lambda xb, yb, s: attack(model_fn, xb, yb, s), autograph=False)
    hit = per_model.get(id(attack))
    if hit is None or hit[0] is not attack:
        # The graph holds model_fn weakly, so the cache entry dies with it.
        ref = weakref.ref(model_fn)
        hit = (attack, tf.function(lambda xb, yb, s: attack(ref(), xb, yb, s),
                                   autograph=False))
        per_model[id(attack)] = hit
    return hit[1]


def evaluate_attacks(model, x, y, attacks, *, batch_size=256, seed=0,
                     progress=None, strategy=None):
    """Clean accuracy, accuracy under each attack, and the per-example worst case.

    Args:
      model: Keras model or logits callable.
      x: float32 images in [0, 1], NHWC.
      y: int labels.
      attacks: list of `tf_advnet.attacks.registry.Attack`.
      batch_size: attack batch size.
      seed: base seed for random starts.
      progress: optional callable(str) for progress lines.
      strategy: a `tf.distribute.Strategy` whose replicas share each attack batch
        (None: the one in scope; see `run_attack`).

    Returns:
      dict with "n", "clean_acc", "attacks" (spec -> metrics), "worst_case_acc",
      "worst_case_over" (specs that entered it).
    """
    check_finite(x, "x")
    model_fn = as_model_fn(model, strategy)
    y = np.asarray(y, np.int64)
    clean_pred = predict(model_fn, x, batch_size)
    correct = clean_pred == y
    robust = correct.copy()
    out = {"n": int(len(x)), "clean_acc": float(correct.mean()), "attacks": {}}
    worst_over = []
    for attack in attacks:
        t0 = time.time()
        x_adv = run_attack(attack, model_fn, x, y, batch_size=batch_size, seed=seed,
                           strategy=strategy)
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
