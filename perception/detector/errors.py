"""Errors of the camera detector; each message names the card, key, tensor or image at fault."""

from __future__ import annotations

from stack.errors import L4Error


class DetectorError(L4Error):
    """Any failure of the camera detector."""


class CardError(DetectorError):
    """A model card is unreadable, invalid, or does not match its model's tensors."""


class ImageError(DetectorError):
    """An image message cannot be turned into pixels (encoding, size, data length)."""
