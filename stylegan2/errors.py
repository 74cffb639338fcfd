"""Errors a user can cause, reported as one line naming the thing and the fix."""

import functools
import sys


class UserError(Exception):
    """A mistake in the user's input (flag, file, dataset); printed as one line, never a traceback."""


def exit_on_user_error(main):
    """Decorates a command-line entry point: a UserError ends the program with `error: <message>` and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())  # always one line
            print(f"error: {message}", file=sys.stderr, flush=True)
            sys.exit(2)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr, flush=True)
            sys.exit(130)

    return wrapper
