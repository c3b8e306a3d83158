"""Errors of the executor."""

from stack.errors import L4Error


class ExecutorError(L4Error):
    """A run could not start, or a callback failed under --fail-fast."""
