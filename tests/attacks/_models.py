"""Tiny, deterministic models and inputs shared by the attack tests.

Every builder returns a fresh `keras.Model` that outputs logits and whose
weights depend only on its arguments (fixed constants or a seeded numpy
generator), so tests and reference implementations (cleverhans, foolbox) see
exactly the same function. The module has no side effects at import time
beyond importing keras.

Inventory:

- `trivial_model`: fixed-weight 2-class linear model (cleverhans'
  `TrivialModel` idea lifted to images): `z_0 - z_1 = 2 * (sum(x) - d / 2)`.
  Easy to fool, gradient direction known in closed form.
- `linear_model`: fixed-weight multi-class linear model, weights drawn from a
  seeded numpy generator.
- `tiny_mlp`: one hidden ReLU layer, seeded.
- `tiny_cnn`: conv(4, 3x3) -> ReLU -> dense, seeded; 8x8x1 by default, also
  works on 28x28x1.
- `logits_fn(model)`: the `lambda x: model(x, training=False)` callable the
  attacks expect, cached per model so repeated calls reuse compiled graphs.
- `images(n, shape, seed)`: float32 images uniform in [0, 1].
- `shared(name)`: one cached instance per builder name (default arguments),
  so tests across modules reuse models and compiled attack graphs.
- `AttackProperties`: a mixin of pytest test methods for the common attack
  contract (shape/dtype, eps-ball, clip bounds, eps=0, loss direction,
  success rate, seeding, `y=None`, no retracing, argument errors); each
  attack test module subclasses it once per norm.

Example:

```python
from tests.attacks import _models

model = _models.tiny_cnn()
model_fn = _models.logits_fn(model)
x = _models.images(16)
logits = model_fn(x)  # (16, 10)
```
"""

import numpy as np
import pytest

import keras

IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 10

_LOGITS_FNS = {}
_SHARED = {}


def _dense(units, kernel, bias, name):
    """A Dense layer with fixed numpy weights (set through initializers)."""
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant(bias),
        name=name,
    )


def trivial_model(input_shape=IMAGE_SHAPE):
    """Fixed 2-class linear model: `z_0 - z_1 = 2 * (sum(x) - d / 2)`.

    Class 0 wins when the mean pixel exceeds 1/2. The logit gap moves by
    `2 * eps * d` under an L-inf budget `eps` and by `2 * eps * sqrt(d)`
    under an L2 budget, where `d` is the number of pixels.

    Args:
        input_shape: shape of one image, without the batch axis.

    Returns:
        A built `keras.Model` mapping images to 2 logits.
    """
    d = int(np.prod(input_shape))
    kernel = np.stack([np.ones(d), -np.ones(d)], axis=1).astype("float32")
    bias = np.array([-d / 2.0, d / 2.0], dtype="float32")
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(2, kernel, bias, "trivial_logits"),
        ],
        name="trivial_model",
    )


def linear_model(input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, seed=0):
    """Fixed-weight multi-class linear model (weights from a seeded RNG).

    Args:
        input_shape: shape of one image, without the batch axis.
        num_classes: number of logits.
        seed: int seed of the numpy generator that draws the weights.

    Returns:
        A built `keras.Model` mapping images to `num_classes` logits.
    """
    d = int(np.prod(input_shape))
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0.0, 1.0, (d, num_classes)).astype("float32")
    # Centre the logits on inputs around 0.5 so no class dominates.
    bias = (-0.5 * kernel.sum(axis=0)).astype("float32")
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(num_classes, kernel, bias, "linear_logits"),
        ],
        name="linear_model",
    )


def tiny_mlp(input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, hidden=16,
             seed=0):
    """Seeded one-hidden-layer ReLU network.

    Args:
        input_shape: shape of one image, without the batch axis.
        num_classes: number of logits.
        hidden: width of the hidden layer.
        seed: int seed of the numpy generator that draws the weights.

    Returns:
        A built `keras.Model` mapping images to `num_classes` logits.
    """
    d = int(np.prod(input_shape))
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, np.sqrt(2.0 / d), (d, hidden)).astype("float32")
    b1 = (-0.5 * w1.sum(axis=0)).astype("float32")
    w2 = rng.normal(0.0, np.sqrt(1.0 / hidden), (hidden, num_classes))
    b2 = np.zeros(num_classes, "float32")
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            _dense(hidden, w1, b1, "mlp_hidden"),
            keras.layers.ReLU(),
            _dense(num_classes, w2.astype("float32"), b2, "mlp_logits"),
        ],
        name="tiny_mlp",
    )


def tiny_cnn(input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, filters=4,
             seed=0):
    """Seeded conv(filters, 3x3, stride 2) -> ReLU -> dense network.

    Args:
        input_shape: shape of one image, e.g. (8, 8, 1) or (28, 28, 1).
        num_classes: number of logits.
        filters: number of convolution filters.
        seed: int seed of the numpy generator that draws the weights.

    Returns:
        A built `keras.Model` mapping images to `num_classes` logits.
    """
    rng = np.random.default_rng(seed)
    channels = input_shape[-1]
    conv_k = rng.normal(0.0, np.sqrt(2.0 / (9 * channels)),
                        (3, 3, channels, filters)).astype("float32")
    conv_b = (-0.5 * conv_k.sum(axis=(0, 1, 2))).astype("float32")
    conv = keras.layers.Conv2D(
        filters, 3, strides=2, padding="same",
        kernel_initializer=keras.initializers.Constant(conv_k),
        bias_initializer=keras.initializers.Constant(conv_b),
        name="cnn_conv",
    )
    out_h = -(-input_shape[0] // 2)
    out_w = -(-input_shape[1] // 2)
    d = out_h * out_w * filters
    w = rng.normal(0.0, np.sqrt(1.0 / d), (d, num_classes)).astype("float32")
    b = np.zeros(num_classes, "float32")
    return keras.Sequential(
        [
            keras.Input(input_shape),
            conv,
            keras.layers.ReLU(),
            keras.layers.Flatten(),
            _dense(num_classes, w, b, "cnn_logits"),
        ],
        name="tiny_cnn",
    )


def logits_fn(model):
    """Returns `lambda x: model(x, training=False)`, cached per model.

    Attacks cache their compiled graphs per `model_fn` object, so tests that
    share a model should share this callable too.

    Args:
        model: a `keras.Model` that outputs logits.

    Returns:
        A callable mapping a batch of images to logits.
    """
    key = id(model)
    entry = _LOGITS_FNS.get(key)
    if entry is None or entry[0] is not model:
        entry = (model, lambda x: model(x, training=False))
        _LOGITS_FNS[key] = entry
    return entry[1]


def images(n, shape=IMAGE_SHAPE, seed=0):
    """Float32 images drawn uniformly from [0, 1] with a seeded generator.

    Args:
        n: number of images.
        shape: shape of one image, without the batch axis.
        seed: int seed of the numpy generator.

    Returns:
        A numpy array of shape `(n, *shape)` and dtype float32.
    """
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, (n,) + tuple(shape)).astype("float32")


def shared(name):
    """Returns one cached model per builder name, built with defaults.

    Args:
        name: `"trivial_model"`, `"linear_model"`, `"tiny_mlp"` or
            `"tiny_cnn"`.

    Returns:
        The `keras.Model` (the same object on every call).
    """
    if name not in _SHARED:
        builders = {
            "trivial_model": trivial_model,
            "linear_model": linear_model,
            "tiny_mlp": tiny_mlp,
            "tiny_cnn": tiny_cnn,
        }
        _SHARED[name] = builders[name]()
    return _SHARED[name]


# ----------------------------------------------------------------------------
# Common attack contract (cleverhans' `CommonAttackProperties` idea).
# ----------------------------------------------------------------------------


def _norms(delta, norm):
    flat = np.asarray(delta, dtype=np.float64).reshape(len(delta), -1)
    if norm in ("inf", np.inf):
        return np.abs(flat).max(axis=1)
    return np.sqrt((flat**2).sum(axis=1))


def _ce(logits, labels):
    logits = np.asarray(logits, dtype=np.float64)
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), np.asarray(labels)]


class AttackProperties:
    """Pytest mixin: the contract every attack must satisfy, for one norm.

    Subclasses (named `Test...`) set the class attributes and implement
    `attack(model_fn, x, y=None, *, eps, targeted=False, seed=None,
    clip_min=0.0, clip_max=1.0)`, adapting the attack's own arguments (step
    size, number of steps). Every test uses the shared models, so each
    compiled graph is traced once per module.

    Attributes:
        norm: `"inf"` or `"2"`.
        eps: budget on the tiny CNN (loss-direction tests).
        success_eps: budget on the fixed linear model (success-rate tests).
        success_threshold: minimum untargeted success rate on the linear
            model; the targeted threshold is `targeted_threshold`.
        targeted_threshold: minimum targeted success rate.
        randomized: whether the attack draws a random start from `seed`.
        graph: the `tf.function` whose tracing count must not grow on a
            repeated call, or None to skip the retracing test.
    """

    norm = "inf"
    eps = 0.05
    success_eps = 0.2
    success_threshold = 0.9
    targeted_threshold = 0.9
    randomized = False
    graph = None
    batch = 32

    def attack(self, model_fn, x, y=None, *, eps, targeted=False, seed=None,
               clip_min=0.0, clip_max=1.0):
        raise NotImplementedError

    # Helpers ----------------------------------------------------------------

    def _model_fn(self, name="tiny_cnn"):
        return logits_fn(shared(name))

    def _data(self, name="tiny_cnn", seed=0):
        model_fn = self._model_fn(name)
        x = images(self.batch, seed=seed)
        y = np.asarray(model_fn(x)).argmax(axis=1)
        return model_fn, x, y

    def _targets(self, y, num_classes=NUM_CLASSES):
        return (y + 1 + y % (num_classes - 1)) % num_classes

    # Contract ---------------------------------------------------------------

    def test_shape_and_dtype(self):
        model_fn, x, y = self._data()
        out = self.attack(model_fn, x.astype("float64"), y, eps=self.eps,
                          seed=0)
        assert out.shape == x.shape
        assert out.dtype == "float32"

    def test_inside_eps_ball(self):
        model_fn, x, y = self._data()
        for eps in (self.eps, 2 * self.eps):
            out = self.attack(model_fn, x, y, eps=eps, seed=0)
            norms = _norms(np.asarray(out) - x, self.norm)
            assert norms.max() <= eps + 1e-6, (eps, norms.max())

    def test_respects_clip_bounds(self):
        model_fn, x, y = self._data()
        out = np.asarray(self.attack(model_fn, x, y, eps=self.eps, seed=0))
        assert out.min() >= 0.0 and out.max() <= 1.0
        x_mid = np.clip(x, 0.25, 0.75)
        out = np.asarray(
            self.attack(model_fn, x_mid, y, eps=4 * self.eps, seed=0,
                        clip_min=0.25, clip_max=0.75)
        )
        assert out.min() >= 0.25 and out.max() <= 0.75

    def test_eps_zero_returns_input(self):
        model_fn, x, y = self._data()
        out = self.attack(model_fn, x, y, eps=0.0, seed=0)
        np.testing.assert_array_equal(np.asarray(out), x)

    def test_untargeted_increases_loss(self):
        model_fn, x, y = self._data()
        out = self.attack(model_fn, x, y, eps=self.eps, seed=0)
        before = _ce(model_fn(x), y)
        after = _ce(model_fn(out), y)
        assert after.mean() > before.mean()
        assert np.mean(after >= before - 1e-6) >= 0.9

    def test_targeted_decreases_target_loss(self):
        model_fn, x, y = self._data()
        t = self._targets(y)
        out = self.attack(model_fn, x, t, eps=self.eps, targeted=True,
                          seed=0)
        before = _ce(model_fn(x), t)
        after = _ce(model_fn(out), t)
        assert after.mean() < before.mean()
        assert np.mean(after <= before + 1e-6) >= 0.9

    def test_untargeted_success_rate_on_linear_model(self):
        model_fn, x, y = self._data("linear_model")
        out = self.attack(model_fn, x, y, eps=self.success_eps, seed=0)
        pred = np.asarray(model_fn(out)).argmax(axis=1)
        assert np.mean(pred != y) >= self.success_threshold

    def test_targeted_success_rate_on_linear_model(self):
        model_fn, x, y = self._data("linear_model")
        t = self._targets(y)
        out = self.attack(model_fn, x, t, eps=self.success_eps,
                          targeted=True, seed=0)
        pred = np.asarray(model_fn(out)).argmax(axis=1)
        assert np.mean(pred == t) >= self.targeted_threshold

    def test_deterministic_given_seed(self):
        model_fn, x, y = self._data()
        a = self.attack(model_fn, x, y, eps=self.eps, seed=3)
        b = self.attack(model_fn, x, y, eps=self.eps, seed=3)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    def test_different_seeds_differ(self):
        if not self.randomized:
            pytest.skip("the attack has no random start")
        model_fn, x, y = self._data()
        a = self.attack(model_fn, x, y, eps=self.eps, seed=1)
        b = self.attack(model_fn, x, y, eps=self.eps, seed=2)
        assert not np.array_equal(np.asarray(a), np.asarray(b))

    def test_y_none_uses_predictions(self):
        model_fn, x, y = self._data()
        a = self.attack(model_fn, x, None, eps=self.eps, seed=0)
        b = self.attack(model_fn, x, y, eps=self.eps, seed=0)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    def test_no_retracing_on_repeated_calls(self):
        if self.graph is None:
            pytest.skip("no compiled graph given")
        model_fn, x, y = self._data()
        self.attack(model_fn, x, y, eps=self.eps, seed=0)
        count = self.graph.experimental_get_tracing_count()
        self.attack(model_fn, x, y, eps=0.5 * self.eps, seed=1)
        assert self.graph.experimental_get_tracing_count() == count

    def test_bad_arguments_raise(self):
        model_fn, x, y = self._data()
        with pytest.raises(ValueError, match="eps"):
            self.attack(model_fn, x, y, eps=-0.1)
        with pytest.raises(ValueError, match="targeted"):
            self.attack(model_fn, x, None, eps=self.eps, targeted=True)
        with pytest.raises(ValueError, match="clip_min"):
            self.attack(model_fn, x, y, eps=self.eps, clip_min=1.0,
                        clip_max=0.0)
