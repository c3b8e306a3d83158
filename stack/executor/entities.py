"""What the executor schedules: subscriptions, timers, per-node and per-topic runtime state."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stack.graph import NodeSpec
from stack.scheduler.policy import ChainMembership
from stack.trace.records import Origins

Tap = Callable[[str, Any, int], None]  # sees every publish: (topic, msg, publish_ns)


class Envelope:
    """A published message with its lineage: chain start topic -> Origin(stamp_ns, publish_ns)."""

    __slots__ = ("msg", "origins", "publish_ns", "topic")

    def __init__(self, topic: str, msg: Any, origins: Origins, publish_ns: int) -> None:
        self.topic = topic
        self.msg = msg
        self.origins = origins
        self.publish_ns = publish_ns


@dataclass(eq=False)
class NodeState:
    spec: NodeSpec
    queue: Any = None  # the ReadyQueue of its executor
    instance: Any = None
    busy: bool = False
    deferred: list = field(default_factory=list)
    latest: dict = field(default_factory=dict)  # subscribed topic -> origins of last input
    counters: dict = field(default_factory=dict)
    # The callback now running on this node (set by the worker) and what it produced.
    outputs: list = field(default_factory=list)
    events: list = field(default_factory=list)
    variant: str = ""
    logger: logging.Logger | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def merged_origins(self) -> Origins:
        """Lineage of what this node publishes now: the newest origin of each source."""
        return merge_origins(self.latest)


def merge_origins(latest: dict[str, Origins]) -> Origins:
    """The newest origin of each chain start over a node's latest inputs (fan-in lineage)."""
    if len(latest) <= 1:
        for origins in latest.values():
            return origins
        return {}
    merged: Origins = {}
    for origins in latest.values():
        for src, val in origins.items():
            old = merged.get(src)
            if old is None or val.publish_ns > old.publish_ns:
                merged[src] = val
    return merged


@dataclass(eq=False)
class Subscription:
    node: NodeState
    topic: str
    msgtype: str
    callback: Callable[[Any], None]
    depth: int
    chains: tuple[ChainMembership, ...] = ()
    queue: deque = field(default_factory=deque)
    overwritten: int = 0
    delivered: int = 0
    # serves its node's chains without being a hop of them (a pose the tracker needs): it takes
    # their priority, but its age is not the chain's, so it is never dropped as stale
    side_input: bool = False
    # chain name -> the callbacks an input still goes through on that chain, this one first:
    # one tuple of (node, callback) per hop (the nodes that make the hop's output)
    ahead: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = field(default_factory=dict)

    def lineage(self, origins: Origins) -> Origins:
        """What this input adds to its node's lineage. A side input does not speak for the
        chains it serves: an odometry message carries the lidar sweep its scan match used,
        often newer than the objects being planned on, and would credit the plan to it."""
        return without_chain_starts(origins, self.chains) if self.side_input else origins

    @property
    def name(self) -> str:
        return f"sub:{self.topic}"


def without_chain_starts(origins: Origins, chains: tuple[ChainMembership, ...]) -> Origins:
    """``origins`` less the start topics of ``chains``."""
    starts = {m.start for m in chains}
    return {k: v for k, v in origins.items() if k not in starts}


@dataclass(eq=False)
class Timer:
    node: NodeState
    period_ns: int
    callback: Callable[[], None]
    chains: tuple[ChainMembership, ...] = ()
    due_ns: int = 0  # on the run's clock
    pending: bool = False
    skipped: int = 0

    @property
    def name(self) -> str:
        return f"timer:{getattr(self.callback, '__name__', 'callback')}"


@dataclass(eq=False)
class TopicState:
    """One topic of the graph: who publishes and subscribes it, and where a publish goes."""

    name: str
    msgtype: str
    publishers: list[str] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    chain_ends: list[str] = field(default_factory=list)  # chains ending here
    chain_start: bool = False
    published: int = 0
    # Where a message published here goes: subscriptions run in this process, and the pipes of
    # process executors (stack.executor.process) that subscribe it, or up to the parent.
    local: list[Subscription] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


class Link(Protocol):
    """The pipe to another process's executor: a message published here, handed over."""

    def forward(
        self, topic: str, msgtype: str, msg: Any, origins: Origins, publish_ns: int
    ) -> None: ...
