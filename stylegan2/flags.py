"""Command-line pieces every entry point shares: one-line argparse errors, booleans and finite numbers the originals'
way, and `Flag`, the declaration a method package uses for its own options.

    parser = OneLineParser(prog="run_training.py")          # a bad flag -> `error: ...` (exit 2), no usage block
    parser.add_argument("--gamma", type=finite_float)      # 'nan', 'inf' and 'big' are refused by name
    add_flags(parser.add_argument_group("AC-GAN (--method acgan)"), [Flag("aux_weight", float, 1.0, "...")])
"""

import argparse
import dataclasses
import math
from typing import Any, Callable

from stylegan2.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (`error: <prog>: <message> (see <prog> -h)`, exit code 2 through
    `exit_on_user_error`) instead of the usage block and a message."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see {self.prog} -h)")


def str2bool(value):
    """NV's _str_to_bool: accepts 1/0, true/false, yes/no."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "y", "on"):
        return True
    if value.lower() in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got '{value}'")


def finite_float(value):
    """float() that refuses nan and inf (argparse names the flag in the one-line error)."""
    number = float(value)
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got '{value}'")
    return number


finite_float.__name__ = "number"  # argparse's message: "invalid number value: 'big'"


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line option of a method: `--<name with dashes>` (or `spelling`), parsed by `type`.

    The parser's own default is None, so a method sees which flags the user gave; `default` is the method's value
    when not given (shown in --help). `name` is the key in the method's options (training_options.json).
    """

    name: str
    type: Callable = str
    default: Any = None
    help: str = ""
    choices: tuple = None
    spelling: str = None  # e.g. '--NN-rec-lpips-weight'; default '--' + name with '_' -> '-'
    metavar: str = None

    @property
    def option(self):
        return self.spelling or "--" + self.name.replace("_", "-")


def add_flags(group, flags):
    """Adds `flags` to an argparse group (default None; the method's default shown in the help)."""
    for flag in flags:
        group.add_argument(flag.option, dest=flag.name, type=flag.type, default=None, choices=flag.choices,
                           metavar=flag.metavar, help=f"{flag.help} (default: {flag.default})")


def given_flags(args, flags):
    """{name: value} of the flags in `flags` that the command line gave."""
    return {f.name: getattr(args, f.name) for f in flags if getattr(args, f.name, None) is not None}


def with_defaults(flags, given):
    """Every flag's value: given, else its default."""
    return {f.name: given.get(f.name, f.default) for f in flags}


def given_dests(parser, argv):
    """The `dest`s of the options that `argv` gives explicitly (whatever their value), by parsing it once more
    with every default suppressed."""
    actions = [a for a in parser._actions if a.dest != "help"]
    saved = [(a, a.default, a.required) for a in actions]
    try:
        for action in actions:
            action.default, action.required = argparse.SUPPRESS, False
        namespace, _ = parser.parse_known_args(argv)
    finally:
        for action, default, required in saved:
            action.default, action.required = default, required
    return set(vars(namespace))
