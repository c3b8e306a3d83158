"""Errors of the trace subsystem."""


class TraceError(Exception):
    """A trace or run directory that cannot be written or read; the message names the file."""
