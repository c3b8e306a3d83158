"""The launch file's error: every message names the file, the key path and the bad value."""

from __future__ import annotations

from stack.errors import L4Error


class GraphError(L4Error):
    """An invalid launch file; the message names the file, the key path and the bad value."""
