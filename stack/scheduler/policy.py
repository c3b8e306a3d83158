"""Ordering policies for the ready queue.

A ready item's key is ``(neg_priority, deadline_ns)``; smaller runs first and a sequence number
breaks ties in arrival order. FIFO (what the default ROS 2 executor does) gives every item the same
key, so arrival order alone decides. The chain policy orders by chain priority, then by the
earliest absolute deadline: the chain start's publish time plus the chain budget. A callback on
several chains takes its most urgent key.

The chain policy also judges staleness at dequeue: an input whose age (now minus its chain
start's publish time) exceeds the chain budget cannot make its deadline on any chain it serves,
so running it would only delay fresher work. While a newer input waits behind it, the work
still ahead of it on the chain counts too (the recent mean run time of this callback and of each
later hop's, no waits: stack.scheduler.hooks). FIFO keeps everything, as ROS 2 does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stack.trace.records import Origin, Origins

NO_DEADLINE = 1 << 62
_STAMP = Origin._fields.index("stamp_ns")
_PUBLISH = Origin._fields.index("publish_ns")


class PolicyKind(str, enum.Enum):
    FIFO = "fifo"
    CHAIN = "l4"


@dataclass(frozen=True)
class ChainMembership:
    """A callback's place on one chain: the chain's priority, start topic and budget."""

    chain: str
    priority: int
    start: str
    budget_ns: int


class Policy(Protocol):
    kind: PolicyKind

    def message_key(
        self, chains: tuple[ChainMembership, ...], origins: Origins
    ) -> tuple[int, int]: ...

    def timer_key(
        self, chains: tuple[ChainMembership, ...], due_mono_ns: int
    ) -> tuple[int, int]: ...

    def stale(
        self,
        chains: tuple[ChainMembership, ...],
        origins: Origins,
        now_ns: int,
        ahead_ns: Mapping[str, int] | None = None,
    ) -> tuple[ChainMembership, int] | None: ...


class FifoPolicy:
    kind = PolicyKind.FIFO

    def message_key(self, chains: tuple[ChainMembership, ...], origins: Origins) -> tuple[int, int]:
        return (0, 0)

    def timer_key(self, chains: tuple[ChainMembership, ...], due_mono_ns: int) -> tuple[int, int]:
        return (0, 0)

    def stale(
        self,
        chains: tuple[ChainMembership, ...],
        origins: Origins,
        now_ns: int,
        ahead_ns: Mapping[str, int] | None = None,
    ) -> tuple[ChainMembership, int] | None:
        return None


class ChainPolicy:
    kind = PolicyKind.CHAIN

    def __init__(self, stamp_deadlines: bool = False) -> None:
        # Deadlines count from the chain start's publish time (Origin.publish_ns). Lockstep runs
        # count from its header stamp (Origin.stamp_ns) so the order never depends on wall
        # timing. The field's position, as indexing is the cheapest read on this path.
        self.time_index = _STAMP if stamp_deadlines else _PUBLISH

    def message_key(self, chains: tuple[ChainMembership, ...], origins: Origins) -> tuple[int, int]:
        best = (0, NO_DEADLINE)
        index = self.time_index
        for m in chains:
            origin = origins.get(m.start)
            deadline = origin[index] + m.budget_ns if origin is not None else NO_DEADLINE
            key = (-m.priority, deadline)
            if key < best:
                best = key
        return best

    def timer_key(self, chains: tuple[ChainMembership, ...], due_mono_ns: int) -> tuple[int, int]:
        best = (0, NO_DEADLINE)
        for m in chains:
            key = (-m.priority, due_mono_ns + m.budget_ns)
            if key < best:
                best = key
        return best

    def stale(
        self,
        chains: tuple[ChainMembership, ...],
        origins: Origins,
        now_ns: int,
        ahead_ns: Mapping[str, int] | None = None,
    ) -> tuple[ChainMembership, int] | None:
        """(chain, age ns) if the input's age plus the work still ahead of it on each chain it
        serves (``ahead_ns`` by chain name; none known: 0) is past that chain's budget, else
        None.

        An input with no lineage for one of its chains (it did not come from that chain's
        start) is never stale: there is nothing to measure its age against.
        """
        verdict = None
        ahead = ahead_ns or {}
        for m in chains:
            origin = origins.get(m.start)
            if origin is None:
                return None
            age = now_ns - origin.publish_ns
            if age + ahead.get(m.chain, 0) <= m.budget_ns:
                return None
            if verdict is None or m.priority > verdict[0].priority:
                verdict = (m, age)
        return verdict


def make_policy(kind: str | PolicyKind, *, lockstep: bool = False) -> Policy:
    """The policy of ``kind``; in lockstep, deadlines count from header stamps (deterministic)."""
    kind = PolicyKind(kind)
    return FifoPolicy() if kind is PolicyKind.FIFO else ChainPolicy(stamp_deadlines=lockstep)
