"""Square Attack: score-based black-box random search (L-inf and L2).

Reference:
    Andriushchenko, Croce, Flammarion, Hein. "Square Attack: a query-efficient
    black-box adversarial attack via random search". ECCV 2020.
    https://arxiv.org/abs/1912.00049

The attack only evaluates `model_fn` (logits); it never asks for a gradient,
so masked or obfuscated gradients do not stop it. It is the paper's random
search (Algorithm 1): from an initial point `x_0` in the threat model

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,  p in {inf, 2}

each iteration draws a localised square-shaped update `delta ~ P`, projects
`x_t + delta` onto `S(x)` and keeps it, per example, only if the loss

    margin(z, y) = z_y - max_{j != y} z_j        (default, `loss="margin"`)
    -cross_entropy(z, y)                         (`loss="ce"`)

strictly decreases. An example is fooled once its margin is negative; from
then on it is neither changed nor queried.

Sampling distributions (window side `s = round(sqrt(p * h * w))`, clamped to
`[1, min(h, w)]` for L-inf and `[2, min(h, w)]` for L2, where `p` follows
`p_schedule`):

- L-inf (Algorithm 2). Init: vertical stripes, one `±eps` per column and
  channel. Update: one `s x s` window at a uniform position whose values
  become `x ± eps` with an independent random sign per channel (the paper's
  `±2 eps` followed by the projection gives exactly this), then clipped to
  the box. A candidate identical to the current iterate cannot lower the
  loss, so the window and signs are redrawn (up to 10 times, without a
  query) until the candidate differs, e.g. on saturated pixels where `-eps`
  clips to the same value.
- L2 (Algorithm 3). Let `eta^(h1, h2)` be the "stacked windows" bump of the
  paper's Eq. (2): on an `h1 x h2` window, with `n = max(h1, h2) // 2` and
  `d` the ring index (Chebyshev distance to the centre `(h1//2, h2//2)`),
  `eta_{r,c} = sum_{j=d+1}^{n+1} 1 / j^2`. Init: a centred 5 x 5 grid of
  tiles of side `(h // 5, w // 5)` (fewer, 1-pixel tiles on images smaller
  than 5 pixels), each tile `±eta` with a random sign per tile and channel,
  rescaled to `||delta||_2 = eps` and clipped to the box. Update: two
  uniform `s x s` windows `W1`, `W2`; per channel `i`, the mass on `W1 ∪ W2`
  plus an equal share `(eps^2 - ||nu||^2) / c` of the unused budget is moved
  onto `W1`, in the direction `rho * eta* + nu_{W1,i} / ||nu_{W1,i}||`
  (`rho = ±1`, `eta*` the unit-norm update shape), and `W2` is zeroed, so
  `||nu||_2 = eps` before the box clip. The update shape is the paper's
  dipole: `eta^(s, s//2)` on the first `s // 2` columns and
  `-eta^(s, s - s//2)` on the rest, transposed with probability 1/2. The
  side is at least 2 (our choice; the paper gives no minimum): on a single
  pixel `rho eta* + nu_W1 / ||nu_W1||` is `0` or `2 nu_W1 / ||nu_W1||`, so
  the update could only erase or keep a pixel, never flip it. Zero norms are
  treated as zero directions (no NaN); if the direction cancels exactly,
  `rho eta*` is used so no mass is lost; `nu` is projected onto the ball to
  absorb round-off. The L2 details above follow the paper's text only (it is
  not among the suite's reference papers, and no code was consulted); the
  L-inf version and the `p` schedule are simple enough to be exact. Tests check
  the invariants (budget kept, loss never rises, queries counted, success on
  undefended and gradient-free models), not agreement with the authors' code.

Schedule of `p` (`p_schedule`, the paper's Sec. 4 / appendix rule): `p_init`
is halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of
a 10,000-query run; for another budget `N`, iteration `i` is treated as
iteration `floor(10000 * i / N)` of that schedule. Iterations count from 0
for the first update (the second query).

Queries and the active set: the init is query 1 of every example (the extra
forward pass for labels when `y is None` is not counted). Each later
iteration gathers the examples not yet fooled, builds their candidates and
runs `model_fn` on that sub-batch only, so both the count and the compute
scale with the active set; the loop stops when every example is fooled or
after `max_queries` queries. Random draws are made for the whole batch and
then gathered, so an example's random stream depends only on `seed`, the
iteration and its batch position, not on which other examples are active.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv, queries = square(model_fn, x, y, eps=8 / 255, max_queries=5000,
                        seed=0, return_queries=True)
x_adv = square(model_fn, x, y, eps=0.5, norm=2, max_queries=1000, seed=0)
```

The loop runs inside one `tf.function` (a `tf.while_loop`) with stateless
random ops, so a fixed `seed` gives the same output; `eps`, `max_queries`,
`p_init`, the clip bounds and `seed` are tensors and do not retrace, while a
new `model_fn` object, input shape, `norm`, `loss` or `y is None` do.
"""

import tensorflow as tf

from tf_advnet.attacks import _projections
from tf_advnet.attacks import losses
from tf_advnet.attacks.pgd import (
    _check_bool, _check_choice, _check_clip, _check_model_fn, _check_number, _f32,
    _prepare_inputs, _seed_tensor, _select, _stable_model_fn, _static_value,
)

# Iterations of a 10,000-query run at which the paper halves p.
HALVING_POINTS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
DEFAULT_P_INIT = {"inf": 0.05, "2": 0.1}
LOSSES = ("margin", "ce")

# Redraws of an L-inf window that would leave the iterate unchanged.
_MAX_REDRAWS = 10


def p_schedule(iteration, max_queries, p_init):
    """The fraction `p` of pixels a square covers at a given iteration.

    Args:
        iteration: 0-based index of the random-search step (query
            `iteration + 2`), int or int tensor.
        max_queries: the query budget `N` (int or int tensor, `>= 1`).
        p_init: the initial fraction.

    Returns:
        A float32 scalar tensor `p_init / 2**k`, where `k` counts the
        halving points `t` in `HALVING_POINTS` with
        `floor(10000 * iteration / N) > t`.
    """
    it = tf.cast(iteration, tf.int64)
    n = tf.cast(max_queries, tf.int64)
    scaled = (it * 10000) // n
    halvings = tf.reduce_sum(
        tf.cast(scaled > tf.constant(HALVING_POINTS, tf.int64), tf.float32)
    )
    return tf.cast(p_init, tf.float32) * tf.pow(0.5, halvings)


def _side(p, h, w, min_side=1):
    """Square side `round(sqrt(p h w))` in `[min_side, min(h, w)]`.

    `min_side` itself is capped at `min(h, w)`. Rounds half to even, like
    Python's `round`.
    """
    area = p * tf.cast(h * w, tf.float32)
    s = tf.cast(tf.round(tf.sqrt(area)), tf.int32)
    largest = tf.minimum(h, w)
    return tf.clip_by_value(s, tf.minimum(min_side, largest), largest)


def _margin(logits, y):
    return -losses.cw_margin(logits, y)


def _inv_square_cumsum(length):
    """`[0, 1, 1 + 1/4, ...]`: `table[m] = sum_{j=1}^m 1 / j^2`."""
    j = tf.cast(tf.range(1, length + 1), tf.float32)
    return tf.concat([[0.0], tf.cumsum(1.0 / tf.square(j))], axis=0)


def _bump(a, b, h1, h2, table):
    """Eq. (2)'s stacked-windows value at local position `(a, b)`.

    The window is `h1 x h2`; positions outside it must be masked by the
    caller. The centre ring (`d = 0`) gets `sum_{j=1}^{n+1} 1/j^2`, the outer
    ring `1/(n+1)^2`: nested windows of growing height towards the centre.
    """
    n = tf.maximum(h1, h2) // 2
    d = tf.maximum(tf.abs(a - h1 // 2), tf.abs(b - h2 // 2))
    d = tf.clip_by_value(d, 0, n)
    return tf.gather(table, n + 1) - tf.gather(table, d)


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


@tf.function(autograph=False)
def _square_graph(
    model_fn, x, y, eps, max_queries, p_init, clip_min, clip_max, seed, *,
    norm, loss, use_predictions, record=False,
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
        tile_h, tile_w = tf.maximum(h // 5, 1), tf.maximum(w // 5, 1)
        n_h, n_w = tf.minimum(5, h // tile_h), tf.minimum(5, w // tile_w)
        off_h, off_w = (h - n_h * tile_h) // 2, (w - n_w * tile_w) // 2
        rr, cc = tf.range(h) - off_h, tf.range(w) - off_w
        ti, tj = rr // tile_h, cc // tile_w
        inside = tf.logical_and(
            tf.logical_and(rr >= 0, ti < n_h)[:, tf.newaxis],
            tf.logical_and(cc >= 0, tj < n_w)[tf.newaxis, :],
        )
        bump = _bump((rr - ti * tile_h)[:, tf.newaxis],
                     (cc - tj * tile_w)[tf.newaxis, :], tile_h, tile_w, table)
        bump = tf.where(inside, bump, 0.0)
        tile_signs = _signs(tf.stack([batch, n_h, n_w, c]), init_seed)
        signs = tf.gather(tile_signs, tf.clip_by_value(ti, 0, n_h - 1), axis=1)
        signs = tf.gather(signs, tf.clip_by_value(tj, 0, n_w - 1), axis=2)
        delta = bump[tf.newaxis, :, :, tf.newaxis] * signs
        l2 = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=[1, 2, 3],
                                   keepdims=True))
        x_best = clip(x + _safe_div(eps * delta, l2))
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
            return attempt + 1, _select(same, draw(attempt), cand)

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
        nu = xb_a - x_a
        mask1 = _window_mask(r1, c1, s, h, w)
        mask2 = _window_mask(r2, c2, s, h, w)
        union = tf.maximum(mask1, mask2)

        # The dipole update shape, placed on W1 (masked outside it).
        a = (tf.range(h)[tf.newaxis, :] - r1[:, tf.newaxis])[:, :, tf.newaxis]
        b = (tf.range(w)[tf.newaxis, :] - c1[:, tf.newaxis])[:, tf.newaxis, :]
        flip3 = flip[:, tf.newaxis, tf.newaxis]
        a, b = tf.where(flip3, b, a), tf.where(flip3, a, b)
        half = s // 2
        first = _bump(a, b, s, half, table)
        second = -_bump(a, b - half, s, s - half, table)
        eta = tf.where(b < half, first, second)[..., tf.newaxis] * mask1
        eta = _safe_div(eta, tf.sqrt(tf.reduce_sum(
            tf.square(eta), axis=[1, 2, 3], keepdims=True)))

        unused = tf.maximum(
            tf.square(eps) - tf.reduce_sum(tf.square(nu), axis=[1, 2, 3]),
            0.0)
        nu_w1 = nu * mask1
        norm_w1 = tf.sqrt(_sum_hw(tf.square(nu_w1)))[:, tf.newaxis,
                                                      tf.newaxis, :]
        direction = rho * eta + _safe_div(nu_w1, norm_w1)
        norm_dir = tf.sqrt(_sum_hw(tf.square(direction)))
        # If the two terms cancel exactly, move the mass along rho * eta*
        # rather than dropping it, so ||nu||_2 stays eps.
        cancelled = (norm_dir <= 0)[:, tf.newaxis, tf.newaxis, :]
        direction = tf.where(cancelled, rho * eta, direction)
        norm_dir = tf.where(norm_dir > 0, norm_dir, 1.0)
        avail = tf.sqrt(_sum_hw(tf.square(nu * union))
                        + unused[:, tf.newaxis] / channels)
        scale = _safe_div(avail, norm_dir)[:, tf.newaxis, tf.newaxis, :]
        nu_new = nu * (1.0 - union) + direction * scale
        return clip(x_a + _projections.project(nu_new, eps, "2"))

    candidate_fn = linf_candidate if norm == "inf" else l2_candidate

    # Random search (Algorithm 1) -------------------------------------------
    def body(i, x_best, loss_best, margin_best, queries, history):
        idx = tf.where(margin_best >= 0)[:, 0]
        p = p_schedule(i, max_queries, p_init)
        s = _side(p, h, w, min_side=1 if norm == "inf" else 2)
        step_seed = tf.random.experimental.stateless_fold_in(loop_seed, i)
        x_a = tf.gather(x, idx)
        xb_a = tf.gather(x_best, idx)
        cand = candidate_fn(x_a, xb_a, idx, s, step_seed)
        loss_new, margin_new = evaluate(cand, tf.gather(y, idx))
        better = loss_new < tf.gather(loss_best, idx)
        rows = idx[:, tf.newaxis]
        x_best = tf.tensor_scatter_nd_update(
            x_best, rows, _select(better, cand, xb_a))
        loss_best = tf.tensor_scatter_nd_update(
            loss_best, rows, tf.where(better, loss_new,
                                      tf.gather(loss_best, idx)))
        margin_best = tf.tensor_scatter_nd_update(
            margin_best, rows, tf.where(better, margin_new,
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


def _check_inputs(model_fn, x, y, eps, max_queries, norm, p_init, loss,
                  clip_min, clip_max, return_queries):
    _check_model_fn(model_fn)
    norm = _projections.normalize_norm(norm)
    _check_choice("loss", loss, LOSSES)
    _check_number("eps", eps, low=0)
    _check_number("max_queries", max_queries, low=1, integer=True)
    if p_init is None:
        p_init = DEFAULT_P_INIT[norm]
    _check_number("p_init", p_init, low=0)
    static_p = _static_value(p_init)
    if static_p is not None and not 0 < static_p <= 1:
        raise ValueError(
            "Invalid value for argument `p_init`: expected a fraction in "
            f"(0, 1]. Received: p_init={p_init!r}"
        )
    clip_min, clip_max = _check_clip(clip_min, clip_max)
    return_queries = _check_bool("return_queries", return_queries)
    x, y, use_predictions = _prepare_inputs(x, y, targeted=False)
    if x.shape.rank is not None and x.shape.rank != 4:
        raise ValueError(
            "Invalid value for argument `x`: expected images of shape "
            f"(batch, height, width, channels). Received: x.shape={x.shape}"
        )
    return (norm, p_init, clip_min, clip_max, return_queries, x, y,
            use_predictions)


def square(model_fn, x, y=None, *, eps, max_queries=1000, norm="inf",
           p_init=None, loss="margin", clip_min=0.0, clip_max=1.0, seed=None,
           return_queries=False):
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
            `None` for the paper's 0.05 (L-inf) or 0.1 (L2). Halved on the
            schedule of `p_schedule`.
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
            outside `(0, 1]`, an unknown `norm` or `loss`,
            `clip_min > clip_max`, a non-bool `return_queries`, a bad `seed`
            or `x` not of rank 4.
    """
    (norm, p_init, clip_min, clip_max, return_queries, x, y,
     use_predictions) = _check_inputs(model_fn, x, y, eps, max_queries, norm,
                                      p_init, loss, clip_min, clip_max,
                                      return_queries)
    seed = _seed_tensor(seed)
    x_adv, queries = _square_graph(
        _stable_model_fn(model_fn), x, y, _f32(eps),
        tf.cast(max_queries, tf.int32), _f32(p_init),
        _f32(clip_min), _f32(clip_max), seed, norm=norm, loss=loss,
        use_predictions=use_predictions,
    )
    if return_queries:
        return x_adv, queries
    return x_adv

