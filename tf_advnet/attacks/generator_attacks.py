"""AdvGAN and GAP: trained generators as L-inf attacks (L2L-DA, Table 2).

L2L-DA (Jang et al., ICCV 2019) reports, for every defence, the accuracy under
an AdvGAN (Xiao et al., IJCAI 2018, https://arxiv.org/abs/1801.02610) and a GAP
(Poursaeed et al., CVPR 2018, https://arxiv.org/abs/1712.02328) generator,
"each of which are fine-tuned to its corresponding classifier": each generator
is trained against the fixed classifier under test
(`tf_advnet.trainers.attack_generators.train_attack_generator`) and then applied.

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
from tf_advnet.trainers.attack_generators import train_attack_generator

gen = train_attack_generator("gap", clf, x_train, y_train, eps=0.3, epochs=5,
                             batch_size=128, seed=0)
x_adv = gap_attack(gen, x_test, eps=0.3)
```
"""


import tensorflow as tf

from tf_advnet.attacks.generator import perturb

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
