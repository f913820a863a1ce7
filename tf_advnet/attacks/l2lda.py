"""L2L-DA's recursive generation (Eq. 5 of Jang et al., ICCV 2019) and its attack.

    delta^(t+1) = Proj_S(delta^(t) + eps_step g_phi(x, y, z, delta^(t), grad^(t))),
    x_adv^(t+1) = Proj_X(x + delta^(t+1)),       delta^(0) = 0,  t = 0 .. T-1,

Proj_S clips to the L-inf ball of radius eps, Proj_X to [0, 1]; grad^(t) is the
gradient of the classifier's cross-entropy at x_adv^(t) (x_adv^(0) = x), taken
with a `tf.GradientTape` at every step and detached (the generator learns through
delta, not through the gradient), normalised per (example, channel) by the L2
norm of its H x W slice (the official code's reading of the paper's "divided by
its Frobenius norm", `adv_defence/trainer.py`; `normalize=False` is L2L*'s raw
gradient).
z ~ N(0, I) is drawn once and held across the T steps.

`trajectory` is shared by the trainer (inside the generator's tape: delta is not
detached, so the generator's gradient flows through all T steps) and by the
attack. One forward pass of the classifier per step gives both the loss at
x_adv^(t) (Eq. 6) and the gradient for the next step.

`l2lda_attack` is the paper's L2L-DA attack (README of the code): T recursive
steps for each of `num_samples` z samples; an example counts as robust only if
no sample fools the classifier (the code's "best" accuracy), so the attack
returns, per example, the sample that fools the classifier, or failing that the
one of highest loss.
"""

import functools

import keras
import tensorflow as tf

from tf_advnet.models.l2lda_generator import (input_names, l2lda_generator_inputs,
                                              z_dim_of)

# The official code adds this to every gradient element before taking the norm.
GRAD_STABILISER = 1e-15


def normalize_gradient(grad):
    """Each (example, channel) H x W slice divided by the L2 norm of (g + 1e-15)."""
    norm = tf.sqrt(tf.reduce_sum(tf.square(grad + GRAD_STABILISER), axis=[1, 2],
                                 keepdims=True))
    return grad / norm


def _ce(logits, y):
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def loss_and_gradient(model_fn, x, y):
    """Per-example cross-entropy at x and its (detached) input gradient."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = _ce(model_fn(x), y)
    return loss, tf.stop_gradient(tape.gradient(loss, x))


def trajectory(generator, model_fn, x, y, z=None, *, eps, eps_step, num_steps,
               normalize=True, training=True, clip=True, delta0=None):
    """Runs Eq. (5) for `num_steps` steps.

    Args:
      generator: an L2L-DA generator (`tf_advnet.models.l2lda_generator`).
      model_fn: the classifier's logits callable (inference mode).
      x: images (B, H, W, C) in [0, 1]; y: integer labels (B,).
      z: (B, z_dim) latent codes for a generator with a noise input.
      eps: L-inf radius; eps_step: the step (paper eps / 4).
      num_steps: T (1 with eps_step = eps is the one-shot "R X" generator).
      normalize: normalise the gradient input (False for L2L*).
      training: the generator's BatchNorm mode.
      clip: project onto [0, 1].
      delta0: starting perturbation (default 0, Eq. 5; a random start turns
        a one-shot generator into the restarted "L2L" attack of Fig. 2).

    Returns:
      (x_advs, losses): lists of length T with x_adv^(t) and the per-example
      cross-entropy at it, t = 1 .. T; both differentiable w.r.t. the generator.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(tf.reshape(y, [-1]), tf.int64)
    names = input_names(generator)
    delta = tf.zeros_like(x) if delta0 is None else delta0
    start = x if delta0 is None else tf.clip_by_value(x + delta, 0.0, 1.0)
    _, grad = (loss_and_gradient(model_fn, start, y) if "gradient" in names
               else (None, None))
    x_advs, losses = [], []
    for t in range(num_steps):
        g_in = {"image": x, "label": y, "noise": z, "delta": delta}
        if grad is not None:
            g_in["gradient"] = normalize_gradient(grad) if normalize else grad
        step = generator(l2lda_generator_inputs(generator, **g_in), training=training)
        delta = tf.clip_by_value(delta + eps_step * step, -eps, eps)
        x_adv = x + delta
        if clip:
            x_adv = tf.clip_by_value(x_adv, 0.0, 1.0)  # delta itself is not (the code)
        if grad is not None and t + 1 < num_steps:
            loss, grad = loss_and_gradient(model_fn, x_adv, y)
        else:  # the last step, or a generator without a gradient input
            loss = _ce(model_fn(x_adv), y)
        x_advs.append(x_adv)
        losses.append(loss)
    return x_advs, losses


def sample_noise(generator, batch, seed=None):
    """z ~ N(0, I) for a batch (None for a generator without a noise input)."""
    dim = z_dim_of(generator)
    if not dim:
        return None
    shape = tf.stack([batch, dim])
    if seed is None:
        return tf.random.normal(shape)
    return tf.random.stateless_normal(shape, seed=tf.cast(seed, tf.int32))


_CACHE = {}


def _last_iterate(generator, model_fn, x, y, z, **settings):
    x_advs, losses = trajectory(generator, model_fn, x, y, z, **settings)
    fooled = tf.argmax(model_fn(x_advs[-1]), -1) != y
    return x_advs[-1], losses[-1], fooled


def _compiled(generator, model_fn, *key):
    """One compiled trajectory per (generator, model_fn, settings); returns the last
    iterate, its loss and whether it fools the classifier."""
    cache_key = (id(generator), id(model_fn)) + key
    if cache_key not in _CACHE:
        eps, eps_step, num_steps, normalize, training, clip = key
        # A partial, not a closure: tf.function counts retracing per code object,
        # so one closure shared by every (generator, model) pair would warn.
        run = tf.function(functools.partial(
            _last_iterate, generator, model_fn, eps=eps, eps_step=eps_step,
            num_steps=num_steps, normalize=normalize, training=training, clip=clip),
            reduce_retracing=True)
        if len(_CACHE) > 64:
            _CACHE.clear()
        # The objects are kept alive with the graph so their ids stay theirs.
        _CACHE[cache_key] = (run, generator, model_fn)
    return _CACHE[cache_key][0]


def l2lda_attack(generator, model_fn, x, y, *, eps, num_steps=10, eps_step=None,
                 num_samples=10, normalize=True, training=False, clip=True, seed=0):
    """The L2L-DA attack: `num_samples` z samples of T recursive steps each.

    Args:
      generator, model_fn, x, y, eps, normalize, clip: as `trajectory`.
      num_steps: T (paper 10); eps_step: default eps / 4.
      num_samples: z samples per image (paper 10; 1 for a deterministic G).
      training: the generator's BN mode (the code evaluates in eval mode).
      seed: int seed of the z samples (stateless).

    Returns:
      Float32 adversarial images: per example the first sample that fools the
      classifier, else the one with the highest final loss.
    """
    if not eps >= 0:
        raise ValueError(f"Invalid value for argument `eps`: expected a number >= 0. "
                         f"Received: eps={eps!r}")
    if int(num_samples) < 1 or int(num_steps) < 1:
        raise ValueError("Invalid value for argument `num_samples`/`num_steps`: "
                         f"expected ints >= 1. Received: {num_samples!r}, {num_steps!r}")
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(tf.reshape(y, [-1]), tf.int64)
    eps_step = eps / 4.0 if eps_step is None else eps_step
    if not z_dim_of(generator):
        num_samples = 1
    run = _compiled(generator, model_fn, float(eps), float(eps_step), int(num_steps),
                    bool(normalize), bool(training), bool(clip))
    best, best_score = x, tf.fill(tf.shape(y), -float("inf"))
    for s in range(int(num_samples)):
        z = sample_noise(generator, tf.shape(x)[0], seed=[int(seed), s])
        x_last, loss_last, fooled = run(x, y, z)
        # A fooling sample beats any that does not; then the higher loss wins.
        score = loss_last + tf.where(fooled, 1e9, 0.0)
        take = score > best_score
        best = tf.where(take[:, None, None, None], x_last, best)
        best_score = tf.maximum(score, best_score)
    return best
