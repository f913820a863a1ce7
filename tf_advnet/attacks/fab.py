"""FAB: the Fast Adaptive Boundary attack, untargeted and targeted (FAB-T).

Reference:
    Croce, Hein. "Minimally distorted adversarial examples with a fast
    adaptive boundary attack". ICML 2020. https://arxiv.org/abs/1907.02044
    Behaviour matched to AutoAttack's `autoattack/fab_base.py` and
    `fab_projections.py` (github.com/fra31/auto-attack), which AutoAttack runs
    as its third attack (FAB-T) in the standard version and as FAB in `plus`.

FAB looks for the smallest `||x' - x||_p` (p in {inf, 2, 1}) that changes the
decision, inside the box `B = [clip_min, clip_max]^d`. At the iterate `x_i`
it linearises the decision boundary: for each class `k != y`,

    f_k(x_i) - f_y(x_i) + <grad(f_k - f_y)(x_i), z - x_i> = 0,

and keeps the class `k` whose hyperplane is nearest in the `p`-norm,
`|f_k - f_y| / ||grad(f_k - f_y)||_q` (`q` the dual norm). FAB-T uses
one hyperplane only, that of the target class `t`. With `P(v)` the projection
of `v` onto that hyperplane intersected with `B` (`_project`) and
`d_1 = P(x_i) - x_i`, `d_2 = P(x) - x` (`attack_single_run` in `fab_base.py`):

    alpha   = min(||d_1|| / (||d_1|| + ||d_2||), alpha_max)
    x_{i+1} = clip((1 - alpha)(x_i + eta d_1) + alpha (x + eta d_2))

and if `x_{i+1}` is misclassified it is recorded when it is the smallest
adversarial so far, then pulled back towards `x`: `x + beta (x_{i+1} - x)`.
Defaults are the paper's and AutoAttack's: `alpha_max = 0.1`, `eta = 1.05`,
`beta = 0.9`, 100 iterations.

The projection (`_project`) solves `min ||d||_p` s.t. `<w, v + d> = b`,
`v + d in B` exactly, for a whole batch at once, rather than with the
reference's per-row bisection. With `c = <w, v> - b` signed so that `c >= 0`
and `m_i` the room coordinate `i` has in the direction that lowers `<w, .>`,
the minimiser is `d_i = -sign(w_i) min(lambda s_i, m_i)` with `s_i = 1`
(L-inf) or `s_i = |w_i|` (L2), where `lambda` is the root of the piecewise
linear, non-decreasing `H(lambda) = sum_i |w_i| min(lambda s_i, m_i) = c`,
found by sorting the breakpoints `m_i / s_i`; for L1 it moves the coordinates
with the largest `|w_i|` to their bounds until `c` is reached. When even the
corner of `B` that minimises `<w, .>` does not reach the hyperplane, the
problem is infeasible and, as the reference, that corner is returned.

Runs, as AutoAttack: the first run (per target, for FAB-T) starts at `x`;
each further restart starts at `clip(x + eps / 2 * u / ||u||_p)` with `u`
uniform in `[-1, 1]^d` (L-inf) or standard normal (L2, L1). Targets are the
`num_targets` classes of highest clean logit other than `y` (ranks 2 to 10
for AutoAttack's 9), one run each; success is any misclassification w.r.t.
`y`, as AutoAttack's FAB-T. Only clean-correct points are attacked, and each
run only the points not yet broken.

Output, AutoAttack's final check (`fab_base.py`, `perturb`): a point counts
as broken only if the smallest adversarial found is within `eps`; then it is
returned, else `x`. So the output always lies in the `eps`-ball and FAB is a
bounded attack. `minimal=True` instead returns, for every point FAB fooled,
its smallest adversarial whatever its size, runs every run on every
clean-correct point, and uses `eps` only to scale the random restarts.

One deviation that changes no result: with `minimal=False` a run stops once
every point it attacks has an adversarial within `eps` (the reference keeps
minimising; that only shrinks perturbations already inside the ball).

Cost per iteration: one forward-backward pass for all classes' gradients
(the Jacobian, `num_classes` backward passes batched by `pfor`) untargeted,
or one gradient targeted, plus one forward pass for the success check.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = fab(model_fn, x, y, eps=8 / 255, targeted=True, seed=0)   # FAB-T
x_adv = fab(model_fn, x, y, eps=0.5, norm=2, restarts=5, seed=0)  # FAB L2
x_min = fab(model_fn, x, y, eps=0.3, minimal=True)                # minimal
```

The loops run inside one `tf.function`; hyper-parameters are tensors, so new
values (eps, num_steps, eta, ...) do not retrace. A new `model_fn` object,
input shape (after the first, the batch size is generalised), or structural
option (`norm`, `targeted`, `minimal`, `y is None`) does.
"""

import numpy as np
import tensorflow as tf

from tf_advnet.utils.compiled import per_model, stable_model_fn
from tf_advnet.attacks import _projections
from tf_advnet.attacks import targets
from tf_advnet.attacks._common import (
    check_bool,
    check_clip,
    check_model_fn,
    check_number,
    check_unit_interval,
    f32,
    prepare_inputs,
    seed_tensor,
    select,
)

# Stands in for an infinite bound or breakpoint inside the projection, where
# inf * 0 would give NaN; far above any pixel range or gradient ratio.
_BIG = 1e20


def _normalize_norm(norm):
    """`"inf"`, `"2"` or `"1"` for the accepted spellings of a norm."""
    if isinstance(norm, str) and norm.strip().lower() in ("1", "l1"):
        return "1"
    if (isinstance(norm, (int, float, np.integer, np.floating))
            and not isinstance(norm, bool) and norm == 1):
        return "1"
    try:
        return _projections.normalize_norm(norm)
    except ValueError:
        raise ValueError(
            "Invalid value for argument `norm`: expected one of np.inf, "
            f"'inf', 2, '2', 1, '1'. Received: norm={norm!r}") from None


def _norm(v, norm):
    """`||v||_p` per row of a `(rows, d)` tensor."""
    if norm == "inf":
        return tf.reduce_max(tf.abs(v), axis=1)
    if norm == "2":
        return tf.sqrt(tf.reduce_sum(tf.square(v), axis=1))
    return tf.reduce_sum(tf.abs(v), axis=1)


def _dual_norm(v, norm):
    """`||v||_q` over the last axis, `1/p + 1/q = 1`."""
    if norm == "inf":
        return tf.reduce_sum(tf.abs(v), axis=-1)
    if norm == "2":
        return tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1))
    return tf.reduce_max(tf.abs(v), axis=-1)


def _take(values, index):
    """`values[r, index[r]]` for each row `r`; `index` may be `(rows,)`."""
    return tf.gather(values, index[:, None], axis=1, batch_dims=1)[:, 0]


def _project(v, w, c, clip_min, clip_max, norm):
    """The step `d` onto `{z : <w, z> = <w, v> - c}` ∩ box, minimal in `p`.

    Solves `min ||d||_p` s.t. `<w, d> = -c`, `clip_min <= v + d <= clip_max`
    exactly, row by row (see the module docstring); an infeasible row gets
    the box corner that lowers `c` most.

    Args:
        v: points `(rows, d)` inside the box.
        w: hyperplane normals `(rows, d)`.
        c: `<w, v> - b` per row, `(rows,)`: the signed offset to remove.
        clip_min, clip_max: float scalars (may be infinite).
        norm: `"inf"`, `"2"` or `"1"`.

    Returns:
        `d`, `(rows, d)`.
    """
    sign = tf.where(c >= 0, 1.0, -1.0)
    w = w * sign[:, None]
    c = c * sign
    aw = tf.abs(w)
    live = aw > 0
    # Room towards the box face that lowers <w, .>, capped so that a missing
    # bound never meets a zero weight as inf * 0.
    room = tf.where(w > 0, v - clip_min, clip_max - v)
    room = tf.clip_by_value(room, 0.0, _BIG)
    n = tf.shape(v)[1]
    first = tf.range(n)[None, :]

    if norm == "1":
        # Cheapest L1 distance per unit of c: the largest |w_i| first.
        order = tf.argsort(aw, axis=1, direction="DESCENDING", stable=True)
        aw_s = tf.gather(aw, order, batch_dims=1)
        room_s = tf.gather(room, order, batch_dims=1)
        gain = aw_s * room_s
        before = tf.cumsum(gain, axis=1, exclusive=True)
        reached = (before + gain) >= c[:, None]
        k = tf.reduce_min(tf.where(reached, first, n), axis=1)
        kk = tf.minimum(k, n - 1)
        part = (c - _take(before, kk)) / tf.maximum(_take(aw_s, kk), 1e-30)
        size_s = tf.where(first < k[:, None], room_s,
                          tf.where(first == k[:, None],
                                   tf.minimum(part, _take(room_s, kk))[:, None],
                                   0.0))
        rank = tf.argsort(order, axis=1, stable=True)
        size = tf.gather(size_s, rank, batch_dims=1)
    else:
        scale = tf.ones_like(aw) if norm == "inf" else aw
        # lambda at which coordinate i reaches its bound.
        kink = tf.where(live, room / tf.where(live, scale, 1.0), _BIG)
        kink = tf.minimum(kink, _BIG)
        order = tf.argsort(kink, axis=1, stable=True)
        kink_s = tf.gather(kink, order, batch_dims=1)
        sat = tf.gather(aw * room, order, batch_dims=1)
        slope = tf.gather(aw * scale, order, batch_dims=1)
        # H at the k-th kink: coordinates before it saturated, the rest linear.
        sat_before = tf.cumsum(sat, axis=1, exclusive=True)
        slope_from = tf.cumsum(slope, axis=1, reverse=True)
        h = sat_before + kink_s * slope_from
        reached = h >= c[:, None]
        k = tf.reduce_min(tf.where(reached, first, n), axis=1)
        kk = tf.minimum(k, n - 1)
        rest = _take(slope_from, kk)
        lam = tf.where(rest > 0, (c - _take(sat_before, kk))
                       / tf.where(rest > 0, rest, 1.0), 0.0)
        # k == n: infeasible, every coordinate goes to its bound.
        size = tf.where((k < n)[:, None],
                        tf.minimum(tf.maximum(lam, 0.0)[:, None] * scale, room),
                        room)
    return tf.where(live, -tf.sign(w) * size, 0.0)


@per_model(autograph=False, reduce_retracing=True)
def _fab_graph(
    model_fn, x, y, eps, num_steps, num_targets, restarts, alpha_max, eta,
    beta, clip_min, clip_max, seed, *, norm, targeted, minimal,
    use_predictions,
):
    """All runs of FAB / FAB-T on one batch; see `fab`."""
    clean_logits = model_fn(x)
    num_classes = tf.shape(clean_logits)[-1]
    if use_predictions:
        y = tf.argmax(clean_logits, axis=-1)
    correct = tf.equal(tf.argmax(clean_logits, axis=-1), y)
    image_shape = tf.shape(x)[1:]
    x_flat = tf.reshape(x, [tf.shape(x)[0], -1])

    if targeted:
        ranking = targets.ranked_others(clean_logits, y)
        num_runs = tf.minimum(num_targets, num_classes - 1) * restarts
    else:
        ranking = tf.zeros_like(clean_logits, tf.int32)
        num_runs = restarts

    def logits_of(v):
        batch = tf.shape(v)[:1]
        return model_fn(tf.reshape(v, tf.concat([batch, image_shape], 0)))

    def linearise(v, ys, ts):
        """Offsets `f_k - f_y` and their gradients at `v`, `(b, K[, d])`."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(v)
            logits = logits_of(v)
            if targeted:
                gap = (tf.gather(logits, ts, batch_dims=1)
                       - tf.gather(logits, ys, batch_dims=1))
        if targeted:
            return gap[:, None], tape.gradient(gap, v)[:, None, :]
        jac = tape.batch_jacobian(logits, v)
        df = logits - tf.gather(logits, ys, batch_dims=1)[:, None]
        dg = jac - tf.gather(jac, ys, batch_dims=1)[:, None, :]
        return df, dg

    def run(x0, ys, ts, random_start, run_seed):
        """One FAB run from `x0` (or a random start); (best point, norm)."""
        def start():
            if norm == "inf":
                u = tf.random.stateless_uniform(tf.shape(x0), run_seed,
                                                -1.0, 1.0)
            else:
                u = tf.random.stateless_normal(tf.shape(x0), run_seed)
            size = _norm(u, norm)
            u = u / tf.where(size > 0, size, 1.0)[:, None]
            return tf.clip_by_value(x0 + 0.5 * eps * u, clip_min, clip_max)

        x1 = tf.cond(random_start, start, lambda: x0)
        rows = tf.shape(x0)[0]

        def body(i, x1, adv, best):
            df, dg = linearise(x1, ys, ts)
            dist = tf.abs(df) / (_dual_norm(dg, norm) + 1e-12)
            if not targeted:
                dist = tf.where(tf.one_hot(ys, num_classes, on_value=True,
                                           off_value=False), np.inf, dist)
            k = tf.argmin(dist, axis=1, output_type=tf.int32)
            w = tf.gather(dg, k, batch_dims=1)
            f = tf.gather(df, k, batch_dims=1)
            # The same hyperplane seen from x1 (offset f) and from x0.
            c0 = f + tf.reduce_sum(w * (x0 - x1), axis=1)
            d = _project(tf.concat([x1, x0], 0), tf.concat([w, w], 0),
                         tf.concat([f, c0], 0), clip_min, clip_max, norm)
            d1, d2 = d[:rows], d[rows:]
            a1 = tf.maximum(_norm(d1, norm), 1e-8)
            a2 = tf.maximum(_norm(d2, norm), 1e-8)
            alpha = tf.clip_by_value(a1 / (a1 + a2), 0.0, alpha_max)[:, None]
            x1 = tf.clip_by_value(
                (1.0 - alpha) * (x1 + eta * d1) + alpha * (x0 + eta * d2),
                clip_min, clip_max)
            is_adv = tf.not_equal(tf.argmax(logits_of(x1), axis=-1), ys)
            size = _norm(x1 - x0, norm)
            better = tf.logical_and(is_adv, size < best)
            adv = select(better, x1, adv)
            best = tf.where(better, size, best)
            x1 = select(is_adv, x0 + beta * (x1 - x0), x1)
            return i + 1, x1, adv, best

        def cond(i, x1, adv, best):
            going = i < num_steps
            if minimal:
                return going
            return tf.logical_and(going, tf.reduce_any(best > eps))

        _, _, adv, best = tf.while_loop(
            cond, body, (tf.constant(0), x1, x0, tf.fill([rows], np.inf)))
        return adv, best

    def outer_body(r, adv_all, best_all):
        todo = correct if minimal else tf.logical_and(correct, best_all > eps)
        active = tf.where(todo)[:, 0]

        def attack_active():
            x0 = tf.gather(x_flat, active)
            ys = tf.gather(y, active)
            column = tf.fill(tf.shape(active), r // restarts)
            ts = tf.gather_nd(ranking, tf.stack(
                [tf.cast(active, tf.int32), column], axis=1))
            adv, best = run(x0, ys, tf.cast(ts, ys.dtype), r % restarts > 0,
                            tf.stack([seed, tf.cast(r, tf.int64)]))
            old_adv = tf.gather(adv_all, active)
            old_best = tf.gather(best_all, active)
            take = best < old_best
            index = active[:, None]
            return (
                tf.tensor_scatter_nd_update(
                    adv_all, index, select(take, adv, old_adv)),
                tf.tensor_scatter_nd_update(
                    best_all, index, tf.where(take, best, old_best)),
            )

        adv_all, best_all = tf.cond(tf.size(active) > 0, attack_active,
                                    lambda: (adv_all, best_all))
        return r + 1, adv_all, best_all

    _, adv_all, best_all = tf.while_loop(
        lambda r, *_: r < num_runs, outer_body,
        (tf.constant(0), x_flat, tf.fill(tf.shape(y), np.inf)))
    keep = best_all < np.inf if minimal else best_all <= eps
    return tf.reshape(select(keep, adv_all, x_flat), tf.shape(x))


def fab(
    model_fn,
    x,
    y=None,
    *,
    eps,
    num_steps=100,
    norm="inf",
    targeted=False,
    num_targets=9,
    restarts=1,
    alpha_max=0.1,
    eta=1.05,
    beta=0.9,
    minimal=False,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """FAB / FAB-T (Croce & Hein 2020) on a logits callable.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: true integer labels `(batch,)` (one-hot accepted), or `None` to
            use the model's predictions on `x`; also for `targeted=True`,
            where the targets are chosen from the clean logits.
        eps: budget, `>= 0`: a point counts as broken only if FAB finds an
            adversarial within `eps` (AutoAttack's check); restarts start at
            distance `eps / 2` from `x`.
        num_steps: iterations per run, integer `>= 0` (AutoAttack: 100).
        norm: `"inf"` / `np.inf`, `"2"` / `2` or `"1"` / `1`.
        targeted: FAB-T: one run per target class (see `num_targets`);
            success is any misclassification w.r.t. `y`.
        num_targets: targeted only: the classes of highest clean logit other
            than `y`, integer `>= 1`, capped at `num_classes - 1`.
        restarts: runs per target (per attack if untargeted), integer `>= 1`;
            the first starts at `x`, the others at random points.
        alpha_max: cap on the weight of the step from `x`, in [0, 1].
        eta: overshoot of the projection steps, `>= 0` (AutoAttack: 1.05;
            above 1 so the step crosses the linearised boundary).
        beta: factor of the step back towards `x` after a success, in [0, 1].
        minimal: return the smallest adversarial found for every point FAB
            fools, however large, instead of applying the `eps` check.
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for reproducible random restarts (stateless RNG seeded with
            `[seed, run]`), or `None` to draw from TF's global RNG.

    Returns:
        Float32 images of `x`'s shape inside `[clip_min, clip_max]`: per
        example the smallest adversarial found if it is within `eps` (any
        size with `minimal=True`), else `x`.

    Raises:
        ValueError: naming the argument, for a negative `eps`, `num_steps` or
            `eta`, an unknown `norm`, `restarts < 1`, `num_targets < 1`,
            `alpha_max` or `beta` outside [0, 1], or `clip_min > clip_max`.
    """
    check_model_fn(model_fn)
    norm = _normalize_norm(norm)
    targeted = check_bool("targeted", targeted)
    minimal = check_bool("minimal", minimal)
    check_number("eps", eps, low=0)
    check_number("num_steps", num_steps, low=0, integer=True)
    check_number("num_targets", num_targets, low=1, integer=True)
    check_number("restarts", restarts, low=1, integer=True)
    check_unit_interval("alpha_max", alpha_max)
    check_number("eta", eta, low=0)
    check_unit_interval("beta", beta)
    clip_min, clip_max = check_clip(clip_min, clip_max)
    x, y, use_predictions = prepare_inputs(x, y, targeted=False)
    return _fab_graph(
        stable_model_fn(model_fn), x, y, f32(eps),
        tf.cast(num_steps, tf.int32), tf.cast(num_targets, tf.int32),
        tf.cast(restarts, tf.int32), f32(alpha_max), f32(eta), f32(beta),
        f32(clip_min), f32(clip_max), seed_tensor(seed), norm=norm,
        targeted=targeted, minimal=minimal, use_predictions=use_predictions,
    )
