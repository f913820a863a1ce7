"""PGD adversarial training (Madry et al., ICLR 2018, Eq. (2.1)).

    min_theta E_(x,y) [ max_{||delta||_inf <= eps} CE(f_theta(x + delta), y) ]

The inner maximum is approximated by PGD with a random start and k sign-gradient
steps of size eps/4 (the setting Wang & Yu use for their baseline B, Sec. 4.1 of
their paper; Madry et al. used 40 steps of 0.01 on MNIST and 7 steps of 2/255 on
CIFAR-10 -- both are reachable through `num_steps` and `step_size`). The classifier
is trained on adversarial examples only (no clean term), as in Madry et al. and
Wang & Yu's code; `clean_weight` > 0 mixes in the clean loss.

`norm="2"` gives the L2 baselines of the PGN paper (`ATPGN/ATPGN`, `main.py`):
PGD-AT with 10 steps of eps/6 (the default step for L2) and a random start, and
Goodfellow's FGM-AT, one step of eps from x (`fgm_at_trainer`). Deviations from
the PGN code (cleverhans 3.0.1): the L2 random start is uniform in the ball
rather than drawn in the L-inf box and projected onto the ball, and the
adversarial examples are detached (the code's L2 examples are not, which adds
second-order terms to the classifier's gradient).

Example:
    trainer = PGDATTrainer(classifier, eps=0.1, num_steps=7)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    trainer.fit(train_ds, epochs=2)
    l2 = PGDATTrainer(classifier, eps=0.02, num_steps=10, norm="2")  # step 0.02/6
    fgm = fgm_at_trainer(classifier, eps=0.02)                       # L2 FGM-AT
"""

import dataclasses

import keras
import tensorflow as tf

from tf_advnet.attacks.pgd import pgd
from tf_advnet.errors import check_arg_choice, check_arg_range
from tf_advnet.trainers.base import ClassifierTrainer, TrainerConfig, eps_warmup_steps


def _norm_name(norm):
    """"inf" or "2" for the usual spellings (np.inf, 2, "l2", "linf")."""
    text = str(norm).strip().lower()
    return {"2": "2", "l2": "2", "2.0": "2", "inf": "inf", "linf": "inf"}.get(text, norm)


def fgm_at_trainer(classifier, *, eps, norm="2", **kwargs):
    """Goodfellow-style FGM adversarial training: one step of eps from x.

    The PGN paper's FGM baseline (L2, cleverhans `ord=2`: x + eps g / ||g||_2,
    clipped to [0, 1]; adversarial loss only). A `PGDATTrainer` with
    num_steps=1, step_size=eps and no random start.
    """
    return PGDATTrainer(classifier, eps=eps, num_steps=1, step_size=eps,
                        random_start=False, norm=norm, **kwargs)


class PGDATTrainer(ClassifierTrainer):
    """Madry PGD adversarial training.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits.
      eps: budget in the norm `norm`, in [0, 1] for L-inf, >= 0 for L2.
      num_steps: PGD steps k.
      step_size: PGD step; default eps / 4 (L-inf) or eps / 6 (L2, the PGN
        baseline's eps * (5/3) / 10).
      random_start: start from a uniform point in the eps-ball.
      clean_weight: weight of the clean loss (0 = adversarial examples only).
      eps_warmup_steps: ramp the training budget linearly from eps/N to eps over
        the first N optimiser steps (0 = none). Not in Madry et al.; without it a
        small model trained from scratch at MNIST's eps = 0.3 can stay at the
        uniform prediction (loss ln 10) for good, the common failure that this
        standard remedy avoids. Step sizes scale with the budget.
      weight_decay: coupled L2 on kernels.
      norm: threat model, "inf" (default) or "2" (sign steps vs normalised
        gradient steps, L-inf box vs L2-ball projection).

    Metrics: loss (adversarial CE), adv_acc, clean_acc.
    """

    def __init__(self, classifier, *, eps, num_steps=10, step_size=None,
                 random_start=True, clean_weight=0.0, eps_warmup_steps=0,
                 weight_decay=0.0, norm="inf", **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.norm = check_arg_choice("norm", _norm_name(norm), ("inf", "2"))
        # An L2 budget may exceed 1 (e.g. sqrt(d) * 0.03 on CIFAR).
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0 if self.norm == "inf" else None))
        self.num_steps = int(check_arg_range("num_steps", num_steps, 0))
        if step_size is None:
            step_size = eps / 4.0 if self.norm == "inf" else eps / 6.0
        self.step_size = float(step_size)
        self.random_start = bool(random_start)
        self.clean_weight = float(clean_weight)
        self.eps_warmup_steps = int(check_arg_range("eps_warmup_steps", eps_warmup_steps, 0))
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")

    @property
    def metrics(self):
        return [self.loss_tracker, self.adv_acc_tracker, self.clean_acc_tracker]

    def craft(self, x, y):
        """The inner maximisation, with the classifier in inference mode."""
        scale = self.budget_scale()
        x_adv = pgd(self.classifier_fn, x, y, eps=self.eps * scale,
                    step_size=self.step_size * scale, num_steps=self.num_steps,
                    random_start=self.random_start, norm=self.norm)
        return tf.stop_gradient(x_adv)

    def train_step(self, data):
        x, y = data[0], data[1]
        x_adv = self.craft(x, y)

        def loss_fn():
            adv_ce, adv_logits = self.ce(x_adv, y)
            if not self.clean_weight:
                return adv_ce, (adv_ce, adv_logits)
            clean_ce, _ = self.ce(x, y)
            return adv_ce + self.clean_weight * clean_ce, (adv_ce, adv_logits)

        _, (adv_ce, adv_logits) = self.descend(loss_fn)
        self.loss_tracker.update_state(adv_ce)
        self.adv_acc_tracker.update_state(y, adv_logits)
        self.clean_acc_tracker.update_state(y, self.classifier_fn(x))
        return {m.name: m.result() for m in self.metrics}


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """PGD-AT's inner attack is the run's shared one: `TrainConfig.eps`, `norm`,
    `attack_steps`, `step_size`, `random_start` and `eps_warmup_epochs` (Madry et
    al., Eq. (2.1); with one step of eps and no random start, Goodfellow's FGM-AT),
    so this config holds nothing of its own."""

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed
        return PGDATTrainer(
            classifier, eps=train.eps, num_steps=train.attack_steps,
            step_size=train.step_size, random_start=train.random_start,
            eps_warmup_steps=eps_warmup_steps(train, steps_per_epoch),
            weight_decay=train.weight_decay, norm=train.norm)
