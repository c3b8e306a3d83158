"""The training tools' error: messages name the bag, file, option or value at fault."""

from __future__ import annotations


class TrainError(Exception):
    """Training data, options or outputs are unusable."""
