"""Errors of the message subsystem."""


class MessageError(Exception):
    """A message type or field is unknown or has a bad value."""
