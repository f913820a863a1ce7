"""Glue for the command line (tf_advnet.cli): quiet TensorFlow start-up, list flags."""

import os
import sys
import tempfile


def quiet_tensorflow(verbose=False):
    """Imports TensorFlow without its start-up lines on stderr, unless `verbose`.

    TensorFlow 2.21's C++ runtime logs through absl before `absl::InitializeLog()`
    has run, and those lines ignore TF_CPP_MIN_LOG_LEVEL (tried at 2 and 3): the
    oneDNN notice, "Could not find cuda drivers" and absl's own "All log messages
    before absl::InitializeLog() is called are written to STDERR", printed while the
    shared libraries load. "failed call to cuInit" is an ERROR logged when the
    devices are first listed. So while TensorFlow is imported and its devices listed,
    file descriptor 2 points at a temporary file, which is replayed if the import
    fails. GPUs are not hidden (CUDA_VISIBLE_DEVICES is left alone), and later C++
    INFO and WARNING lines stay filtered by TF_CPP_MIN_LOG_LEVEL=2 as before; errors
    at run time still show. Python warnings (e.g. tf.function retracing) are not
    touched. With `verbose` nothing is filtered.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        import tensorflow  # noqa: F401  (the same start-up as quiet, shown)

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            _restore(saved)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        _restore(saved)


def _restore(saved):
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


def positive_ints(flag, values, *, allow_empty=False):
    """Parses a list flag of positive integers, or raises a one-line UserError."""
    return positive_numbers(flag, values, cast=int, allow_empty=allow_empty,
                            example="20,100")


def positive_numbers(flag, values, *, cast=float, allow_empty=False, example="5,15,25"):
    """Parses a list flag of positive numbers (`cast` each), or raises a UserError."""
    from tf_advnet.errors import UserError

    try:
        nums = tuple(cast(v) for v in values)
    except ValueError:
        nums = (0,)
    if any(not k > 0 for k in nums) or not (nums or allow_empty):
        kind = "integers" if cast is int else "numbers"
        raise UserError(f"--{flag}={','.join(values)}: give positive {kind}, "
                        f"e.g. --{flag}={example}")
    return nums
