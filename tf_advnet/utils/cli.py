"""Glue for the absl binaries in experiments/: one-line errors, quiet TF."""

import os
import sys


def quiet_tensorflow():
    """Silences TF's C++ start-up chatter; call before importing tensorflow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def run_main(main):
    """`absl.app.run(main)`, printing a `UserError` as one line, exit status 2.

    A user's mistake (bad flag value, missing data, NaN input, corrupt
    checkpoint, stray positional arguments) must not produce a stack trace;
    real bugs still do.
    """
    from absl import app

    from tf_advnet.errors import UserError

    def _wrapped(argv):
        try:
            if len(argv) > 1:
                raise UserError(f"unexpected arguments: {argv[1:]} "
                                "(flags look like --name=value)")
            return main(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted: rerun the same command to resume from the last "
                  "checkpoint", file=sys.stderr)
            sys.exit(130)

    app.run(_wrapped)


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
