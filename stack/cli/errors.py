"""The CLI's user error: printed without a traceback, exit status 2."""

EXIT_OK = 0
EXIT_BUDGET_VIOLATED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user error: bad file, bad argument, bad input data."""
