"""User-facing errors: each carries one line that tells the user what to fix.

Experiment binaries catch `UserError` and print its message without a stack
trace (see `tf_advnet.cli._command.Command.run`).

Two families of checks: the library's (`check_arg_choice`, `check_arg_range`) name
the Python argument (`lam must be >= 0, got -1`); the command-line layer's
(`check_choice`, `check_range`, used by `tf_advnet.configs` before anything is
built) name the flag (`--eps=1.5 is out of range; ...`). A trainer's own config
(`tf_advnet.trainers.<method>.Config.validate`) names its `--set` key with the
library's form (`trainer.lam must be >= 0, got -1`).
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
    """Raises UserError naming `--flag` and the allowed values if `value` is not one.

    For the command-line layer; library code uses `check_arg_choice`.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise UserError(
            f"--{flag}={value!r} is not valid; allowed values: "
            + ", ".join(str(a) for a in allowed)
        )
    return value


def _outside(value, low, high, low_inclusive):
    """Whether `value` lies outside [low, high] ((low, high] if not low_inclusive)."""
    if low is not None and (value < low if low_inclusive else value <= low):
        return True
    return high is not None and value > high


def check_range(flag, value, low=None, high=None, low_inclusive=True):
    """Raises UserError naming `--flag` if `value` is outside [low, high] (or (low, high]).

    For the command-line layer; library code uses `check_arg_range`.
    """
    if _outside(value, low, high, low_inclusive):
        lo = "[" if low_inclusive else "("
        rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise UserError(f"--{flag}={value} is out of range; allowed range: {rng}")
    return value


def _number(value):
    """`1` for 1.0, `0.5` for 0.5: bounds and values as a user would type them."""
    try:
        if float(value).is_integer():
            return str(int(value))
    except (TypeError, ValueError, OverflowError):
        pass
    return repr(value)


def check_arg_choice(name, value, allowed):
    """Raises UserError naming the argument `name` unless `value` is in `allowed`.

    The message reads `hvp must be one of fd, exact; got 'x'`.
    """
    allowed = list(allowed)
    if value not in allowed:
        raise UserError(f"{name} must be one of "
                        + ", ".join(str(a) for a in allowed) + f"; got {value!r}")
    return value


def check_arg_range(name, value, low=None, high=None, low_inclusive=True):
    """Raises UserError naming the argument `name` unless `value` is in [low, high].

    `low_inclusive=False` makes the lower bound strict. The message reads
    `lam must be >= 0, got -1` or `eps must be in [0, 1], got 1.5`.
    """
    if _outside(value, low, high, low_inclusive):
        if high is None:
            rng = f"{'>=' if low_inclusive else '>'} {_number(low)}"
        elif low is None:
            rng = f"<= {_number(high)}"
        else:
            rng = (f"in {'[' if low_inclusive else '('}{_number(low)}, "
                   f"{_number(high)}]")
        raise UserError(f"{name} must be {rng}, got {_number(value)}")
    return value
