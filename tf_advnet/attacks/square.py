"""Square Attack: score-based black-box random search (L-inf and L2).

Reference:
    Andriushchenko, Croce, Flammarion, Hein. "Square Attack: a query-efficient
    black-box adversarial attack via random search". ECCV 2020.
    https://arxiv.org/abs/1912.00049
    Authors' code as AutoAttack runs it: fra31/auto-attack,
    `autoattack/square.py` (class `SquareAttack`) called from
    `autoattack/autoattack.py` with `p_init=.8, n_queries=5000,
    resc_schedule=False`.

The attack only evaluates `model_fn` (logits); it never asks for a gradient,
so masked or obfuscated gradients do not stop it. It is the paper's random
search (Algorithm 1): from an initial point `x_0` in the threat model

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,  p in {inf, 2}

each iteration draws a localised square-shaped update `delta ~ P`, projects
`x_t + delta` onto `S(x)` and keeps it, per example, if the loss

    margin(z, y) = z_y - max_{j != y} z_j        (default, `loss="margin"`)
    -cross_entropy(z, y)                         (`loss="ce"`)

strictly decreases or the candidate is misclassified (margin < 0; with the
margin loss the second implies the first). An example is fooled once its
margin is negative; from then on it is neither changed nor queried.

Defaults: AutoAttack's call. `p_init=0.8` for both norms and the halving
points of a 10,000-iteration schedule NOT rescaled to the budget
(`rescale_schedule=False`), so `square(..., max_queries=5000)` (the
registry's `square5000`) is the Square of AutoAttack's standard version.
The paper's ImageNet values (p_init 0.05 L-inf, 0.1 L2) with the schedule
rescaled to the budget stay available (`p_init=..., rescale_schedule=True`;
registry `square<K>:p=0.05,resc=1`).

What each rule was checked against (fra31/auto-attack, `autoattack/square.py`,
`SquareAttack`):

- Schedule of `p` (`p_schedule`, as `p_selection`): `p_init` is halved once
  for each point `t` of `HALVING_POINTS` = (10, 50, 200, 500, 1000, 2000,
  4000, 6000, 8000) with `it > t`. `it` is the 0-based index of the random
  search step (`i_iter`; 0 for the first update, the second query). With
  `rescale_schedule=True`, `it` is `int(i_iter / N * 10000)`, computed in
  float64 in that order as the reference does (`N = max_queries`). Without
  it, a 1,000-query run never gets past `p_init / 16`.
- Window side (`_side`, as `attack_single_run`): `s = round(sqrt(p * n /
  c))` with `n = c h w` (Python's round, half to even), in float64. L-inf:
  at least 1. L2: at least 3 and odd (an even `s` is raised by one), so the
  dipole has a centre row. Both then capped at `min(h, w)`.
- L-inf init (`attack_single_run`, Linf branch): vertical stripes, one `±eps`
  per column, channel and example, clipped to the box. Update: one `s x s`
  window whose values become `x ± eps` with one random sign per channel
  (the reference's `x_best + 2 eps sign` projected onto the ball gives
  exactly this), clipped to the box.
- L2 update shape (`eta`, `eta_rectangles`): `eta_rectangles(a, b)` on an
  `a x b` rectangle is, at Chebyshev ring distance `d` from its centre
  `(a // 2, b // 2)`, `sum_{j=d+1}^{n+1} 1 / j^2` with `n = max(a, b) // 2`
  (the paper's Eq. (2)), normalised to unit L2 norm. `eta(s)` stacks
  `eta_rectangles(s // 2, s)` on the first `s // 2` rows and
  `-eta_rectangles(s - s // 2, s)` on the rest, so the two halves of the
  dipole are normalised SEPARATELY, then normalises the whole and
  transposes it with probability 1/2 (`_eta_grid`).
- L2 init (`attack_single_run`, L2 branch): tiles of side `t = h // 5` on a
  grid starting at `(h - 5 t) // 2` in both directions, each tile
  `eta(t) * (±1 per example and channel)`; `delta` is rescaled to
  `||delta||_2 = eps` (`normalize`) and `x + delta` clipped to the box.
  (We take `t = max(min(h, w) // 5, 1)` and only tiles that fit, which is
  the reference on square images of side >= 5 where its grid fits, e.g. 28,
  32, 224; the reference fails on images smaller than 5 pixels.)
- L2 update (`attack_single_run`, L2 branch): two uniform `s x s` windows
  `W1`, `W2`. Per example and channel, `new = eta(s) * (±1) + delta_W1 /
  (||delta_W1|| + 1e-12)`, rescaled to `sqrt(max(eps^2 - ||delta||^2, 0) / c
  + ||delta_{W1 ∪ W2}||^2)` (the mass on both windows plus an equal share of
  the unused budget); `W2` is zeroed, `W1` set to `new`, and the whole
  `delta` rescaled to `||delta||_2 = eps` before the box clip. If `new`
  cancels exactly, `W1` is zeroed and the rescaling spreads its mass over
  the rest, as the reference does.
- Acceptance (`attack_single_run`): a candidate replaces the iterate if its
  loss is strictly lower or it is misclassified.

Deliberate differences from the reference, none of which makes the attack
weaker per query: (1) the reference draws one window position, one
transposition and (L-inf) one sign per channel per iteration for the whole
batch; we draw them per example, so an example's random stream depends only
on `seed`, the iteration and its batch position, not on which other examples
are still active. (2) L-inf: a candidate identical to the current iterate
(e.g. a window of saturated pixels where `-eps` clips to the same value)
cannot lower the loss, so the window and signs are redrawn (up to 10 times,
without a query); the reference spends a query on it. (3) Query budget: the
init is query 1 and `max_queries - 1` random-search steps follow; the
reference's `n_queries` counts the steps after the init, so AutoAttack's
`n_queries=5000` is at most 5,001 forward passes and our `max_queries=5000`
stops one step (at `p_init / 512` on this schedule) earlier. (4) An example
stops at margin `< 0` (argmax differs from `y`); the reference stops at
`<= 0`, a tie.

Queries and the active set: the init is query 1 of every example (the extra
forward pass for labels when `y is None` is not counted). Each later
iteration gathers the examples not yet fooled, builds their candidates and
runs `model_fn` on that sub-batch only, so both the count and the compute
scale with the active set; the loop stops when every example is fooled or
after `max_queries` queries. Random draws are made for the whole batch and
then gathered.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv, queries = square(model_fn, x, y, eps=8 / 255, max_queries=5000,
                        seed=0, return_queries=True)       # AutoAttack's
x_adv = square(model_fn, x, y, eps=0.5, norm=2, max_queries=1000, seed=0)
x_adv = square(model_fn, x, y, eps=8 / 255, max_queries=1000, p_init=0.05,
               rescale_schedule=True, seed=0)              # the paper's rule
```

The loop runs inside one `tf.function` (a `tf.while_loop`) with stateless
random ops, so a fixed `seed` gives the same output; `eps`, `max_queries`,
`p_init`, `rescale_schedule`, the clip bounds and `seed` are tensors and do
not retrace, while a new `model_fn` object, input shape, `norm`, `loss` or
`y is None` do.
"""

import tensorflow as tf

from tf_advnet.utils.compiled import per_model, stable_model_fn
from tf_advnet.attacks import _projections
from tf_advnet.attacks import losses
from tf_advnet.attacks._common import (
    check_bool,
    check_choice,
    check_clip,
    check_model_fn,
    check_number,
    f32,
    prepare_inputs,
    seed_tensor,
    select,
    static_value,
)

# Iterations of a 10,000-iteration run after which the reference halves p.
HALVING_POINTS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
# AutoAttack's p_init for both norms (the paper's ImageNet values, 0.05 for
# L-inf and 0.1 for L2, are options).
DEFAULT_P_INIT = 0.8
LOSSES = ("margin", "ce")

# Redraws of an L-inf window that would leave the iterate unchanged.
_MAX_REDRAWS = 10
# The reference's guard against dividing by a zero norm.
_TINY = 1e-12


def _f64(value):
    """float64 tensor; a Python float converts directly (0.8 stays 0.8, not
    float32's 0.800000011920929)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, tf.float64)
    return tf.constant(value, tf.float64)


def p_schedule(iteration, max_queries, p_init, rescale=False):
    """The fraction `p` of pixels a square covers at a given iteration.

    The reference's `p_selection`: `p_init / 2**k`, where `k` counts the
    halving points `t` in `HALVING_POINTS` with `it > t`, and `it` is
    `iteration` itself (`rescale=False`, AutoAttack's setting) or
    `int(iteration / max_queries * 10000)` (`rescale=True`, the paper's rule
    for a budget other than 10,000), computed in float64 in that order.

    Args:
        iteration: 0-based index of the random-search step (query
            `iteration + 2`), int or int tensor.
        max_queries: the query budget `N` (int or int tensor, `>= 1`); only
            used with `rescale`.
        p_init: the initial fraction.
        rescale: bool or bool tensor.

    Returns:
        A float64 scalar tensor.
    """
    it = tf.cast(iteration, tf.int64)
    scaled = tf.cast(tf.floor(tf.cast(iteration, tf.float64)
                              / tf.cast(max_queries, tf.float64) * 10000.0),
                     tf.int64)
    it = tf.where(tf.cast(rescale, tf.bool), scaled, it)
    halvings = tf.reduce_sum(
        tf.cast(it > tf.constant(HALVING_POINTS, tf.int64), tf.float64))
    return _f64(p_init) * tf.pow(tf.constant(0.5, tf.float64), halvings)


def _side(p, h, w, c=1, norm="inf"):
    """The reference's window side for fraction `p` on `h x w x c` images.

    `round(sqrt(p * (c h w) / c))` in float64 (half to even, as Python's
    `round`); L-inf: at least 1; L2: at least 3 and odd (even sides go up by
    one); then at most `min(h, w)`.
    """
    n = tf.cast(c * h * w, tf.float64)
    area = tf.cast(p, tf.float64) * n / tf.cast(c, tf.float64)
    s = tf.cast(tf.round(tf.sqrt(area)), tf.int32)
    if norm == "inf":
        s = tf.maximum(s, 1)
    else:
        s = tf.maximum(s, 3)
        s = s + 1 - s % 2
    return tf.minimum(s, tf.minimum(h, w))


def _margin(logits, y):
    return -losses.cw_margin(logits, y)


def _inv_square_cumsum(length):
    """`[0, 1, 1 + 1/4, ...]`: `table[m] = sum_{j=1}^m 1 / j^2`."""
    j = tf.cast(tf.range(1, length + 1), tf.float32)
    return tf.concat([[0.0], tf.cumsum(1.0 / tf.square(j))], axis=0)


def _bump(a, b, h1, h2, table):
    """`eta_rectangles(h1, h2)` (before normalising) at local `(a, b)`.

    The window is `h1 x h2`; positions outside it must be masked by the
    caller. Ring `d` (Chebyshev distance to the centre `(h1 // 2, h2 // 2)`)
    gets `sum_{j=d+1}^{n+1} 1/j^2`, `n = max(h1, h2) // 2`: nested windows
    of growing height towards the centre (the paper's Eq. (2)).
    """
    n = tf.maximum(h1, h2) // 2
    d = tf.maximum(tf.abs(a - h1 // 2), tf.abs(b - h2 // 2))
    d = tf.clip_by_value(d, 0, n)
    return tf.gather(table, n + 1) - tf.gather(table, d)


def _unit(v):
    """`v / ||v||_2` over the whole tensor; a zero (or empty) `v` stays 0."""
    return _safe_div(v, tf.sqrt(tf.reduce_sum(tf.square(v))))


def _eta_grid(s, table):
    """The reference's `eta(s)` for L2 before its random transposition.

    `(s, s)`: rows `[0, s // 2)` hold `eta_rectangles(s // 2, s)`, the rest
    `-eta_rectangles(s - s // 2, s)`, each half normalised to unit L2 norm
    on its own, then the whole normalised again.
    """
    half = s // 2
    a = tf.range(s)[:, tf.newaxis]
    b = tf.range(s)[tf.newaxis, :]
    top = tf.where(a < half, _bump(a, b, half, s, table), 0.0)
    bottom = tf.where(a >= half, _bump(a - half, b, s - half, s, table), 0.0)
    return _unit(_unit(top) - _unit(bottom))


def _place(grid, a, b, inside, flip):
    """`grid[a, b]` (`grid[b, a]` where `flip`), zero where not `inside`.

    `a`, `b`, `inside` and `flip` broadcast to a common shape; indices
    outside the grid must be masked by `inside`.
    """
    a, b = tf.where(flip, b, a), tf.where(flip, a, b)
    size = tf.shape(grid)[0]
    a = tf.clip_by_value(a, 0, size - 1)
    b = tf.clip_by_value(b, 0, size - 1)
    values = tf.gather_nd(grid, tf.stack([a, b], axis=-1))
    return tf.where(inside, values, 0.0)


def _window(start, size, length):
    """`(batch, length)` bool: `start <= i < start + size`."""
    i = tf.range(length)[tf.newaxis, :]
    start = start[:, tf.newaxis]
    return tf.logical_and(i >= start, i < start + size)


def _window_mask(r0, c0, s, h, w):
    """`(batch, h, w, 1)` float mask of the `s x s` windows at `(r0, c0)`."""
    rows = _window(r0, s, h)[:, :, tf.newaxis]
    cols = _window(c0, s, w)[:, tf.newaxis, :]
    return tf.cast(tf.logical_and(rows, cols), tf.float32)[..., tf.newaxis]


def _sum_hw(v):
    """Per example and channel sum over the spatial axes: `(batch, c)`."""
    return tf.reduce_sum(v, axis=[1, 2])


def _safe_div(num, den):
    return num / tf.where(den > 0, den, tf.ones_like(den))


def _signs(shape, seed):
    u = tf.random.stateless_uniform(shape, seed)
    return tf.where(u < 0.5, -1.0, 1.0)


def _positions(batch, limit, seed):
    """`batch` uniform ints in `[0, limit]`."""
    return tf.random.stateless_uniform(
        [batch], seed, minval=0, maxval=limit + 1, dtype=tf.int32
    )


@per_model(autograph=False, reduce_retracing=True)
def _square_graph(
    model_fn, x, y, eps, max_queries, p_init, rescale, clip_min, clip_max,
    seed, *, norm, loss, use_predictions, record=False,
):
    """Random search of Algorithm 1; see `square`.

    Returns `(x_adv, queries)`, plus with `record=True` a
    `(max_queries, batch)` history of the best loss after each query (rows
    past the last iteration repeat the final value), for the tests.
    """
    if use_predictions:
        y = tf.argmax(model_fn(x), axis=-1)
    shape = tf.shape(x)
    batch, h, w, c = shape[0], shape[1], shape[2], shape[3]
    channels = tf.cast(c, tf.float32)
    table = _inv_square_cumsum(tf.maximum(h, w) + 1)

    def l2_norm(v, axis):
        return tf.sqrt(tf.reduce_sum(tf.square(v), axis=axis, keepdims=True))

    def clip(v):
        return tf.clip_by_value(v, clip_min, clip_max)

    def evaluate(x_eval, labels):
        logits = model_fn(x_eval)
        margin = _margin(logits, labels)
        if loss == "ce":
            value = -losses.cross_entropy(logits, labels)
        else:
            value = margin
        return value, margin

    init_seed, loop_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.stack([seed, 0]), num=2)
    )

    # Initialisation ---------------------------------------------------------
    if norm == "inf":
        stripes = _signs(tf.stack([batch, 1, w, c]), init_seed)
        x_best = clip(x + eps * stripes)
    else:
        # Tiles of eta(t), each with a random transposition per example and
        # tile and a random sign per example, tile and channel.
        t = tf.maximum(tf.minimum(h, w) // 5, 1)
        off = tf.maximum((tf.minimum(h, w) - 5 * t) // 2, 0)
        n_h, n_w = (h - off) // t, (w - off) // t
        rr, cc = tf.range(h) - off, tf.range(w) - off
        ti, tj = rr // t, cc // t
        inside = tf.logical_and(
            tf.logical_and(rr >= 0, ti < n_h)[:, tf.newaxis],
            tf.logical_and(cc >= 0, tj < n_w)[tf.newaxis, :],
        )
        ti = tf.clip_by_value(ti, 0, n_h - 1)
        tj = tf.clip_by_value(tj, 0, n_w - 1)
        sign_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(init_seed, num=2))
        tile_signs = _signs(tf.stack([batch, n_h, n_w, c]), sign_seed)
        signs = tf.gather(tf.gather(tile_signs, ti, axis=1), tj, axis=2)
        tile_flips = tf.random.stateless_uniform(
            tf.stack([batch, n_h, n_w]), flip_seed) < 0.5
        flips = tf.gather(tf.gather(tile_flips, ti, axis=1), tj, axis=2)
        tiles = _place(_eta_grid(t, table),
                       (rr - ti * t)[tf.newaxis, :, tf.newaxis],
                       (cc - tj * t)[tf.newaxis, tf.newaxis, :],
                       inside[tf.newaxis], flips)
        delta = tiles[..., tf.newaxis] * signs
        x_best = clip(x + eps * delta / (l2_norm(delta, [1, 2, 3]) + _TINY))
    loss_best, margin_best = evaluate(x_best, y)
    queries = tf.ones([batch], tf.int32)

    # Sampling distributions ------------------------------------------------
    def linf_candidate(x_a, xb_a, idx, s, step_seed):
        def draw(attempt):
            seeds = tf.random.experimental.stateless_split(
                tf.random.experimental.stateless_fold_in(step_seed, attempt),
                num=3,
            )
            r0 = tf.gather(_positions(batch, h - s, seeds[0]), idx)
            c0 = tf.gather(_positions(batch, w - s, seeds[1]), idx)
            sign = tf.gather(_signs(tf.stack([batch, 1, 1, c]), seeds[2]), idx)
            mask = _window_mask(r0, c0, s, h, w) > 0
            # Untouched pixels keep their exact values, so an unchanged
            # candidate is detected exactly.
            return tf.where(mask, clip(x_a + eps * sign), xb_a)

        def unchanged(cand):
            return tf.reduce_all(tf.equal(cand, xb_a), axis=[1, 2, 3])

        def redraw(attempt, cand):
            same = unchanged(cand)
            return attempt + 1, select(same, draw(attempt), cand)

        _, cand = tf.while_loop(
            lambda k, cand: tf.logical_and(
                k <= _MAX_REDRAWS, tf.reduce_any(unchanged(cand))),
            redraw, (tf.constant(1), draw(0)),
        )
        return cand

    def l2_candidate(x_a, xb_a, idx, s, step_seed):
        seeds = tf.random.experimental.stateless_split(step_seed, num=6)
        r1 = tf.gather(_positions(batch, h - s, seeds[0]), idx)
        c1 = tf.gather(_positions(batch, w - s, seeds[1]), idx)
        r2 = tf.gather(_positions(batch, h - s, seeds[2]), idx)
        c2 = tf.gather(_positions(batch, w - s, seeds[3]), idx)
        rho = tf.gather(_signs(tf.stack([batch, 1, 1, c]), seeds[4]), idx)
        flip = tf.gather(
            tf.random.stateless_uniform([batch], seeds[5]) < 0.5, idx)
        delta = xb_a - x_a
        mask1 = _window_mask(r1, c1, s, h, w)
        mask2 = _window_mask(r2, c2, s, h, w)
        union = tf.maximum(mask1, mask2)

        # eta(s) on W1 (zero outside it), transposed where `flip`.
        a = (tf.range(h)[tf.newaxis, :] - r1[:, tf.newaxis])[:, :, tf.newaxis]
        b = (tf.range(w)[tf.newaxis, :] - c1[:, tf.newaxis])[:, tf.newaxis, :]
        eta = _place(_eta_grid(s, table), a, b, mask1[..., 0] > 0,
                     flip[:, tf.newaxis, tf.newaxis])[..., tf.newaxis]

        # Per example and channel: the mass of both windows plus an equal
        # share of the unused budget goes onto W1.
        delta_w1 = delta * mask1
        new = rho * eta + delta_w1 / (l2_norm(delta_w1, [1, 2]) + _TINY)
        unused = tf.maximum(tf.square(eps) - tf.square(
            l2_norm(delta, [1, 2, 3])), 0.0)
        mass = tf.sqrt(unused / channels
                       + tf.square(l2_norm(delta * union, [1, 2])))
        new = new / (l2_norm(new, [1, 2]) + _TINY) * mass
        delta = delta * (1.0 - union) + new * mask1
        delta = eps * delta / (l2_norm(delta, [1, 2, 3]) + _TINY)
        # The rescaling can overshoot eps by a rounding error.
        return clip(x_a + _projections.project(delta, eps, "2"))

    candidate_fn = linf_candidate if norm == "inf" else l2_candidate

    # Random search (Algorithm 1) -------------------------------------------
    def body(i, x_best, loss_best, margin_best, queries, history):
        idx = tf.where(margin_best >= 0)[:, 0]
        p = p_schedule(i, max_queries, p_init, rescale)
        s = _side(p, h, w, c, norm)
        step_seed = tf.random.experimental.stateless_fold_in(loop_seed, i)
        x_a = tf.gather(x, idx)
        xb_a = tf.gather(x_best, idx)
        cand = candidate_fn(x_a, xb_a, idx, s, step_seed)
        loss_new, margin_new = evaluate(cand, tf.gather(y, idx))
        better = loss_new < tf.gather(loss_best, idx)
        # The reference also takes a misclassified candidate whose loss is
        # not lower (possible with the CE loss), keeping the old best loss.
        take = tf.logical_or(better, margin_new < 0)
        rows = idx[:, tf.newaxis]
        x_best = tf.tensor_scatter_nd_update(
            x_best, rows, select(take, cand, xb_a))
        loss_best = tf.tensor_scatter_nd_update(
            loss_best, rows, tf.where(better, loss_new,
                                      tf.gather(loss_best, idx)))
        margin_best = tf.tensor_scatter_nd_update(
            margin_best, rows, tf.where(take, margin_new,
                                        tf.gather(margin_best, idx)))
        queries = tf.tensor_scatter_nd_add(
            queries, rows, tf.ones_like(idx, tf.int32))
        if record:
            history = history.write(i + 1, loss_best)
        return i + 1, x_best, loss_best, margin_best, queries, history

    if record:
        history = tf.TensorArray(tf.float32, size=max_queries,
                                 element_shape=loss_best.shape)
        history = history.write(0, loss_best)
    else:
        history = tf.constant(0.0)
    i, x_best, loss_best, _, queries, history = tf.while_loop(
        lambda i, _x, _l, margin, *_: tf.logical_and(
            i < max_queries - 1, tf.reduce_any(margin >= 0)),
        body, (tf.constant(0), x_best, loss_best, margin_best, queries,
               history),
    )
    if not record:
        return x_best, queries

    def fill(j, history):
        return j + 1, history.write(j, loss_best)

    _, history = tf.while_loop(lambda j, _: j < max_queries, fill,
                               (i + 1, history))
    return x_best, queries, history.stack()


def _check_inputs(model_fn, x, y, eps, max_queries, norm, p_init,
                  rescale_schedule, loss, clip_min, clip_max, return_queries):
    check_model_fn(model_fn)
    norm = _projections.normalize_norm(norm)
    check_choice("loss", loss, LOSSES)
    check_number("eps", eps, low=0)
    check_number("max_queries", max_queries, low=1, integer=True)
    if p_init is None:
        p_init = DEFAULT_P_INIT
    check_number("p_init", p_init, low=0)
    static_p = static_value(p_init)
    if static_p is not None and not 0 < static_p <= 1:
        raise ValueError(
            "Invalid value for argument `p_init`: expected a fraction in "
            f"(0, 1]. Received: p_init={p_init!r}"
        )
    if not isinstance(rescale_schedule, (tf.Tensor, tf.Variable)):
        rescale_schedule = check_bool("rescale_schedule", rescale_schedule)
    clip_min, clip_max = check_clip(clip_min, clip_max)
    return_queries = check_bool("return_queries", return_queries)
    x, y, use_predictions = prepare_inputs(x, y, targeted=False)
    if x.shape.rank is not None and x.shape.rank != 4:
        raise ValueError(
            "Invalid value for argument `x`: expected images of shape "
            f"(batch, height, width, channels). Received: x.shape={x.shape}"
        )
    return (norm, p_init, rescale_schedule, clip_min, clip_max,
            return_queries, x, y, use_predictions)


def square(model_fn, x, y=None, *, eps, max_queries=1000, norm="inf",
           p_init=DEFAULT_P_INIT, rescale_schedule=False, loss="margin",
           clip_min=0.0, clip_max=1.0, seed=None, return_queries=False):
    """Square Attack (Andriushchenko et al. 2020), untargeted, gradient-free.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`. Only its outputs are used.
        x: float images `(batch, height, width, channels)` in
            `[clip_min, clip_max]`.
        y: integer labels `(batch,)` (one-hot accepted), or `None` to use the
            model's predictions on `x` (that forward pass is not counted as a
            query).
        eps: radius of the norm ball, `>= 0`.
        max_queries: query budget per example, integer `>= 1`; the init is
            the first query, so `max_queries - 1` random-search steps.
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        p_init: initial fraction of pixels a square covers, in `(0, 1]`;
            default (or `None`) 0.8, AutoAttack's value for both norms (the
            paper's ImageNet values: 0.05 L-inf, 0.1 L2). Halved on the
            schedule of `p_schedule`.
        rescale_schedule: if False (AutoAttack's setting), `p` is halved
            after the fixed iterations `HALVING_POINTS` whatever the budget;
            if True, iteration `i` counts as `int(i / max_queries * 10000)`
            (the paper's rule for budgets other than 10,000).
        loss: `"margin"` (minimise `z_y - max_{j != y} z_j`) or `"ce"`
            (maximise the cross-entropy). Either way an example stops once
            its margin is negative.
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for a reproducible run (stateless RNG), or `None` to draw
            one from TF's global RNG.
        return_queries: also return the number of queries per example.

    Returns:
        Float32 adversarial images of `x`'s shape, inside the `eps`-ball
        around `x` and inside `[clip_min, clip_max]`; with
        `return_queries=True` the pair `(x_adv, queries)`, `queries` an int32
        `(batch,)` tensor with values in `[1, max_queries]`.

    Raises:
        ValueError: naming the argument, for a non-callable `model_fn`, a
            negative `eps`, `max_queries < 1` or not an integer, `p_init`
            outside `(0, 1]`, a non-bool `rescale_schedule`, an unknown
            `norm` or `loss`,
            `clip_min > clip_max`, a non-bool `return_queries`, a bad `seed`
            or `x` not of rank 4.
    """
    (norm, p_init, rescale_schedule, clip_min, clip_max, return_queries, x,
     y, use_predictions) = _check_inputs(
        model_fn, x, y, eps, max_queries, norm, p_init, rescale_schedule, loss,
        clip_min, clip_max, return_queries)
    seed = seed_tensor(seed)
    x_adv, queries = _square_graph(
        stable_model_fn(model_fn), x, y, f32(eps),
        tf.cast(max_queries, tf.int32), _f64(p_init),
        tf.cast(rescale_schedule, tf.bool), f32(clip_min), f32(clip_max),
        seed, norm=norm, loss=loss, use_predictions=use_predictions,
    )
    if return_queries:
        return x_adv, queries
    return x_adv

