"""Conversions between integer nanoseconds and builtin_interfaces/Time."""

from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """Return nanoseconds of a builtin_interfaces/Time (or anything with sec/nanosec)."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def ns_to_time(ns: int) -> tuple[int, int]:
    """Split nanoseconds into (sec, nanosec) with 0 <= nanosec < 1e9, also for negative ns."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return sec, nanosec


def ns_to_stamp(ns: int) -> Any:
    """Build a builtin_interfaces/Time from nanoseconds."""
    from stack.msgs.factory import new

    sec, nanosec = ns_to_time(ns)
    return new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def stamp_of(msg: Any) -> int:
    """``header.stamp`` of a message in ns (a std_msgs/Header is its own header); 0 if none."""
    header = getattr(msg, "header", msg)
    stamp = getattr(header, "stamp", None)
    return stamp_to_ns(stamp) if stamp is not None else 0
