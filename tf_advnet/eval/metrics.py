"""Perturbation-size metrics of the papers.

- `rho_2`: DeepDefense Eq. (7), mean over the test set of ||Delta||_2 / ||x||_2 of
  DeepFool started from the predicted label (misclassified images included).
- `fgs_eps_at_error`: the FGS eps at which a given fraction (50%) of test images is
  misclassified; with it, `rho_inf` (DeepDefense Eq. (8)) = mean eps / ||x||_inf,
  and `eps_ref` of DeepDefense Sec. 4.1.
- `accuracy_at_eps_ref`: FGS accuracy at 0.2 / 0.5 / 1.0 x eps_ref.
- `rho_cw`: PGN paper Eq. (6): mean (and median) L2 of successful C&W-L2 examples.

Images are in [0, 1]; the papers measured norms in their own preprocessed units
(DeepDefense: mean-subtracted / ZCA-whitened), so absolute values differ from theirs.
"""

import numpy as np
import tensorflow as tf

from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.robustness import (as_model_fn, per_example_norms, predict,
                                       success_l2)


def rho_2(model, x, *, max_iter=50, overshoot=0.02, batch_size=256,
          clip=False):
    """DeepDefense Eq. (7): mean ||Delta_k||_2 / ||x_k||_2 under DeepFool.

    DeepFool starts from the model's predicted label, and every test image counts,
    misclassified ones included, as in the paper. `clip=False` keeps DeepFool's
    unclipped Delta, as DeepDefense does.

    Returns:
      dict with rho_2, fooled_rate and the per-example ratios' median.
    """
    from tf_advnet.attacks.deepfool import deepfool

    model_fn = as_model_fn(model)
    bounds = {} if clip else {"clip_min": None, "clip_max": None}

    def fn(xb):
        r = deepfool(model_fn, xb, None, norm="2", overshoot=overshoot,
                     max_iter=max_iter, **bounds)
        return r.norms, tf.cast(r.fooled, tf.float32)

    norms, fooled = map_batches(fn, x, batch_size=batch_size)
    x_norm = np.linalg.norm(x.reshape(len(x), -1), axis=1)
    ratio = norms / np.maximum(x_norm, 1e-12)
    return {"rho_2": float(ratio.mean()), "median": float(np.median(ratio)),
            "fooled_rate": float(fooled.mean()), "max_iter": max_iter,
            "overshoot": overshoot}


def fgs_error_rate(model, x, y, eps, *, batch_size=256):
    """Fraction of images misclassified after FGS (true label) with budget eps."""
    from tf_advnet.attacks.fgsm import fgsm

    model_fn = as_model_fn(model)
    x_adv = map_batches(lambda xb, yb: fgsm(model_fn, xb, yb, eps=float(eps)), x, y,
                        batch_size=batch_size)
    return float((predict(model_fn, x_adv, batch_size) != y).mean())


def fgs_eps_at_error(model, x, y, *, target=0.5, low=0.0, high=1.0, iters=12,
                     batch_size=256):
    """Smallest FGS eps with error rate >= target, by bisection.

    One eps per model, as DeepDefense's text implies (Sec. 4.1; the per-sample
    reading is left open in its code). Returns None if even `high` misses target.
    """
    if fgs_error_rate(model, x, y, high, batch_size=batch_size) < target:
        return None
    if fgs_error_rate(model, x, y, low, batch_size=batch_size) >= target:
        return low
    for _ in range(iters):
        mid = 0.5 * (low + high)
        if fgs_error_rate(model, x, y, mid, batch_size=batch_size) >= target:
            high = mid
        else:
            low = mid
    return high


def rho_inf(model, x, y, **kwargs):
    """DeepDefense Eq. (8): mean ||Delta||_inf / ||x||_inf with the 50%-error FGS eps."""
    eps = fgs_eps_at_error(model, x, y, **kwargs)
    if eps is None:
        return {"rho_inf": None, "eps": None}
    x_inf = np.abs(x.reshape(len(x), -1)).max(axis=1)
    return {"rho_inf": float((eps / np.maximum(x_inf, 1e-12)).mean()), "eps": eps}


def accuracy_at_eps_ref(model, x, y, eps_ref, *, factors=(0.2, 0.5, 1.0),
                        batch_size=256):
    """FGS accuracy at factor x eps_ref (DeepDefense Sec. 4.1, Table 1)."""
    return {f"{f:g}": 1.0 - fgs_error_rate(model, x, y, f * eps_ref,
                                           batch_size=batch_size)
            for f in factors}


def rho_cw(model, x, y, *, max_iterations=100, binary_search_steps=5,
           batch_size=128, **cw_kwargs):
    """PGN paper Eq. (6): rho over the examples C&W-L2 misclassifies.

    Success is "prediction differs from the true label", so a clean-misclassified
    image counts at distance ~0, as in the official evaluation (cleverhans returns
    the input where it fails). Both mean and median are reported.
    """
    from tf_advnet.attacks.cw import carlini_wagner_l2

    model_fn = as_model_fn(model)
    x_adv = map_batches(
        lambda xb, yb: carlini_wagner_l2(
            model_fn, xb, yb, max_iterations=max_iterations,
            binary_search_steps=binary_search_steps, **cw_kwargs),
        x, y, batch_size=batch_size)
    success = predict(model_fn, x_adv, batch_size) != y
    l2, _ = per_example_norms(x_adv - x)
    mean, median = success_l2(l2, success)
    return {
        "rho_cw_mean": mean,
        "rho_cw_median": median,
        "success_rate": float(success.mean()),
        "max_iterations": max_iterations,
        "binary_search_steps": binary_search_steps,
    }
