"""The CLI's user error: printed without a traceback, exit status 2."""

from stack.errors import L4Error

EXIT_OK = 0
EXIT_BUDGET_VIOLATED = 1
EXIT_USAGE = 2


class CliError(L4Error):
    """A user error: bad file, bad argument, bad input data."""
