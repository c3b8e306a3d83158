"""Errors of the scheduler."""

from stack.errors import L4Error


class SchedulerError(L4Error):
    """A bad ``scheduler:`` section or variant set; the message names the key and the value."""
