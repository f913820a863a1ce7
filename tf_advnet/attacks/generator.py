"""A trained perturbation generator as an attack (Wang & Yu, ICLR 2019, Sec. 4.5).

`x_adv = Proj_[0,1](x + eps * G(input))`, where G's input is the image, a
Gaussian vector z or the one-hot label (`generator_input_kind`). Once trained,
G needs no access to the classifier it attacks: Tables 5, 10 and 11 apply the
same G to the model it was trained on and to others (transfer).

Example:

```python
x_adv = generator_attack(g0, x, y, eps=0.3)
acc = (predict(model_fn, x_adv) == y).mean()
```
"""

import tensorflow as tf

from tf_advnet.models.advnet_generators import generator_input_kind


def generator_inputs(generator, x, y=None, *, seed=None):
    """What `generator` takes for the batch (x, y): x, z ~ N(0, I) or one_hot(y).

    Args:
      generator: a Wang & Yu generator (input named "image", "noise" or "label").
      x: images (batch, H, W, C) in [0, 1].
      y: integer labels (batch,); required by a label generator.
      seed: int for a reproducible z (stateless RNG), None for TF's global RNG.

    Raises:
      ValueError: a label generator without y.
    """
    kind = generator_input_kind(generator)
    x = tf.convert_to_tensor(x, tf.float32)
    if kind == "image":
        return x
    if kind == "noise":
        shape = [tf.shape(x)[0], int(generator.inputs[0].shape[-1])]
        if seed is None:
            return tf.random.normal(shape)
        return tf.random.stateless_normal(shape, seed=[int(seed), 0])
    if y is None:
        raise ValueError("Invalid value for argument `y`: a label generator needs the "
                         "labels. Received: y=None")
    num_classes = int(generator.inputs[0].shape[-1])
    return tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), num_classes)


def perturb(x, delta, clip=True, clip_min=0.0, clip_max=1.0):
    """x + delta, projected onto the pixel range when `clip` (Eq. 10's Proj_X)."""
    x_adv = x + delta
    return tf.clip_by_value(x_adv, clip_min, clip_max) if clip else x_adv


def generator_attack(generator, x, y=None, *, eps, clip=True, training=False, seed=None):
    """Adversarial images x + eps * G(.) of a trained generator.

    Args:
      generator: a Wang & Yu generator whose output lies in [-1, 1] (tanh) or has
        unit L2 norm (output="l2"), so the perturbation's norm is at most eps.
      x: float images (batch, H, W, C) in [0, 1].
      y: integer labels (batch,), used by label generators only.
      eps: perturbation scale, >= 0.
      clip: project onto [0, 1] (the official code never clips; a valid image
        needs it, and clipping only shrinks the perturbation).
      training: run G's BatchNorm in training mode (batch statistics), as the
        official code always does; the default uses the moving averages.
      seed: seed of z for a noise generator.

    Returns:
      Float32 adversarial images of x's shape.

    Raises:
      ValueError: negative eps, or a label generator without y.
    """
    if not eps >= 0:
        raise ValueError(f"Invalid value for argument `eps`: expected a number >= 0. "
                         f"Received: eps={eps!r}")
    x = tf.convert_to_tensor(x, tf.float32)
    inputs = generator_inputs(generator, x, y, seed=seed)
    delta = eps * generator(inputs, training=training)
    return perturb(x, delta, clip)
