"""One `tf-advnet` subcommand: its own absl flags, help, one-line errors, quiet start-up.

Each subcommand defines its flags on its own `absl.flags.FlagValues` (not the global
`FLAGS`), so `tf-advnet train --help` lists train's flags only and two commands can
share flag names; `absl.app.run` is not used because it parses the global flags.
"""

import os
import sys
import textwrap

from absl import flags

from tf_advnet.utils.cli import quiet_tensorflow

PROG = "tf-advnet"
HELP_ARGS = ("--help", "-h", "-?", "--helpfull", "--helpshort")
# The paper commands' --preset (each study's PRESETS: tf_advnet/papers/<study>/study.py).
PRESET_HELP = ("cpu: minutes to an hour on a laptop; paper: the paper's data and scale "
               "(GPUs); long: the claims ledger's cpu runs, trained until they converge")
# Fields a study's preset is chosen by: `--set` sends the user to the flag.
RESERVED_STUDY = {"dataset": "use --dataset (the preset depends on it)",
                  "preset": "use --preset"}


class Command:
    """A subcommand: flags defined through its methods, then `run(main, argv)`.

    Args:
      name: how the user types it after `tf-advnet`, e.g. "train" or "reproduce bat".
      doc: the module docstring; its first line is the one-line summary.
      set_schema: a callable returning the config dataclass that `--set key=value`
        edits (imported lazily: the reproduction studies import TensorFlow), or
        None for a command without `--set`.
      reserved: {dotted path: how to change it} of fields `--set` refuses because
        the command fixes them itself, e.g. {"data.dataset": "use --dataset"}.
    """

    def __init__(self, name, doc, *, set_schema=None, reserved=None):
        self.name = name
        self.reserved = reserved or {}
        self.doc = doc.strip()
        self.flags = flags.FlagValues()
        self.set_schema = set_schema
        self._verbose = self.bool(
            "verbose", False, "show TensorFlow's and absl's start-up and C++ log lines")
        self._set = None
        if set_schema is not None:
            self._set = flags.DEFINE_multi_string(
                "set", [], "key=value: set any field of the command's config (a dotted "
                "path such as train.trainer.lam=15, or the field's name alone where that is "
                "unique); repeatable, applied after the named flags; --set=help lists "
                "the keys, their types and defaults", flag_values=self.flags)

    # Flag definitions, on this command's FlagValues.
    def string(self, name, default, help_):
        return flags.DEFINE_string(name, default, help_, flag_values=self.flags)

    def integer(self, name, default, help_):
        return flags.DEFINE_integer(name, default, help_, flag_values=self.flags)

    def float(self, name, default, help_):
        return flags.DEFINE_float(name, default, help_, flag_values=self.flags)

    def bool(self, name, default, help_):
        return flags.DEFINE_bool(name, default, help_, flag_values=self.flags)

    def enum(self, name, default, values, help_):
        return flags.DEFINE_enum(name, default, values, help_, flag_values=self.flags)

    def list(self, name, default, help_):
        return flags.DEFINE_list(name, default, help_, flag_values=self.flags)

    @property
    def summary(self):
        return self.doc.splitlines()[0]

    def help(self):
        """The text of `tf-advnet <command> --help`."""
        lines = [f"usage: {PROG} {self.name} [--flag=value ...]", "", self.doc, "",
                 "flags:"]
        for flag in self._flag_list():
            name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
            default = "" if flag.default is None else f" (default: {flag.default_as_str})"
            body = textwrap.fill(" ".join(flag.help.split()) + default, width=88, initial_indent="      ",
                                 subsequent_indent="      ")
            lines += [f"  {name}", body]
        return "\n".join(lines)

    def _flag_list(self):
        """The command's flags in definition order, the common ones (--set,
        --verbose) last."""
        common = ("set", "verbose")
        names = [n for n in self.flags if n not in common] + [
            n for n in common if n in self.flags]
        return [self.flags[n] for n in dict.fromkeys(names)]

    def parse(self, args):
        """Parses `args` (without the program and command names) into this command's
        flags; raises UserError (one line) on a bad or unknown flag or a positional
        argument."""
        from tf_advnet.errors import UserError

        self.flags.unparse_flags()
        try:
            rest = self.flags([PROG, *args])
        except flags.Error as e:
            raise UserError(" ".join(str(e).split())) from None
        if len(rest) > 1:
            raise UserError(f"unexpected arguments: {rest[1:]} (flags look like "
                            "--name=value)")

    def sets(self, base=None):
        """The `--set` assignments parsed against the schema, or against `base`, the
        config instance they will apply to (then a `train.method=...` makes the
        following `trainer.*` keys the new method's): {dotted path: value}."""
        from tf_advnet.cli.overrides import parse_sets

        if self._set is None:
            return {}
        schema = self.set_schema() if base is None else base
        return parse_sets(self._set.value, schema, self.reserved)

    def run(self, main, args):
        """Parses `args`, quiets TensorFlow's start-up unless --verbose, then calls
        `main()`; returns the exit status. A `UserError` (bad flag value, missing
        data, corrupt checkpoint) prints as one line with status 2, not a trace."""
        from tf_advnet.errors import UserError

        if any(a in HELP_ARGS for a in args):
            print(self.help())
            return 0
        try:
            self.parse(args)
            _mark_global_flags_parsed()
            quiet_tensorflow(verbose=self._verbose.value)
            if self._set is not None and "help" in self._set.value:
                from tf_advnet.cli.overrides import describe

                print(describe(self.set_schema()))
                return 0
            main()
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: rerun the same command to resume from the last "
                  "checkpoint", file=sys.stderr)
            return 130
        return 0


def _mark_global_flags_parsed():
    """Libraries that read absl's global FLAGS (absl.logging) get their defaults:
    our flags live on the command's own FlagValues, so nothing else parses FLAGS."""
    if not flags.FLAGS.is_parsed():
        try:
            flags.FLAGS([os.path.basename(sys.argv[0] or PROG)], known_only=True)
        except flags.Error:
            flags.FLAGS.mark_as_parsed()
