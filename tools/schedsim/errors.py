"""Errors of the schedulability simulator."""


class SimError(Exception):
    """A bad profile, speed factor or graph for the simulator; the message names the input."""
