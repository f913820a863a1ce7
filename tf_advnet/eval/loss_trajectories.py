"""Loss along an attack's steps, over several attacks per image (Fig. 2 of L2L-DA).

Jang et al. (ICCV 2019), Sec. 4.3: for a fixed classifier, 10 attacks per image
(random restarts for PGD and L2L, z samples for L2L-DA), the cross-entropy at
each of 10 steps; per image the maximum and the standard deviation over the 10
attacks, then the mean over images. A stronger attack has the higher curve; a
rising curve is Eq. (6)'s L(x_adv^(1)) <= ... <= L(x_adv^(T)).

Methods:
- "pgd": random start in the eps-ball, sign steps of eps/4 (PGD10's recipe);
- "l2lda": an L2L-DA generator's recursion (Eq. 5) with one z per attack;
- "l2l": a one-shot L2L* generator applied recursively with steps of eps/4 from
  a random start (our reading: the paper plots L2L over 10 steps with random
  restarts but does not say how a one-shot generator takes steps).
"""

import numpy as np
import tensorflow as tf

from tf_advnet.attacks.l2lda import sample_noise, trajectory
from tf_advnet.errors import check_arg_choice

METHODS = ("pgd", "l2lda", "l2l")


def _pgd_losses(model_fn, x, y, *, eps, num_steps, seed):
    step = eps / 4.0
    x_adv = tf.clip_by_value(
        x + tf.random.stateless_uniform(tf.shape(x), seed, -eps, eps), 0.0, 1.0)
    out = []
    for _ in range(num_steps):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            loss = tf.keras.losses.sparse_categorical_crossentropy(
                y, model_fn(x_adv), from_logits=True)
        x_adv = x_adv + step * tf.sign(tape.gradient(loss, x_adv))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
        out.append(tf.keras.losses.sparse_categorical_crossentropy(
            y, model_fn(x_adv), from_logits=True))
    return tf.stack(out, axis=1)  # (B, T)


def loss_trajectories(model_fn, x, y, *, method, eps, generator=None, num_steps=10,
                      num_attacks=10, normalize=True, training=False, seed=0,
                      batch_size=500):
    """Mean over images of the max and the std over `num_attacks` attacks of the
    loss at each step.

    Args:
      model_fn: the classifier's logits callable (inference mode).
      x, y: images in [0, 1] and integer labels.
      method: "pgd", "l2lda" or "l2l" (module docstring).
      eps: L-inf radius.
      generator: the generator of "l2lda" / "l2l".
      num_steps: steps per attack (paper 10).
      num_attacks: attacks per image (paper 10).
      normalize: normalise the generator's gradient input (False for L2L*).
      training: the generator's BN mode.
      seed: int seed of the restarts / z samples.

    Returns:
      dict with "max" and "std": lists of `num_steps` floats.
    """
    check_arg_choice("method", method, METHODS)
    if method != "pgd" and generator is None:
        raise ValueError(f"method {method!r} needs its generator")
    maxes, stds = [], []
    for start in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[start:start + batch_size], tf.float32)
        yb = tf.cast(tf.convert_to_tensor(y[start:start + batch_size]), tf.int64)
        runs = []
        for a in range(num_attacks):
            s = tf.constant([int(seed), a], tf.int32)
            if method == "pgd":
                runs.append(_pgd_losses(model_fn, xb, yb, eps=eps, num_steps=num_steps,
                                        seed=s))
                continue
            z = sample_noise(generator, tf.shape(xb)[0], seed=s)
            delta0 = None
            if method == "l2l":
                delta0 = tf.random.stateless_uniform(tf.shape(xb), s, -eps, eps)
            _, losses = trajectory(
                generator, model_fn, xb, yb, z, eps=eps, eps_step=eps / 4.0,
                num_steps=num_steps, normalize=normalize, training=training,
                delta0=delta0)
            runs.append(tf.stack(losses, axis=1))
        runs = np.stack([r.numpy() for r in runs], axis=0)  # (A, B, T)
        maxes.append(runs.max(axis=0))
        stds.append(runs.std(axis=0))
    return {"max": np.concatenate(maxes).mean(axis=0).tolist(),
            "std": np.concatenate(stds).mean(axis=0).tolist()}
