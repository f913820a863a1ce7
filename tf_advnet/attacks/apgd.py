"""Auto-PGD (APGD): step-size-free PGD with momentum, CE or DLR loss.

Reference:
    Croce, Hein. "Reliable evaluation of adversarial robustness with an
    ensemble of diverse parameter-free attacks". ICML 2020.
    https://arxiv.org/abs/2003.01690

APGD maximises a per-example loss `f` over the threat model

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,  p in {inf, 2}

with Algorithm 1 of the paper. From a start `x_0` and step size `eta = 2 eps`:

    x_1     = P_S(x_0 + eta s(grad f(x_0)))                        (plain step)
    z_{k+1} = P_S(x_k + eta s(grad f(x_k)))
    x_{k+1} = P_S(x_k + alpha (z_{k+1} - x_k) + (1 - alpha)(x_k - x_{k-1}))

with `s_inf(g) = sign(g)`, `s_2(g) = g / ||g||_2`, `alpha = 0.75` and
`P_S(v) = clip(x + P_eps(v - x))` (exact for L-inf; feasible, not the exact
projection, for L2, as everywhere in this package). The best point `x_max`
(highest `f`) is tracked. At the checkpoints `w_j = ceil(p_j N)` (Sec. 3.2),

    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06),

i.e. `w = 0, 22, 41, 57, 70, 80, 87, 93, 99` for `N = 100` (see
`checkpoints`), the step size of an example is halved and its iterate reset
to `x_max` if

    1. sum_{i=w_{j-1}}^{w_j - 1} 1[f(x_{i+1}) > f(x_i)] < rho (w_j - w_{j-1})
       (the loss rose in fewer than a fraction `rho = 0.75` of the steps), or
    2. eta was not halved at `w_{j-1}` and `f(x_max)` has not changed since.

Losses (`losses.py`): cross-entropy, and the Difference of Logits Ratio
(Eq. 5), invariant to shifting and positive scaling of the logits,

    DLR(z, y)      = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)
    DLR_T(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

(`pi` sorts `z` decreasingly). `targeted=True` is APGD-T (Sec. 4): one run of
`num_steps` towards each of the `num_targets` classes with the highest clean
logits other than `y` (ranks 2 to `num_targets + 1` for a correct
prediction), ascending `DLR_T` (or `-CE(z, t)` with `loss="ce"`).

Choices where the paper leaves room (documented so results are comparable):

- Start point: L-inf, uniform in the box `x + U[-eps, eps]^d`; L2, on the
  sphere, `x + eps n / ||n||_2` with `n` standard normal (a random direction,
  as the authors' code does, rather than `random_init`'s uniform-in-ball);
  both clipped to `[clip_min, clip_max]`. `seed` makes it reproducible.
- Cost: one forward-backward pass at `x_0 .. x_{N-1}` and a forward pass at
  `x_N`, i.e. `num_steps` gradient steps, as `pgd(num_steps=N)`.
- Restart from `x_max` at a checkpoint: the gradient stored at `x_max` is
  reused and the next step is a plain step (no momentum across the jump).
- Output, per example: the first misclassifying point found (the clean input
  counts: a misclassified `x` is returned as is and never attacked), else the
  highest-loss iterate over all runs. Misclassified means `argmax z != y`
  also for APGD-T (AutoAttack's success rule), whichever target led there.
- Restarts and targets: runs go target by target, `restarts` runs each, and
  each run attacks only the examples not fooled by an earlier one (as
  AutoAttack), so later runs are cheaper and the first success is kept.
  Between runs, non-fooled examples keep the point of highest loss of its
  run; for APGD-T the losses of different targets are compared (both say
  how close the target class is to winning).

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = apgd(model_fn, x, y, eps=8 / 255, num_steps=100, seed=0)   # APGD-CE
x_adv = apgd(model_fn, x, y, eps=8 / 255, loss="dlr", targeted=True,
             num_targets=9, seed=0)                                 # APGD-T
x_adv = apgd(model_fn, x, y, eps=0.5, norm=2, loss="dlr", seed=0)   # L2
```

The loops run inside one `tf.function`; hyper-parameters are tensors, so new
values (eps, num_steps, rho, ...) do not retrace. A new `model_fn` object,
input shape (after the first, the batch size is generalised), or structural
option (`norm`, `loss`, `targeted`, `y is None`) does.
"""

import numpy as np
import tensorflow as tf

from tf_advnet.utils.compiled import per_model, stable_model_fn
from tf_advnet.attacks import _projections
from tf_advnet.attacks import losses
from tf_advnet.attacks import targets
from tf_advnet.attacks._common import (
    check_bool,
    check_choice,
    check_clip,
    check_model_fn,
    check_number,
    check_unit_interval,
    f32,
    prepare_inputs,
    seed_tensor,
    select,
    static_value,
)

APGD_LOSSES = ("ce", "dlr")


def _checkpoint_fractions():
    """The paper's `p_j` in hundredths, `p_j <= 1`.

    Integer arithmetic, because in floats `0.22 + 0.19 = 0.41000000000000003`
    and `ceil(0.41 * 100)` would be 42.
    """
    p = [0, 22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 3, 6)
        if nxt > 100:
            return p
        p.append(nxt)


_P_HUNDREDTHS = _checkpoint_fractions()  # [0, 22, 41, 57, 70, 80, 87, 93, 99]


def checkpoints(num_steps):
    """The iterations `w_j = ceil(p_j num_steps)` where APGD may halve eta.

    Args:
        num_steps: number of iterations `N`, integer `>= 0`.

    Returns:
        The sorted distinct `w_j` as Python ints, starting with `w_0 = 0`
        (for small `N` several `p_j` can round to the same iteration; a
        `w_j = N`, e.g. `ceil(0.99 N)` for `N <= 100`, comes after the last
        step and changes nothing).
    """
    check_number("num_steps", num_steps, low=0, integer=True)
    n = int(static_value(num_steps))
    return sorted({-(-p * n // 100) for p in _P_HUNDREDTHS})


def _broadcast(per_example, like):
    """Reshapes a `(batch,)` tensor to broadcast against `like`."""
    shape = tf.concat(
        [tf.shape(per_example), tf.ones([tf.rank(like) - 1], tf.int32)], 0
    )
    return tf.reshape(per_example, shape)


@per_model(autograph=False, reduce_retracing=True)
def _apgd_graph(
    model_fn, x, y, eps, num_steps, num_targets, restarts, rho, alpha,
    clip_min, clip_max, seed, *, norm, loss, targeted, use_predictions,
):
    """All runs of APGD / APGD-T on one batch; see `apgd`."""
    clean_logits = model_fn(x)
    num_classes = clean_logits.shape[-1]
    need = 4 if (targeted and loss == "dlr") else 3
    if loss == "dlr" and num_classes is not None and num_classes < need:
        raise ValueError(
            f"Invalid value for argument `loss`: the DLR loss needs at least "
            f"{need} classes (it uses the {need - 1}rd/{need}th largest "
            f"logit). Received: loss='dlr' with {num_classes} classes"
        )
    if use_predictions:
        # The model's own predictions avoid label leaking (Kurakin et al.).
        y = tf.argmax(clean_logits, axis=-1)
    fooled = tf.not_equal(tf.argmax(clean_logits, axis=-1), y)

    if targeted:
        ranking = targets.ranked_others(clean_logits, y)
        num_targets = tf.minimum(num_targets, tf.shape(clean_logits)[-1] - 1)
        num_runs = num_targets * restarts
    else:
        ranking = tf.zeros_like(clean_logits, tf.int32)
        num_runs = restarts

    checkpoints_t = (tf.constant(_P_HUNDREDTHS, tf.int32) * num_steps
                     + 99) // 100

    def run(xs, ys, ts, run_seed):
        """Algorithm 1 on the examples `xs`; returns (x, loss, fooled)."""

        def objective(logits):
            if loss == "ce":
                if targeted:
                    return -losses.cross_entropy(logits, ts)
                return losses.cross_entropy(logits, ys)
            if targeted:
                return losses.dlr_targeted(logits, ys, ts)
            return losses.dlr(logits, ys)

        def evaluate(x_adv):
            # Only the input is watched: no need to record the weights.
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x_adv)
                logits = model_fn(x_adv)
                obj = objective(logits)
            # Examples are independent: d(sum obj)/dx is per example.
            return logits, obj, tape.gradient(obj, x_adv)

        def proj(v):
            v = xs + _projections.project(v - xs, eps, norm)
            return tf.clip_by_value(v, clip_min, clip_max)

        def step(x_cur, x_prev, grad, eta, plain):
            z = proj(x_cur + _projections.ascent_step(
                grad, _broadcast(eta, grad), norm))
            x_mom = proj(x_cur + alpha * (z - x_cur)
                         + (1.0 - alpha) * (x_cur - x_prev))
            return select(plain, z, x_mom)

        def first_fooled(logits, x_adv, first, found):
            now = tf.not_equal(tf.argmax(logits, axis=-1), ys)
            return (select(tf.logical_and(now, tf.logical_not(found)),
                            x_adv, first),
                    tf.logical_or(found, now))

        def track_best(x_adv, obj, grad, x_max, f_max, grad_max):
            better = obj > f_max
            return (select(better, x_adv, x_max), tf.where(better, obj, f_max),
                    select(better, grad, grad_max))

        if norm == "inf":
            delta = _projections.random_init(tf.shape(xs), eps, norm,
                                             seed=run_seed)
        else:
            # A random direction scaled to eps: the L2 steepest-ascent step
            # of a Gaussian vector is exactly eps * n / ||n||_2.
            noise = tf.random.stateless_normal(tf.shape(xs), run_seed)
            delta = _projections.ascent_step(noise, eps, norm)
        x0 = proj(xs + delta)
        logits, obj, grad = evaluate(x0)
        first, found = first_fooled(logits, x0, x0, tf.zeros_like(ys, tf.bool))
        batch = tf.shape(xs)[:1]
        # Loop state, per example unless noted:
        #   x_cur, x_prev, grad (at x_cur), f_cur (loss at x_cur), eta,
        #   plain (next step without momentum), x_max, f_max, grad_max,
        #   first, found (first misclassifying point), count (loss increases
        #   since the last checkpoint), reduced_last, f_max_last (state at
        #   the last checkpoint), last_check (scalar).
        state = (
            tf.constant(1), x0, x0, grad, obj, tf.fill(batch, 2.0 * eps),
            tf.ones(batch, tf.bool), x0, obj, grad, first, found,
            tf.zeros(batch), tf.zeros(batch, tf.bool), obj, tf.constant(0),
        )

        def body(i, x_cur, x_prev, grad, f_cur, eta, plain, x_max, f_max,
                 grad_max, first, found, count, reduced_last, f_max_last,
                 last_check):
            x_new = step(x_cur, x_prev, grad, eta, plain)
            logits, obj, grad_new = evaluate(x_new)
            count = count + tf.cast(obj > f_cur, tf.float32)
            x_max, f_max, grad_max = track_best(x_new, obj, grad_new, x_max,
                                                f_max, grad_max)
            first, found = first_fooled(logits, x_new, first, found)

            is_check = tf.reduce_any(tf.equal(checkpoints_t, i))
            since = tf.cast(i - last_check, tf.float32)
            cond1 = count < rho * since
            # f_max never decreases, so "unchanged" is "not above".
            cond2 = tf.logical_and(tf.logical_not(reduced_last),
                                   f_max <= f_max_last)
            reduce = tf.logical_and(is_check, tf.logical_or(cond1, cond2))
            eta = tf.where(reduce, 0.5 * eta, eta)
            x_next = select(reduce, x_max, x_new)
            reduced_last = tf.where(is_check, reduce, reduced_last)
            f_max_last = tf.where(is_check, f_max, f_max_last)
            count = tf.where(is_check, tf.zeros_like(count), count)
            last_check = tf.where(is_check, i, last_check)
            return (
                # Reset examples take a plain step next, so their x_prev
                # is never used.
                i + 1, x_next, select(reduce, x_max, x_cur),
                select(reduce, grad_max, grad_new),
                tf.where(reduce, f_max, obj), eta, reduce, x_max, f_max,
                grad_max, first, found, count, reduced_last, f_max_last,
                last_check,
            )

        state = tf.while_loop(lambda i, *_: i < num_steps, body, state)
        (_, x_cur, x_prev, grad, _, eta, plain, x_max, f_max, grad_max,
         first, found) = state[:12]

        def last_step():
            # x_N needs only its loss and prediction, not a gradient.
            x_new = step(x_cur, x_prev, grad, eta, plain)
            logits = model_fn(x_new)
            obj = objective(logits)
            better = obj > f_max
            first_n, found_n = first_fooled(logits, x_new, first, found)
            return (select(better, x_new, x_max),
                    tf.where(better, obj, f_max), first_n, found_n)

        x_max, f_max, first, found = tf.cond(
            num_steps > 0, last_step, lambda: (x_max, f_max, first, found)
        )
        return select(found, first, x_max), f_max, found

    def outer_body(r, x_best, obj_best, fooled):
        active = tf.where(tf.logical_not(fooled))[:, 0]

        def attack_active():
            xs = tf.gather(x, active)
            ys = tf.gather(y, active)
            column = tf.fill(tf.shape(active), r // restarts)
            ts = tf.gather_nd(ranking, tf.stack(
                [tf.cast(active, tf.int32), column], axis=1))
            x_run, obj_run, fooled_run = run(
                xs, ys, tf.cast(ts, ys.dtype),
                tf.stack([seed, tf.cast(r, tf.int64)]))
            old_x = tf.gather(x_best, active)
            old_obj = tf.gather(obj_best, active)
            # The active examples are not fooled yet: a success always wins.
            take = tf.logical_or(fooled_run, obj_run > old_obj)
            index = active[:, None]
            return (
                tf.tensor_scatter_nd_update(
                    x_best, index, select(take, x_run, old_x)),
                tf.tensor_scatter_nd_update(
                    obj_best, index, tf.where(take, obj_run, old_obj)),
                tf.tensor_scatter_nd_update(fooled, index, fooled_run),
            )

        x_best, obj_best, fooled = tf.cond(
            tf.size(active) > 0, attack_active,
            lambda: (x_best, obj_best, fooled),
        )
        return r + 1, x_best, obj_best, fooled

    _, x_best, _, _ = tf.while_loop(
        lambda r, *_: r < num_runs, outer_body,
        (tf.constant(0), x, tf.fill(tf.shape(y), -np.inf), fooled),
    )
    return x_best


def apgd(
    model_fn,
    x,
    y=None,
    *,
    eps,
    num_steps=100,
    norm="inf",
    loss="ce",
    targeted=False,
    num_targets=9,
    restarts=1,
    rho=0.75,
    alpha=0.75,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """APGD / APGD-T (Croce & Hein 2020) on a logits callable.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: true integer labels `(batch,)` (one-hot accepted), or `None` to
            use the model's predictions on `x`; also for `targeted=True`,
            where the targets are chosen from the clean logits.
        eps: radius of the norm ball, `>= 0`. The initial step is `2 eps`.
        num_steps: iterations `N` per run, integer `>= 0` (paper: 100).
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        loss: `"ce"` (cross-entropy) or `"dlr"` (Difference of Logits Ratio;
            needs >= 3 classes, >= 4 targeted).
        targeted: APGD-T: one run per target class (see `num_targets`);
            success is any misclassification w.r.t. `y`.
        num_targets: targeted only: the classes with the highest clean logits
            other than `y`, integer `>= 1`, capped at `num_classes - 1`.
        restarts: random starts per target (per attack if untargeted),
            integer `>= 1`; each reruns only the examples not fooled yet.
        rho: checkpoint condition 1 threshold, in [0, 1] (paper: 0.75).
        alpha: momentum weight of the new step, in [0, 1] (paper: 0.75;
            1 means no momentum).
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for reproducible random starts (stateless RNG seeded with
            `[seed, run]`), or `None` to draw from TF's global RNG.

    Returns:
        Float32 images of `x`'s shape inside the `eps`-ball around `x` and
        `[clip_min, clip_max]`: per example the first misclassifying point
        found (`x` itself if already misclassified), else the highest-loss
        iterate.

    Raises:
        ValueError: naming the argument, for a negative `eps` or
            `num_steps`, an unknown `norm` or `loss`, `restarts < 1`,
            `num_targets < 1`, `rho` or `alpha` outside [0, 1],
            `clip_min > clip_max`, or DLR with too few classes.
    """
    check_model_fn(model_fn)
    norm = _projections.normalize_norm(norm)
    check_choice("loss", loss, APGD_LOSSES)
    targeted = check_bool("targeted", targeted)
    check_number("eps", eps, low=0)
    check_number("num_steps", num_steps, low=0, integer=True)
    check_number("num_targets", num_targets, low=1, integer=True)
    check_number("restarts", restarts, low=1, integer=True)
    check_unit_interval("rho", rho)
    check_unit_interval("alpha", alpha)
    clip_min, clip_max = check_clip(clip_min, clip_max)
    # y holds true labels in both modes, so None is allowed for APGD-T too.
    x, y, use_predictions = prepare_inputs(x, y, targeted=False)
    return _apgd_graph(
        stable_model_fn(model_fn), x, y, f32(eps),
        tf.cast(num_steps, tf.int32), tf.cast(num_targets, tf.int32),
        tf.cast(restarts, tf.int32), f32(rho), f32(alpha), f32(clip_min),
        f32(clip_max), seed_tensor(seed), norm=norm, loss=loss,
        targeted=targeted, use_predictions=use_predictions,
    )
