"""The kinds of counted, traced events a node or the executor records on a callback run.

A node writes ``ctx.event(EventKind.DROP, f"{topic}: why")``; the embedded context refuses any
other kind (a plain string such as "drop" is an error), so a typo cannot invent a kind the report
does not count. The trace stores the kinds' plain string values.
"""

from __future__ import annotations

import enum

from stack.errors import L4Error


class EventKind(str, enum.Enum):
    """Kinds of trace events; the trace stores their plain string values."""

    DROP = "drop"  # an input dropped: stale for the scheduler, or bad data a node refused
    OVERWRITE = "overwrite"  # a queued input replaced by a newer one (queue depth reached)
    DEADLINE_MISS = "deadline_miss"
    EXCEPTION = "exception"
    SWITCH = "switch"  # model variant switch
    TIMER_SKIP = "timer_skip"
    # a frame a node needs has no transform on /tf_static (e.g. an IMU mounted rotated): the
    # node says once what it does instead of silently reading the sensor's axes as base_link's
    MISSING_TRANSFORM = "missing_transform"
    # a map-based region of interest (a traffic-light head in range) falls outside the image
    # or behind the camera: skipped, its state published as UNKNOWN
    ROI_SKIPPED = "roi_skipped"


class EventKindError(L4Error, TypeError):
    """A node recorded an event whose kind is not an EventKind (e.g. the string "drop")."""


def kind_value(kind: EventKind, node: str) -> str:
    """The plain string a trace stores for ``kind``; EventKindError naming the node otherwise."""
    if kind.__class__ is not EventKind:
        raise EventKindError(f"node {node}: event kind {kind!r} is not a stack.events.EventKind")
    return kind.value
