"""Errors of the scheduler."""


class SchedulerError(Exception):
    """A bad ``scheduler:`` section or variant set; the message names the key and the value."""
