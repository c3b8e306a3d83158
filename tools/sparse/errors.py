"""The sparse-training tools' error: messages name the option, domain or file at fault."""

from __future__ import annotations

from stack.errors import L4Error


class SparseError(L4Error):
    """Sparse or continual training options, data or checkpoints are unusable."""
