"""Errors of the executor."""


class ExecutorError(Exception):
    """A run could not start, or a callback failed under --fail-fast."""
