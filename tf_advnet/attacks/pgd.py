"""Projected gradient descent (PGD), with random restarts and best iterate.

Reference:
    Madry, Makelov, Schmidt, Tsipras, Vladu. "Towards Deep Learning Models
    Resistant to Adversarial Attacks". ICLR 2018.
    https://arxiv.org/abs/1706.06083

PGD maximises a per-example loss `L` (see `losses.objective`) over the threat
model

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,  p in {inf, 2}

by iterating, from `x_0 = clip(x + U(B_p(eps)))` (or `x_0 = x`),

    x_{t+1} = clip(x + P_eps(clip(x_t + step_size * s_p(grad L(x_t))) - x)),

where `s_inf(g) = sign(g)`, `s_2(g) = g / ||g||_2` and `P_eps` projects
onto the `eps`-ball. The inner `clip` before the projection follows cleverhans
4.0.0 (FGM clips, then PGD projects and clips again); for L-inf it changes
nothing, for L2 it keeps our iterates equal to cleverhans'.

Options:

- `restarts > 1`: independent random starts; per example the first restart
  that fools the model is kept, otherwise the one with the highest loss.
- `keep_best=True`: per example the iterate (including the start and the
  last one) with the highest loss, as mister_ed's PGD used by L2L-DA. The
  highest-loss iterate need not fool the model when another one does (a
  CE loss can be higher at a correctly classified point), so it is not a
  success rule.
- `any_iterate=True`: per example the first iterate (the start and the
  last one included) at which the model is fooled (`argmax != y`;
  targeted: `argmax == y`); an example fooled by none gets the last iterate,
  or with `keep_best` the highest-loss one. A point fooled at any iterate
  then counts as broken, AutoAttack's rule (Croce & Hein, ICML 2020: its
  APGD returns a misclassified iterate whenever one was found, see
  `attack_single_run` in fra31/auto-attack `autoattack/autopgd_base.py`);
  the papers' own PGD code returns the last iterate, which counts a point
  fooled mid-run and not at the end as robust. Worst-case evaluations use
  it (the registry's `pgd`/`cwpgd`/`mim` specs default to `any=1`); costs
  one more forward pass (at the last iterate).
- `loss="cw"` with `kappa`: the C&W margin, e.g. BAT's CW-k (`kappa=50`).
- `targeted=True`: `y` holds target labels and their loss is descended.

Paper settings (implementation notes §1.6, §2.6, §3.4, §5.5):

```python
pgd(f, x, y, eps=8 / 255, step_size=2 / 255, num_steps=7)       # Madry, BAT
pgd(f, x, y, eps=8 / 255, step_size=2 / 255, num_steps=100,
    loss="cw", kappa=50.0)                                        # BAT CW-100
pgd(f, x, y, eps=0.3, step_size=0.3 / 12, num_steps=100,
    keep_best=True)                                               # L2L PGD100
pgd(f, x, y, eps=0.02, step_size=0.02 / 6, num_steps=10, norm=2)  # PGN L2
```

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = pgd(model_fn, x, y, eps=0.3, step_size=0.01, num_steps=40, seed=0)
```

The loop runs inside one `tf.function` (a `tf.while_loop`); hyper-parameters
are passed as tensors, so new values do not retrace. A new `model_fn` object
(so reuse one callable rather than writing a fresh `lambda` per batch; bound
methods such as `trainer.classifier_fn` are handled), a new input shape or
new structural options (`norm`, `loss`, `targeted`, `random_start`,
`keep_best`, `any_iterate`, `restarts > 1` or not, `y is None`) do.
"""

import numbers

import numpy as np
import tensorflow as tf

from tf_advnet.attacks import _projections
from tf_advnet.attacks import losses
from tf_advnet.utils.compiled import per_model
from tf_advnet.utils.compiled import stable_model_fn as _stable_model_fn

_INT32_MAX = 2**31 - 1


# ----------------------------------------------------------------------------
# Argument checking shared by fgsm.py, pgd.py and mim.py.
# ----------------------------------------------------------------------------


def _static_value(value):
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


def _check_number(name, value, *, low=None, integer=False, allow_inf=False):
    """Raises ValueError naming `name` unless `value` is a valid number.

    Tensors whose value is unknown at trace time are accepted unchecked.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a number. "
            f"Received: {name}={value!r}"
        )
    static = _static_value(value)
    if static is None:
        if isinstance(value, (tf.Tensor, tf.Variable)):
            return value
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a number. "
            f"Received: {name}={value!r}"
        )
    bad = np.isnan(static) or (np.isinf(static) and not allow_inf)
    if integer and not bad:
        bad = not float(static).is_integer()
    if low is not None and not bad:
        bad = static < low
    if bad:
        kind = "an integer" if integer else "a number"
        rng = f" >= {low}" if low is not None else ""
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {kind}{rng}. "
            f"Received: {name}={value!r}"
        )
    return value


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a bool. "
            f"Received: {name}={value!r}"
        )
    return bool(value)


def _check_clip(clip_min, clip_max):
    """Returns float clip bounds (None -> unbounded) after checking order."""
    lo = -np.inf if clip_min is None else clip_min
    hi = np.inf if clip_max is None else clip_max
    _check_number("clip_min", lo, allow_inf=True)
    _check_number("clip_max", hi, allow_inf=True)
    lo_s, hi_s = _static_value(lo), _static_value(hi)
    if lo_s is not None and hi_s is not None and lo_s > hi_s:
        raise ValueError(
            "Invalid value for arguments `clip_min`, `clip_max`: expected "
            f"clip_min <= clip_max. Received: clip_min={clip_min!r}, "
            f"clip_max={clip_max!r}"
        )
    return lo, hi


def _check_model_fn(model_fn):
    if not callable(model_fn):
        raise ValueError(
            "Invalid value for argument `model_fn`: expected a callable "
            f"returning logits. Received: model_fn={model_fn!r}"
        )
    return model_fn


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected one of {allowed}. "
            f"Received: {name}={value!r}"
        )
    return value


def _check_loss(loss):
    losses.loss_fn(loss)  # Raises ValueError naming `loss`.
    return loss


def _prepare_inputs(x, y, targeted):
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


def _seed_tensor(seed):
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


def _f32(value):
    return tf.cast(value, tf.float32)


# ----------------------------------------------------------------------------
# The compiled loop shared by fgm, pgd and mim.
# ----------------------------------------------------------------------------


def _select(mask, a, b):
    """Per-example `where(mask, a, b)` for a `(batch,)` mask."""
    shape = tf.concat(
        [tf.shape(mask), tf.ones([tf.rank(a) - 1], tf.int32)], axis=0
    )
    return tf.where(tf.reshape(mask, shape), a, b)


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
def _attack_graph(
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
                    best_x = _select(better, x_adv, best_x)
                    best_obj = tf.where(better, obj, best_obj)
                    best_fooled = tf.where(better, is_fooled, best_fooled)
                if any_iterate:
                    new_hit = tf.logical_and(is_fooled, tf.logical_not(hit))
                    hit_x = _select(new_hit, x_adv, hit_x)
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
                x_out, fooled_out = _select(hit, hit_x, x_out), hit
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
            _select(take, x_new, x_out),
            tf.where(take, obj_new, obj_out),
            tf.logical_or(fooled_out, fooled_new),
        )

    _, x_out, _, _ = tf.while_loop(
        lambda r, *_: r < restarts, restart_body,
        (tf.constant(1), x_out, obj_out, fooled_out),
    )
    return x_out


def _run_attack(model_fn, x, y, *, eps, step_size, num_steps, norm, loss,
                targeted, random_start, restarts, keep_best, any_iterate, kappa,
                decay, momentum, clip_min, clip_max, seed):
    """Validates arguments and calls the compiled loop."""
    _check_model_fn(model_fn)
    norm = _projections.normalize_norm(norm)
    loss = _check_loss(loss)
    targeted = _check_bool("targeted", targeted)
    random_start = _check_bool("random_start", random_start)
    keep_best = _check_bool("keep_best", keep_best)
    any_iterate = _check_bool("any_iterate", any_iterate)
    _check_number("eps", eps, low=0)
    _check_number("step_size", step_size, low=0)
    _check_number("num_steps", num_steps, low=0, integer=True)
    _check_number("restarts", restarts, low=1, integer=True)
    _check_number("kappa", kappa, low=0, allow_inf=True)
    _check_number("decay", decay, low=0)
    clip_min, clip_max = _check_clip(clip_min, clip_max)
    static_restarts = _static_value(restarts)
    multi_restart = static_restarts is None or static_restarts > 1
    if multi_restart and not random_start:
        raise ValueError(
            "Invalid value for argument `restarts`: restarts > 1 needs "
            f"random_start=True. Received: restarts={restarts!r} with "
            "random_start=False"
        )
    x, y, use_predictions = _prepare_inputs(x, y, targeted)
    seed = _seed_tensor(seed) if random_start else tf.constant(0, tf.int64)
    return _attack_graph(
        _stable_model_fn(model_fn), x, y, _f32(eps), _f32(step_size),
        tf.cast(num_steps, tf.int32), tf.cast(restarts, tf.int32),
        _f32(kappa), _f32(decay), _f32(clip_min), _f32(clip_max), seed,
        norm=norm, loss=loss, targeted=targeted, random_start=random_start,
        keep_best=keep_best, any_iterate=any_iterate,
        multi_restart=multi_restart, momentum=momentum,
        use_predictions=use_predictions,
    )


def pgd(
    model_fn,
    x,
    y=None,
    *,
    eps,
    step_size,
    num_steps,
    norm="inf",
    loss="ce",
    targeted=False,
    random_start=True,
    restarts=1,
    keep_best=False,
    any_iterate=False,
    kappa=float("inf"),
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """Projected gradient descent (Madry et al. 2018) on a logits callable.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: integer labels `(batch,)` (one-hot accepted). Untargeted: the true
            labels, or `None` to use the model's predictions on `x` (avoids
            label leaking). Targeted: the target labels (required).
        eps: radius of the norm ball, `>= 0`.
        step_size: length of each ascent step in the norm, `>= 0`.
        num_steps: number of gradient steps, integer `>= 0`.
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        loss: `"ce"` (cross-entropy) or `"cw"` (C&W margin, see `kappa`).
        targeted: if True, descend the loss of the target labels `y`.
        random_start: start from a uniform sample of the ball (L-inf: box;
            L2: ball), clipped to `[clip_min, clip_max]`; else from `x`.
        restarts: number of random starts, integer `>= 1`; per example the
            first that fools the model is kept, else the highest-loss one.
        keep_best: if True, return per example the iterate with the highest
            loss instead of the last one (costs one extra forward pass).
        any_iterate: if True, return per example the first iterate that
            fools the model, if any (else the last one, or the highest-loss
            one with `keep_best`): AutoAttack's success rule, a point fooled
            at any iterate counts as broken. Costs one extra forward pass.
        kappa: cap of the C&W margin (`loss="cw"` only), `>= 0`.
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for a reproducible random start (stateless RNG seeded
            with `[seed, restart]`), or `None` to draw from TF's global RNG.

    Returns:
        Float32 adversarial images of `x`'s shape, inside the `eps`-ball
        around `x` and inside `[clip_min, clip_max]`.

    Raises:
        ValueError: naming the argument, for a negative `eps`, `step_size`
            or `num_steps`, an unknown `norm` or `loss`, `restarts < 1`,
            `restarts > 1` without `random_start`, `clip_min > clip_max`,
            or `targeted=True` without `y`.
    """
    return _run_attack(
        model_fn, x, y, eps=eps, step_size=step_size, num_steps=num_steps,
        norm=norm, loss=loss, targeted=targeted, random_start=random_start,
        restarts=restarts, keep_best=keep_best, any_iterate=any_iterate,
        kappa=kappa, decay=0.0, momentum=False, clip_min=clip_min,
        clip_max=clip_max, seed=seed,
    )
