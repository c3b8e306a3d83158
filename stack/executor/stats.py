"""A process executor's statistics: collected in the child at its end, merged into the parent's
runtime, so the parent's run directory counts the whole graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from stack.executor.entities import NodeState, Timer, TopicState
from stack.executor.view import RunResults


class SubscriptionCount(NamedTuple):
    node: str
    topic: str
    overwritten: int
    delivered: int


class TimerCount(NamedTuple):
    node: str
    timer: str
    skipped: int


@dataclass(frozen=True)
class ChildStats:
    """What the parent's run directory needs from a child: counters and errors."""

    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    subscriptions: list[SubscriptionCount] = field(default_factory=list)
    timers: list[TimerCount] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def collect_stats(runtime: RunResults) -> ChildStats:
    """The counters of ``runtime`` (a process executor's own) at its end."""
    return ChildStats(
        counters=runtime.counters(),
        subscriptions=[
            SubscriptionCount(s.node.name, topic, s.overwritten, s.delivered)
            for topic, t in runtime.topics.items()
            for s in t.subscriptions
        ],
        timers=[TimerCount(t.node.name, t.name, t.skipped) for t in runtime.timers],
        errors=list(runtime.errors),
    )


def merge_stats(
    stats: ChildStats,
    nodes: Mapping[str, NodeState],
    topics: Mapping[str, TopicState],
    timers: Sequence[Timer],
    errors: list[str],
) -> None:
    """Take a child's counters into the parent's copies of its nodes, subscriptions and timers
    (the parent builds them too, and never runs them), and its errors into ``errors``."""
    for name, counters in stats.counters.items():
        nodes[name].counters = dict(counters)
    subs = {(s.node.name, t): s for t, st in topics.items() for s in st.subscriptions}
    for node, topic, overwritten, delivered in stats.subscriptions:
        sub = subs[(node, topic)]
        sub.overwritten, sub.delivered = overwritten, delivered
    by_name = {(t.node.name, t.name): t for t in timers}
    for node, name, skipped in stats.timers:
        by_name[(node, name)].skipped = skipped
    errors.extend(stats.errors)
