"""Bilateral Adversarial Training (Wang & Zhang, ICCV 2019).

    min_theta E_(x,y) [ L(f_theta(x'), y') ],  x' in S_x(x),  y' in S_y(y)   (Eq. 10)

Both the image and the label are perturbed; the training batch holds only the
perturbed pairs (x', y') (paper Sec. 4; official code
`wjyouch/bilateral-adversarial-training`, `train.py`). Per step:

1. a clean forward pass in inference mode gives the logits z(x);
2. the adversarial image: a random start x_0 = x + U[-eps_x, eps_x] (Eq. 3; not
   clipped before the step, as BAT's code), then n sign steps of size alpha,
   towards the target class t (x <- x - alpha * sign grad CE(x, t)) for targeted
   variants or away from the true class for untargeted ones, each followed by the
   projection onto the eps_x-ball and [0, 1]. The target is the most-confusing
   class argmax_{k != y} z_k (MC, Eq. 24) or the least-likely argmin_k z_k (LL, the
   rule of Kurakin et al., Eq. 23); gradients are taken in inference mode;
3. the adversarial label from the clean probabilities (`adversarial_labels`, Eq.
   13-18; LA), label smoothing with a fixed eps_y (Eq. 15; LS) or one-hot;
4. one optimiser step on the soft-label cross-entropy CE(f(x'), y') with BN in
   training mode (+ the base class's weight decay).

Variants, as the paper names them (`variant=`; `parse_variant` lists them):

| name | image attack | random start | label |
|---|---|---|---|
| FGSM / R-FGSM | 1 untargeted step of eps_x (true label) | no / yes | one-hot |
| LL / R-LL | 1 step towards the least-likely class | no / yes | one-hot |
| MC / R-MC | 1 step towards the most-confusing class | no / yes | one-hot |
| <any of those>-LS | as above | | label smoothing, eps_y (default 0.5) |
| <any of those>-LA | as above | | label adversary, beta (default 9) |
| Madry / Madry-LS / Madry-LA | PGD, 7 untargeted steps of eps_x/4 | yes | as named |

Table 3 of the paper is FGSM ... R-MC; Table 5 adds R-FGSM-LS, R-MC-LS (eps_y =
0.5), R-MC-LA (beta = 9) and Madry-LA; R-MC-LA is the method.

The random start is drawn with a stateless RNG from (seed, optimizer step) for the
whole global batch, and each replica takes its own rows, so a step under
MirroredStrategy equals the step on one device (and a resumed run redraws the same
noise).

Example:
    trainer = BATTrainer(classifier, variant="R-MC-LA", eps=8 / 255, beta=9.0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    trainer.fit(train_ds, epochs=100)
"""

import dataclasses
import re
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from tf_advnet.attacks import _projections, losses, targets
from tf_advnet.errors import UserError, check_arg_choice, check_arg_range
from tf_advnet.trainers.base import (ClassifierTrainer, TrainerConfig, eps_warmup_steps,
                                    float32_logits)

IMAGE_ATTACKS = ("FGSM", "R-FGSM", "LL", "R-LL", "MC", "R-MC", "Madry")
LABEL_MODES = ("LS", "LA")
VARIANT_NAMES = tuple(IMAGE_ATTACKS) + tuple(
    f"{a}-{m}" for a in IMAGE_ATTACKS for m in LABEL_MODES)
TARGETS = ("none", "mc", "ll")
LABEL_KINDS = ("none", "ls", "la")
_LOG_EPS = 1e-8  # BAT's code: v_k = -log(p_k + 1e-8).


@dataclasses.dataclass(frozen=True)
class Variant:
    """A parsed variant name.

    Attributes:
      name: the canonical name, e.g. "R-MC-LA".
      target: "mc" (Eq. 24), "ll" (Eq. 23) or "none" (untargeted).
      random_start: whether the attack starts from x + U[-eps_x, eps_x] (Eq. 3).
      label: "la" (Eq. 14 + 18), "ls" (Eq. 15) or "none" (one-hot).
      multi_step: Madry's PGD (default 7 steps of eps_x / 4) instead of one step.
    """

    name: str
    target: str
    random_start: bool
    label: str
    multi_step: bool


def parse_variant(name):
    """Parses a variant name such as "R-MC-LA" (case-insensitive).

    Raises:
      UserError: one line naming the allowed values.
    """
    text = str(name).strip()
    m = re.fullmatch(r"(?P<img>.+?)(?:-(?P<lab>LS|LA))?", text, flags=re.IGNORECASE)
    img = m.group("img").upper() if m else ""
    lookup = {a.upper(): a for a in IMAGE_ATTACKS}
    if img not in lookup:
        raise UserError("variant must be one of " + ", ".join(VARIANT_NAMES)
                        + f"; got {name!r}")
    img = lookup[img]
    lab = (m.group("lab") or "").upper()
    base = img[2:] if img.startswith("R-") else img
    return Variant(
        name=img + (f"-{lab}" if lab else ""),
        target={"FGSM": "none", "Madry": "none", "LL": "ll", "MC": "mc"}[base],
        random_start=img.startswith("R-") or img == "Madry",
        label=lab.lower() or "none",
        multi_step=img == "Madry")


def _non_true_mask(labels, num_classes):
    return tf.logical_not(tf.one_hot(labels, num_classes, on_value=True, off_value=False))


def label_budget(v, labels, *, beta, gamma=0.01):
    """The largest label budget eps_y allowed by Eq. (16), i.e. Eq. (18) at equality.

        eps_y = 1 / (1 + beta (v_LL - v_MC + gamma) / S),
        S = sum_{k != c} (v_k - v_MC + gamma)
          = (n - 1) (sum_{k != c} v_k / (n - 1) - v_MC + gamma),

    with v_MC = min_{k != c} v_k and v_LL = max_{k != c} v_k. For n >= 3 it lies in
    (1 / (1 + beta), 1 / (1 + beta / (n - 1))] (Eq. 21): the upper end when all
    v_k, k != c, are equal (Eq. 19), towards the lower end when one class takes all
    the non-true mass (Eq. 20). beta = inf gives eps_y = 0 (one-hot labels).

    Args:
      v: float (batch, n) label gradients v_k = -log p_k (Eq. 13).
      labels: int (batch,) true classes c.
      beta: the multiplier of Eq. (16), > 0.
      gamma: the small constant of Eq. (14).

    Returns:
      float (batch,) eps_y.
    """
    v = tf.convert_to_tensor(v, tf.float32)
    mask = _non_true_mask(labels, tf.shape(v)[-1])
    v_mc = tf.reduce_min(tf.where(mask, v, np.inf), axis=-1)
    v_ll = tf.reduce_max(tf.where(mask, v, -np.inf), axis=-1)
    shares = tf.where(mask, v - v_mc[:, None] + gamma, 0.0)
    ratio = (v_ll - v_mc + gamma) / tf.reduce_sum(shares, axis=-1)
    return 1.0 / (1.0 + tf.cast(beta, tf.float32) * ratio)


def adversarial_labels(logits_or_probs, labels, *, beta=9.0, gamma=0.01, eps_y=None,
                       from_logits=True):
    """BAT's adversarial label y' (Eq. 13-18): the label adversary "LA".

    With p the clean probabilities and v_k = -log(p_k + 1e-8), the gradient of the
    cross-entropy w.r.t. the label (Eq. 13), the true class c keeps 1 - eps_y and the
    other classes share eps_y in proportion to v_k - v_MC + gamma (Eq. 14):

        y'_c = 1 - eps_y,
        y'_k = eps_y / (n - 1) * (v_k - v_MC + gamma)
                               / (sum_{k != c} v_k / (n - 1) - v_MC + gamma),  k != c,

    so the least-likely class gets the largest share and the most-confusing one
    almost none. y' lies in the probability simplex. If all v_k, k != c, are equal
    this is label smoothing eps_y / (n - 1) (Eq. 15). eps_y is the largest budget
    with y'_c >= beta * max_{k != c} y'_k (Eq. 16-18, `label_budget`), unless given.

    Args:
      logits_or_probs: float (batch, n) clean logits (from_logits=True) or
        probabilities; treated as constants (no gradient flows through y').
      labels: int (batch,) true classes (one-hot (batch, n) accepted).
      beta: multiplier of Eq. (16); 9 on CIFAR-10 / SVHN, 100 on ImageNet.
      gamma: the small constant of Eq. (14), 0.01 in the paper.
      eps_y: a fixed budget in [0, 1] instead of Eq. (18) (then `beta` is unused).
      from_logits: whether the first argument holds logits.

    Returns:
      float32 (batch, n) soft labels.
    """
    z = tf.stop_gradient(tf.convert_to_tensor(logits_or_probs, tf.float32))
    probs = tf.nn.softmax(z, axis=-1) if from_logits else z
    labels = losses._sparse_labels(labels)
    n = tf.shape(probs)[-1]
    v = -tf.math.log(probs + _LOG_EPS)
    mask = _non_true_mask(labels, n)
    v_mc = tf.reduce_min(tf.where(mask, v, np.inf), axis=-1, keepdims=True)
    shares = tf.where(mask, v - v_mc + gamma, 0.0)
    shares = shares / tf.reduce_sum(shares, axis=-1, keepdims=True)
    if eps_y is None:
        budget = label_budget(v, labels, beta=beta, gamma=gamma)
    else:
        budget = tf.fill(tf.shape(labels), tf.cast(eps_y, tf.float32))
    budget = budget[:, None]
    return tf.where(mask, budget * shares, 1.0 - budget)


def smoothed_labels(labels, num_classes, eps_y):
    """Label smoothing (Eq. 15): 1 - eps_y on the true class, eps_y / (n - 1) else."""
    labels = losses._sparse_labels(labels)
    n = tf.cast(num_classes, tf.float32)
    mask = _non_true_mask(labels, num_classes)
    return tf.where(mask, eps_y / (n - 1.0), 1.0 - eps_y)


class BATTrainer(ClassifierTrainer):
    """Bilateral adversarial training: perturbed images with perturbed labels.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits.
      variant: a name from `VARIANT_NAMES` (default "R-MC-LA", the paper's method).
      eps: L-inf image budget eps_x in [0, 1] (paper: 8/255; 4/255 is its best).
      num_steps: attack steps (default 1; 7 for Madry variants).
      eps_warmup_steps: ramp the image budget (noise, step, ball) linearly from
        eps/N to eps over the first N optimiser steps, PGD-AT's ramp (0: none; not
        in the paper, which trains at 8/255 from the start).
      step_size: attack step alpha (default eps / num_steps; eps / 4 for Madry).
      beta: LA multiplier of Eq. (16) (paper: 9).
      gamma: LA constant of Eq. (14) (paper: 0.01).
      eps_y: LS budget (default 0.5, the paper's); with an LA variant, a fixed
        budget replacing Eq. (18).
      target, random_start, label: override the variant's "mc" | "ll" | "none",
        bool, "la" | "ls" | "none".
      seed: seed of the random starts (default: drawn from numpy's global RNG).
      weight_decay: coupled L2 on kernels.

    Metrics: loss (soft-label CE on x'), adv_acc (on x' vs the true labels),
    clean_acc (clean inference pass vs the true labels).
    """

    def __init__(self, classifier, *, variant="R-MC-LA", eps=8 / 255, num_steps=None,
                 eps_warmup_steps=0, step_size=None, beta=9.0, gamma=0.01, eps_y=None,
                 target=None, random_start=None, label=None, seed=None, weight_decay=0.0,
                 **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        v = parse_variant(variant)
        self.variant = v.name
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0))
        self.eps_warmup_steps = int(check_arg_range("eps_warmup_steps", eps_warmup_steps,
                                                    0))
        default_steps = 7 if v.multi_step else 1
        self.num_steps = int(check_arg_range(
            "num_steps", default_steps if num_steps is None else num_steps, 1))
        if step_size is None:
            step_size = self.eps / 4.0 if v.multi_step else self.eps / self.num_steps
        self.step_size = float(check_arg_range("step_size", step_size, 0.0))
        self.target = check_arg_choice("target", v.target if target is None else target,
                                       TARGETS)
        self.random_start = bool(v.random_start if random_start is None else random_start)
        self.label = check_arg_choice("label", v.label if label is None else label,
                                      LABEL_KINDS)
        self.beta = float(check_arg_range("beta", beta, 0.0, low_inclusive=False))
        self.gamma = float(check_arg_range("gamma", gamma, 0.0, low_inclusive=False))
        if eps_y is None and self.label == "ls":
            eps_y = 0.5
        self.eps_y = None if eps_y is None else float(check_arg_range("eps_y", eps_y, 0.0, 1.0))
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = int(seed)
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")

    @property
    def metrics(self):
        return [self.loss_tracker, self.adv_acc_tracker, self.clean_acc_tracker]

    # -- the two sub-problems ------------------------------------------------------

    def attack_target(self, clean_logits, y):
        """The class the attack moves towards (Eq. 23/24), or y for untargeted."""
        if self.target == "mc":
            return targets.most_confusing(clean_logits, y)
        if self.target == "ll":
            return targets.least_likely(clean_logits, y)
        return tf.cast(y, tf.int64)

    def random_start_noise(self, x, step=None, scale=1.0):
        """U[-eps, eps] noise for this replica's rows of the global batch (Eq. 3).

        Drawn statelessly from (seed, step) for the global batch shape, so that the
        replicas of a MirroredStrategy get the rows one device would. (With an
        uneven last batch the per-replica slices may overlap by a few rows.)
        """
        ctx = tf.distribute.get_replica_context()
        n_rep = ctx.num_replicas_in_sync if ctx is not None else 1
        rid = ctx.replica_id_in_sync_group if ctx is not None else 0
        if step is None:
            step = self.optimizer.iterations if self.optimizer is not None else 0
        b = tf.shape(x)[0]
        shape = tf.concat([[b * n_rep], tf.shape(x)[1:]], axis=0)
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        noise = scale * tf.random.stateless_uniform(shape, seed, -self.eps, self.eps)
        start = tf.cast(rid, tf.int32) * b
        return noise[start:start + b]

    def craft(self, x, y, clean_logits=None):
        """The adversarial image x' (classifier in inference mode, Sec. 4.2)."""
        x = tf.convert_to_tensor(x, tf.float32)
        if clean_logits is None:
            clean_logits = self.classifier_fn(x)
        goal = self.attack_target(clean_logits, y)
        targeted = self.target != "none"
        scale = self.budget_scale()  # eps ramp (PGD-AT's), when eps_warmup_steps > 0
        x_adv = x + self.random_start_noise(x, scale=scale) if self.random_start else x
        for _ in range(self.num_steps):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x_adv)
                obj = losses.objective(self.classifier_fn(x_adv), goal, targeted=targeted)
            grad = tape.gradient(obj, x_adv)
            x_adv = x_adv + _projections.ascent_step(grad, scale * self.step_size, "inf")
            x_adv = _projections.project_and_clip(x_adv, x, scale * self.eps, "inf")
        return tf.stop_gradient(x_adv)

    def labels_for(self, clean_logits, y):
        """The training label y' (Sec. 4.1): LA, LS or one-hot."""
        n = tf.shape(clean_logits)[-1]
        if self.label == "la":
            return adversarial_labels(clean_logits, y, beta=self.beta, gamma=self.gamma,
                                      eps_y=self.eps_y)
        if self.label == "ls":
            return smoothed_labels(y, n, self.eps_y)
        return tf.one_hot(tf.cast(y, tf.int64), n)

    def train_step(self, data):
        x, y = data[0], data[1]
        clean_logits = self.classifier_fn(x)
        x_adv = self.craft(x, y, clean_logits)
        y_adv = tf.stop_gradient(self.labels_for(clean_logits, y))

        def loss_fn():
            logits = float32_logits(self.classifier(x_adv, training=True))
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(
                y_adv, logits, from_logits=True))
            return loss, logits

        loss, adv_logits = self.descend(loss_fn)
        self.loss_tracker.update_state(loss)
        self.adv_acc_tracker.update_state(y, adv_logits)
        self.clean_acc_tracker.update_state(y, clean_logits)
        return {m.name: m.result() for m in self.metrics}


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """BAT's own hyper-parameters (Wang & Zhang, ICCV 2019).

    Attributes:
      variant: a name of `VARIANT_NAMES`, e.g. "R-MC-LA" (the method; Table 5),
        "R-MC-LS", "R-FGSM", "Madry-LA". The Madry variants take the run's shared
        `attack_steps` and `step_size`; the one-step variants take `num_steps`.
      num_steps: attack steps of the non-Madry variants (None = 1, step eps/steps).
      beta: the label adversary's multiplier of Eq. (16) (paper: 9).
      eps_y: the label budget: LS's smoothing of Eq. (15) (None = 0.5), or a fixed
        LA budget replacing Eq. (18).
    The image budget eps_x is the shared `TrainConfig.eps` (L-inf), ramped over the
    shared `eps_warmup_epochs` when set (0 by default, as the paper).
    """

    variant: str = "R-MC-LA"
    num_steps: Optional[int] = None
    beta: float = 9.0
    eps_y: Optional[float] = None

    linf_only = True
    legacy_keys = {"bat_variant": "variant", "bat_steps": "num_steps", "beta": "beta",
                   "eps_y": "eps_y"}

    def validate(self, train):
        from tf_advnet.errors import check_range

        try:
            variant = parse_variant(self.variant)
        except UserError:
            raise UserError(f"trainer.variant={self.variant!r} is not valid; allowed "
                            "values: " + ", ".join(VARIANT_NAMES)) from None
        if variant.multi_step:  # the Madry variants run the shared PGD
            check_range("attack_steps", train.attack_steps, 1)
        self.check("beta", 0.0, low_inclusive=False)
        self.check("num_steps", 1, optional=True)
        self.check("eps_y", 0.0, 1.0, optional=True)
        return self

    def build(self, classifier, train, *, seed, steps_per_epoch):
        if parse_variant(self.variant).multi_step:
            steps = dict(num_steps=train.attack_steps, step_size=train.step_size)
        else:
            steps = dict(num_steps=self.num_steps)
        return BATTrainer(classifier, variant=self.variant, eps=train.eps, beta=self.beta,
                          eps_y=self.eps_y, seed=seed, weight_decay=train.weight_decay,
                          eps_warmup_steps=eps_warmup_steps(train, steps_per_epoch),
                          **steps)
