"""Private helpers shared by the attack modules: argument checks, tensor helpers,
and the compiled first-order loop of `pgd`, `fgm`/`fgsm` (through `pgd`) and `mim`.

Every check raises ValueError naming the argument, the values it accepts and the
value received, in Keras' wording ("Invalid value for argument `eps`: expected a
number >= 0. Received: eps=-1"). Names are public inside this private module; the
attacks' public API is the functions exported by `tf_advnet.attacks`.
"""

import numbers

import numpy as np
import tensorflow as tf

from tf_advnet.attacks import _projections
from tf_advnet.attacks import losses
from tf_advnet.utils.compiled import per_model
from tf_advnet.utils.compiled import stable_model_fn

_INT32_MAX = 2**31 - 1


# ----------------------------------------------------------------------------
# Argument checking.
# ----------------------------------------------------------------------------


def check(name, value, ok, expected):
    """Raises ValueError naming `name` and `expected` unless `ok`."""
    if not ok:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r}"
        )


def static_value(value):
    """The Python value of a number or a constant tensor, else None."""
    if isinstance(value, (numbers.Number, np.number)):
        return value
    try:
        static = tf.get_static_value(value)
    except (TypeError, ValueError):
        return None
    if static is None or np.ndim(static) != 0:
        return None
    return static.item()


def check_number(name, value, *, low=None, integer=False, allow_inf=False):
    """Raises ValueError naming `name` unless `value` is a valid number.

    Tensors whose value is unknown at trace time are accepted unchecked.
    """
    check(name, value, not isinstance(value, bool) and value is not None,
          "a number")
    static = static_value(value)
    if static is None:
        check(name, value, isinstance(value, (tf.Tensor, tf.Variable)),
              "a number")
        return value
    bad = np.isnan(static) or (np.isinf(static) and not allow_inf)
    if integer and not bad:
        bad = not float(static).is_integer()
    if low is not None and not bad:
        bad = static < low
    kind = "an integer" if integer else "a number"
    rng = f" >= {low}" if low is not None else ""
    check(name, value, not bad, kind + rng)
    return value


def check_bool(name, value):
    check(name, value, isinstance(value, (bool, np.bool_)), "a bool")
    return bool(value)


def check_clip(clip_min, clip_max):
    """Returns float clip bounds (None -> unbounded) after checking order."""
    lo = -np.inf if clip_min is None else clip_min
    hi = np.inf if clip_max is None else clip_max
    check_number("clip_min", lo, allow_inf=True)
    check_number("clip_max", hi, allow_inf=True)
    lo_s, hi_s = static_value(lo), static_value(hi)
    if lo_s is not None and hi_s is not None and lo_s > hi_s:
        raise ValueError(
            "Invalid value for arguments `clip_min`, `clip_max`: expected "
            f"clip_min <= clip_max. Received: clip_min={clip_min!r}, "
            f"clip_max={clip_max!r}"
        )
    return lo, hi


def check_model_fn(model_fn):
    check("model_fn", model_fn, callable(model_fn),
          "a callable returning logits")
    return model_fn


def check_choice(name, value, allowed):
    check(name, value, value in allowed, f"one of {allowed}")
    return value


def check_unit_interval(name, value):
    """`check_number` for a value in [0, 1]."""
    check_number(name, value, low=0)
    static = static_value(value)
    if static is not None and static > 1:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a number in "
            f"[0, 1]. Received: {name}={value!r}"
        )
    return value


def check_loss(loss):
    losses.loss_fn(loss)  # Raises ValueError naming `loss`.
    return loss


def check_in_box(x, clip_min, clip_max):
    """Raises ValueError if `x` leaves the box (eager only: needs the values).

    Inside a `tf.function` the check is skipped.
    """
    if not tf.executing_eagerly():
        return
    x_min = float(tf.reduce_min(x))
    x_max = float(tf.reduce_max(x))
    if ((clip_min is not None and x_min < clip_min)
            or (clip_max is not None and x_max > clip_max)):
        raise ValueError(
            f"Invalid value for argument `x`: expected values in "
            f"[clip_min, clip_max] = [{clip_min}, {clip_max}]. Received: x "
            f"with values in [{x_min}, {x_max}]")


def as_labels(y, x):
    """int32 (B,) labels from int labels or one-hot rows; checks the size."""
    labels = tf.convert_to_tensor(y)
    if labels.shape.rank == 2:
        labels = tf.argmax(labels, axis=-1)
    labels = tf.cast(labels, tf.int32)
    batch, n = x.shape[0], (labels.shape[0] if labels.shape.rank else None)
    if labels.shape.rank != 1 or (
            batch is not None and n is not None and n != batch):
        raise ValueError(
            f"Invalid value for argument `y`: expected {batch} labels "
            f"(shape ({batch},) or one-hot ({batch}, K)). Received: y "
            f"with shape {tuple(tf.convert_to_tensor(y).shape)}")
    return labels


def prepare_inputs(x, y, targeted):
    """Casts `x` to float32 and `y` to int64 labels; flags `y is None`.

    Returns:
        `(x, y, use_predictions)`; when `y` is None a dummy label tensor is
        returned and the compiled graph uses the model's predictions.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise ValueError(
            "Invalid value for argument `x`: expected float images. "
            f"Received: x.dtype={x.dtype.name}"
        )
    x = tf.cast(x, tf.float32)
    if x.shape.rank is not None and x.shape.rank < 2:
        raise ValueError(
            "Invalid value for argument `x`: expected a batch of shape "
            f"(batch, ...). Received: x.shape={x.shape}"
        )
    if y is None:
        if targeted:
            raise ValueError(
                "Invalid value for argument `y`: a targeted attack needs the "
                "target labels. Received: y=None with targeted=True"
            )
        return x, tf.zeros(tf.shape(x)[:1], tf.int64), True
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2:  # One-hot labels.
        y = tf.argmax(y, axis=-1)
    if y.shape.rank != 1 or not (y.dtype.is_integer):
        raise ValueError(
            "Invalid value for argument `y`: expected integer labels of shape "
            f"(batch,) or one-hot labels. Received: y.shape={y.shape}, "
            f"y.dtype={y.dtype.name}"
        )
    if (x.shape[0] is not None and y.shape[0] is not None
            and x.shape[0] != y.shape[0]):
        raise ValueError(
            "Invalid value for argument `y`: expected one label per image. "
            f"Received: y.shape={y.shape} for x.shape={x.shape}"
        )
    return x, tf.cast(y, tf.int64), False


def seed_tensor(seed):
    """An int64 scalar: `seed`, or a draw from TF's global RNG if None."""
    if seed is None:
        return tf.random.uniform([], 0, _INT32_MAX, dtype=tf.int64)
    if isinstance(seed, (bool, float)):
        raise ValueError(
            "Invalid value for argument `seed`: expected an int or None. "
            f"Received: seed={seed!r}"
        )
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer or seed.shape.rank != 0:
        raise ValueError(
            "Invalid value for argument `seed`: expected an int or None. "
            f"Received: seed={seed!r}"
        )
    return tf.cast(seed, tf.int64)


# ----------------------------------------------------------------------------
# Tensor helpers.
# ----------------------------------------------------------------------------


def f32(value):
    return tf.cast(value, tf.float32)


def select(mask, a, b):
    """Per-example `where(mask, a, b)` for a `(batch,)` mask."""
    shape = tf.concat(
        [tf.shape(mask), tf.ones([tf.rank(a) - 1], tf.int32)], axis=0
    )
    return tf.where(tf.reshape(mask, shape), a, b)


# ----------------------------------------------------------------------------
# The compiled first-order loop of fgm, pgd and mim.
# ----------------------------------------------------------------------------


def _l1_normalize(grad):
    """`grad / mean(|grad|)` per example, for MIM's momentum.

    Cleverhans floors `mean(|grad|)` at 1e-12, which under-weights tiny
    (saturated-softmax) gradients against the accumulated momentum. We
    rescale by `max|grad|` first, so the mean cannot underflow, and map a
    zero gradient to zero (finite derivatives via a `tf.where` pair). Same
    result up to round-off whenever `mean(|grad|) >= 1e-12`.
    """
    axes = tf.range(1, tf.rank(grad))
    scale = tf.reduce_max(tf.abs(grad), axis=axes, keepdims=True)
    nonzero = scale > 0
    ones = tf.ones_like(scale)
    grad = grad / tf.where(nonzero, scale, ones)
    mean = tf.reduce_mean(tf.abs(grad), axis=axes, keepdims=True)
    return grad / tf.where(nonzero, mean, ones)


@per_model(autograph=False, reduce_retracing=True)
def attack_graph(
    model_fn, x, y, eps, step_size, num_steps, restarts, kappa, decay,
    clip_min, clip_max, seed, *, norm, loss, targeted, random_start,
    keep_best, any_iterate, multi_restart, momentum, use_predictions,
):
    """Iterative first-order attack; see `pgd` (and `mim` for `momentum`)."""
    if use_predictions:
        # The model's own predictions avoid label leaking (Kurakin et al.).
        y = tf.argmax(model_fn(x), axis=-1)

    def objective(logits):
        return losses.objective(
            logits, y, loss=loss, targeted=targeted, kappa=kappa
        )

    def fooled(logits):
        pred = tf.argmax(logits, axis=-1)
        return tf.equal(pred, y) if targeted else tf.not_equal(pred, y)

    def clip(v):
        return tf.clip_by_value(v, clip_min, clip_max)

    def gradient(x_adv):
        # Only the input is watched: no need to record the weights.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x_adv)
            logits = model_fn(x_adv)
            obj = objective(logits)
        # d(sum_i obj_i)/dx: per-example gradients (examples independent).
        return tape.gradient(obj, x_adv), obj, logits

    def step(x_adv, grad, velocity):
        if momentum:
            # MIM (cleverhans order): accumulate, step, project, clip.
            velocity = decay * velocity + _l1_normalize(grad)
            x_adv = x_adv + _projections.ascent_step(velocity, step_size, norm)
        else:
            # PGD (cleverhans order): step and clip, project, clip.
            x_adv = clip(x_adv + _projections.ascent_step(grad, step_size,
                                                          norm))
        x_adv = x + _projections.project(x_adv - x, eps, norm)
        return clip(x_adv), velocity

    def run(restart):
        if random_start:
            stateless = tf.stack([seed, tf.cast(restart, tf.int64)])
            delta = _projections.random_init(
                tf.shape(x), eps, norm, seed=stateless
            )
            x_adv = clip(x + _projections.project(delta, eps, norm))
        else:
            x_adv = x
        velocity = tf.zeros_like(x) if momentum else tf.zeros([])
        batch = tf.shape(x)[:1]

        if keep_best or any_iterate:
            # best_*: the highest-loss iterate (keep_best); hit_*: the first
            # fooling iterate (any_iterate). Unused slots carry a scalar.
            def track(x_adv, obj, logits, best_x, best_obj, best_fooled,
                      hit_x, hit):
                is_fooled = fooled(logits)
                if keep_best:
                    better = obj > best_obj
                    best_x = select(better, x_adv, best_x)
                    best_obj = tf.where(better, obj, best_obj)
                    best_fooled = tf.where(better, is_fooled, best_fooled)
                if any_iterate:
                    new_hit = tf.logical_and(is_fooled, tf.logical_not(hit))
                    hit_x = select(new_hit, x_adv, hit_x)
                    hit = tf.logical_or(hit, is_fooled)
                return best_x, best_obj, best_fooled, hit_x, hit

            def body(i, x_adv, velocity, *tracked):
                grad, obj, logits = gradient(x_adv)
                tracked = track(x_adv, obj, logits, *tracked)
                x_adv, velocity = step(x_adv, grad, velocity)
                return (i + 1, x_adv, velocity) + tracked

            unused = tf.zeros([])
            state = (
                tf.constant(0), x_adv, velocity,
                x_adv if keep_best else unused,
                tf.fill(batch, -np.inf) if keep_best else unused,
                tf.zeros(batch, tf.bool) if keep_best else unused,
                x_adv if any_iterate else unused,
                tf.zeros(batch, tf.bool) if any_iterate else unused,
            )
            _, x_adv, _, *tracked = tf.while_loop(
                lambda i, *_: i < num_steps, body, state
            )
            # The last iterate has had no forward pass yet.
            logits = model_fn(x_adv)
            obj = objective(logits)
            best_x, best_obj, best_fooled, hit_x, hit = track(
                x_adv, obj, logits, *tracked)
            if keep_best:
                x_out, obj_out, fooled_out = best_x, best_obj, best_fooled
            else:
                x_out, obj_out, fooled_out = x_adv, obj, fooled(logits)
            if any_iterate:
                # A fooled example's loss is never compared again (restarts
                # keep the first fooling restart).
                x_out, fooled_out = select(hit, hit_x, x_out), hit
            return x_out, obj_out, fooled_out

        def body(i, x_adv, velocity):
            grad, _, _ = gradient(x_adv)
            x_adv, velocity = step(x_adv, grad, velocity)
            return i + 1, x_adv, velocity

        _, x_adv, _ = tf.while_loop(
            lambda i, *_: i < num_steps, body, (tf.constant(0), x_adv,
                                                velocity)
        )
        if not multi_restart:
            return x_adv, None, None
        logits = model_fn(x_adv)
        return x_adv, objective(logits), fooled(logits)

    x_out, obj_out, fooled_out = run(0)
    if not multi_restart:
        return x_out

    def restart_body(r, x_out, obj_out, fooled_out):
        x_new, obj_new, fooled_new = run(r)
        # Keep the first restart that fools; else the highest objective.
        take = tf.logical_and(
            tf.logical_not(fooled_out),
            tf.logical_or(fooled_new, obj_new > obj_out),
        )
        return (
            r + 1,
            select(take, x_new, x_out),
            tf.where(take, obj_new, obj_out),
            tf.logical_or(fooled_out, fooled_new),
        )

    _, x_out, _, _ = tf.while_loop(
        lambda r, *_: r < restarts, restart_body,
        (tf.constant(1), x_out, obj_out, fooled_out),
    )
    return x_out


def run_attack(model_fn, x, y, *, eps, step_size, num_steps, norm, loss,
                targeted, random_start, restarts, keep_best, any_iterate, kappa,
                decay, momentum, clip_min, clip_max, seed):
    """Validates arguments and calls the compiled loop."""
    check_model_fn(model_fn)
    norm = _projections.normalize_norm(norm)
    loss = check_loss(loss)
    targeted = check_bool("targeted", targeted)
    random_start = check_bool("random_start", random_start)
    keep_best = check_bool("keep_best", keep_best)
    any_iterate = check_bool("any_iterate", any_iterate)
    check_number("eps", eps, low=0)
    check_number("step_size", step_size, low=0)
    check_number("num_steps", num_steps, low=0, integer=True)
    check_number("restarts", restarts, low=1, integer=True)
    check_number("kappa", kappa, low=0, allow_inf=True)
    check_number("decay", decay, low=0)
    clip_min, clip_max = check_clip(clip_min, clip_max)
    static_restarts = static_value(restarts)
    multi_restart = static_restarts is None or static_restarts > 1
    if multi_restart and not random_start:
        raise ValueError(
            "Invalid value for argument `restarts`: restarts > 1 needs "
            f"random_start=True. Received: restarts={restarts!r} with "
            "random_start=False"
        )
    x, y, use_predictions = prepare_inputs(x, y, targeted)
    seed = seed_tensor(seed) if random_start else tf.constant(0, tf.int64)
    return attack_graph(
        stable_model_fn(model_fn), x, y, f32(eps), f32(step_size),
        tf.cast(num_steps, tf.int32), tf.cast(restarts, tf.int32),
        f32(kappa), f32(decay), f32(clip_min), f32(clip_max), seed,
        norm=norm, loss=loss, targeted=targeted, random_start=random_start,
        keep_best=keep_best, any_iterate=any_iterate,
        multi_restart=multi_restart, momentum=momentum,
        use_predictions=use_predictions,
    )
