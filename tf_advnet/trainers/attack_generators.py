"""Trainers of the AdvGAN and GAP attack generators against a FROZEN classifier.

L2L-DA (Jang et al., ICCV 2019, Table 2) evaluates each defence with AdvGAN
and GAP generators "fine-tuned to its corresponding classifier". Both trainers
here train only the attacker's networks; the classifier is called in inference
mode and never updated (its batch-norm statistics included).

AdvGAN (Xiao et al., IJCAI 2018, https://arxiv.org/abs/1801.02610), untargeted,
with delta = eps * G(x) (`advgan_perturbation`) and x_adv = clip(x + delta):

    G:   min  L_adv + alpha L_GAN + beta L_hinge
         L_adv   = E max(Z(x_adv)_y - max_{k != y} Z(x_adv)_k, -kappa)   (C&W)
         L_GAN   = 1/2 E (Dsc(x_adv) - 1)^2                              (LSGAN)
         L_hinge = E max(0, ||delta||_2 - c)
    Dsc: min  1/2 E (Dsc(x) - 1)^2 + 1/2 E Dsc(x_adv)^2                  (LSGAN)

One `train_step`: one discriminator step (x_adv from the current G, held
fixed), then one generator step (Dsc fixed, in inference mode), each with its
own tape and optimiser.

GAP (Poursaeed et al., CVPR 2018, https://arxiv.org/abs/1712.02328),
image-dependent and untargeted, with delta = eps * G(x) / max|G(x)| per image
(`gap_perturbation`):

    G:   min  log CE(f(x_adv), argmin_k f(x)_k)

i.e. push x_adv towards the least-likely class of the clean prediction. Read
from the official code (`GAP_clf.py`, `train()`: the target is
`torch.min(pretrained_clf(image), 1)` when untargeted, and the loss is
`torch.log(criterion_pre(output_pretrained, target_label))`, the log of the
batch-mean cross-entropy). The paper's own text was not available to us to
cross-check this against.

Choices and deviations (documented because the papers leave them open):
- AdvGAN's L-inf variant: the paper bounds ||delta||_2 softly with the hinge;
  the L-inf budgets of Table 2 are enforced by eps * tanh, so `hinge_c=None`
  (default) sets c = eps * sqrt(H W C), the largest L2 norm in the eps-ball,
  which makes the hinge inactive. A float `hinge_c` gives the paper's soft L2
  bound on top.
- AdvGAN's defaults: alpha = beta = 1, kappa = 0 (attack until misclassified),
  Adam(1e-3) for both networks (the paper's solver and learning rate; Keras'
  default betas). LSGAN losses with Mao et al.'s 1/2 factors, targets 1 (real)
  and 0 (fake); the discriminator outputs a raw score, no sigmoid.
- AdvGAN's untargeted L_adv uses the true labels y of the batch.
- GAP's optimiser: Adam(2e-4, beta_1=0.5), `GAP_clf.py`'s defaults. GAP's
  batch-norm generator runs in training mode (batch statistics) here and in
  inference mode (moving averages) in `gap_attack`, as `netG.train()` /
  `netG.eval()` in the code.
- MirroredStrategy: every loss is a per-replica mean scaled by
  `scale_for_replicas`, so a step on R replicas equals one on one device with
  the same global batch. GAP's log of the global-batch mean is not a mean of
  per-replica logs; its gradient grad(CE) / CE is obtained exactly by
  descending CE_replica / stop_gradient(CE_global) with CE_global all-reduced.
  (Batch-norm generators see per-replica statistics; use instance norm or
  one replica for bit-comparable runs.)

Metrics: AdvGAN returns d_loss, g_loss, adv_loss (L_adv), gan_loss (L_GAN),
hinge_loss, delta_l2 (mean ||delta||_2), clean_acc and adv_acc (the frozen
classifier's accuracy on the clean and adversarial batch). GAP returns g_loss
(log CE), ll_ce (the CE towards the least-likely class), clean_acc, adv_acc
and fool_rate (prediction changed, GAP's own measure).

Example:
    gen = advgan_generator((28, 28, 1))
    trainer = AdvGANTrainer(classifier, gen, advgan_discriminator((28, 28, 1)),
                            eps=0.3)
    trainer.compile()                          # Adam(1e-3) for G and for Dsc
    trainer.fit(train_ds, epochs=...)
    x_adv = advgan_attack(gen, x, eps=0.3)
"""

import math

import keras
import tensorflow as tf

from tf_advnet.attacks.generator import perturb
from tf_advnet.attacks.generator_attacks import advgan_perturbation
from tf_advnet.attacks.generator_attacks import KINDS
from tf_advnet.attacks.generator_attacks import gap_perturbation
from tf_advnet.attacks.losses import cross_entropy
from tf_advnet.attacks.losses import cw_margin
from tf_advnet.errors import CheckpointError
from tf_advnet.errors import check_arg_choice
from tf_advnet.errors import check_arg_range
from tf_advnet.models import attack_generators as gens
from tf_advnet.trainers.base import regularization
from tf_advnet.utils.compiled import (assign_weights, optimizer_state, reseed,
                                      restore_optimizer_state)
from tf_advnet.trainers.base import scale_for_replicas

ADVGAN_LR = 1e-3  # AdvGAN paper: Adam, learning rate 0.001
GAP_LR, GAP_BETA_1 = 2e-4, 0.5  # GAP_clf.py: --lr 0.0002, --beta1 0.5
_SQRT_FLOOR = 1e-12  # ||0||_2 has no gradient; sqrt(s + floor) does


def _all_reduce_mean(value):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce("sum", value) / ctx.num_replicas_in_sync


def _input_shape(classifier):
    return tuple(classifier.input_shape[1:])


def _build_optimizer(optimizer, default, weights):
    opt = default() if optimizer is None else keras.optimizers.get(optimizer)
    # Built here on its own player's weights (fit would build it on all of them).
    opt.build(weights)
    return opt


def lsgan_discriminator_loss(real_scores, fake_scores):
    """Least-squares GAN loss of the discriminator: 1/2 E(D(x)-1)^2 + 1/2 E D(x')^2."""
    return 0.5 * (tf.reduce_mean(tf.square(real_scores - 1.0))
                  + tf.reduce_mean(tf.square(fake_scores)))


def lsgan_generator_loss(fake_scores):
    """Least-squares GAN loss of the generator: 1/2 E (D(x') - 1)^2."""
    return 0.5 * tf.reduce_mean(tf.square(fake_scores - 1.0))


def l2_norms(delta):
    """Per-example ||delta||_2, differentiable at 0."""
    axes = list(range(1, delta.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(delta), axis=axes) + _SQRT_FLOOR)


class AdvGANTrainer(keras.Model):
    """AdvGAN: a perturbation generator and a GAN discriminator vs a fixed classifier.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits; frozen (called
        with training=False, never updated).
      generator: G, images -> [-1, 1] (None: `advgan_generator`, width 1).
      discriminator: Dsc, images -> one score (None: `advgan_discriminator`).
      eps: L-inf budget in [0, 1].
      alpha: weight of L_GAN (default 1).
      beta: weight of L_hinge (default 1).
      hinge_c: the hinge's L2 bound c (None: eps * sqrt(H W C), inactive).
      kappa: C&W confidence, >= 0 (default 0).
    """

    def __init__(self, classifier, generator=None, discriminator=None, *, eps,
                 alpha=1.0, beta=1.0, hinge_c=None, kappa=0.0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        shape = _input_shape(classifier)
        self.generator = gens.advgan_generator(shape) if generator is None else generator
        self.discriminator = (gens.advgan_discriminator(shape) if discriminator is None
                              else discriminator)
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0))
        self.alpha = float(check_arg_range("alpha", alpha, 0.0))
        self.beta = float(check_arg_range("beta", beta, 0.0))
        self.kappa = float(check_arg_range("kappa", kappa, 0.0))
        if hinge_c is None:  # the eps-ball's largest L2 norm (inf if H, W unknown)
            hinge_c = (float("inf") if None in shape
                       else self.eps * math.sqrt(math.prod(shape)))
        self.hinge_c = float(check_arg_range("hinge_c", hinge_c, 0.0))
        self.g_optimizer = None
        self.d_optimizer = None
        names = ("d_loss", "g_loss", "adv_loss", "gan_loss", "hinge_loss", "delta_l2")
        self._means = {n: keras.metrics.Mean(name=n) for n in names}
        self.clean_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="clean_acc")
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Sets G's and Dsc's optimisers (default: Adam(1e-3) each, as AdvGAN)."""
        def adam():
            return keras.optimizers.Adam(ADVGAN_LR)

        self.g_optimizer = _build_optimizer(g_optimizer, adam,
                                            self.generator.trainable_weights)
        self.d_optimizer = _build_optimizer(d_optimizer, adam,
                                            self.discriminator.trainable_weights)
        # Keras' own `optimizer` is G's, so fit creates no third, unused one.
        super().compile(optimizer=self.g_optimizer, **kwargs)

    @property
    def metrics(self):
        return list(self._means.values()) + [self.clean_acc_tracker,
                                             self.adv_acc_tracker]

    def call(self, x, training=False):
        """The adversarial images of the current generator."""
        return self.adversarial(x, training=training)[0]

    # ----------------------------------------------------------------- pieces

    def adversarial(self, x, training=True):
        """(x_adv, delta): delta = eps * G(x), x_adv = clip(x + delta, 0, 1)."""
        delta = advgan_perturbation(self.generator, x, eps=self.eps, training=training)
        return perturb(x, delta), delta

    def generated_perturbation(self, x, y=None):
        """clip(x + eps G(x)) - x in inference mode (what
        `callbacks.PerturbationImages` shows); y is not used."""
        x = tf.convert_to_tensor(x, tf.float32)
        return self.adversarial(x, training=False)[0] - x

    def discriminator_loss(self, x, x_adv, training=True):
        """Dsc's LSGAN loss on real x and fake x_adv."""
        real = self.discriminator(x, training=training)
        fake = self.discriminator(x_adv, training=training)
        return lsgan_discriminator_loss(real, fake)

    def generator_losses(self, x, y, training=True):
        """G's objective and its parts (Dsc and the classifier in inference mode).

        Returns:
          dict with g_loss, adv_loss, gan_loss, hinge_loss, delta_l2 (scalars),
          x_adv and adv_logits.
        """
        x_adv, delta = self.adversarial(x, training=training)
        adv_logits = self.classifier(x_adv, training=False)
        # -cw_margin = max(Z_y - max_{k != y} Z_k, -kappa): AdvGAN's L_adv.
        adv_loss = tf.reduce_mean(-cw_margin(adv_logits, y, self.kappa))
        # Dsc is the fixed critic during G's step: inference mode, so a
        # user-supplied batch-norm discriminator keeps its statistics.
        gan_loss = lsgan_generator_loss(self.discriminator(x_adv, training=False))
        norms = l2_norms(delta)
        hinge_loss = tf.reduce_mean(tf.nn.relu(norms - self.hinge_c))
        g_loss = adv_loss + self.alpha * gan_loss + self.beta * hinge_loss
        return {"g_loss": g_loss, "adv_loss": adv_loss, "gan_loss": gan_loss,
                "hinge_loss": hinge_loss, "delta_l2": tf.reduce_mean(norms),
                "x_adv": x_adv, "adv_logits": adv_logits}

    def discriminator_step(self, x):
        """One step of Dsc on the LSGAN loss (G fixed); returns the loss."""
        x = tf.convert_to_tensor(x, tf.float32)
        x_adv = tf.stop_gradient(self.adversarial(x)[0])
        weights = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            d_loss = self.discriminator_loss(x, x_adv)
            scaled = scale_for_replicas(d_loss + regularization(self.discriminator, 0.0))
        self.d_optimizer.apply(tape.gradient(scaled, weights), weights)
        return d_loss

    def generator_step(self, x, y):
        """One step of G on L_adv + alpha L_GAN + beta L_hinge; returns the parts."""
        x = tf.convert_to_tensor(x, tf.float32)
        weights = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            parts = self.generator_losses(x, y)
            scaled = scale_for_replicas(parts["g_loss"]
                                        + regularization(self.generator, 0.0))
        self.g_optimizer.apply(tape.gradient(scaled, weights), weights)
        return parts

    # ------------------------------------------------------------------ steps

    def _record(self, x, y, d_loss, parts):
        self._means["d_loss"].update_state(d_loss)
        for name in ("g_loss", "adv_loss", "gan_loss", "hinge_loss", "delta_l2"):
            self._means[name].update_state(parts[name])
        self.clean_acc_tracker.update_state(y, self.classifier(x, training=False))
        self.adv_acc_tracker.update_state(y, parts["adv_logits"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        d_loss = self.discriminator_step(x)
        parts = self.generator_step(x, y)
        return self._record(x, y, d_loss, parts)

    def test_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        parts = self.generator_losses(x, y, training=False)
        d_loss = self.discriminator_loss(x, parts["x_adv"], training=False)
        return self._record(x, y, d_loss, parts)


class GAPTrainer(keras.Model):
    """GAP: an image-dependent perturbation generator vs a fixed classifier.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits; frozen (called
        with training=False, never updated).
      generator: G, images -> (H, W, C) outputs (None: `gap_generator`, ngf 64,
        6 blocks, batch norm).
      eps: L-inf budget in [0, 1]; every perturbation has exactly this norm
        before clipping to [0, 1].
    """

    def __init__(self, classifier, generator=None, *, eps, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.generator = (gens.gap_generator(_input_shape(classifier))
                          if generator is None else generator)
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0))
        self.g_optimizer = None
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.ce_tracker = keras.metrics.Mean(name="ll_ce")
        self.fool_tracker = keras.metrics.Mean(name="fool_rate")
        self.clean_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="clean_acc")
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")

    def compile(self, g_optimizer=None, **kwargs):
        """Sets G's optimiser (default Adam(2e-4, beta_1=0.5), as GAP_clf.py)."""
        def adam():
            return keras.optimizers.Adam(GAP_LR, beta_1=GAP_BETA_1)

        self.g_optimizer = _build_optimizer(g_optimizer, adam,
                                            self.generator.trainable_weights)
        super().compile(optimizer=self.g_optimizer, **kwargs)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.ce_tracker, self.clean_acc_tracker,
                self.adv_acc_tracker, self.fool_tracker]

    def call(self, x, training=False):
        """The adversarial images of the current generator."""
        return self.adversarial(x, training=training)

    def adversarial(self, x, training=True):
        """clip(x + eps G(x) / max|G(x)|, 0, 1) (`gap_perturbation`)."""
        return perturb(x, gap_perturbation(self.generator, x, eps=self.eps,
                                           training=training))

    def generated_perturbation(self, x, y=None):
        """The GAP perturbation after clipping, in inference mode (what
        `callbacks.PerturbationImages` shows); y is not used."""
        x = tf.convert_to_tensor(x, tf.float32)
        return self.adversarial(x, training=False) - x

    def least_likely(self, clean_logits):
        """GAP's untargeted target: the least-likely class of the clean prediction."""
        return tf.argmin(clean_logits, axis=-1)

    def generator_losses(self, x, target, training=True):
        """(ce, ce_global, adv_logits): the per-replica and all-replica mean CE
        towards `target` (G's loss is log ce_global)."""
        adv_logits = self.classifier(self.adversarial(x, training=training),
                                     training=False)
        ce = tf.reduce_mean(cross_entropy(adv_logits, target))
        return ce, _all_reduce_mean(tf.stop_gradient(ce)), adv_logits

    def generator_step(self, x, target):
        """One descent step of G on log CE(f(x_adv), target); returns the losses."""
        weights = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            ce, ce_global, adv_logits = self.generator_losses(x, target)
            # d log(CE_global) = d CE_global / CE_global: exact across replicas.
            surrogate = ce / ce_global + regularization(self.generator, 0.0)
            scaled = scale_for_replicas(surrogate)
        self.g_optimizer.apply(tape.gradient(scaled, weights), weights)
        return ce, ce_global, adv_logits

    def _step(self, data, train):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        clean_logits = self.classifier(x, training=False)
        target = self.least_likely(clean_logits)
        if train:
            ce, ce_global, adv_logits = self.generator_step(x, target)
        else:
            ce, ce_global, adv_logits = self.generator_losses(x, target, training=False)
        self.g_loss_tracker.update_state(tf.math.log(ce_global))
        self.ce_tracker.update_state(ce)
        self.clean_acc_tracker.update_state(y, clean_logits)
        self.adv_acc_tracker.update_state(y, adv_logits)
        fooled = tf.not_equal(tf.argmax(adv_logits, -1), tf.argmax(clean_logits, -1))
        self.fool_tracker.update_state(tf.cast(fooled, tf.float32))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        return self._step(data, train=True)

    def test_step(self, data):
        return self._step(data, train=False)


class _EpochLines(keras.callbacks.Callback):
    """Sends one line of metrics per epoch to `progress`."""

    def __init__(self, kind, epochs, progress):
        super().__init__()
        self.kind, self.epochs, self.progress = kind, epochs, progress

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        stats = " ".join(f"{k} {float(v):.4f}" for k, v in sorted(logs.items()))
        self.progress(f"[{self.kind}] epoch {epoch + 1}/{self.epochs} {stats}")


def _load(path):
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # zip / json / h5 errors all mean the same to a user
        raise CheckpointError(f"stored generator {path} is corrupt or not a Keras "
                              f"model ({type(e).__name__}); delete it to retrain") from None


def _networks(kind, shape, width):
    """(generator, discriminator or None) of `kind` at `width` (see
    `train_attack_generator`), initialised from Keras' global seed."""
    if kind == "advgan":
        w = 1.0 if width is None else width
        return (gens.advgan_generator(shape, width=w),
                gens.advgan_discriminator(shape, width=w))
    w = 64 if width is None else max(1, int(round(64 * width)))
    return gens.gap_generator(shape, width=w), None


def _trainer(kind, classifier, generator, discriminator, eps):
    if kind == "advgan":
        trainer = AdvGANTrainer(classifier, generator, discriminator, eps=eps)
    else:
        trainer = GAPTrainer(classifier, generator, eps=eps)
    trainer.compile()
    return trainer


def _fit(trainer, kind, classifier, x, y, *, eps, epochs, batch_size, seed, progress):
    n = int(x.shape[0])
    ds = (tf.data.Dataset.from_tensor_slices((x, tf.convert_to_tensor(y)))
          .shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
          .batch(int(batch_size)))
    callbacks = [_EpochLines(kind, int(epochs), progress)] if progress else []
    if progress:
        progress(f"[{kind}] training a generator against {classifier.name} "
                 f"(eps {eps:g}, {epochs} epochs)")
    trainer.fit(ds, epochs=int(epochs), verbose=0, callbacks=callbacks, shuffle=False)


def architecture(model):
    """A hashable description of `model`'s architecture, or None if it has none.

    `model.get_config()` as JSON with every name replaced by its order of first
    appearance (so two builds of one network, whose layers Keras numbers
    differently, agree while the wiring of a functional model still counts),
    "trainable" left out, and the shapes of its weights. None for a model whose
    config is not available (a subclassed model without `get_config`).
    """
    import json

    try:
        config = model.get_config()
    except NotImplementedError:
        return None
    names = {}

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("name"), str):
                names.setdefault(node["name"], f"#{len(names)}")
            for v in node.values():
                collect(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                collect(v)

    def rename(node):
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items() if k != "trainable"}
        if isinstance(node, (list, tuple)):
            return [rename(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    text = json.dumps(rename(config), sort_keys=True, default=repr)
    return type(model).__name__, text, tuple(tuple(w.shape) for w in model.weights)


class _Slot:
    """One compiled trainer of one kind around a frozen copy of one classifier
    architecture (`GeneratorSlots`)."""

    def __init__(self, kind, classifier, shape, eps, width):
        self.kind = kind
        self.classifier = keras.models.clone_model(classifier)
        self.networks = _networks(kind, shape, width)
        self.trainer = _trainer(kind, self.classifier, *self.networks, eps)
        self.optimizers = [self.trainer.g_optimizer]
        if kind == "advgan":
            self.optimizers.append(self.trainer.d_optimizer)
        # Adam's moments and iteration count as `compile` leaves them: zeros.
        self.fresh = [optimizer_state(opt) for opt in self.optimizers]

    def reset(self, classifier, networks):
        """The classifier's weights and `networks`' (fresh) weights into the slot,
        the optimisers back to their state after `compile`."""
        assign_weights(self.classifier, classifier)
        for a, b in zip(self.networks, networks):
            if a is not None:
                assign_weights(a, b)
        for opt, state in zip(self.optimizers, self.fresh, strict=True):
            restore_optimizer_state(opt, state)


class GeneratorSlots:
    """Compiled AdvGAN / GAP trainers reused across classifiers of one architecture.

    `train_attack_generator` builds a generator (and AdvGAN's discriminator), a
    trainer and its optimisers, and `model.fit` traces `train_step` anew, for every
    classifier it attacks: seconds of tracing per call on 2 CPU cores, more than the
    training itself for a few epochs on a few images (L2L-DA's Table 2 fine-tunes
    one AdvGAN and one GAP per row). Here one trainer per (kind, input shape,
    width, eps, classifier architecture) is built and compiled once; each
    `train` copies the classifier's weights into the slot's frozen copy of it,
    draws the networks' initial weights exactly as a fresh call does (the same
    builders after `utils.compiled.reseed(seed)`) and copies them in,
    resets the optimisers' variables to their state after `compile` (zeros),
    and fits with the same data pipeline. The slot's traced `train_step` reads
    only its own variables, so the new values need no retrace, and the result
    equals a fresh `train_attack_generator` with the same arguments
    (tests/trainers/test_generator_slots.py).

    A classifier whose architecture (`architecture`) is unavailable is trained
    the fresh way. Build and use one instance under one `tf.distribute` scope.

    Example:
        slots = GeneratorSlots()
        for clf in classifiers:      # one architecture: one trace per kind
            gen = train_attack_generator("gap", clf, x, y, eps=0.3, epochs=2,
                                         batch_size=64, seed=0, slots=slots)
    """

    def __init__(self):
        self._slots = {}

    def slot(self, kind, classifier, shape, eps, width):
        """The `_Slot` for these settings (built on first use), or None."""
        arch = architecture(classifier)
        if arch is None:
            return None
        key = (kind, tuple(shape), width, float(eps), arch)
        if key not in self._slots:
            self._slots[key] = _Slot(kind, classifier, tuple(shape), eps, width)
        return self._slots[key]

    def __len__(self):
        return len(self._slots)

    def train(self, kind, classifier, x, y, *, eps, epochs, batch_size, seed, width=None,
              progress=print):
        """`train_attack_generator` (without a store) in a reused trainer.

        Returns a generator of its own (not the slot's), trained as a fresh call
        with these arguments trains it.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        shape = tuple(x.shape[1:])
        slot = self.slot(kind, classifier, shape, eps, width)
        reseed(seed)
        networks = _networks(kind, shape, width)  # the fresh call's initial weights
        if slot is None:
            trainer = _trainer(kind, classifier, *networks, eps)
        else:
            slot.reset(classifier, networks)
            trainer = slot.trainer
        _fit(trainer, kind, classifier, x, y, eps=eps, epochs=epochs,
             batch_size=batch_size, seed=seed, progress=progress)
        if slot is not None:  # hand out the trained weights in networks of its own
            assign_weights(networks[0], slot.networks[0])
        return networks[0]


def train_attack_generator(kind, classifier, x, y, *, eps, epochs, batch_size, seed,
                           width=None, store=None, progress=print, slots=None):
    """Trains an AdvGAN or GAP generator against the fixed `classifier`.

    Builds the paper's generator (and AdvGAN's discriminator) and trains it with
    `model.fit` under the trainers' default optimisers. With a `store`
    (`tf_advnet.store.Store`) the generator is kept under the fingerprint of the
    classifier's weights, the data and every argument, and reused only when all
    are unchanged: a retrained classifier gets a new generator. Call it inside a
    `tf.distribute` strategy's scope to train on several replicas.

    Args:
      kind: "advgan" or "gap".
      classifier: keras.Model mapping [0, 1] images to logits; never updated.
      x: training images (N, H, W, C) in [0, 1].
      y: integer labels (N,) (AdvGAN's loss uses them; GAP only reports them).
      eps: L-inf budget in [0, 1].
      epochs: passes over (x, y), >= 1.
      batch_size: examples per step, >= 1.
      seed: seeds the initialisation and the shuffling.
      width: channel multiplier of the networks (None or 1.0: the papers';
        GAP's ngf is round(64 * width)).
      store: a `tf_advnet.store.Store` to keep / reuse the generator in, or None.
      progress: callable(str) for one line per epoch, or None.
      slots: a `GeneratorSlots` to train in (its compiled trainer for this
        classifier's architecture, reused across calls; the same generator as
        without it), or None for new networks and a new trainer.

    Returns:
      The trained (or loaded) generator.

    Raises:
      UserError: unknown `kind` or bad arguments.
      CheckpointError: a stored generator that does not load.
    """
    check_arg_choice("kind", kind, KINDS)
    check_arg_range("eps", eps, 0.0, 1.0)
    check_arg_range("epochs", epochs, 1)
    check_arg_range("batch_size", batch_size, 1)
    if store is not None:
        entry = store.entry(f"{kind}_generator", classifier=classifier, data=(x, y),
                            eps=eps, epochs=epochs, batch_size=batch_size, seed=seed,
                            width=width)
        if entry.done("generator.keras") and progress:
            progress(f"[{kind}] reusing the generator trained against these weights "
                     f"({entry.dir})")
        return entry.model("generator.keras", lambda: train_attack_generator(
            kind, classifier, x, y, eps=eps, epochs=epochs, batch_size=batch_size,
            seed=seed, width=width, progress=progress, slots=slots), _load)
    if slots is not None:
        return slots.train(kind, classifier, x, y, eps=eps, epochs=epochs,
                           batch_size=batch_size, seed=seed, width=width,
                           progress=progress)
    x = tf.convert_to_tensor(x, tf.float32)
    reseed(seed)
    networks = _networks(kind, tuple(x.shape[1:]), width)
    trainer = _trainer(kind, classifier, *networks, eps)
    _fit(trainer, kind, classifier, x, y, eps=eps, epochs=epochs, batch_size=batch_size,
         seed=seed, progress=progress)
    return trainer.generator
