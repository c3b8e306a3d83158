"""Drop an input that repeats the (topic, header.stamp) of the one before it on that topic.

A recorder that wrote every message twice, a bridge that republishes, a bag merged with itself:
the graph would run each input twice (outputs doubled, trackers switching IDs) and nothing would
say so. At the graph's input boundary (the replay player, the rclpy bridge) each input is checked
against the last one on its topic; a repeat is dropped and counted per topic.

Messages without a header are never deduplicated (tf_static, for one, has none), and neither
are messages stamped zero (an unset stamp says nothing about which sample it is).
"""

from __future__ import annotations

from typing import Any


class DuplicateFilter:
    """Per topic, the stamp of the last input let through, and how many repeats were dropped."""

    __slots__ = ("_last", "counts")

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}
        self.counts: dict[str, int] = {}

    def repeated(self, topic: str, msg: Any) -> bool:
        """True (and counted) when ``msg`` repeats the stamp of the last input on ``topic``."""
        header = getattr(msg, "header", None)
        stamp = getattr(header, "stamp", None)
        if stamp is None:
            return False
        key = (stamp.sec, stamp.nanosec)
        if key == (0, 0):
            return False
        if self._last.get(topic) == key:
            self.counts[topic] = self.counts.get(topic, 0) + 1
            return True
        self._last[topic] = key
        return False

    @property
    def dropped(self) -> int:
        """Repeats dropped over all topics."""
        return sum(self.counts.values())
