"""Errors of the fusion rewrites; messages name the model, tensor or card key at fault."""

from __future__ import annotations

from stack.errors import L4Error


class FusionError(L4Error):
    """A rewrite cannot be applied to this model (layout, tensor, card) or its result is wrong."""
