"""Parseval training (Cisse et al., ICML 2017), DeepDefense's baseline (Yan et al., Sec. 4).

After each SGD step on the cross-entropy, every dense / convolution kernel, viewed as
a matrix W with one row per output unit (a Keras kernel of shape (..., out) reshaped to
(in', out) and transposed), is retracted towards the Stiefel manifold (W W^T = I):

    W_S <- (1 + beta) W_S - beta W_S W_S^T W_S

on a random subset S of 30% of its rows (Cisse et al., Sec. 4: "sampling a subset of
rows" to cut the cost). beta = 1e-4 (MNIST) or 3e-4 (CIFAR-10) as in DeepDefense's
comparison. For W with small singular values s, one retraction maps s to
(1 + beta) s - beta s^3, so s moves towards 1.

The rows are drawn with a stateless RNG from (seed, optimizer step, kernel index), so
every replica of a MirroredStrategy draws the same rows and a step on two replicas
equals the step on one device.

Example:
    trainer = ParsevalTrainer(classifier, beta=1e-4)
    trainer.compile(optimizer=keras.optimizers.SGD(5e-4, momentum=0.9))
    trainer.fit(train_ds, epochs=5)
"""

import dataclasses

import tensorflow as tf

from tf_advnet.errors import check_arg_range
from tf_advnet.trainers.base import ClassifierTrainer, TrainerConfig


def kernel_matrix(kernel):
    """The (out, in') matrix of a Keras kernel (..., out): one row per output unit."""
    out = kernel.shape[-1]
    return tf.transpose(tf.reshape(kernel, [-1, out]))


def parseval_retraction(w, beta, rows=None):
    """One retraction (1 + beta) W_S - beta W_S W_S^T W_S of the rows `rows` of w.

    Args:
      w: (n, m) matrix.
      beta: retraction step.
      rows: None (all rows) or int indices of the rows S to update.

    Returns:
      the updated (n, m) matrix (other rows unchanged).
    """
    if rows is None:
        return (1.0 + beta) * w - beta * tf.matmul(tf.matmul(w, w, transpose_b=True), w)
    ws = tf.gather(w, rows)
    new = (1.0 + beta) * ws - beta * tf.matmul(tf.matmul(ws, ws, transpose_b=True), ws)
    return tf.tensor_scatter_nd_update(w, rows[:, None], new)


def sample_rows(num_rows, fraction, seed):
    """ceil(fraction * num_rows) distinct row indices drawn from a stateless seed (2,)."""
    k = max(1, int(-(-fraction * num_rows // 1)))
    scores = tf.random.stateless_uniform([num_rows], seed=seed)
    return tf.math.top_k(scores, k=k).indices


class ParsevalTrainer(ClassifierTrainer):
    """Cross-entropy steps, each followed by a Parseval retraction of every kernel.

    Args:
      classifier: keras.Model mapping images to logits.
      beta: retraction step in (0, 0.5].
      row_fraction: fraction of rows retracted per step (Cisse et al.: 0.3).
      seed: int, for the row sampling.
      weight_decay: coupled L2 on kernels.

    Metrics: loss (CE), clean_acc.
    """

    def __init__(self, classifier, *, beta=1e-4, row_fraction=0.3, seed=0,
                 weight_decay=0.0, **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.beta = float(check_arg_range("beta", beta, 0.0, 0.5, low_inclusive=False))
        self.row_fraction = float(check_arg_range("row_fraction", row_fraction, 0.0, 1.0,
                                                  low_inclusive=False))
        self.seed = int(seed)

    def kernels(self):
        """The dense / convolution kernels (rank >= 2, named "kernel")."""
        return [v for v in self.classifier.trainable_weights
                if v.path.endswith("kernel") and len(v.shape) >= 2]

    def retract(self, step):
        """Applies the retraction to every kernel; `step` seeds the row draw."""
        step = tf.cast(step, tf.int32)
        for i, v in enumerate(self.kernels()):
            w = kernel_matrix(tf.convert_to_tensor(v))
            rows = sample_rows(int(w.shape[0]), self.row_fraction,
                               tf.stack([tf.constant(self.seed, tf.int32) + i, step]))
            new = parseval_retraction(w, self.beta, rows)
            v.assign(tf.reshape(tf.transpose(new), v.shape))

    def after_step(self):
        self.retract(self.optimizer.iterations)

    def train_step(self, data):
        x, y = data[0], data[1]
        ce, logits = self.descend(lambda: self.ce(x, y))
        self.loss_tracker.update_state(ce)
        self.clean_acc_tracker.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """Parseval training (Cisse et al., ICML 2017, Sec. 4).

    Attributes:
      beta: the retraction step beta of W <- (1 + beta) W - beta W W^T W (1e-4 on
        MNIST, 3e-4 on CIFAR-10, as in DeepDefense's comparison).
    """

    beta: float = 1e-4

    legacy_keys = {"parseval_beta": "beta"}

    def validate(self, train):
        self.check("beta", 0.0, 0.5, low_inclusive=False)
        return self

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del steps_per_epoch
        return ParsevalTrainer(classifier, beta=self.beta, seed=seed,
                               weight_decay=train.weight_decay)
