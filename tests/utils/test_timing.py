"""StepTimer against a hand computation: a model whose step advances a fake clock by a
known time and whose tracing advances it by another."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_advnet.utils.timing import StepTimer, time_fit

STEP_S, TRACE_S = 0.25, 7.0


class _Clock:
    def __init__(self):
        self.t = 100.0
        self.load = 1.0  # what the machine's other work multiplies a step's time by

    def __call__(self):
        return self.t


class _ClockedModel(keras.Model):
    """Each executed train step costs STEP_S on the clock; each trace TRACE_S more
    (the Python body of train_step runs only while tracing). TF traces and runs the
    first step twice (once to create variables), so the first step's time is
    counted from `traces` and `ticks`."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.dense = keras.layers.Dense(2)
        self.traces = 0
        self.ticks = 0

    def call(self, x):
        return self.dense(x)

    step_s = STEP_S

    def _tick(self):
        self.ticks += 1
        self.clock.t += self.step_s * self.clock.load
        return np.float32(0.0)

    def train_step(self, data):
        self.traces += 1
        self.clock.t += TRACE_S
        x, _ = data
        tick = tf.py_function(self._tick, [], tf.float32)
        with tf.control_dependencies([tick]):
            loss = tf.reduce_mean(self.dense(x)) + tick
        return {"loss": loss}


class _SlowCallback(keras.callbacks.Callback):
    """A per-epoch recorder (like DeepDefense's curve recorder) and a per-step logger
    that both take clock time."""

    def __init__(self, clock, epoch_s=50.0, batch_s=0.5):
        super().__init__()
        self.clock, self.epoch_s, self.batch_s = clock, epoch_s, batch_s

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.t += self.epoch_s

    def on_epoch_end(self, epoch, logs=None):
        self.clock.t += self.epoch_s

    def on_train_batch_begin(self, batch, logs=None):
        self.clock.t += self.batch_s

    def on_train_batch_end(self, batch, logs=None):
        self.clock.t += self.batch_s


def _data(n=50):
    rng = np.random.default_rng(0)
    return rng.random((n, 3), np.float32), rng.integers(0, 2, n)


def _fit(callbacks_fn, epochs=2, n=50, batch=8):
    clock = _Clock()
    model = _ClockedModel(clock)
    model.compile(optimizer="sgd")
    timer = StepTimer(batch, images_per_epoch=n, clock=clock)
    x, y = _data(n)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
    model.fit(ds, epochs=epochs, verbose=0, shuffle=False,
              callbacks=callbacks_fn(timer, clock))
    return timer, model


def _trace_time(model, summary):
    """Clock time of the tracing steps: every trace, and every executed step that
    is not a warm one."""
    return model.traces * TRACE_S + (model.ticks - summary["warm_steps"]) * STEP_S


def test_warm_throughput_and_trace_time_by_hand():
    # 50 images at batch 8: steps of 8, 8, 8, 8, 8, 8 and a short one of 2.
    timer, model = _fit(lambda t, c: [t])
    s = timer.summary()
    # Traced: the first step, and the short last step (a new batch shape).
    assert s["trace_steps"] == 2
    assert s["trace_steps_seconds"] == pytest.approx(_trace_time(model, s))
    # Warm: epoch 1 steps 2-6 (5 x 8 images), epoch 2 all 7 steps (6 x 8 + 2).
    assert s["warm_steps"] == 12
    assert s["images_per_second"] == pytest.approx((40 + 50) / (12 * STEP_S))
    assert [e["images"] for e in s["per_epoch"]] == [40, 50]
    assert s["per_epoch"][1]["images_per_second"] == pytest.approx(50 / (7 * STEP_S))
    assert s["median_step_seconds"] == pytest.approx(STEP_S)


@pytest.mark.parametrize("order", ["slow_first", "slow_last"])
def test_slow_callbacks_do_not_change_throughput(order):
    # The old bug: a curve recorder's on_epoch_end ran after the epoch timer's, and
    # subtracting its time made epochs look shorter than their steps. With around(),
    # neither per-epoch nor per-step work of another callback is inside a step.
    def callbacks(timer, clock):
        slow = [_SlowCallback(clock), _SlowCallback(clock, epoch_s=3.0, batch_s=0.1)]
        return timer.around(slow if order == "slow_first" else slow[::-1])

    timer, model = _fit(callbacks)
    assert timer.images_per_second == pytest.approx(90 / (12 * STEP_S))
    assert timer.trace_seconds == pytest.approx(_trace_time(model, timer.summary()))


def test_epoch_wall_clock_with_subtraction_is_wrong():
    # What runs/deepdefense.py did: per-epoch wall time minus the recorder's mean
    # time. The epoch timer's on_epoch_end ran before the recorder's, so the
    # recorder's time was not inside the epoch and subtracting it deflated it.
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self, clock):
            super().__init__()
            self.clock, self.seconds = clock, []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = self.clock()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self.clock() - self.t0)

    class Recorder(keras.callbacks.Callback):
        def __init__(self, clock):
            super().__init__()
            self.clock, self.seconds = clock, 0.0

        def on_epoch_end(self, epoch, logs=None):
            self.clock.t += 1.5
            self.seconds += 1.5

    holder = {}

    def callbacks(timer, clock):
        holder["old"], holder["rec"] = EpochTimer(clock), Recorder(clock)
        return timer.around([holder["old"], holder["rec"]])

    timer, _ = _fit(callbacks)
    old = [s - holder["rec"].seconds / 2 for s in holder["old"].seconds]
    old_ips = 50 / old[1]  # the second epoch, as the old code took it
    true_ips = 50 / (7 * STEP_S)
    assert old_ips > 1.5 * true_ips  # the inflated number the tables showed
    assert timer.summary()["per_epoch"][1]["images_per_second"] == pytest.approx(true_ips)


def test_time_fit_counts_requested_warm_steps():
    clock = _Clock()
    model = _ClockedModel(clock)
    model.compile(optimizer="sgd")
    x, y = _data(20)
    import tf_advnet.utils.timing as timing

    real = timing.StepTimer
    timing.StepTimer = lambda *a, **k: real(*a, clock=clock, **k)
    try:
        out = time_fit(model, x, y, batch_size=8, steps=6, warmup_steps=2)
    finally:
        timing.StepTimer = real
    assert out["warm_steps"] == 6
    assert out["trace_steps"] == 2
    assert out["images_per_second"] == pytest.approx(8 / STEP_S)
    assert out["trace_steps_seconds"] == pytest.approx(_trace_time(model, out))
    assert out["trace_steps_seconds"] >= TRACE_S + 2 * STEP_S


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        StepTimer(0)
    with pytest.raises(ValueError, match="warmup_steps"):
        StepTimer(8, warmup_steps=-1)


def test_reported_falls_back_only_without_warm_steps():
    from tf_advnet.utils.timing import reported_images_per_second

    timer, _ = _fit(lambda t, c: [t], epochs=1, n=8, batch=8)  # one (tracing) step
    s = timer.summary()
    assert s["warm_steps"] == 0
    assert reported_images_per_second(s, 8, 2.0) == 4.0 and s["includes_tracing"]
    timer, _ = _fit(lambda t, c: [t])
    s = timer.summary()
    assert reported_images_per_second(s, 100, 1.0) == s["images_per_second"]
    assert not s["includes_tracing"]


def test_interleaved_rounds_median_drops_a_round_that_load_hit(monkeypatch):
    """`pipelines.train.interleaved_images_per_second` against a hand computation:
    method "fast" steps in STEP_S and "slow" in 2 STEP_S; during the second of three
    rounds the machine runs 6x slower. Each method's median round is an unloaded
    one, so the ratio is the true 2x; the per-round list shows the loaded round."""
    import tf_advnet.pipelines.train as train_lib
    import tf_advnet.utils.timing as timing

    clock = _Clock()
    real = timing.StepTimer
    monkeypatch.setattr(timing, "StepTimer", lambda *a, **k: real(*a, clock=clock, **k))
    models = {}

    def timed_trainer(cfg, x, y, steps):
        m = _ClockedModel(clock)
        m.step_s = cfg.step_s
        m.compile(optimizer="sgd")
        models[cfg.name] = m
        return m, x, y

    monkeypatch.setattr(train_lib, "_timed_trainer", timed_trainer)
    order = []
    real_time_fit = timing.time_fit

    def time_fit(trainer, *a, **k):
        name = next(n for n, m in models.items() if m is trainer)
        order.append(name)
        out = real_time_fit(trainer, *a, **k)
        # Two traces, then rounds of two: calls 5 and 6 form round 2.
        clock.load = 6.0 if len(order) in (4, 5) else 1.0
        return out

    monkeypatch.setattr(timing, "time_fit", time_fit)
    cfg = lambda name, step_s: types.SimpleNamespace(  # noqa: E731
        name=name, step_s=step_s, data=types.SimpleNamespace(batch_size=8))
    x, y = _data(20)
    out = train_lib.interleaved_images_per_second(
        {"fast": cfg("fast", STEP_S), "slow": cfg("slow", 2 * STEP_S)}, x, y,
        steps=5, rounds=3)
    # Both traced first, then the rounds in turn.
    assert order == ["fast", "slow"] + ["fast", "slow"] * 3
    assert out["steps"] == 5
    assert out["rounds"]["fast"][1] == pytest.approx(8 / (6 * STEP_S))
    assert out["rounds"]["slow"][1] == pytest.approx(8 / (2 * 6 * STEP_S))
    assert out["images_per_second"] == pytest.approx(
        {"fast": 8 / STEP_S, "slow": 8 / (2 * STEP_S)})
    with pytest.raises(ValueError, match="rounds"):
        train_lib.interleaved_images_per_second({}, x, y, steps=5, rounds=0)
