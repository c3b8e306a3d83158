"""Errors of the schedulability simulator."""

from stack.errors import L4Error


class SimError(L4Error):
    """A bad profile, speed factor or graph for the simulator; the message names the input."""
