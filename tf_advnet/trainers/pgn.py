"""Adversarial training with a perturbation generator network (PGN).

Lee, Han & Lee, "Adversarial training with perturbation generator networks",
ICLR 2020 submission, https://openreview.net/forum?id=S1xXiREKDB; official code
`ATPGN/ATPGN` (`main.py`, `train.py`, `models/PGN.py`). The typeset equations
are missing from our copy of the paper; the forms below are read from that code
and agree with the paper's text and equation numbers.

The classifier F and the generator G play (Eq. 4)

    min_theta max_phi E_(x,y) [ CE(F(x_adv; theta), y) - c_L ||x_adv - x||_2^2 ],
    x_adv = 1/2 (tanh(atanh(0.999999 (2x - 1)) + w) + 1),   w = G(grad, x, y)
                                                            (Eq. 5, Eq. 2)

where grad = d mean_batch(p_y(x)) / dx is the gradient of the batch mean of the
true-class probability (not its log, not normalised, not detached). Per step,
as the code does:

1. one forward pass: clean logits and grad (classifier in inference mode),
   w = G(grad, x, y), x_adv, adversarial logits (classifier in training mode);
2. both gradients from that same forward pass:
   classifier: CE(F(x_adv), y) (adversarial examples only, adv_coeff 1);
   generator: -CE(F(x_adv), y) + c_L * mean_batch(sum_pixels (x_adv - x)^2);
3. the classifier update, then the generator update (1 : 1, simultaneous);
4. optionally the EMA of both players' weights (decay 0.998 in the code).

Because grad is not detached, the classifier's gradient has second-order terms
through grad -> G -> x_adv, as in the official code.

Design choices:

- Optimisers: `compile(optimizer, g_optimizer)`, by default two Adam(5e-4)
  instances, the Keras GAN-example convention. The official code applies one
  shared Adam to both players, so Adam's step counter (bias correction) advances
  twice per iteration; `g_optimizer="shared"` reproduces that (one Keras
  optimizer built over both players' weights and applied twice per step).
- EMA: off by default (`ema_decay=None`); `ema_decay=0.998` is the code's
  setting. The shadow weights are updated after every step; the live weights
  keep training, and `swap_ema_weights()` exchanges the two (call it after fit
  to evaluate or save the EMA model, as the code does, and again to go back).
- `weight_decay` applies to the classifier's kernels only (the code has none).
- Under MirroredStrategy the 1/B of grad uses the global batch, so a step on
  two replicas equals one on one device.

Example:
    trainer = PGNTrainer(classifier, c_l=50.0, ema_decay=0.998)
    trainer.compile()                     # Adam(5e-4) for each player
    trainer.fit(train_ds, epochs=200)
    trainer.swap_ema_weights()            # evaluate / save the EMA weights
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from tf_advnet.attacks.pgn import one_hot_labels, tanh_space, true_class_gradient
from tf_advnet.errors import UserError, check_arg_range
from tf_advnet.trainers.base import (ClassifierTrainer, TrainerConfig, regularization,
                                    scale_for_replicas)

DEFAULT_LR = 5e-4  # the Adam learning rate of the official code's `main.py`


def _default_adam():
    return keras.optimizers.Adam(DEFAULT_LR)


class PGNTrainer(ClassifierTrainer):
    """PGN adversarial training: a classifier against a perturbation generator.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits.
      generator: a `pgn_generator` model ([grad, x, y_onehot] -> w); None builds
        one for the classifier's input shape and number of logits.
      c_l: the weight c_L >= 0 of the squared-L2 penalty in Eq. (4) (code
        default 70; the paper's Table 2 uses 50; a larger c_L gives smaller
        perturbations).
      ema_decay: None (no EMA) or the decay in [0, 1) of the moving average of
        both players' weights (0.998 in the official code).
      weight_decay: coupled L2 on the classifier's kernels.
      generator_width, generator_units: `width` and `dense_units` of the
        generator built when `generator` is None (paper: 128 and 1024).

    Metrics: loss (the classifier's adversarial CE), g_loss (Eq. 4's generator
    objective, minimised), adv_acc, clean_acc, l2 (mean ||x_adv - x||_2) and
    l2_sq (mean ||x_adv - x||_2^2, the penalised term).
    """

    def __init__(self, classifier, generator=None, *, c_l=50.0, ema_decay=None,
                 weight_decay=0.0, generator_width=128, generator_units=1024,
                 **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.c_l = float(check_arg_range("c_l", c_l, 0.0))
        if generator is None:
            from tf_advnet.models.pgn_generator import pgn_generator

            generator = pgn_generator(
                tuple(classifier.input_shape[1:]), int(classifier.output_shape[-1]),
                width=generator_width, dense_units=generator_units)
        self.generator = generator
        self.num_classes = int(generator.inputs[2].shape[-1])
        self.g_optimizer = None
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")
        self.l2_tracker = keras.metrics.Mean(name="l2")
        self.l2_sq_tracker = keras.metrics.Mean(name="l2_sq")
        if ema_decay is not None:
            self.enable_ema(ema_decay)

    def ema_variables(self):
        """Both players' trainable weights, the classifier's first (the official
        code averages both)."""
        return (list(self.classifier.trainable_weights)
                + list(self.generator.trainable_weights))

    def compile(self, optimizer=None, g_optimizer=None, **kwargs):
        """Sets each player's optimiser; builds them on their own weights.

        Args:
          optimizer: the classifier's optimiser (default Adam(5e-4)).
          g_optimizer: the generator's (default a second Adam(5e-4)), or
            "shared" to apply `optimizer` to both players like the official code.
        """
        optimizer = _default_adam() if optimizer is None else optimizer
        super().compile(optimizer=optimizer, build_optimizer=False, **kwargs)
        clf_w = list(self.classifier.trainable_weights)
        gen_w = list(self.generator.trainable_weights)
        if isinstance(g_optimizer, str) and g_optimizer == "shared":
            self.g_optimizer = self.optimizer
            self.optimizer.build(clf_w + gen_w)
        else:
            self.g_optimizer = _default_adam() if g_optimizer is None \
                else keras.optimizers.get(g_optimizer)
            # Built here, not by fit (which would give the classifier's optimiser
            # slots for the generator too).
            self.optimizer.build(clf_w)
            self.g_optimizer.build(gen_w)

    @property
    def metrics(self):
        return [self.loss_tracker, self.g_loss_tracker, self.adv_acc_tracker,
                self.clean_acc_tracker, self.l2_tracker, self.l2_sq_tracker]

    def forward(self, x, y, training=True):
        """One forward pass of the game (step 1 above).

        Returns:
          dict with clean_logits, grad, w, x_adv, adv_logits, adv_ce, l2_sq
          (batch mean of the squared L2 norms), l2 (per-example L2 norms) and
          g_loss, all differentiable in both players' weights.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        y1h = one_hot_labels(y, self.num_classes)
        ctx = tf.distribute.get_replica_context()
        n_rep = ctx.num_replicas_in_sync if ctx is not None else 1
        # 1 / global batch: the code's batch mean, the same on any replica count.
        scale = 1.0 / tf.cast(tf.shape(x)[0] * n_rep, tf.float32)
        grad, clean_logits = true_class_gradient(self.classifier_fn, x, y1h,
                                                 scale=scale)
        w = self.generator([grad, x, y1h], training=training)
        x_adv = tanh_space(x, w)
        adv_logits = self.classifier(x_adv, training=training)
        adv_ce = tf.reduce_mean(keras.losses.categorical_crossentropy(
            y1h, adv_logits, from_logits=True))
        sq = tf.reduce_sum(tf.square(tf.reshape(x_adv - x, [tf.shape(x)[0], -1])),
                           axis=-1)
        l2_sq = tf.reduce_mean(sq)
        return {"clean_logits": clean_logits, "grad": grad, "w": w, "x_adv": x_adv,
                "adv_logits": adv_logits, "adv_ce": adv_ce, "l2_sq": l2_sq,
                "l2": tf.sqrt(sq), "g_loss": -adv_ce + self.c_l * l2_sq}

    def train_step(self, data):
        x, y = data[0], data[1]
        clf_w = self.classifier.trainable_weights
        gen_w = self.generator.trainable_weights
        with tf.GradientTape(persistent=True) as tape:
            out = self.forward(x, y)
            c_scaled = scale_for_replicas(
                out["adv_ce"] + regularization(self.classifier, self.weight_decay))
            g_scaled = scale_for_replicas(out["g_loss"] + regularization(self.generator, 0.0))
        # Both gradients from the same forward pass, before either update.
        c_grads = tape.gradient(c_scaled, clf_w)
        g_grads = tape.gradient(g_scaled, gen_w)
        del tape
        self.optimizer.apply(c_grads, clf_w)
        self.g_optimizer.apply(g_grads, gen_w)
        self.update_ema()
        y_int = tf.argmax(one_hot_labels(y, self.num_classes), axis=-1)
        self.loss_tracker.update_state(out["adv_ce"])
        self.g_loss_tracker.update_state(out["g_loss"])
        self.adv_acc_tracker.update_state(y_int, out["adv_logits"])
        self.clean_acc_tracker.update_state(y_int, out["clean_logits"])
        self.l2_tracker.update_state(out["l2"])
        self.l2_sq_tracker.update_state(out["l2_sq"])
        return {m.name: m.result() for m in self.metrics}

    def generated_perturbation(self, x, y, grad_batch_size=None):
        """x_adv - x of the current generator (`attack`; what
        `callbacks.PerturbationImages` shows)."""
        x = tf.convert_to_tensor(x, tf.float32)
        return self.attack(x, y, grad_batch_size=grad_batch_size) - x

    def attack(self, x, y, grad_batch_size=None):
        """The current generator's adversarial images (`pgn_attack`; pass the
        training batch size as `grad_batch_size` when x is a batch of another size)."""
        from tf_advnet.attacks.pgn import pgn_attack

        return pgn_attack(self.classifier_fn, self.generator, x, y,
                          grad_batch_size=grad_batch_size)


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """PGN adversarial training (ICLR 2020 submission, Eq. (4)).

    Attributes:
      c_l: the penalty c_L on the generated perturbation's squared L2 norm in
        Eq. (4) (paper: 50).
      ema_decay: the exponential moving average of both players' weights (None:
        off; the official code `ATPGN/ATPGN`, `main.py`, uses 0.998).
      generator_width: channels of the generator's convolutions (paper: 128).
    The generator's optimiser is a second instance of the classifier's recipe.
    """

    c_l: float = 50.0
    ema_decay: Optional[float] = None
    generator_width: int = 128

    legacy_keys = {"c_l": "c_l", "ema_decay": "ema_decay",
                   "pgn_generator_width": "generator_width"}

    def validate(self, train):
        self.check("c_l", 0.0, low_inclusive=False)
        self.check("generator_width", 1)
        self.check("ema_decay", 0.0, 1.0, low_inclusive=False, optional=True)
        if self.ema_decay == 1.0:  # the average would never move
            raise UserError("trainer.ema_decay must be in (0, 1) or none, got 1")
        return self

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed, steps_per_epoch
        return PGNTrainer(classifier, c_l=self.c_l, ema_decay=self.ema_decay,
                          generator_width=self.generator_width,
                          weight_decay=train.weight_decay)

    def optimizers(self, train, make_optimizer):
        return {"g_optimizer": make_optimizer()}

    def image_kwargs(self, batch_size):
        # The generator reads the gradient of the global-batch mean (see pgn_attack).
        return {"grad_batch_size": batch_size}
