"""TensorBoard additions of `runs.train`: each epoch's learning rates, and what a
generator-based defence's generator does to a fixed batch.

- `LearningRates` adds to an epoch's logs the learning rate of every optimiser of
  the trainer, as that epoch used it, so Keras's TensorBoard (scalars `epoch_lr`,
  `epoch_g_lr`, `epoch_d_lr`), CSVLogger and the fit history record it.
- `PerturbationImages` writes, before training and after every epoch, the
  perturbation the trainer's generator makes on a fixed batch, and the perturbed
  images, as TensorBoard images (one run, `<log_dir>/generator`), so the generator
  is seen learning. It works with any trainer that has
  `generated_perturbation(x, y)`: Wang & Yu's `AdvNetTrainer`, `L2LDATrainer`,
  `PGNTrainer`, and the attack generators `AdvGANTrainer` and `GAPTrainer`.
"""

import os

import keras
import numpy as np
import tensorflow as tf

# Optimiser attribute of a trainer -> its key in the epoch logs.
OPTIMIZERS = (("optimizer", "lr"), ("g_optimizer", "g_lr"), ("d_optimizer", "d_lr"))


def learning_rates(model):
    """{log key: current learning rate} of each distinct optimiser of `model`."""
    out, seen = {}, []
    for attr, key in OPTIMIZERS:
        opt = getattr(model, attr, None)
        if not isinstance(opt, keras.optimizers.Optimizer) or any(opt is s for s in seen):
            continue  # AdvGAN/GAP: `optimizer` is the generator's own
        seen.append(opt)
        out[key] = float(keras.ops.convert_to_numpy(opt.learning_rate))
    return out


class LearningRates(keras.callbacks.Callback):
    """Adds each optimiser's learning rate during the epoch to the epoch's logs.

    The rate is read when the epoch begins, i.e. the one its first step uses (Keras's
    own TensorBoard writes `epoch_learning_rate` after the epoch, which under a
    step schedule is already the next epoch's rate). Keys: "lr" (the trainer's
    `optimizer`), "g_lr" (its generator's `g_optimizer`), "d_lr" (AdvGAN's
    discriminator). List it before TensorBoard and CSVLogger, which write the logs
    it extends.
    """

    def __init__(self):
        super().__init__()
        self._rates = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._rates = learning_rates(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._rates)


def perturbation_image(delta, scale):
    """A perturbation as an image in [0, 1]: 0.5 + delta / (2 scale), clipped
    (gray is 0, white +scale, black -scale)."""
    return tf.clip_by_value(0.5 + delta / (2.0 * scale), 0.0, 1.0)


class PerturbationImages(keras.callbacks.Callback):
    """Writes the trainer's generated perturbations of a fixed batch to TensorBoard.

    At step s (the number of finished epochs; 0 = before the first epoch of this
    fit) it writes to `<log_dir>/generator`:
      images "perturbation" (`perturbation_image(delta, scale)`) and "adversarial"
      (x + delta, the generator's adversarial images), and scalars
      "perturbation_linf" and "perturbation_l2" (batch means of the norms of delta),
    with delta = `model.generated_perturbation(x, y, **perturbation_kwargs)`.

    Args:
      x: a small fixed batch of images in [0, 1] (e.g. the first 8 test images).
      y: its integer labels.
      log_dir: the TensorBoard directory (that of keras.callbacks.TensorBoard).
      scale: the value of delta drawn white; None: the trainer's `eps` where it
        has one (an L-inf budget, so every epoch is drawn on the same scale),
        else the largest |delta| of the batch at each step (PGN).
      max_outputs: images written per tag and step.
      **perturbation_kwargs: passed on (PGN: `grad_batch_size`).
    """

    def __init__(self, x, y, log_dir, *, scale=None, max_outputs=8,
                 **perturbation_kwargs):
        super().__init__()
        if scale is not None and not scale > 0:
            raise ValueError(f"Invalid value for argument `scale`: expected a number > 0 "
                             f"or None. Received: scale={scale!r}")
        self.x = tf.convert_to_tensor(np.asarray(x, np.float32))
        self.y = tf.convert_to_tensor(np.asarray(y, np.int64))
        self.log_dir = os.path.join(log_dir, "generator")
        self.scale = scale
        self.max_outputs = int(max_outputs)
        self.kwargs = perturbation_kwargs
        self._writer = None
        self._first = True

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "generated_perturbation"):
            raise ValueError(
                f"PerturbationImages needs a trainer with a generator "
                f"(generated_perturbation(x, y)); {type(self.model).__name__} has none")
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first:
            self._first = False
            self.write(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.write(epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, step):
        """Writes the summaries of the generator as it is now, at `step`."""
        delta = tf.convert_to_tensor(
            self.model.generated_perturbation(self.x, self.y, **self.kwargs), tf.float32)
        flat = tf.reshape(delta, [tf.shape(delta)[0], -1])
        linf = tf.reduce_max(tf.abs(flat), axis=1)
        scale = self.scale or getattr(self.model, "eps", None) or float(
            tf.reduce_max(linf))
        scale = scale if scale > 0 else 1.0  # a zero perturbation is all gray
        with self._writer.as_default(step=step):
            tf.summary.image("perturbation", perturbation_image(delta, scale),
                             max_outputs=self.max_outputs)
            tf.summary.image("adversarial", tf.clip_by_value(self.x + delta, 0.0, 1.0),
                             max_outputs=self.max_outputs)
            tf.summary.scalar("perturbation_linf", tf.reduce_mean(linf))
            tf.summary.scalar("perturbation_l2", tf.reduce_mean(tf.norm(flat, axis=1)))
        self._writer.flush()


class RobustAccuracy(keras.callbacks.Callback):
    """Adds to every epoch's logs the classifier's accuracy on fixed held-out images
    under an attack (`name`, e.g. "val_pgd10_acc"), so the fit history,
    history.csv and TensorBoard hold the robust-accuracy curve: whether a defence's
    robustness has converged, or is still rising when its budget ends.

    Args:
      x, y: held-out images in [0, 1] and their integer labels (a few hundred do).
      attack: an `attacks.registry.Attack` (e.g. `parse_attack("pgd10", eps=0.3)`).
      name: the log key.
      batch_size: images per attack batch.
      seed: the attack's seed, the same every epoch (so epochs differ by the model
        only).
    """

    def __init__(self, x, y, attack, *, name, batch_size=256, seed=0):
        super().__init__()
        self.x = np.asarray(x, np.float32)
        self.y = np.asarray(y, np.int64)
        self.attack, self.name = attack, name
        self.batch_size, self.seed = int(batch_size), seed

    def on_epoch_end(self, epoch, logs=None):
        from tf_advnet.eval.robustness import predict, run_attack

        if logs is None:
            return
        # A trainer with an EMA is measured on the EMA weights, which it evaluates
        # and saves at the end.
        with self.model.averaged():
            fn = self.model.classifier_fn
            x_adv = run_attack(self.attack, fn, self.x, self.y,
                               batch_size=self.batch_size, seed=self.seed)
            logs[self.name] = float(np.mean(predict(fn, x_adv, self.batch_size) == self.y))
