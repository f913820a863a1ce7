"""Runs a per-batch function over a whole array in fixed-size batches, on one device
or split over the replicas of a `tf.distribute` strategy.

`map_batches` runs `fn` on each batch on the current device. `map_batches_distributed`
splits each batch into one equal shard per replica (several GPUs of a
`MirroredStrategy`, the workers of a `MultiWorkerMirroredStrategy`, TPU cores), runs
`fn` on every shard at once with `strategy.run`, and gathers the per-example outputs
back in batch order (`strategy.gather` concatenates in replica order), so the result
has the layout `map_batches` returns. With one replica it is `map_batches`.
"""

import weakref

import numpy as np
import tensorflow as tf


def map_batches(fn, x, y=None, batch_size=256):
    """Applies `fn(x_batch[, y_batch])` to consecutive batches and concatenates.

    Args:
      fn: callable returning a tensor, array, or a tuple of them (concatenated
        field by field along axis 0).
      x: array of inputs, shape (N, ...).
      y: optional array of labels, shape (N,).
      batch_size: positive int.

    Returns:
      numpy array (or tuple of arrays) with leading dimension N.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    outs = []
    n = len(x)
    for i in range(0, n, batch_size):
        xb = tf.convert_to_tensor(x[i:i + batch_size])
        if y is None:
            out = fn(xb)
        else:
            out = fn(xb, tf.convert_to_tensor(y[i:i + batch_size]))
        outs.append(out)
    if not outs:
        raise ValueError("map_batches got an empty input")
    return _concat(outs)


def _concat(outs):
    if isinstance(outs[0], (tuple, list)):
        fields = list(zip(*outs))
        res = [np.concatenate([np.asarray(o) for o in f], axis=0) for f in fields]
        return type(outs[0])(res) if not hasattr(outs[0], "_fields") else type(outs[0])(*res)
    return np.concatenate([np.asarray(o) for o in outs], axis=0)


def replica_seed(seed, replica_id):
    """The seed of one replica's shard: a hash of (batch seed, replica id).

    Shards of one batch get unrelated random streams, and a run on the same number
    of replicas repeats its draws. (A randomised attack on R shards therefore draws
    other starts than on one device; deterministic attacks give the same outputs.)
    """
    seed = int(seed)
    words = np.random.SeedSequence([abs(seed), int(seed < 0), int(replica_id)])
    return int(words.generate_state(1)[0])


def map_batches_distributed(fn, x, y=None, batch_size=256, *, strategy=None,
                            batch_seed=None):
    """`map_batches` with every batch split over the replicas of `strategy`.

    Each batch of up to `batch_size` examples is padded (by repeating its last
    example) to a multiple of the number of replicas R, cut into R equal shards,
    and replica r runs `fn` on shard r inside `strategy.run` (the shards are made
    with `experimental_distribute_values_from_function`, which gives each replica
    its global id, so on several workers every worker holds only its own shards).
    The outputs are gathered from every replica with `strategy.gather` (on every
    worker), the padding is dropped, and batches are concatenated: output row i
    belongs to input row i. Every worker of a multi-worker strategy must call it
    with the same arrays, as it must call any collective.

    `fn` must be traceable: `strategy.run` and the gather run in one
    `tf.function`, cached per (fn, strategy), so passing the same `fn` object
    across calls reuses its trace. It must treat examples independently (as attacks
    do), since shards and padding change which examples share a call.

    Args:
      fn: `fn(x_shard[, y_shard][, seed])` returning a tensor or a tuple of tensors
        with the shard's examples along axis 0.
      x: array of inputs, shape (N, ...).
      y: optional array of labels, shape (N,).
      batch_size: positive int, the global batch (all replicas together).
      strategy: a `tf.distribute.Strategy`; None: the one in scope
        (`tf.distribute.get_strategy()`).
      batch_seed: optional callable, batch index -> int seed or None; when given,
        `fn` gets a seed as its last argument: the batch's seed on one replica,
        `replica_seed(seed, r)` (an int64 tensor) on replica r of several.

    Returns:
      numpy array (or tuple of arrays) with leading dimension N.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return _map_with_seeds(fn, x, y, batch_size, batch_seed)
    if len(x) == 0:
        raise ValueError("map_batches got an empty input")
    step = _distributed_step(fn, strategy)
    outs = []
    for b, start in enumerate(range(0, len(x), batch_size)):
        xb = np.asarray(x[start:start + batch_size])
        yb = None if y is None else np.asarray(y[start:start + batch_size])
        seed = batch_seed(b) if batch_seed is not None else None
        shard = -(-len(xb) // replicas)
        pad = shard * replicas - len(xb)
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)])
            yb = None if yb is None else np.concatenate([yb, np.repeat(yb[-1:], pad)])

        def values(ctx, xb=xb, yb=yb, seed=seed):
            r = ctx.replica_id_in_sync_group
            part = slice(r * shard, (r + 1) * shard)
            args = [tf.constant(xb[part])]
            if yb is not None:
                args.append(tf.constant(yb[part]))
            if seed is not None:
                args.append(tf.constant(replica_seed(seed, r), tf.int64))
            return tuple(args)

        args = strategy.experimental_distribute_values_from_function(values)
        if batch_seed is not None and seed is None:
            args = tuple(args) + (None,)
        gathered = step(*args)
        outs.append(tf.nest.map_structure(lambda t: np.asarray(t)[:len(xb) - pad],
                                          gathered))
    return _concat(outs)


# One compiled step (strategy.run, then strategy.gather) per (fn, strategy): the
# gather of a multi-worker strategy compiles a new function on every eager call.
_STEPS = weakref.WeakKeyDictionary()


def _distributed_step(fn, strategy):
    """A tf.function running `fn` on every replica and gathering its outputs."""
    try:
        cache = _STEPS.setdefault(fn, {})
    except TypeError:  # not weak-referenceable
        cache, fn_ref = {}, (lambda: fn)
    else:
        fn_ref = weakref.ref(fn)  # the step must not keep its cache key alive
    hit = cache.get(id(strategy))
    if hit is None or hit[0] is not strategy:

        def step(*args):
            per_replica = strategy.run(fn_ref(), args=args)
            return tf.nest.map_structure(lambda t: strategy.gather(t, axis=0),
                                         per_replica)

        # Without autograph: fn is plain TF code (attacks bring their own loops);
        # the shards' batch size varies (last batch, the ensemble's survivors).
        hit = (strategy, tf.function(step, autograph=False, reduce_retracing=True))
        cache[id(strategy)] = hit
    return hit[1]


def _map_with_seeds(fn, x, y, batch_size, batch_seed):
    """`map_batches` where `fn` also gets `batch_seed(batch index)` when given."""
    if batch_seed is None:
        return map_batches(fn, x, y, batch_size)
    counter = iter(range(len(x) + 1))
    if y is None:
        return map_batches(lambda xb: fn(xb, batch_seed(next(counter))), x,
                           batch_size=batch_size)
    return map_batches(lambda xb, yb: fn(xb, yb, batch_seed(next(counter))), x, y,
                       batch_size=batch_size)
