"""User-facing errors: each carries one line that tells the user what to fix.

Experiment binaries catch `UserError` and print its message without a stack
trace (see `tf_advnet.cli._command.Command.run`).
"""


class UserError(ValueError):
    """A mistake of the user (bad flag, missing file): printed as one line."""


class DataNotFoundError(UserError):
    """No source (data dir, TFDS, Debian package) provides the data set."""


class NonFiniteInputError(UserError):
    """Input images contain NaN or inf."""


class CheckpointError(UserError):
    """A checkpoint or saved model is missing or corrupt."""


def check_choice(flag, value, allowed):
    """Raises UserError naming `flag` and the allowed values if `value` is not one."""
    allowed = list(allowed)
    if value not in allowed:
        raise UserError(
            f"--{flag}={value!r} is not valid; allowed values: "
            + ", ".join(str(a) for a in allowed)
        )
    return value


def check_range(flag, value, low=None, high=None, low_inclusive=True):
    """Raises UserError if `value` is outside [low, high] (or (low, high])."""
    bad = False
    if low is not None:
        bad |= value < low if low_inclusive else value <= low
    if high is not None:
        bad |= value > high
    if bad:
        lo = "[" if low_inclusive else "("
        rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise UserError(f"--{flag}={value} is out of range; allowed range: {rng}")
    return value
