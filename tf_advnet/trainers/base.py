"""Common shape of every trainer (Keras "customizing fit" pattern).

A trainer is a `keras.Model` that owns the classifier as an attribute, plays its
game in `train_step` with one `GradientTape` per player, applies each tape only to
that player's weights, and reports clean accuracy in `test_step`. It works
unchanged under `tf.distribute.MirroredStrategy`: losses are per-replica means
scaled by 1/num_replicas (Keras sums gradients across replicas), so a step on two
replicas equals a step on one device with the same global batch.
"""

import keras
import tensorflow as tf


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

    def __init__(self, classifier, *, weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.weight_decay = float(weight_decay)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.clean_acc_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="clean_acc")

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def classifier_fn(self, x):
        """Logits in inference mode: how attacks see the classifier (float32, so
        attacks run in float32 under a mixed-precision policy)."""
        return float32_logits(self.classifier(x, training=False))

    def compile(self, optimizer="adam", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)

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
        return loss, aux

    def test_step(self, data):
        x, y = data[0], data[1]
        loss, logits = self.ce(x, y, training=False)
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, logits)
        # Only what was measured: adversarial metrics are not computed at test time.
        return {m.name: m.result() for m in (self.loss_tracker, self.clean_acc_tracker)}
