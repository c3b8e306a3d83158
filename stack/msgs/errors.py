"""Errors of the message subsystem."""

from stack.errors import L4Error


class MessageError(L4Error):
    """A message type or field is unknown or has a bad value."""
