"""The PGN attack: a trained perturbation generator applied in one forward pass.

Reference:
    Lee, Han, Lee. "Adversarial training with perturbation generator
    networks". ICLR 2020 submission. https://openreview.net/forum?id=S1xXiREKDB
    (official code `ATPGN/ATPGN`, `models/PGN.py` and `main.py`: our copy of the
    paper lacks the typeset equations, so Eqs. (2) and (5) are read from it).

The generator G (`tf_advnet.models.pgn_generator`) sees the gradient of the
true-class probability (Eq. 2), the image and the one-hot label, and outputs
w; the adversarial image is the Carlini-Wagner change of variables (Eq. 5)

    x_adv = 1/2 (tanh(atanh(0.999999 (2x - 1)) + w) + 1),

which lies in (0, 1) for every w, so no clipping is needed. The 0.999999 keeps
atanh finite at x = 0 and x = 1. Fig. 3 of the paper attacks fixed FGM- and
PGD-trained classifiers with a generator trained against each of them
(`PGNTrainer` trains one; freezing the classifier is done by the caller).

Example:

```python
x_adv = pgn_attack(lambda v: clf(v, training=False), generator, x, y)
```
"""

import tensorflow as tf

# The shrink factor of Eq. (5) in the official code (`ATPGN/ATPGN`, `models/PGN.py`).
TANH_SHRINK = 0.999999


def tanh_space(x, w):
    """Eq. (5): x_adv = 1/2 (tanh(atanh(0.999999 (2x - 1)) + w) + 1).

    Computed as sigmoid(2 atanh(0.999999 (2x - 1)) + 2w), the same function
    (1/2 (tanh(u) + 1) = sigmoid(2u)), because the sigmoid keeps tiny values
    positive where 1/2 (tanh(u) + 1) rounds to 0. In exact arithmetic x_adv is
    in (0, 1); in float32 it is in [0, 1] and reaches 1.0 only when the tanh
    argument exceeds about 9 (e.g. x = 1 and w > 1.7). w = 0 gives back x up to
    1e-6 (the shrink factor).

    Args:
      x: images in [0, 1].
      w: the generator's linear output, same shape.

    Returns:
      float32 adversarial images, differentiable in x and w.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    w = tf.convert_to_tensor(w, tf.float32)
    return tf.sigmoid(2.0 * tf.atanh(TANH_SHRINK * (2.0 * x - 1.0)) + 2.0 * w)


def one_hot_labels(y, num_classes):
    """(batch, K) float one-hot labels from integer (batch,) / (batch, 1) or one-hot `y`."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2 and y.shape[-1] != 1:
        return tf.cast(y, tf.float32)
    return tf.one_hot(tf.reshape(tf.cast(y, tf.int64), [-1]), num_classes)


def true_class_gradient(model_fn, x, y_onehot, *, scale):
    """The generator's gradient input of Eq. (2): scale * d(sum_i p_{y_i}(x_i))/dx.

    With scale = 1/B this is the official code's gradient of the batch mean of
    the true-class probability (not its log), so every sample's gradient is
    divided by the batch size B (`ATPGN/ATPGN`, `models/PGN.py`). It is neither normalised nor
    detached: called under an outer tape, the tape records this gradient's
    computation, so losses downstream of G get second-order terms as in the
    official code.

    Args:
      model_fn: callable mapping images to logits.
      x: images.
      y_onehot: (batch, K) one-hot labels.
      scale: the factor (1 / global batch size in training).

    Returns:
      (gradient like x, logits of x).
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = model_fn(x)
        p_y = tf.reduce_sum(tf.nn.softmax(logits, axis=-1) * y_onehot, axis=-1)
        obj = tf.reduce_sum(p_y) * scale
    return tape.gradient(obj, x), logits


def pgn_attack(model_fn, generator, x, y, *, grad_batch_size=None):
    """Adversarial images from a trained PGN generator (one forward pass of G).

    Args:
      model_fn: callable mapping [0, 1] images to logits, e.g.
        `lambda v: model(v, training=False)`.
      generator: a `pgn_generator` model with inputs [grad, x, y_onehot].
      x: images (batch, H, W, C) in [0, 1].
      y: true labels, integer (batch,) or one-hot (batch, K).
      grad_batch_size: the B of the gradient input's 1/B factor. The generator
        was trained on the gradient of the batch mean of p_y, whose scale
        depends on the training batch size; pass that size when attacking with
        batches of another size. Default: the size of this batch.

    Returns:
      float32 adversarial images of x's shape, in [0, 1] (no clipping needed).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    num_classes = generator.inputs[2].shape[-1]
    y1h = one_hot_labels(y, num_classes)
    if grad_batch_size is None:
        grad_batch_size = tf.shape(x)[0]
    scale = 1.0 / tf.cast(grad_batch_size, tf.float32)
    grad, _ = true_class_gradient(model_fn, x, y1h, scale=scale)
    w = generator([grad, x, y1h], training=False)
    return tanh_space(x, w)
