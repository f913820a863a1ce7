"""DeepDefense (Yan et al., NeurIPS 2018) reproduction pieces: baselines and metrics.

- `make_deepfool_training_set`: the DeepFool adversarial-training baseline's data --
  DeepFool examples generated once, offline, from the reference model; the baseline
  fine-tunes on them only, without clean images (notes §4.5).
- `finetune_optimizer`: the fine-tuning schedule shared by DeepDefense and the
  baselines (notes §4.4): SGD, momentum 0.9, lr 5e-4 (MNIST, CIFAR-10), halved at
  0.8 * epochs; batch 100.
- `evaluate_model`: Table 1's columns with `tf_advnet.eval.metrics`: clean accuracy,
  rho_2 (DeepFool from the predicted label, unclipped), rho_inf (FGS at 50% error) and
  FGS accuracy at 0.2 / 0.5 / 1.0 eps_ref (eps_ref: the DeepDefense model's 50%-error
  FGS eps).

Not here yet: `reproduce()` (train reference -> fine-tune the three methods ->
evaluate -> results/deepdefense/<dataset>/) and `experiments/reproduce_deepdefense.py`.
"""

import math

import keras
import numpy as np

from tf_advnet.attacks.deepfool import deepfool
from tf_advnet.errors import UserError, check_range
from tf_advnet.eval import metrics
from tf_advnet.eval.batching import map_batches
from tf_advnet.eval.robustness import as_model_fn, predict

FINETUNE_BATCH = 100
FINETUNE_LR = 5e-4
FINETUNE_MOMENTUM = 0.9
LR_HALVING_AT = 0.8  # fraction of the epochs


def make_deepfool_training_set(model, x, y, *, max_iter=50, overshoot=0.02,
                               clip_min=0.0, clip_max=1.0, batch_size=256):
    """DeepFool-perturbed copies of (x, y) from a fixed (reference) model.

    DeepFool (L2, all classes) moves each image away from its true label; images the
    model already misclassifies are kept as they are. The labels stay the true ones.

    Args:
      model: keras.Model (or logits callable) -- the reference model.
      x: (N, ...) float32 images in [clip_min, clip_max].
      y: (N,) int labels.
      max_iter, overshoot: DeepFool settings.
      clip_min, clip_max: the image box (None: unclipped).
      batch_size: images per DeepFool call.

    Returns:
      (x_adv, y): float32 numpy array like x, and y as int64.

    Raises:
      UserError: if x and y differ in length or x is empty.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64)
    if len(x) == 0 or len(x) != len(y):
        raise UserError(f"make_deepfool_training_set: x has {len(x)} images but y has "
                        f"{len(y)} labels (need the same, non-zero number)")
    model_fn = as_model_fn(model)
    x_adv = map_batches(
        lambda xb, yb: deepfool(model_fn, xb, yb, max_iter=max_iter, overshoot=overshoot,
                                clip_min=clip_min, clip_max=clip_max).x_adv,
        x, y, batch_size=batch_size)
    return np.asarray(x_adv, np.float32), y


def finetune_schedule(epochs, steps_per_epoch, *, learning_rate=FINETUNE_LR):
    """lr until the end of epoch round(0.8 * epochs), then lr / 2 (0-based steps)."""
    check_range("epochs", epochs, 0, low_inclusive=False)
    check_range("learning_rate", learning_rate, 0.0, low_inclusive=False)
    first_halved = max(1, int(round(LR_HALVING_AT * epochs))) * int(steps_per_epoch)
    # PiecewiseConstantDecay keeps the first value up to and including the boundary.
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [first_halved - 1], [learning_rate, learning_rate * 0.5])


def finetune_optimizer(epochs, steps_per_epoch, *, learning_rate=FINETUNE_LR,
                       momentum=FINETUNE_MOMENTUM):
    """SGD(momentum 0.9) on `finetune_schedule`."""
    return keras.optimizers.SGD(
        finetune_schedule(epochs, steps_per_epoch, learning_rate=learning_rate),
        momentum=momentum)


def evaluate_model(model, x, y, *, eps_ref=None, rho_iters=50, batch_size=256):
    """Table 1's columns for one model.

    Args:
      model: keras.Model mapping images to logits.
      x, y: test images and int labels.
      eps_ref: the DeepDefense model's 50%-error FGS eps (None: this model's own, i.e.
        evaluating the DeepDefense model itself).
      rho_iters: DeepFool iterations for rho_2 (the reference code uses 5; 50 runs it
        to convergence, notes §6 item 19).

    Returns:
      dict: acc, rho_2, rho_inf, eps (this model's 50%-error FGS eps), eps_ref and
      acc_at_eps_ref {"0.2", "0.5", "1"}.
    """
    y = np.asarray(y)
    acc = float((predict(as_model_fn(model), x, batch_size) == y).mean())
    r2 = metrics.rho_2(model, x, max_iter=rho_iters, batch_size=batch_size)
    rinf = metrics.rho_inf(model, x, y, batch_size=batch_size)
    if eps_ref is None:
        eps_ref = rinf["eps"]
    at_ref = (None if eps_ref is None or not math.isfinite(eps_ref)
              else metrics.accuracy_at_eps_ref(model, x, y, eps_ref,
                                               batch_size=batch_size))
    return {"acc": acc, "rho_2": r2["rho_2"], "rho_2_fooled_rate": r2["fooled_rate"],
            "rho_inf": rinf["rho_inf"], "eps": rinf["eps"], "eps_ref": eps_ref,
            "acc_at_eps_ref": at_ref}
