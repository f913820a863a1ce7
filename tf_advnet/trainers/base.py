"""Common shape of every trainer (Keras "customizing fit" pattern).

A trainer is a `keras.Model` that owns the classifier as an attribute, plays its
game in `train_step` with one `GradientTape` per player, applies each tape only to
that player's weights, and reports clean accuracy in `test_step`. It works
unchanged under `tf.distribute.MirroredStrategy`: losses are per-replica means
scaled by 1/num_replicas (Keras sums gradients across replicas), so a step on two
replicas equals a step on one device with the same global batch.
"""

import contextlib

import keras
import tensorflow as tf

from tf_advnet.errors import UserError, check_arg_range


def scale_for_replicas(loss):
    """Divides a per-replica mean loss by the number of replicas in sync.

    Keras's optimizer all-reduces gradients with SUM across replicas, so this makes
    the update that of the global-batch mean (the same rule Keras's own
    `compute_loss` applies).
    """
    n = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if n == 1 else loss * (1.0 / n)


def l2_penalty(model, weight_decay):
    """Coupled weight decay 0.5 * wd * sum ||W||^2 over conv/dense kernels only.

    Biases and BN parameters are excluded, as in Wang & Yu's code
    (`whxbergkamp/RobustDL_GAN`, `*/train_gan_*.py`) and BAT's (`wide_resnet.py`).
    """
    if not weight_decay:
        return tf.constant(0.0)
    kernels = [v for v in model.trainable_weights if v.path.endswith("kernel")]
    if not kernels:
        return tf.constant(0.0)
    return 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in kernels])


def float32_logits(logits):
    """float16/bfloat16 logits (a mixed-precision classifier) as float32; other
    dtypes unchanged. Losses and attacks then run in float32, as Keras' mixed
    precision guide asks."""
    if logits.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(logits, tf.float32)
    return logits


def regularization(model, weight_decay):
    """What every player's objective adds: `l2_penalty` plus the model's own layer
    losses (e.g. activity regularisers)."""
    total = l2_penalty(model, weight_decay)
    if model.losses:
        total += tf.add_n(model.losses)
    return total


class ClassifierTrainer(keras.Model):
    """Base trainer around one classifier that outputs logits.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits.
      weight_decay: coefficient of the coupled L2 penalty on kernels.
    """

    # Optimiser steps over which an adversarial trainer ramps its budget from eps/N
    # to eps (0: none); trainers that support it set it in __init__.
    eps_warmup_steps = 0
    # The decay of the exponential moving average of the weights (`enable_ema`);
    # None: no EMA.
    ema_decay = None

    def budget_scale(self):
        """Fraction of eps in force at this step (1 after the warm-up)."""
        if not self.eps_warmup_steps or self.optimizer is None:
            return tf.constant(1.0)
        done = tf.cast(self.optimizer.iterations + 1, tf.float32)
        return tf.minimum(1.0, done / float(self.eps_warmup_steps))

    def __init__(self, classifier, *, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.weight_decay = float(weight_decay)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.clean_acc_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="clean_acc")

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def ema_variables(self):
        """The weights the EMA averages: the classifier's trainable weights (a
        trainer whose other players the average covers too extends this)."""
        return list(self.classifier.trainable_weights)

    def enable_ema(self, decay):
        """Keeps an exponential moving average of `ema_variables()`, updated after
        every classifier step (`update_ema`), as PGN's official code
        (`ATPGN/ATPGN`, train.py: `tf.train.ExponentialMovingAverage(0.998)` over
        every model it trains, baselines included); `swap_ema_weights` exchanges
        it with the live weights. The average starts at the current weights."""
        decay = float(check_arg_range("ema_decay", decay, 0.0, 1.0))
        if decay == 1.0:  # the average would never move
            raise UserError("ema_decay must be in [0, 1) or None, got 1")
        self.ema_decay = decay
        # Identical on every replica, so the first replica's value is kept. A copy:
        # keras.Variable(v.value) would alias v's storage.
        self._ema_pairs = [(v, keras.Variable(keras.ops.convert_to_numpy(v),
                                              trainable=False, name="ema",
                                              aggregation="only_first_replica"))
                           for v in self.ema_variables()]
        self.ema_weights = [s for _, s in self._ema_pairs]
        return self

    def update_ema(self):
        """shadow <- d * shadow + (1 - d) * weight (nothing without an EMA)."""
        if self.ema_decay is None:
            return
        d = self.ema_decay
        for v, shadow in self._ema_pairs:
            shadow.assign(d * shadow + (1.0 - d) * v)

    def swap_ema_weights(self):
        """Exchanges the live weights and their EMA (call eagerly, e.g. after fit or
        around an evaluation).

        Raises:
          UserError: if the trainer keeps no EMA.
        """
        if self.ema_decay is None:
            raise UserError("this trainer keeps no EMA weights; build it with "
                            "ema_decay (e.g. 0.998)")
        for v, shadow in self._ema_pairs:
            live = tf.identity(v.value)
            v.assign(shadow.value)
            shadow.assign(live)

    @contextlib.contextmanager
    def averaged(self):
        """Inside the block the EMA weights are live (the live weights stay, without
        an EMA): how a trainer with an EMA is evaluated during training, as PGN's
        code evaluates every epoch."""
        if self.ema_decay is None:
            yield self
            return
        self.swap_ema_weights()
        try:
            yield self
        finally:
            self.swap_ema_weights()

    def classifier_fn(self, x):
        """Logits in inference mode: how attacks see the classifier (float32, so
        attacks run in float32 under a mixed-precision policy)."""
        return float32_logits(self.classifier(x, training=False))

    def compile(self, optimizer="adam", *, build_optimizer=True, **kwargs):
        """keras.Model.compile, and the optimiser built on the classifier's weights
        (`build_optimizer`; a trainer that builds its own passes False): an
        optimiser whose variables are created inside the first traced `train_step`
        makes TensorFlow trace it twice, ~0.4 s per `fit` at the small CNN."""
        super().compile(optimizer=optimizer, **kwargs)
        if (build_optimizer and self.classifier.trainable_weights
                and not self.optimizer.built):
            self.optimizer.build(self.classifier.trainable_weights)

    def compile_with_generator(self, optimizer, g_optimizer, default, **kwargs):
        """compile() of a classifier-vs-generator trainer: each player's optimiser
        (`default()` where None) built on that player's weights only (fit would
        give the classifier's optimiser the generator's weights too)."""
        super().compile(optimizer=default() if optimizer is None else optimizer, **kwargs)
        self.g_optimizer = default() if g_optimizer is None else keras.optimizers.get(
            g_optimizer)
        if self.classifier.trainable_weights:
            self.optimizer.build(self.classifier.trainable_weights)
        self.g_optimizer.build(self.generator.trainable_weights)

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_acc_tracker]

    def ce(self, x, y, training=True):
        """Mean cross-entropy of the classifier on (x, y); returns (ce, logits).

        Half-precision logits are cast to float32 first: the loss is computed in
        float32."""
        logits = float32_logits(self.classifier(x, training=training))
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True)), logits

    def descend(self, loss_fn):
        """One optimiser step on loss_fn()[0] + weight decay + layer losses.

        Args:
          loss_fn: callable returning (loss, aux), evaluated under the tape.

        Returns:
          (loss, aux) as returned by loss_fn (without the penalties).
        """
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
            scaled = scale_for_replicas(
                loss + regularization(self.classifier, self.weight_decay))
        weights = self.classifier.trainable_weights
        self.optimizer.apply(tape.gradient(scaled, weights), weights)
        self.after_step()
        self.update_ema()  # of the weights the step ends with
        return loss, aux

    def after_step(self):
        """What a method does to the classifier's weights after each optimiser step
        of `descend`, before the EMA sees them (Parseval's retraction); nothing here."""

    def test_step(self, data):
        x, y = data[0], data[1]
        loss, logits = self.ce(x, y, training=False)
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, logits)
        # Only what was measured: adversarial metrics are not computed at test time.
        return {m.name: m.result() for m in (self.loss_tracker, self.clean_acc_tracker)}


class TrainerConfig:
    """Base of each trainer module's frozen `Config` dataclass: the method's own
    hyper-parameters, next to the shared ones of `tf_advnet.configs.TrainConfig`
    (epochs, optimiser, eps, attack_steps, ...), which every hook receives as `train`.

    Class attributes a subclass may set:
      linf_only: the trainer's eps is an L-inf budget whatever `train.norm` says,
        so the shared check bounds it by 1.
      legacy_keys: {flat name of a TrainConfig field written by results JSON of
        the earlier flat layout (`dd_lambda`): this config's field (`lam`)}; read by
        `tf_advnet.configs.from_dict`.
    """

    linf_only = False
    legacy_keys = {}

    def validate(self, train):
        """Raises UserError naming the key as typed (`trainer.lam must be >= 0,
        got -1`) for a value the trainer would refuse; returns self."""
        del train
        return self

    def check(self, name, low=None, high=None, low_inclusive=True, optional=False):
        """`check_arg_range` of field `name` under its `--set` key `trainer.<name>`
        (a None passes where `optional`)."""
        from tf_advnet.errors import check_arg_range

        value = getattr(self, name)
        if optional and value is None:
            return
        check_arg_range(f"trainer.{name}", value, low, high, low_inclusive)

    def choose(self, name, allowed):
        """`check_arg_choice` of field `name` under its key `trainer.<name>`."""
        from tf_advnet.errors import check_arg_choice

        check_arg_choice(f"trainer.{name}", getattr(self, name), allowed)

    def build(self, classifier, train, *, seed, steps_per_epoch):
        """The trainer around `classifier` for this config and the shared `train`
        (a `tf_advnet.configs.TrainConfig`); `seed` seeds its randomness and
        `steps_per_epoch` turns epoch counts into steps."""
        raise NotImplementedError

    def optimizers(self, train, make_optimizer):
        """compile() keyword arguments beyond `optimizer` (the classifier's, built
        by the pipeline): e.g. {"g_optimizer": ...} for a generator. `make_optimizer()`
        returns a new instance of the classifier's recipe."""
        del train, make_optimizer
        return {}

    def image_kwargs(self, batch_size):
        """Extra arguments of `callbacks.PerturbationImages` for a trainer with a
        generator, given the global training batch size."""
        del batch_size
        return {}

    def model_files(self):
        """Paths of the .keras models the trainer reads (their contents belong in
        the run's fingerprint)."""
        return ()


def eps_warmup_steps(train, steps_per_epoch):
    """The shared `train.eps_warmup_epochs` as optimiser steps."""
    return int(round(train.eps_warmup_epochs * steps_per_epoch))


def generator_optimizer(name, learning_rate, *, beta_1, momentum, clipnorm):
    """A generator's optimiser (Wang & Yu's code: SGD with momentum, or Adam with
    beta_1 = 0.5 on CIFAR-10; L2L-DA's code: SGD): a constant learning rate, with
    the run's global gradient-norm clip (None: off)."""
    clip = {} if clipnorm is None else {"global_clipnorm": clipnorm}
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1, **clip)
    return keras.optimizers.SGD(learning_rate, momentum=momentum, **clip)
