"""AdvGAN and GAP: trained generators as L-inf attacks (L2L-DA, Table 2).

L2L-DA (Jang et al., ICCV 2019) reports, for every defence, the accuracy under
an AdvGAN (Xiao et al., IJCAI 2018, https://arxiv.org/abs/1801.02610) and a GAP
(Poursaeed et al., CVPR 2018, https://arxiv.org/abs/1712.02328) generator,
"each of which are fine-tuned to its corresponding classifier": each generator
is trained against the fixed classifier under test (`train_attack_generator`,
trainers in `tf_advnet.trainers.attack_generators`) and then applied.

Both are image-dependent and untargeted; with u = G(x) in [-1, 1] (tanh):

    AdvGAN:  delta = eps * u                                ||delta||_inf <= eps
    GAP:     delta = eps * u / max_i |u_i|  (per image)     ||delta||_inf  = eps
    x_adv  = clip(x + delta, 0, 1)

These two maps live here only (`advgan_perturbation`, `gap_perturbation`);
the trainers call the same functions, so training and evaluation agree.

- AdvGAN bounds an L2 norm softly (a hinge) in its paper; for the L-inf budgets
  of Table 2 the perturbation is `eps * tanh`, always inside the eps-ball.
- GAP scales the generator's output to a fixed norm. The official `GAP_clf.py`
  (`normalize_and_scale`) maps u to (u + 1) / 2, normalises it with the
  ImageNet mean and std, multiplies each colour channel by
  `min(1, eps_c / max|u_c|)` (which nearly always binds there, i.e. fixes the
  norm) and clamps each channel of x + delta to the image's own range. Our
  images are raw [0, 1] pixels, so we scale each image as a whole to exactly
  eps and clip to [0, 1].

Example:

```python
gen = train_attack_generator("gap", clf, x_train, y_train, eps=0.3, epochs=5,
                             batch_size=128, seed=0, path="gap.keras")
x_adv = gap_attack(gen, x_test, eps=0.3)
```
"""

import os

import keras
import tensorflow as tf

from tf_advnet.attacks.generator import perturb
from tf_advnet.errors import CheckpointError
from tf_advnet.errors import UserError
from tf_advnet.errors import check_choice
from tf_advnet.errors import check_range
from tf_advnet.models import attack_generators as gens

KINDS = ("advgan", "gap")
# Denominator floor of GAP's scaling: an all-zero output gives delta = 0.
_TINY = 1e-12


def _check_eps(eps):
    if not eps >= 0:
        raise ValueError(f"Invalid value for argument `eps`: expected a number >= 0. "
                         f"Received: eps={eps!r}")
    return eps


def advgan_perturbation(generator, x, *, eps, training=False):
    """AdvGAN's perturbation `eps * G(x)`, inside the L-inf eps-ball by the tanh.

    Args:
      generator: a model mapping [0, 1] images to [-1, 1] (`advgan_generator`).
      x: float images (batch, H, W, C) in [0, 1].
      eps: L-inf budget, >= 0.
      training: the generator's training flag (its norms are per image, so it
        only matters for user models with batch norm or dropout).

    Returns:
      Float32 perturbations of x's shape.
    """
    _check_eps(eps)
    x = tf.convert_to_tensor(x, tf.float32)
    return eps * tf.cast(generator(x, training=training), tf.float32)


def scale_to_linf(u, eps):
    """GAP's fixed-norm scaling: `eps * u / max|u|`, each example separately.

    Every example's perturbation has L-inf norm exactly eps (0 if u is 0).
    """
    u = tf.convert_to_tensor(u, tf.float32)
    axes = list(range(1, u.shape.rank))
    peak = tf.reduce_max(tf.abs(u), axis=axes, keepdims=True)
    return eps * u / tf.maximum(peak, _TINY)


def gap_perturbation(generator, x, *, eps, training=False):
    """GAP's image-dependent perturbation `scale_to_linf(G(x), eps)`.

    Args:
      generator: a model mapping [0, 1] images to (batch, H, W, C) outputs
        (`gap_generator`).
      x: float images (batch, H, W, C) in [0, 1].
      eps: L-inf budget, >= 0.
      training: the generator's training flag (batch-norm statistics: batch
        statistics while training, the moving averages when attacking).

    Returns:
      Float32 perturbations of x's shape with per-image L-inf norm eps.
    """
    _check_eps(eps)
    x = tf.convert_to_tensor(x, tf.float32)
    return scale_to_linf(tf.cast(generator(x, training=training), tf.float32), eps)


def advgan_attack(generator, x, *, eps):
    """AdvGAN's adversarial images `clip(x + eps * G(x), 0, 1)`.

    Args:
      generator: a trained AdvGAN generator (`AdvGANTrainer.generator`).
      x: float images (batch, H, W, C) in [0, 1].
      eps: L-inf budget, >= 0 (the one it was trained with).

    Returns:
      Float32 adversarial images of x's shape.

    Raises:
      ValueError: negative eps.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    return perturb(x, advgan_perturbation(generator, x, eps=eps))


def gap_attack(generator, x, *, eps):
    """GAP's adversarial images `clip(x + eps * G(x) / max|G(x)|, 0, 1)`.

    Args:
      generator: a trained GAP generator (`GAPTrainer.generator`).
      x: float images (batch, H, W, C) in [0, 1].
      eps: L-inf budget, >= 0.

    Returns:
      Float32 adversarial images of x's shape.

    Raises:
      ValueError: negative eps.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    return perturb(x, gap_perturbation(generator, x, eps=eps))


class _EpochLines(keras.callbacks.Callback):
    """Sends one line of metrics per epoch to `progress`."""

    def __init__(self, kind, epochs, progress):
        super().__init__()
        self.kind, self.epochs, self.progress = kind, epochs, progress

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        stats = " ".join(f"{k} {float(v):.4f}" for k, v in sorted(logs.items()))
        self.progress(f"[{self.kind}] epoch {epoch + 1}/{self.epochs} {stats}")


def _load(kind, path, x):
    # `gens` (imported above) registers ReflectionPadding2D for load_model.
    try:
        generator = keras.models.load_model(path, compile=False)
    except Exception as e:  # zip / json / h5 errors all mean the same to a user
        raise CheckpointError(f"{kind} generator {path} is corrupt or not a Keras "
                              f"model ({type(e).__name__}); delete it to retrain") from None
    if tuple(generator.input_shape[1:]) != tuple(x.shape[1:]):
        raise CheckpointError(f"{kind} generator {path} takes images of shape "
                              f"{tuple(generator.input_shape[1:])}, not "
                              f"{tuple(x.shape[1:])}; delete it to retrain")
    return generator


def train_attack_generator(kind, classifier, x, y, *, eps, epochs, batch_size, seed,
                           width=None, path=None, progress=print):
    """Trains an AdvGAN or GAP generator against the fixed `classifier`.

    Builds the paper's generator (and AdvGAN's discriminator), trains it with
    `model.fit` under the trainers' default optimisers, and saves it to `path`.
    If `path` already exists, the saved generator is loaded and returned
    instead (no training). Call it inside a `tf.distribute` strategy's scope to
    train on several replicas.

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
      path: a `.keras` file to save to / reuse, or None.
      progress: callable(str) for one line per epoch, or None.

    Returns:
      The trained (or loaded) generator.

    Raises:
      UserError: unknown `kind`, bad arguments, or a `path` not ending in
        ".keras".
      CheckpointError: an existing `path` that does not load or does not fit x.
    """
    check_choice("attack_generator", kind, KINDS)
    check_range("eps", eps, 0.0, 1.0)
    check_range("epochs", epochs, 1)
    check_range("batch_size", batch_size, 1)
    if path is not None and not str(path).endswith(".keras"):
        raise UserError(f"{kind} generator path={path!r} must end in .keras")
    x = tf.convert_to_tensor(x, tf.float32)
    if path is not None and os.path.exists(path):
        if progress:
            progress(f"[{kind}] reusing the trained generator {path}")
        return _load(kind, path, x)

    # Imported here: the trainers import this module.
    from tf_advnet.trainers.attack_generators import AdvGANTrainer
    from tf_advnet.trainers.attack_generators import GAPTrainer

    keras.utils.set_random_seed(int(seed))
    shape = tuple(x.shape[1:])
    if kind == "advgan":
        w = 1.0 if width is None else width
        trainer = AdvGANTrainer(classifier, gens.advgan_generator(shape, width=w),
                                gens.advgan_discriminator(shape, width=w), eps=eps)
    else:
        w = 64 if width is None else max(1, int(round(64 * width)))
        trainer = GAPTrainer(classifier, gens.gap_generator(shape, width=w), eps=eps)
    trainer.compile()
    n = int(x.shape[0])
    ds = (tf.data.Dataset.from_tensor_slices((x, tf.convert_to_tensor(y)))
          .shuffle(n, seed=int(seed), reshuffle_each_iteration=True)
          .batch(int(batch_size)))
    callbacks = [_EpochLines(kind, int(epochs), progress)] if progress else []
    if progress:
        progress(f"[{kind}] training a generator against {classifier.name} "
                 f"(eps {eps:g}, {epochs} epochs)" + (f" -> {path}" if path else ""))
    trainer.fit(ds, epochs=int(epochs), verbose=0, callbacks=callbacks, shuffle=False)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        trainer.generator.save(path)
    return trainer.generator
