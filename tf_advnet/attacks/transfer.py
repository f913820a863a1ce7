"""Black-box transfer attacks: craft on surrogate models, evaluate on targets.

The protocol of Wang & Yu (ICLR 2019) §4.1, BAT (ICCV 2019) Table 7 and
L2L-DA (ICCV 2019) Table 3: adversarial examples are crafted with white-box
attacks on independently trained *surrogate* models and then fed to the
*target* models; the metric is the targets' accuracy on them,

    acc(T, S, A) = mean_i [argmax T(A(S, x_i, y_i)) == y_i].

Components:

- `craft`: runs one attack on one surrogate over a whole array, in batches.
- `transfer_matrix`: crafts once per (surrogate, attack) pair and evaluates
  every target on every crafted set, plus the clean accuracy of every
  target; returns a plain JSON-serialisable dict.

An attack is any callable `attack(model_fn, x_batch, y_batch) -> x_adv`
(tensor or array). Bind hyper-parameters with a lambda or `functools.partial`,
e.g. `lambda m, x, y: deepfool(m, x, y).x_adv` for DeepFool, whose result is
a named tuple.

Example:

```python
res = transfer_matrix(
    surrogates={"A'": lambda x: a2(x, training=False)},
    attacks={"fgs": lambda m, x, y: fgm(m, x, y, eps=8 / 255, norm="inf")},
    targets={"A": lambda x: a(x, training=False)},
    x=x_test, y=y_test)
res["transfer"]["A"]["A'/fgs"]  # accuracy of A on FGS examples from A'
```

Crafting calls `attack` with the same `model_fn` object for every batch, so
attacks that cache compiled graphs per `model_fn` trace once per surrogate.
"""

import numpy as np
import tensorflow as tf

from tf_advnet.eval import batching

_SEP = "/"


def _check_batch_size(batch_size):
    if (isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size <= 0):
        raise ValueError(
            f"Invalid value for argument `batch_size`: expected an int > 0. "
            f"Received: batch_size={batch_size!r}")


def _check_models(name, models):
    if not isinstance(models, dict) or not models:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a non-empty dict "
            f"of name -> callable. Received: {name}={models!r}")
    for key, fn in models.items():
        if not isinstance(key, str) or not key or _SEP in key:
            raise ValueError(
                f"Invalid value for argument `{name}`: names must be "
                f"non-empty strings without {_SEP!r}. Received: name {key!r}")
        if not callable(fn):
            raise ValueError(
                f"Invalid value for argument `{name}`: {key!r} is not "
                f"callable. Received: {fn!r}")


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim == 2:
        y = np.argmax(y, axis=-1)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(
            f"Invalid value for argument `y`: expected {n} labels (shape "
            f"({n},) or one-hot ({n}, K)). Received: y with shape {y.shape}")
    return y.astype(np.int64)


def craft(surrogate_fn, attack, x, y, *, batch_size=256):
    """Runs `attack(surrogate_fn, x_batch, y_batch)` over `x` in batches.

    Args:
      surrogate_fn: logits callable of the surrogate model.
      attack: callable `attack(model_fn, x, y) -> x_adv` on one batch.
      x: array (N, ...) of images.
      y: labels (N,) or one-hot (N, K) passed to the attack; None passes
        `None` (attacks then use the surrogate's predictions).
      batch_size: positive int.

    Returns:
      A float32 numpy array like `x` of adversarial images.

    Raises:
      ValueError: for a bad `batch_size`, a non-callable `attack`, or
        mismatched `x` and `y`.
    """
    _check_batch_size(batch_size)
    if not callable(attack):
        raise ValueError(
            f"Invalid value for argument `attack`: expected a callable "
            f"attack(model_fn, x, y). Received: attack={attack!r}")
    x = np.asarray(x, dtype=np.float32)
    if y is None:
        def fn(xb):
            return attack(surrogate_fn, xb, None)
        x_adv = batching.map_batches(fn, x, batch_size=batch_size)
    else:
        y = _labels(y, len(x))

        def fn(xb, yb):
            return attack(surrogate_fn, xb, yb)
        x_adv = batching.map_batches(fn, x, y, batch_size=batch_size)
    x_adv = np.asarray(x_adv, dtype=np.float32)
    if x_adv.shape != x.shape:
        raise ValueError(
            f"Invalid value for argument `attack`: it returned shape "
            f"{x_adv.shape} for inputs of shape {x.shape}")
    return x_adv


def _accuracy(model_fn, x, y, batch_size):
    """Top-1 accuracy of `model_fn` on (x, y), as a Python float."""
    def predict(xb):
        return tf.argmax(model_fn(xb), axis=-1)
    pred = batching.map_batches(predict, x, batch_size=batch_size)
    return float(np.mean(pred == y))


def transfer_matrix(surrogates, attacks, targets, x, y, *, batch_size=256):
    """Accuracy of every target on examples crafted on every surrogate.

    Each (surrogate, attack) pair is crafted exactly once and the crafted
    set is evaluated on all targets. A surrogate may also be a target: its
    entry is then the white-box accuracy.

    Args:
      surrogates: dict name -> logits callable (models the attacker owns).
      attacks: dict name -> `attack(model_fn, x, y) -> x_adv`.
      targets: dict name -> logits callable (models under evaluation).
      x: array (N, ...) of clean images.
      y: true labels (N,) or one-hot (N, K); used both by the attacks and
        for the accuracies.
      batch_size: positive int, for crafting and for evaluation.

    Returns:
      `{"clean": {target: acc}, "transfer": {target: {"surrogate/attack":
      acc}}}` with Python floats in [0, 1] (JSON-serialisable).

    Raises:
      ValueError: for empty or badly named dicts (names must not contain
        '/'), a bad `batch_size`, or mismatched `x` and `y`.
    """
    _check_models("surrogates", surrogates)
    _check_models("attacks", attacks)
    _check_models("targets", targets)
    _check_batch_size(batch_size)
    x = np.asarray(x, dtype=np.float32)
    y = _labels(y, len(x))

    result = {
        "clean": {t: _accuracy(fn, x, y, batch_size)
                  for t, fn in targets.items()},
        "transfer": {t: {} for t in targets},
    }
    for s_name, s_fn in surrogates.items():
        for a_name, attack in attacks.items():
            x_adv = craft(s_fn, attack, x, y, batch_size=batch_size)
            key = f"{s_name}{_SEP}{a_name}"
            for t_name, t_fn in targets.items():
                result["transfer"][t_name][key] = _accuracy(
                    t_fn, x_adv, y, batch_size)
    return result
