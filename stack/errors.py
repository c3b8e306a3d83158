"""The one root of every l4stack error.

Each subsystem has a small error class of its own deriving from :class:`L4Error` (as rosbags
has one per subsystem); ``l4`` catches the root in one place and prints the message, which names
the input at fault (file, key, value) and what is wrong.
"""

from __future__ import annotations


class L4Error(Exception):
    """Any error l4stack reports to its user: bad input, a failed run, a missing resource."""


class ParamError(L4Error, ValueError):
    """A node parameter (or a value computed from parameters) is out of range or malformed.

    Also a ValueError, so callers that validate values the usual Python way still catch it.
    """
