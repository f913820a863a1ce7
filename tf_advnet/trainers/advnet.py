"""Adversarial networks: a classifier D against a perturbation generator G.

Wang & Yu, "A Direct Approach to Robust Deep Learning Using Adversarial
Networks", ICLR 2019; official code `whxbergkamp/RobustDL_GAN` (`*/train_gan_*.py`,
`*/run_gan_*.py`). The two players solve the minimax of Eq. (4)

    min_theta max_phi F(theta, phi) = CE(D(x), y) + lambda CE(D(x + eps G(x)), y),

with gradient regularisation of D (Eq. 8): D descends
F + gamma/2 ||grad_phi F||^2, whose gradient is

    grad_theta F + gamma * (d^2 F / d theta d phi) v,    v = grad_phi F.

One `train_step` on a batch (Sec. 3.2):
1. `g_updates * g_steps` gradient-ascent steps of G on the same batch (G's
   optimiser on -lambda CE(D(x_adv), y) + G's weight decay; D in inference mode);
2. one descent step of D on the regularised objective. The Hessian-vector term
   comes from `hvp`:
   - "finite_difference" (Eq. 9, the paper's choice): with phi' = phi + h v (a
     gradient-ascent step of G, taken functionally with `stateless_call`, so
     G's weights are never written), the term is
     (grad_theta F(theta, phi') - grad_theta F(theta, phi)) / h;
     h = eta_G / 10 by default (Sec. 3.1), `fd_h` overrides it;
   - "exact": double back-propagation (nested `tf.GradientTape`);
   - "none": plain F (gamma is ignored).

Readings and deviations (the official code is `*/train_gan_*.py`):
- Sign: Eqs. (8)-(9) add +gamma (g(phi + h v) - g(phi)) / h; the official code
  adds the opposite, i.e. it minimises F - gamma/2 ||grad_phi F||^2. We follow
  the paper with gamma = 0.01; `gamma=-0.01` is the code's sign.
- h: the code uses lr_D / 10 as a plain SGD step even where G uses Adam; the
  paper's rule eta_G / 10 is our default, `fd_h` gives the code's value.
- MNIST: the code runs five G updates (five steps each) on five new batches
  and updates D every fifth batch; here `g_updates=5` runs the 25 G steps on
  the one batch before D's step, so that one `train_step` consumes one batch,
  as Keras' `fit` expects.
- Clipping: the code never clips x + eps G(x) to the pixel range; `clip=True`
  (default) projects onto [0, 1] so the adversarial images are valid images;
  `clip=False` is the code.
- BatchNorm: D is called in training mode on the clean and the adversarial
  batch separately (as the code) during D's step, and in inference mode while G
  ascends (the suite's rule: craft against the inference-mode classifier). The
  code keeps BN in training mode everywhere, including evaluation.
- A frozen classifier (no trainable weights) makes the trainer train G alone:
  the generator attacks of Sec. 4.5 (Tables 5, 10, 11), with `g_steps=1`.

MirroredStrategy: v is all-reduced before it is used (phi' and the exact
term are those of the global batch), so a step on two replicas equals one on a
single device with the same global batch (BN layers: build them with
`sync_bn=True` for that).

Metrics: loss (F), clean_loss, adv_loss, clean_acc (D on x), adv_acc (D on
x + eps G, i.e. 1 - G's fooling rate), grad_norm_sq (||grad_phi F||^2, the
regularised quantity) and g_loss (G's objective at its last step, minimised).

Example:
    trainer = AdvNetTrainer(advnet_d1(), advnet_g0(), eps=0.3, g_updates=5)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                    g_optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    trainer.fit(train_ds, epochs=...)
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from tf_advnet.attacks.generator import generator_inputs, perturb
from tf_advnet.errors import check_arg_choice, check_arg_range
from tf_advnet.trainers.base import (ClassifierTrainer, TrainerConfig, generator_optimizer,
                                    regularization, scale_for_replicas)

HVP_MODES = ("finite_difference", "exact", "none")


def _sgd():
    # Paper Sec. 4.1-4.2: SGD, lr 0.01, momentum 0.9 for both players.
    return keras.optimizers.SGD(0.01, momentum=0.9)


def _all_reduce_sum(tensors):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tensors
    return ctx.all_reduce("sum", tensors)


class AdvNetTrainer(ClassifierTrainer):
    """Wang & Yu's adversarial network: D (the classifier) vs G (the generator).

    Args:
      classifier: keras.Model mapping [0, 1] images to logits (D).
      generator: a Wang & Yu generator (`tf_advnet.models.advnet_generators`),
        or None for G0 with k = 64.
      eps: perturbation scale in [0, 1] (L-inf with a tanh generator).
      lam: lambda of Eq. (4) (paper: 1).
      gamma: gradient-regularisation weight of Eq. (8) (paper: 0.01; negative
        values give the official code's sign).
      g_steps: G's gradient steps per update on the batch (paper: 5).
      g_updates: G updates before each D step (paper: 1; MNIST: 5).
      d_every: D steps on every `d_every`-th batch only, G's on every batch (the
        official MNIST code's schedule: 5).
      hvp: "finite_difference" (Eq. 9), "exact" or "none".
      fd_h: finite-difference step h (None: eta_G / 10 at the current step).
      clip: project x + eps G onto [0, 1] (see the module docstring).
      weight_decay: coupled L2 on D's kernels.
      g_weight_decay: on G's kernels (None: the same as `weight_decay`, as the
        paper's "for both D and G").
    """

    def __init__(self, classifier, generator=None, *, eps, lam=1.0, gamma=0.01,
                 g_steps=5, g_updates=1, d_every=1, hvp="finite_difference", fd_h=None,
                 clip=True, weight_decay=0.0, g_weight_decay=None, **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.eps = float(check_arg_range("eps", eps, 0.0))
        self.lam = float(check_arg_range("lam", lam, 0.0))
        self.gamma = float(gamma)
        self.g_steps = int(check_arg_range("g_steps", g_steps, 1))
        self.g_updates = int(check_arg_range("g_updates", g_updates, 1))
        self.d_every = int(check_arg_range("d_every", d_every, 1))
        # Batches seen, for D's update on every `d_every`-th (a variable, so the
        # schedule survives tf.function and resumes with the trainer's weights).
        self.batches_seen = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                            trainable=False, name="batches_seen")
        self.hvp = check_arg_choice("hvp", hvp, HVP_MODES)
        if fd_h is not None:
            check_arg_range("fd_h", fd_h, 0.0, low_inclusive=False)
        self.fd_h = fd_h
        self.clip = bool(clip)
        self.g_weight_decay = float(weight_decay if g_weight_decay is None
                                    else g_weight_decay)
        if generator is None:
            from tf_advnet.models.advnet_generators import advnet_g0

            generator = advnet_g0(tuple(classifier.input_shape[1:]))
        self.generator = generator
        self.g_optimizer = None
        self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm_sq")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, optimizer=None, g_optimizer=None, **kwargs):
        """Sets D's and G's optimisers (default: SGD 0.01, momentum 0.9 each)."""
        self.compile_with_generator(optimizer, g_optimizer, _sgd, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_loss_tracker, self.adv_loss_tracker,
                self.clean_acc_tracker, self.adv_acc_tracker, self.grad_norm_tracker,
                self.g_loss_tracker]

    # ----------------------------------------------------------------- pieces

    def perturbation(self, g_in, training=True):
        """eps * G(input)."""
        return self.eps * self.generator(g_in, training=training)

    def adversarial(self, x, g_in, training=True):
        """x + eps * G(input), projected onto [0, 1] when `clip`."""
        return perturb(x, self.perturbation(g_in, training), self.clip)

    def finite_difference_h(self):
        """h of Eq. (9): `fd_h`, or eta_G / 10 with eta_G G's current learning rate."""
        if self.fd_h is not None:
            return tf.constant(self.fd_h, tf.float32)
        return tf.cast(self.g_optimizer.learning_rate, tf.float32) / 10.0

    def generator_step(self, x, y):
        """One ascent step of G on lambda CE(D(x + eps G), y) (D in inference mode)."""
        gen_w = self.generator.trainable_weights
        g_in = generator_inputs(self.generator, x, y)
        with tf.GradientTape() as tape:
            x_adv = self.adversarial(x, g_in)
            adv_ce, adv_logits = self.ce(x_adv, y, training=False)
            g_loss = -self.lam * adv_ce + regularization(self.generator,
                                                          self.g_weight_decay)
            scaled = scale_for_replicas(g_loss)
        self.g_optimizer.apply(tape.gradient(scaled, gen_w), gen_w)
        return g_loss, adv_ce, adv_logits

    def discriminator_gradients(self, x, y):
        """D's gradient of Eq. (8) and the step's statistics.

        Returns:
          (grads, stats): grads for D's trainable weights (per replica; Keras
          sums them), stats a dict with clean_ce, adv_ce, clean_logits,
          adv_logits and grad_norm_sq.
        """
        clf_w = self.classifier.trainable_weights
        gen_w = self.generator.trainable_weights
        # One z for both evaluations of Eq. (9): common random numbers.
        g_in = generator_inputs(self.generator, x, y)
        exact = self.hvp == "exact" and self.gamma != 0.0
        with tf.GradientTape(persistent=True) as outer:
            with tf.GradientTape() as inner:
                x_adv = self.adversarial(x, g_in)
                adv_ce, adv_logits = self.ce(x_adv, y, training=True)
                adv_term = scale_for_replicas(self.lam * adv_ce)
            # v = grad_phi F (only the adversarial term depends on phi).
            v_local = inner.gradient(adv_term, gen_w)
            v = _all_reduce_sum([tf.stop_gradient(g) for g in v_local])
            clean_ce, clean_logits = self.ce(x, y, training=True)
            clean_term = scale_for_replicas(
                clean_ce + regularization(self.classifier, self.weight_decay))
            total = clean_term + adv_term
            if exact:
                # grad_theta of gamma/2 ||v||^2 is gamma (dv/dtheta)^T v; summed over
                # replicas, each contributes gamma (dv_r/dtheta)^T v.
                total += self.gamma * tf.add_n(
                    [tf.reduce_sum(a * b) for a, b in zip(v, v_local)])
        grads = outer.gradient(total, clf_w)
        if self.hvp == "finite_difference" and self.gamma != 0.0:
            g_adv = outer.gradient(adv_term, clf_w)
            h = self.finite_difference_h()
            shifted = [w + h * g for w, g in zip(gen_w, v)]
            with tf.GradientTape() as tape:
                delta, _ = self.generator.stateless_call(
                    shifted, self.generator.non_trainable_variables, g_in, training=True)
                adv_ce_h, _ = self.ce(perturb(x, self.eps * delta, self.clip), y,
                                      training=True)
                adv_term_h = scale_for_replicas(self.lam * adv_ce_h)
            g_adv_h = tape.gradient(adv_term_h, clf_w)
            grads = [g + (self.gamma / h) * (a - b)
                     for g, a, b in zip(grads, g_adv_h, g_adv)]
        del outer
        grad_norm_sq = tf.add_n([tf.reduce_sum(tf.square(g)) for g in v])
        return grads, {"clean_ce": clean_ce, "adv_ce": adv_ce,
                       "clean_logits": clean_logits, "adv_logits": adv_logits,
                       "grad_norm_sq": grad_norm_sq}

    # ------------------------------------------------------------------ steps

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        for _ in range(self.g_updates * self.g_steps):
            g_loss, adv_ce, adv_logits = self.generator_step(x, y)
        self.g_loss_tracker.update_state(g_loss)
        clf_w = self.classifier.trainable_weights
        if clf_w and self.d_every == 1:
            adv_ce, adv_logits, clean_ce, clean_logits = self._d_step(x, y, clf_w)
        elif clf_w:
            # The official MNIST schedule: G steps on every batch, D on every
            # `d_every`-th one. The optimiser is built before the branch so that no
            # variable is created inside it. TensorFlow cannot synchronise replicas
            # (gradient all-reduce, sync batch norm) inside a branch.
            if tf.distribute.get_strategy().num_replicas_in_sync > 1:
                raise ValueError("d_every > 1 runs on one device only (a D step on "
                                 "some batches is a branch, and replicas cannot "
                                 f"synchronise inside one); got d_every={self.d_every}")
            self.optimizer.build(clf_w)
            self.batches_seen.assign_add(1)
            adv_ce, adv_logits, clean_ce, clean_logits = tf.cond(
                tf.equal(self.batches_seen % self.d_every, 0),
                lambda: self._d_step(x, y, clf_w),
                lambda: (adv_ce, adv_logits) + self.ce(x, y, training=False))
        else:  # a fixed classifier: G alone (Sec. 4.5); D's stats in inference mode
            clean_ce, clean_logits = self.ce(x, y, training=False)
        self.loss_tracker.update_state(clean_ce + self.lam * adv_ce)
        self.clean_loss_tracker.update_state(clean_ce)
        self.adv_loss_tracker.update_state(adv_ce)
        self.clean_acc_tracker.update_state(y, clean_logits)
        self.adv_acc_tracker.update_state(y, adv_logits)
        return {m.name: m.result() for m in self.metrics}

    def _d_step(self, x, y, clf_w):
        """One step of D (Eq. 4 with the regulariser of Eq. 8); its batch's stats."""
        grads, stats = self.discriminator_gradients(x, y)
        self.optimizer.apply(grads, clf_w)
        self.update_ema()
        self.grad_norm_tracker.update_state(stats["grad_norm_sq"])
        return (stats["adv_ce"], stats["adv_logits"], stats["clean_ce"],
                stats["clean_logits"])

    def generated_perturbation(self, x, y=None):
        """x_adv - x of the current generator in inference mode, with z drawn from
        seed 0 for a noise generator (what `callbacks.PerturbationImages` shows)."""
        from tf_advnet.attacks.generator import generator_attack

        x = tf.convert_to_tensor(x, tf.float32)
        return generator_attack(self.generator, x, y, eps=self.eps, clip=self.clip,
                                seed=0) - x

    def attack(self, x, y=None, training=False):
        """The current generator's adversarial images (`generator_attack`)."""
        from tf_advnet.attacks.generator import generator_attack

        return generator_attack(self.generator, x, y, eps=self.eps, clip=self.clip,
                                training=training)


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """Wang & Yu's adversarial network (ICLR 2019): G's architecture, the minimax of
    Eq. (4), the gradient regularisation of Eq. (8)-(9) and G's optimiser. The
    perturbation scale eps is the shared `TrainConfig.eps`.

    Attributes:
      generator: "g0" (MNIST encoder-decoder), "g1" (residual encoder-decoder),
        "g2" (Gaussian z) or "g3" (label); `tf_advnet.models.advnet_generators`.
      k: the generator's width factor (None: 64, and 16 for "g3").
      lam: lambda of Eq. (4) (paper: 1).
      gamma: gamma of Eq. (8) (paper: 0.01; the official code's sign is -0.01).
      hvp: the Hessian-vector product of the regulariser: "finite_difference"
        (Eq. 9), "exact" (double backprop) or "none".
      fd_h: the finite-difference step h (None: G's learning rate / 10, Sec. 3.1).
      clip: clip x + eps G(.) to [0, 1] (the official code does not).
      g_steps: G's steps per update on one batch (paper: 5).
      g_updates: G's updates per classifier step (paper: 1; MNIST: 5).
      d_every: D steps only on every `d_every`-th batch, G's on every batch (the
        official MNIST code: 5 G steps on each batch, D on every 5th).
      g_optimizer: G's optimiser, "sgd" (with the shared momentum) or "adam".
      g_learning_rate: G's constant learning rate (paper: 0.01 SGD; CIFAR-10's
        code: 0.002 Adam).
      g_beta_1: Adam's beta_1 for G (the code: 0.5).
      g_weight_decay: L2 on G's kernels (None: the shared weight_decay, the paper's
        "for both D and G").
    """

    generator: str = "g0"
    k: Optional[int] = None
    lam: float = 1.0
    gamma: float = 0.01
    hvp: str = "finite_difference"
    fd_h: Optional[float] = None
    clip: bool = True
    g_steps: int = 5
    g_updates: int = 1
    d_every: int = 1
    g_optimizer: str = "sgd"
    g_learning_rate: float = 0.01
    g_beta_1: float = 0.5
    g_weight_decay: Optional[float] = None

    legacy_keys = {"advnet_generator": "generator", "advnet_k": "k",
                   "advnet_lambda": "lam", "advnet_gamma": "gamma", "advnet_hvp": "hvp",
                   "advnet_fd_h": "fd_h", "advnet_clip": "clip", "g_steps": "g_steps",
                   "g_updates": "g_updates", "g_optimizer": "g_optimizer",
                   "g_learning_rate": "g_learning_rate", "g_beta_1": "g_beta_1",
                   "g_weight_decay": "g_weight_decay"}

    def validate(self, train):
        from tf_advnet.models.advnet_generators import GENERATOR_NAMES

        self.choose("generator", GENERATOR_NAMES)
        self.choose("hvp", HVP_MODES)
        self.choose("g_optimizer", ("sgd", "adam"))
        self.check("g_steps", 1)
        self.check("g_updates", 1)
        self.check("d_every", 1)
        self.check("g_learning_rate", 0.0, low_inclusive=False)
        self.check("lam", 0.0)
        self.check("k", 1, optional=True)
        self.check("fd_h", 0.0, low_inclusive=False, optional=True)
        return self

    def build_generator(self, input_shape, num_classes):
        """The generator `generator` with width factor `k`."""
        from tf_advnet.models.advnet_generators import build_generator

        kw = {} if self.k is None else {"k": self.k}
        return build_generator(self.generator, input_shape, num_classes, **kw)

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed, steps_per_epoch
        gen = self.build_generator(tuple(classifier.input_shape[1:]),
                                   int(classifier.output_shape[-1]))
        return AdvNetTrainer(classifier, gen, eps=train.eps, lam=self.lam,
                             gamma=self.gamma, g_steps=self.g_steps,
                             g_updates=self.g_updates, d_every=self.d_every,
                             hvp=self.hvp, fd_h=self.fd_h,
                             clip=self.clip, weight_decay=train.weight_decay,
                             g_weight_decay=self.g_weight_decay)

    def generator_optimizer(self, train):
        """G's optimiser: `g_optimizer` at `g_learning_rate` with the run's
        momentum and gradient-norm clip."""
        return generator_optimizer(self.g_optimizer, self.g_learning_rate,
                                   beta_1=self.g_beta_1, momentum=train.momentum,
                                   clipnorm=train.clipnorm)

    def optimizers(self, train, make_optimizer):
        return {"g_optimizer": self.generator_optimizer(train)}
