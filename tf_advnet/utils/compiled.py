"""Graphs compiled once per model: `per_model` and `stable_model_fn`.

A module-level `tf.function` that takes the model as an argument (every attack loop)
retraces for each new model, which is expected, but TensorFlow counts those traces per
Python code object: one such function serving the many models of a study reaches five
traces in ten calls and logs the "triggered tf.function retracing" warning although no
model was traced twice for the same shapes. `per_model` gives each model its own
`tf.function` around a `functools.partial` (which TensorFlow counts on its own), held
only as long as the model lives, so each counter sees one model's traces.
"""

import functools
import inspect
import json
import weakref

import numpy as np
import tensorflow as tf

# Stable stand-ins for bound methods (see `stable_model_fn`), per owner.
_METHOD_WRAPPERS = weakref.WeakKeyDictionary()


def stable_model_fn(model_fn):
    """Returns one fixed callable per bound method, so graphs are reused.

    `tf.function` caches traces per `model_fn` object, and every attribute access
    `trainer.classifier_fn` creates a new bound-method object, which would retrace on
    every call. The stand-in holds only a weak reference to the method's owner and lives
    as long as the owner does.
    """
    if not inspect.ismethod(model_fn):
        return model_fn
    owner, func = model_fn.__self__, model_fn.__func__
    try:
        per_owner = _METHOD_WRAPPERS.setdefault(owner, {})
    except TypeError:  # Not weak-referenceable or not hashable.
        return model_fn
    wrapper = per_owner.get(func)
    if wrapper is None:
        owner_ref = weakref.ref(owner)

        def wrapper(*args, **kwargs):
            return func(owner_ref(), *args, **kwargs)

        per_owner[func] = wrapper
    return wrapper


def _weak_call(ref, *args, **kwargs):
    return ref()(*args, **kwargs)


class PerModelFunction:
    """`python_function(model_fn, *args, **kwargs)` compiled once per `model_fn`.

    Called as the function itself; `experimental_get_tracing_count()` counts the
    traces of every model's graph, as `tf.function`'s does for one graph.
    """

    def __init__(self, python_function, **tf_function_kwargs):
        self._python_function = python_function
        self._tf_function_kwargs = tf_function_kwargs
        self._graphs = weakref.WeakKeyDictionary()
        self._traces = 0
        functools.update_wrapper(self, python_function)

    def _trace(self, model_fn, *args, **kwargs):
        # Python runs this body only while tracing, so it counts traces.
        self._traces += 1
        return self._python_function(model_fn, *args, **kwargs)

    def _compile(self, model_fn):
        return tf.function(functools.partial(self._trace, model_fn),
                           **self._tf_function_kwargs)

    def for_model(self, model_fn):
        """The compiled graph of `model_fn` (one per model, weakly held)."""
        model_fn = stable_model_fn(model_fn)
        try:
            graph = self._graphs.get(model_fn)
        except TypeError:  # not weak-referenceable: compiled for this call only
            return self._compile(model_fn)
        if graph is None:
            # The graph holds model_fn weakly, so the entry dies with the model.
            weak = functools.partial(_weak_call, weakref.ref(model_fn))
            graph = self._graphs[model_fn] = self._compile(weak)
        return graph

    def __call__(self, model_fn, *args, **kwargs):
        return self.for_model(model_fn)(*args, **kwargs)

    def experimental_get_tracing_count(self):
        return self._traces


def per_model(python_function=None, **tf_function_kwargs):
    """Decorator: like `tf.function(**tf_function_kwargs)`, one graph per model.

    The decorated function takes the model callable as its first argument.
    """
    if python_function is None:
        return functools.partial(per_model, **tf_function_kwargs)
    return PerModelFunction(python_function, **tf_function_kwargs)


# A compiled trainer reused for another model keeps its traced graph only if its own
# variables are overwritten in place (never replaced): the two helpers below.

def assign_weights(dst, src):
    """Copies `src`'s weights into `dst`'s variables (same architecture), in place."""
    for a, b in zip(dst.weights, src.weights, strict=True):
        a.assign(b)


def optimizer_state(optimizer):
    """The values of `optimizer`'s variables now (e.g. just after `compile`), for
    `restore_optimizer_state`."""
    return [v.numpy() for v in optimizer.variables]


def restore_optimizer_state(optimizer, state):
    """Puts `optimizer`'s variables back to `state` (`optimizer_state`), in place."""
    for v, value in zip(optimizer.variables, state, strict=True):
        v.assign(value)


def reseed(seed):
    """`keras.utils.set_random_seed(seed)`, without clearing TensorFlow's kernel cache
    when TensorFlow's global seed already is `seed`.

    `tf.random.set_seed` clears the eager context's caches (`TFE_ContextClearCaches`
    in `tensorflow/python/eager/context.py`), so every compiled function of the
    process — a reused trainer's train step, the attacks, `predict` — is instantiated
    again on its next call: about 1.5 s for AdvGAN's train step on 2 cores, more than
    training a generator on a few hundred images. A study that reseeds before each of
    its many attack generators (with one seed) paid that for every generator and every
    function it then ran. With the seed unchanged, this resets all that
    `set_random_seed` resets but the cache: Python's and NumPy's generators, Keras's
    global `SeedGenerator`, and the stream TensorFlow draws op seeds from
    (tests/utils/test_compiled.py checks the draws equal `set_random_seed`'s). What
    the cache clear also restarts, and this does not: an eager stateful random op
    (`tf.random.uniform` without a seed, run outside a tf.function) that already ran
    continues its stream. So it serves the attack generators' trainers (the reused
    `GeneratorSlots`, the fresh `train_attack_generator` they must equal, the L2L-DA
    `AttackSlots`), whose randomness is Keras's, stateless or a seeded tf.data
    shuffle, and whose tests compare slots with fresh calls; `train` keeps
    `set_random_seed`.
    """
    import random

    import keras
    from tensorflow.python.eager import context

    seed = int(seed)
    ctx = context.context()
    if context.global_seed() != seed or not hasattr(ctx, "_rng"):
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    ctx._rng = random.Random(seed)  # what `_set_global_seed` does, less the cache clear


def architecture_key(model):
    """What a Keras model computes from its weights: its class, the JSON of its
    config with the model's and each top-level layer's name replaced by its position
    (names differ between two builds of one architecture), and its weights' shapes
    and dtypes. Two models with one key give the same outputs for the same weights."""
    text = json.dumps(model.get_config(), sort_keys=True)
    names = [model.name] + [layer.name for layer in model.layers]
    for i, name in sorted(enumerate(names), key=lambda t: -len(t[1])):
        text = text.replace(json.dumps(name), f'"<layer {i}>"')
    weights = tuple((tuple(w.shape), str(w.dtype)) for w in model.weights)
    return type(model).__name__, text, weights


class Twins:
    """One clone per architecture (`architecture_key`), into which each model's
    weights are copied in place, so the graphs compiled for the clone (`per_model`,
    `as_model_fn`) serve every model of that architecture: each attack is traced once,
    not once per model (0.5-1.5 s per attack and model on 2 cores). The models handed
    in are never changed. A model without a config (a subclassed one) is its own twin.
    """

    def __init__(self):
        self._clones = {}

    def __call__(self, model):
        import keras

        try:
            key = architecture_key(model)
        except (AttributeError, NotImplementedError, TypeError):
            return model
        clone = self._clones.get(key)
        if clone is None:
            clone = self._clones[key] = keras.models.clone_model(model)
        assign_weights(clone, model)
        return clone
