"""Errors of the ViT tools."""

from __future__ import annotations

from stack.errors import L4Error


class VitError(L4Error, ValueError):
    """A bad option or input of the ViT tools (names the option and value)."""
