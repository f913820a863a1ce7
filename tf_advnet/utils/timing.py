"""Warm-step training throughput: the one timer behind every images/s the suite reports.

`StepTimer` is a Keras callback pair that times each training step from just before
Keras calls its compiled train function to just after it returns (the function
fetches the batch from the input pipeline itself, so data loading is included):

    timer = StepTimer(batch_size=128, images_per_epoch=len(x_train))
    trainer.fit(ds, epochs=4, callbacks=timer.around(my_callbacks))
    timer.summary()["images_per_second"]

`around(callbacks)` puts the timer's end probe first and its begin probe last, so no
other callback's per-step work (backups, TensorBoard, curve recorders, validation,
the progress bar) falls inside a timed interval, whatever those callbacks do and in
whatever order Keras runs them. Nothing is subtracted afterwards.

The steps that trace are reported apart (`trace_steps_seconds`): the first
`warmup_steps` steps of the first epoch (tf.function tracing and compilation of the
train step) and the first short final batch (Keras traces the step again for the
new batch shape). Every other step is warm; images/s is the images those warm steps
processed (`batch_size` per step, the short last batch counted at its own size when
`images_per_epoch` is given) over their summed time.
"""

import statistics
import time

import keras


class _Probe(keras.callbacks.Callback):
    """One half of a `StepTimer.around()` pair: starts ("begin") or stops ("end")
    the step clock."""

    def __init__(self, timer, role):
        super().__init__()
        self.timer, self.role = timer, role

    def on_epoch_begin(self, epoch, logs=None):
        self.timer._epoch_begin(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.role == "begin":
            self.timer._batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        if self.role == "end":
            self.timer._batch_end(batch, logs)


class StepTimer(keras.callbacks.Callback):
    """Per-step timer of `model.fit` (module docstring).

    Args:
      batch_size: global batch size (images per full step).
      images_per_epoch: training images per epoch; gives the size of a short last
        batch (None: every step counts `batch_size` images).
      warmup_steps: leading steps of the first epoch that count as tracing.
      clock: seconds as a float (injected in tests).

    Used alone (`callbacks=[timer]`) it is its own begin and end probe; then the
    per-step work of callbacks listed between would be timed too, which
    `around()` avoids.
    """

    def __init__(self, batch_size, *, images_per_epoch=None, warmup_steps=1,
                 clock=time.perf_counter):
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if int(warmup_steps) < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}")
        self.batch_size = int(batch_size)
        self.images_per_epoch = None if images_per_epoch is None else int(images_per_epoch)
        self.warmup_steps = int(warmup_steps)
        self.clock = clock
        self.epochs = []  # one dict per epoch: warm steps, images, seconds
        self.trace_steps = 0
        self.trace_seconds = 0.0
        self._short_seen = False
        self._t_begin = None
        self._epoch = None

    # -- probes ---------------------------------------------------------------------
    def around(self, callbacks=()):
        """`callbacks` between the timer's end probe (first) and begin probe (last)."""
        return [_Probe(self, "end")] + list(callbacks) + [_Probe(self, "begin")]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_begin(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        self._batch_end(batch, logs)

    # -- bookkeeping ----------------------------------------------------------------
    def _epoch_begin(self, epoch):
        if self._epoch != epoch:
            self._epoch = epoch
            self.epochs.append({"epoch": int(epoch), "warm_steps": 0, "images": 0,
                                "seconds": 0.0, "step_seconds": []})

    def _step_images(self, batch):
        if self.images_per_epoch is None:
            return self.batch_size
        start = batch * self.batch_size
        return max(0, min(self.batch_size, self.images_per_epoch - start))

    def _batch_begin(self, batch):
        if not self.epochs:  # fit called without on_epoch_begin reaching us
            self._epoch_begin(0)
        self._t_begin = self.clock()

    def _batch_end(self, batch, logs):
        t_end = self.clock()
        if self._t_begin is None:
            return
        seconds, self._t_begin = t_end - self._t_begin, None
        n = self._step_images(batch)
        short = n < self.batch_size
        first_epoch = len(self.epochs) == 1
        if (first_epoch and batch < self.warmup_steps) or (short and not self._short_seen):
            self._short_seen = self._short_seen or short
            self.trace_steps += 1
            self.trace_seconds += seconds
            return
        ep = self.epochs[-1]
        ep["warm_steps"] += 1
        ep["images"] += n
        ep["seconds"] += seconds
        ep["step_seconds"].append(seconds)

    # -- results --------------------------------------------------------------------
    @property
    def warm_steps(self):
        return sum(e["warm_steps"] for e in self.epochs)

    @property
    def warm_seconds(self):
        return sum(e["seconds"] for e in self.epochs)

    @property
    def images_per_second(self):
        """Warm images / warm seconds over all epochs (nan before any warm step)."""
        images, seconds = sum(e["images"] for e in self.epochs), self.warm_seconds
        return float(images / seconds) if seconds > 0 else float("nan")

    def summary(self):
        """JSON-ready record: images/s of the warm steps, per epoch, and the tracing
        steps' time apart."""
        steps = [s for e in self.epochs for s in e["step_seconds"]]
        return {
            "images_per_second": self.images_per_second,
            "warm_steps": self.warm_steps,
            "warm_seconds": round(self.warm_seconds, 4),
            "median_step_seconds": statistics.median(steps) if steps else None,
            "batch_size": self.batch_size,
            "trace_steps": self.trace_steps,
            "trace_steps_seconds": round(self.trace_seconds, 4),
            "per_epoch": [{"epoch": e["epoch"], "warm_steps": e["warm_steps"],
                           "images": e["images"], "seconds": round(e["seconds"], 4),
                           "images_per_second": (e["images"] / e["seconds"]
                                                 if e["seconds"] > 0 else None)}
                          for e in self.epochs],
            "method": "tf_advnet.utils.timing.StepTimer: warm train steps only, "
                      "tracing steps apart",
        }


def reported_images_per_second(summary, images, seconds):
    """The warm-step images/s of `summary`; for a fit too short to have a warm step
    (tiny test runs), `images` over the whole fit's `seconds`, tracing included, and
    the summary says so (`includes_tracing`)."""
    import math

    ips = summary["images_per_second"]
    summary["includes_tracing"] = not math.isfinite(ips)
    if summary["includes_tracing"]:
        ips = float(images / seconds) if seconds > 0 else float("nan")
    return ips


def time_fit(trainer, x, y, *, batch_size, steps, warmup_steps=1, callbacks=()):
    """Times `steps` warm training steps of a compiled trainer on (x, y) in one
    `fit` call (the data cycled as needed, `warmup_steps` more for tracing).

    Returns `StepTimer.summary()` plus "wall_seconds" of the whole fit call.
    """
    import numpy as np
    import tensorflow as tf

    if int(steps) < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    total = int(steps) + int(warmup_steps)
    n = len(x)
    idx = np.arange(total * batch_size) % n
    ds = tf.data.Dataset.from_tensor_slices((x[idx], np.asarray(y)[idx])).batch(
        batch_size).prefetch(2)
    timer = StepTimer(batch_size, warmup_steps=warmup_steps)
    t0 = time.perf_counter()
    trainer.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=timer.around(callbacks))
    out = timer.summary()
    out["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return out
