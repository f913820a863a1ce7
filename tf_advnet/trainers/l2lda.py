"""L2L-DA: adversarial training against a learned, recursive, stochastic attacker.

Jang, Zhao, Hong, Lee, "Adversarial Defense via Learning to Generate Diverse
Attacks", ICCV 2019; official code `YunseokJANG/l2l-da` (`adv_defence/trainer.py`,
`train()`; `adv_defence/config.py`). One `train_step` is Algorithm 1:

1. x, y duplicated, [x; x], [y; y], with z = [z1; z2] (one independent z row per
   example; rows i and B+i form the pair of Eq. 7);
2. the recursion of Eq. (5) for T steps (`tf_advnet.attacks.l2lda.trajectory`),
   the classifier in inference mode, the generator's BN on batch statistics;
3. the generator ascends L_cls + lambda L_div:
   L_cls = (1/T) sum_t mean CE(x_adv^(t)) (Eq. 6), and
   L_div = (1/T) sum_t mean_i [ mean|x_adv,i^(t)(z1) - x_adv,i^(t)(z2)| /
                                (mean|z1,i - z2,i| + 1e-8) ] (Eq. 7 as the code
   computes it: per-pair ratios of means; lambda = 0.02 on MNIST, 0.5 on
   CIFAR-10 are the code's values for this form);
4. the classifier descends the mean CE over [x; x_adv^(T)(z1); x_adv^(T)(z2)] in
   training mode (Algorithm 1's L(x) + L(x_adv^(T)); the code's one batch of 3B
   images weights clean : adversarial 1 : 2), with the adversarial images made
   before the generator's update, as in Algorithm 1.

Flags give the ablations of Table 1:
- `recursive=False` ("R X"): one shot, T = 1 with eps_step = eps;
- `diversity=False` ("D X"): lambda = 0 (L_div is still reported);
- the generator's own inputs (`l2lda_generator(use_delta=..., use_label=...)`)
  give Table 1(b); `normalize_grad=False` feeds the raw gradient;
- L2L* (Table 1(a), row 1): `l2l_star_generator`, recursive=False,
  diversity=False, normalize_grad=False.

Readings and deviations:
- Eq. (6) is a mean over t; the code sums L_cls and L_div over t before its
  gradient-norm clip at 1 (a factor T on the generator's gradient, so the clip
  shrinks a mean's steps up to T times more): `step_reduction` "mean" (the paper,
  the default) or "sum" (the code; the study's paper preset).
- The code's 1,000 clean warm-up steps on MNIST are not here: the classifier
  starts from a pre-trained plain model, as the paper says (Sec. 5.1).
- z comes from a stateless RNG keyed on (seed, generator step) and drawn for the
  global batch, each replica taking its rows, so a step on two replicas equals
  one on a single device with the same global batch (build the generator with
  `sync_bn=True` for that; its CBN statistics are then global too).
- A classifier with no trainable weights trains the generator alone: the
  L2L-DA attack "fine-tuned against the fixed classifier" of Table 2.

Metrics: loss (classifier CE on the 3B batch), clean_acc, adv_acc (classifier
on x_adv^(T)), l_cls, l_div, adv_loss_first / adv_loss_last (mean CE at
x_adv^(1) and x_adv^(T): Eq. 6 asks the second to be the larger), g_grad_norm
(global norm of the generator's gradient before its optimiser's clip: how much the
code's clip at 1 shrinks the step, per replica).

Example:
    gen = l2lda_generator((28, 28, 1), 10)
    trainer = L2LDATrainer(pretrained_lenet, gen, eps=0.3, lam=0.02)
    trainer.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                    g_optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    trainer.fit(train_ds, epochs=...)
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from tf_advnet.attacks.l2lda import l2lda_attack, trajectory
from tf_advnet.errors import check_arg_choice, check_arg_range
from tf_advnet.models.l2lda_generator import input_names, z_dim_of
from tf_advnet.trainers.base import (ClassifierTrainer, TrainerConfig, generator_optimizer,
                                    regularization, scale_for_replicas)

# The code's stabiliser of the diversity ratio's denominator.
_DIV_EPS = 1e-8


def _sgd():
    # The official `config.py` and `trainer.py`: SGD lr 0.01, momentum 0.9,
    # gradient-norm clip 1.
    return keras.optimizers.SGD(0.01, momentum=0.9, global_clipnorm=1.0)


def diversity_loss(x_advs, z, pairs):
    """Eq. (7) as the code computes it (module docstring).

    Args:
      x_advs: list over t of (2B, ...) images, rows i and B+i from z1, z2.
      z: (2B, z_dim) latent codes.
      pairs: B.
    """
    z_gap = tf.reduce_mean(tf.abs(z[:pairs] - z[pairs:]), axis=-1)
    terms = []
    for xa in x_advs:
        gap = tf.reduce_mean(tf.abs(xa[:pairs] - xa[pairs:]), axis=[1, 2, 3])
        terms.append(tf.reduce_mean(gap / (z_gap + _DIV_EPS)))
    return tf.add_n(terms) / len(terms)


class L2LDATrainer(ClassifierTrainer):
    """Algorithm 1 of L2L-DA (module docstring).

    Args:
      classifier: keras.Model mapping [0, 1] images to logits (pre-trained).
      generator: an L2L-DA generator (`tf_advnet.models.l2lda_generator`); None
        builds the paper's (width 64, z_dim 8).
      eps: L-inf radius in [0, 1].
      num_steps: T (paper 10).
      eps_step: default eps / 4.
      lam: lambda of Eq. (8) (code: 0.02 MNIST, 0.5 CIFAR-10).
      recursive: False gives the one-shot generator (T = 1, eps_step = eps).
      diversity: False sets lambda to 0.
      normalize_grad: normalise the generator's gradient input.
      step_reduction: "mean" over the T steps (Eq. 6) or "sum" (the code).
      clip: project onto [0, 1].
      weight_decay: coupled L2 on the classifier's kernels.
      g_weight_decay: on the generator's kernels (None: as `weight_decay`).
      seed: seed of z.
    """

    def __init__(self, classifier, generator=None, *, eps, num_steps=10, eps_step=None,
                 lam=0.02, recursive=True, diversity=True, normalize_grad=True,
                 step_reduction="mean", clip=True, weight_decay=0.0, g_weight_decay=None,
                 seed=0, **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0))
        self.recursive = bool(recursive)
        self.num_steps = int(check_arg_range("num_steps", num_steps, 1)) if recursive else 1
        if not recursive:
            eps_step = self.eps
        self.eps_step = float(self.eps / 4.0 if eps_step is None else eps_step)
        self.diversity = bool(diversity)
        self.lam = float(check_arg_range("lam", lam, 0.0)) if diversity else 0.0
        self.normalize_grad = bool(normalize_grad)
        self.step_reduction = check_arg_choice("step_reduction", step_reduction,
                                               ("mean", "sum"))
        self.clip = bool(clip)
        self.g_weight_decay = float(weight_decay if g_weight_decay is None
                                    else g_weight_decay)
        self.seed = int(seed)
        if generator is None:
            from tf_advnet.models.l2lda_generator import l2lda_generator

            generator = l2lda_generator(tuple(classifier.input_shape[1:]),
                                        int(classifier.output_shape[-1]))
        input_names(generator)  # a clear error for a generator of another kind
        self.generator = generator
        self.g_optimizer = None
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")
        self.l_cls_tracker = keras.metrics.Mean(name="l_cls")
        self.l_div_tracker = keras.metrics.Mean(name="l_div")
        self.first_tracker = keras.metrics.Mean(name="adv_loss_first")
        self.last_tracker = keras.metrics.Mean(name="adv_loss_last")
        self.g_norm_tracker = keras.metrics.Mean(name="g_grad_norm")

    def compile(self, optimizer=None, g_optimizer=None, **kwargs):
        """Sets the classifier's and the generator's optimisers (default each: SGD
        0.01, momentum 0.9, global gradient-norm clip 1, as the code)."""
        self.compile_with_generator(optimizer, g_optimizer, _sgd, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_acc_tracker, self.adv_acc_tracker,
                self.l_cls_tracker, self.l_div_tracker, self.first_tracker,
                self.last_tracker, self.g_norm_tracker]

    def noise(self, local_batch):
        """[z1; z2] rows for this replica's pairs, drawn for the global batch.

        Returns (2 * local_batch, z_dim), or None for a generator without z.
        """
        dim = z_dim_of(self.generator)
        if not dim:
            return None
        ctx = tf.distribute.get_replica_context()
        n = 1 if ctx is None else ctx.num_replicas_in_sync
        rid = 0 if ctx is None else ctx.replica_id_in_sync_group
        rid = tf.cast(rid, tf.int32)
        step = tf.cast(self.g_optimizer.iterations, tf.int32)
        total = local_batch * n
        z = tf.random.stateless_normal(tf.stack([2 * total, dim]),
                                       seed=tf.stack([tf.constant(self.seed), step]))
        start = rid * local_batch
        return tf.concat([z[start:start + local_batch],
                          z[total + start:total + start + local_batch]], axis=0)

    def generate(self, x, y, z, training=True):
        """Eq. (5) from the current generator: (x_advs, per-step losses)."""
        return trajectory(self.generator, self.classifier_fn, x, y, z, eps=self.eps,
                          eps_step=self.eps_step, num_steps=self.num_steps,
                          normalize=self.normalize_grad, training=training,
                          clip=self.clip)

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.cast(tf.reshape(y, [-1]), tf.int64)
        batch = tf.shape(x)[0]
        xx, yy = tf.concat([x, x], 0), tf.concat([y, y], 0)
        z = self.noise(batch)
        gen_w = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            x_advs, losses = self.generate(xx, yy, z)
            # Eq. (6)'s mean over t, or the code's sum (`step_reduction`).
            per_step = 1.0 if self.step_reduction == "mean" else float(len(losses))
            l_cls = per_step * tf.add_n([tf.reduce_mean(v) for v in losses]) / len(losses)
            l_div = (per_step * diversity_loss(x_advs, z, batch) if z is not None
                     else tf.constant(0.0))
            g_loss = -(l_cls + self.lam * l_div) + regularization(
                self.generator, self.g_weight_decay)
            scaled = scale_for_replicas(g_loss)
        g_grads = tape.gradient(scaled, gen_w)
        # Before apply(): the optimiser's global_clipnorm rescales inside it.
        self.g_norm_tracker.update_state(tf.linalg.global_norm(g_grads))
        self.g_optimizer.apply(g_grads, gen_w)

        x_adv = tf.stop_gradient(x_advs[-1])  # made before G's update (Algorithm 1)
        if self.classifier.trainable_weights:
            loss, logits = self.descend(lambda: self.ce(tf.concat([x, x_adv], 0),
                                                        tf.concat([y, yy], 0)))
            clean_logits, adv_logits = logits[:batch], logits[batch:]
        else:  # a fixed classifier: the generator alone (the attack's fine-tuning)
            clean_logits = self.classifier_fn(x)
            adv_logits = self.classifier_fn(x_adv)
            loss = tf.reduce_mean(losses[-1])
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, clean_logits)
        self.adv_acc_tracker.update_state(yy, adv_logits)
        self.l_cls_tracker.update_state(l_cls)
        self.l_div_tracker.update_state(l_div)
        self.first_tracker.update_state(tf.reduce_mean(losses[0]))
        self.last_tracker.update_state(tf.reduce_mean(losses[-1]))
        return {m.name: m.result() for m in self.metrics}

    def generated_perturbation(self, x, y):
        """x_adv - x of the current generator's T recursive steps from one z (seed
        0), in inference mode (what `callbacks.PerturbationImages` shows)."""
        x = tf.convert_to_tensor(x, tf.float32)
        return self.attack(x, y, num_samples=1, seed=0) - x

    def attack(self, x, y, *, num_samples=10, training=False, seed=0):
        """The current generator as an attack (`l2lda_attack`)."""
        return l2lda_attack(self.generator, self.classifier_fn, x, y, eps=self.eps,
                            num_steps=self.num_steps, eps_step=self.eps_step,
                            num_samples=num_samples, normalize=self.normalize_grad,
                            training=training, clip=self.clip, seed=seed)


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """L2L-DA (Jang et al., ICCV 2019): the generator, Algorithm 1's recursion
    (Eq. 5) and diversity loss (Eq. 7-8), and the generator's optimiser. The
    radius eps is the shared `TrainConfig.eps`; eps_step = eps / 4.

    Attributes:
      generator: "l2lda" (the U-Net on x, grad, delta, y, z) or "l2l_star" (on x
        and grad only: L2L*, Table 1(a)).
      g_width: the generator's base width (paper: 64).
      z_dim: the size of z (paper: 8).
      num_steps: the recursive steps T (paper: 10).
      lam: the diversity weight lambda of Eq. (8) (code: 0.02 MNIST, 0.5 CIFAR-10).
      recursive: the recursion of Eq. (5), or one shot ("R X": T = 1, step eps).
      diversity: the diversity loss of Eq. (7) ("D X": off).
      delta, label: the generator takes delta / the label y (Table 1(b)).
      normalize: normalise the generator's gradient input.
      step_reduction: the generator's losses over the T steps, "mean" (Eq. 6) or
        "sum" (the code, before its gradient-norm clip).
      g_optimizer: the generator's optimiser, "sgd" (with the shared momentum; the
        code's) or "adam".
      g_learning_rate: its constant learning rate (code: 0.01).
      g_beta_1: Adam's beta_1 where g_optimizer is "adam".
      g_weight_decay: L2 on the generator's kernels (None: the shared weight_decay).
    """

    generator: str = "l2lda"
    g_width: int = 64
    z_dim: int = 8
    num_steps: int = 10
    lam: float = 0.02
    recursive: bool = True
    diversity: bool = True
    delta: bool = True
    label: bool = True
    normalize: bool = True
    step_reduction: str = "mean"
    g_optimizer: str = "sgd"
    g_learning_rate: float = 0.01
    g_beta_1: float = 0.5
    g_weight_decay: Optional[float] = None

    linf_only = True
    legacy_keys = {"l2lda_generator": "generator", "l2lda_width": "g_width",
                   "l2lda_z_dim": "z_dim", "l2lda_steps": "num_steps",
                   "l2lda_lambda": "lam", "l2lda_recursive": "recursive",
                   "l2lda_diversity": "diversity", "l2lda_delta": "delta",
                   "l2lda_label": "label", "l2lda_normalize": "normalize",
                   "g_optimizer": "g_optimizer", "g_learning_rate": "g_learning_rate",
                   "g_beta_1": "g_beta_1", "g_weight_decay": "g_weight_decay"}

    def validate(self, train):
        self.choose("generator", ("l2lda", "l2l_star"))
        self.check("g_width", 1)
        self.check("z_dim", 1)
        self.check("num_steps", 1)
        self.check("lam", 0.0)
        self.choose("step_reduction", ("mean", "sum"))
        self.choose("g_optimizer", ("sgd", "adam"))
        self.check("g_learning_rate", 0.0, low_inclusive=False)
        return self

    def build_generator(self, input_shape, num_classes):
        """The L2L-DA (or L2L*) generator of this config."""
        from tf_advnet.models.l2lda_generator import l2l_star_generator, l2lda_generator

        if self.generator == "l2l_star":
            return l2l_star_generator(input_shape, width=self.g_width)
        return l2lda_generator(input_shape, num_classes, width=self.g_width,
                               z_dim=self.z_dim, use_delta=self.delta,
                               use_label=self.label)

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del steps_per_epoch
        gen = self.build_generator(tuple(classifier.input_shape[1:]),
                                   int(classifier.output_shape[-1]))
        return L2LDATrainer(classifier, gen, eps=train.eps, num_steps=self.num_steps,
                            lam=self.lam, recursive=self.recursive,
                            diversity=self.diversity, normalize_grad=self.normalize,
                            step_reduction=self.step_reduction,
                            weight_decay=train.weight_decay,
                            g_weight_decay=self.g_weight_decay, seed=seed)

    def generator_optimizer(self, train):
        """The generator's optimiser: `g_optimizer` at `g_learning_rate` with the
        run's momentum and gradient-norm clip (the code's clip: 1)."""
        return generator_optimizer(self.g_optimizer, self.g_learning_rate,
                                   beta_1=self.g_beta_1, momentum=train.momentum,
                                   clipnorm=train.clipnorm)

    def optimizers(self, train, make_optimizer):
        return {"g_optimizer": self.generator_optimizer(train)}
