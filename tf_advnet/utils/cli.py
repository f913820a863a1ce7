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
    checkpoint) must not produce a stack trace; real bugs still do.
    """
    from absl import app

    from tf_advnet.errors import UserError

    def _wrapped(argv):
        try:
            return main(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted: rerun the same command to resume from the last "
                  "checkpoint", file=sys.stderr)
            sys.exit(130)

    app.run(_wrapped)
