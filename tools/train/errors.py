"""The training tools' error: messages name the bag, file, option or value at fault."""

from __future__ import annotations

from stack.errors import L4Error


class TrainError(L4Error):
    """Training data, options or outputs are unusable."""
