"""The perception subsystem's error for data it cannot use: a map file, a pose, a geodetic origin.

Modules with a richer failure set keep their own class (PointCloudError, DetectorError, ...), each
deriving from stack.errors.L4Error. Also a ValueError, so a node that drops a bad message on
ValueError keeps doing so.
"""

from __future__ import annotations

from stack.errors import L4Error


class PerceptionError(L4Error, ValueError):
    """A map file, message or configuration value perception cannot use; names the input."""
