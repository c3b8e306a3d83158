"""Compression errors: messages name the recipe file, key, value, layer or variant at fault."""

from __future__ import annotations

from stack.errors import L4Error


class CompressError(L4Error):
    """A compression run cannot go on: bad recipe, untraceable model, failed export."""


class RecipeError(CompressError):
    """A recipe key or value is missing, unknown or out of range (the message names it)."""
