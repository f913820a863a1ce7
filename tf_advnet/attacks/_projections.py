"""Per-norm threat-model pieces: random start, steepest-ascent step, projection.

The iterative attacks (`pgd`, `mim`, `fgm`) are loops that compose these
pieces. For a budget `eps` and a norm `p` in {inf, 2} the threat model is

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,

with norms taken per example over all non-batch axes.

Components:

- `normalize_norm`: accepts `np.inf`, `float("inf")`, `"inf"`, `2`, `"2"` and
  returns the canonical string `"inf"` or `"2"`.
- `random_init`: a uniform sample of the L-inf box or of the L2 ball.
- `ascent_step`: the steepest-ascent direction for a norm, times a step size
  (`sign(g)` for L-inf; `g / ||g||_2` per example for L2, zero-safe).
- `project`: the Euclidean projection onto the L-inf box (clip) or onto the
  L2 ball (per-example rescale).
- `clip_eta`: `project` with cleverhans' `(eta, norm, eps)` argument order,
  for code ported from cleverhans.
- `project_and_clip`: maps any `x_adv` to a point of `S(x)`.
- `per_example_norm`: `||delta||_p` per example.
- `as_stateless_seed`: an int or a pair of ints as a stateless RNG seed.

The formulas follow cleverhans 4.0.0 (`tf2/utils.py`: `optimize_linear`,
`clip_eta`, `random_lp_vector`), so our attacks agree with it to float
round-off, with one deliberate difference for tiny vectors: cleverhans
normalises by `sqrt(max(1e-12, sum(v**2)))`, so an L2 step on a gradient with
`||g||_2 < 1e-6` (common for saturated, very confident softmax outputs) is
shorter than the step size and L2 PGD stalls. We rescale by `max|v|` first
(so the squared norm cannot underflow) and treat exact zeros with a `tf.where`
pair (finite values and derivatives), so the step has length `step_size` for
every non-zero gradient. Results are identical up to round-off whenever
`||v||_2 >= 1e-6`.

Example:

```python
delta = random_init(tf.shape(x), 0.3, "inf", seed=[0, 0])
delta = project(delta + ascent_step(grad, 0.01, "inf"), 0.3, "inf")
```
"""

import numpy as np
import tensorflow as tf

NORMS = ("inf", "2")



def normalize_norm(norm):
    """Returns `"inf"` or `"2"` for the accepted spellings of a norm.

    Args:
        norm: one of `np.inf`, `float("inf")`, `"inf"`, `2`, `2.0`, `"2"`.

    Returns:
        The canonical string `"inf"` or `"2"`.

    Raises:
        ValueError: if `norm` is none of the accepted values.
    """
    if isinstance(norm, str):
        key = norm.strip().lower()
        if key in ("inf", "linf", "l_inf"):
            return "inf"
        if key in ("2", "l2"):
            return "2"
    elif isinstance(norm, (int, float, np.integer, np.floating)) and not (
        isinstance(norm, bool)
    ):
        if np.isinf(norm) and norm > 0:
            return "inf"
        if norm == 2:
            return "2"
    raise ValueError(
        f"Invalid value for argument `norm`: expected one of np.inf, 'inf', "
        f"2, '2'. Received: norm={norm!r}"
    )


def _reduce_axes(v):
    """All non-batch axes of `v` (works for static and dynamic ranks)."""
    return tf.range(1, tf.rank(v))


def _tiny(dtype):
    """The smallest normal number of a float dtype."""
    return tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)


def _safe_l2(v):
    """Per-example `sqrt(max(tiny, sum(v**2)))`, keepdims.

    Finite and differentiable for zero vectors; exact (up to round-off) for
    every vector whose squared norm does not underflow.
    """
    sq = tf.reduce_sum(tf.square(v), axis=_reduce_axes(v), keepdims=True)
    return tf.sqrt(tf.maximum(_tiny(v.dtype), sq))


def _sum_squares(v):
    return tf.reduce_sum(tf.square(v), axis=_reduce_axes(v), keepdims=True)


def per_example_norm(delta, norm):
    """Per-example `||delta||_p` over all non-batch axes.

    Args:
        delta: tensor of shape `(batch, ...)`.
        norm: `"inf"` or `"2"` (any spelling `normalize_norm` accepts).

    Returns:
        A tensor of shape `(batch,)`.
    """
    norm = normalize_norm(norm)
    delta = tf.convert_to_tensor(delta)
    axes = _reduce_axes(delta)
    if norm == "inf":
        return tf.reduce_max(tf.abs(delta), axis=axes)
    return tf.sqrt(tf.reduce_sum(tf.square(delta), axis=axes))


def as_stateless_seed(seed):
    """Turns an int, or a pair of ints, into a stateless RNG seed.

    Args:
        seed: a Python/numpy int, a pair of ints, or an integer tensor of
            shape `()` or `(2,)`. A scalar `s` becomes `[s, 0]`.

    Returns:
        An int64 tensor of shape `(2,)`.

    Raises:
        ValueError: if `seed` is not integer-valued.
    """
    if isinstance(seed, bool) or isinstance(seed, float):
        raise ValueError(
            f"Invalid value for argument `seed`: expected an int, a pair of "
            f"ints or None. Received: seed={seed!r}"
        )
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        raise ValueError(
            f"Invalid value for argument `seed`: expected an int, a pair of "
            f"ints or None. Received: seed={seed!r}"
        )
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return seed


def random_init(shape, eps, norm, seed=None, dtype=tf.float32):
    """Samples a random starting perturbation inside the `eps`-ball.

    L-inf: i.i.d. `U[-eps, eps]` per coordinate (uniform in the box).
    L2: uniform in the ball, `eps * u**(1/d) * n / ||n||_2` with `n` standard
    normal and `u ~ U[0, 1]` per example (Calafiore et al. 1998, as in
    cleverhans 4.0.0's `random_lp_vector`). Note that cleverhans 3.0.1, used
    by the PGN paper, instead drew from the L-inf box and projected onto the L2
    ball, which concentrates mass on the sphere.

    Args:
        shape: shape `(batch, ...)` of the perturbation (list or 1-D tensor).
        eps: non-negative radius (float or scalar tensor).
        norm: `"inf"` or `"2"` (any spelling `normalize_norm` accepts).
        seed: `None` to use TensorFlow's global RNG; otherwise an int or a
            pair of ints used as a stateless seed, so the sample is a pure
            function of `(shape, eps, norm, seed)`.
        dtype: float dtype of the result.

    Returns:
        A tensor of `shape` and `dtype` with per-example norm `<= eps`.
    """
    norm = normalize_norm(norm)
    shape = tf.convert_to_tensor(shape, dtype=tf.int32)
    eps = tf.cast(eps, dtype)
    if norm == "inf":
        if seed is None:
            unit = tf.random.uniform(shape, -1.0, 1.0, dtype=dtype)
        else:
            unit = tf.random.stateless_uniform(
                shape, as_stateless_seed(seed), -1.0, 1.0, dtype=dtype
            )
        return eps * unit
    batch = shape[:1]
    dim = tf.reduce_prod(shape[1:])
    flat_shape = tf.concat([batch, tf.reshape(dim, [1])], axis=0)
    radius_shape = tf.concat([batch, [1]], axis=0)
    if seed is None:
        direction = tf.random.normal(flat_shape, dtype=dtype)
        u = tf.random.uniform(radius_shape, dtype=dtype)
    else:
        # Two independent streams derived from one seed.
        seeds = tf.random.experimental.stateless_split(
            as_stateless_seed(seed), num=2
        )
        direction = tf.random.stateless_normal(
            flat_shape, seeds[0], dtype=dtype
        )
        u = tf.random.stateless_uniform(radius_shape, seeds[1], dtype=dtype)
    direction = direction / _safe_l2(direction)
    radius = tf.pow(u, 1.0 / tf.cast(dim, dtype))
    return eps * tf.reshape(radius * direction, shape)


def ascent_step(grad, step_size, norm):
    """The steepest-ascent step of length `step_size` in the given norm.

    Solves `argmax_{||v||_p <= step_size} <v, grad>` per example: `step_size *
    sign(grad)` for L-inf and `step_size * grad / ||grad||_2` for L2. Any
    non-zero gradient, however small, gives a step of length `step_size`; a
    zero gradient gives a zero step (no NaN).

    Args:
        grad: gradient tensor of shape `(batch, ...)`.
        step_size: non-negative float or scalar tensor.
        norm: `"inf"` or `"2"` (any spelling `normalize_norm` accepts).

    Returns:
        A tensor like `grad`.
    """
    norm = normalize_norm(norm)
    grad = tf.convert_to_tensor(grad)
    step_size = tf.cast(step_size, grad.dtype)
    if norm == "inf":
        # sign() has a zero derivative; stop_gradient makes that explicit.
        return step_size * tf.stop_gradient(tf.sign(grad))
    # Rescale by max|g| first so that sum(g**2) >= 1 cannot underflow. The
    # double tf.where keeps values and derivatives finite for g == 0.
    scale = tf.reduce_max(tf.abs(grad), axis=_reduce_axes(grad),
                          keepdims=True)
    nonzero = scale > 0
    grad = grad / tf.where(nonzero, scale, tf.ones_like(scale))
    l2 = tf.sqrt(tf.where(nonzero, _sum_squares(grad), tf.ones_like(scale)))
    return step_size * (grad / l2)


def project(delta, eps, norm):
    """Projects perturbations onto the `eps`-ball of the norm, per example.

    L-inf: `clip(delta, -eps, eps)`. L2: `delta * min(1, eps / ||delta||_2)`,
    i.e. rescale only the examples outside the ball (never normalise onto
    the sphere).

    Args:
        delta: perturbation tensor of shape `(batch, ...)`.
        eps: non-negative radius (float or scalar tensor).
        norm: `"inf"` or `"2"` (any spelling `normalize_norm` accepts).

    Returns:
        A tensor like `delta` with per-example norm `<= eps` (up to float
        round-off of the L2 rescale, about 1 ulp).
    """
    norm = normalize_norm(norm)
    delta = tf.convert_to_tensor(delta)
    eps = tf.cast(eps, delta.dtype)
    if norm == "inf":
        return tf.clip_by_value(delta, -eps, eps)
    # Only examples outside the ball are rescaled; the tf.where pair keeps
    # values and derivatives finite at delta == 0 (no 0 * inf).
    sq = _sum_squares(delta)
    outside = sq > tf.square(eps)
    l2 = tf.sqrt(tf.where(outside, sq, tf.ones_like(sq)))
    return delta * tf.where(outside, eps / l2, tf.ones_like(sq))


def clip_eta(eta, norm, eps):
    """`project` with cleverhans' argument order `(eta, norm, eps)`.

    Args:
        eta: perturbation tensor of shape `(batch, ...)`.
        norm: `np.inf` / `2` or any spelling `normalize_norm` accepts.
        eps: non-negative radius.

    Returns:
        The projected perturbation.
    """
    return project(eta, eps, norm)


def project_and_clip(x_adv, x, eps, norm, clip_min=0.0, clip_max=1.0):
    """Maps `x_adv` into the threat model `S(x)`: ball, then box.

    Args:
        x_adv: candidate adversarial images.
        x: clean images, same shape.
        eps: non-negative radius.
        norm: `"inf"` or `"2"` (any spelling `normalize_norm` accepts).
        clip_min: lower pixel bound.
        clip_max: upper pixel bound.

    Returns:
        `clip(x + project(x_adv - x), clip_min, clip_max)`. For L-inf this is
        the exact projection onto `S(x)`; for L2 it is feasible (clipping
        towards `x` never increases the L2 norm) but not the exact projection.
    """
    x_adv = x + project(x_adv - x, eps, norm)
    return tf.clip_by_value(
        x_adv, tf.cast(clip_min, x_adv.dtype), tf.cast(clip_max, x_adv.dtype)
    )
