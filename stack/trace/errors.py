"""Errors of the trace subsystem."""

from stack.errors import L4Error


class TraceError(L4Error):
    """A trace or run directory that cannot be written or read; the message names the file."""
