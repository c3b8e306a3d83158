"""The trace record and the in-process tracer.

On the hot path a record is a plain tuple appended to a list or deque (a few hundred ns under
the GIL, no I/O); ``CallbackRecord`` names its fields for readers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from stack.events import EventKind


class CallbackRecord(NamedTuple):
    node: str
    callback: str
    thread: str
    cpu: int
    start_ns: int  # time.perf_counter_ns at callback start
    end_ns: int
    inputs: tuple  # ((topic, stamp_ns), ...) consumed by this run
    outputs: tuple  # ((topic, publish_ns, origins), ...); origins: {chain start topic: Origin}
    variant: str  # model variant in use, "" for none
    events: tuple  # ((kind, detail), ...): drop, overwrite, deadline_miss, exception, switch


class Origin(NamedTuple):
    """Where a message's lineage starts on one chain: the value of ``origins[start topic]``.

    Made once per input on a chain's start topic and shared, unchanged, by everything that
    derives from it (a tuple: cheap to make, hashable, and pickled into the trace as is).
    """

    stamp_ns: int  # header stamp of the message on the start topic
    publish_ns: int  # time.perf_counter_ns when it was published (or injected) there


Origins = dict[str, Origin]  # a message's lineage: chain start topic -> Origin


#: Event kinds the report counts as lost inputs.
DROP_KINDS = frozenset({EventKind.DROP.value, EventKind.OVERWRITE.value})


def overwrite_detail(topic: str, count: int) -> str:
    return f"{topic} x{count}"


def event_count(detail: str) -> int:
    """How many occurrences one event stands for ("/topic x3" -> 3; anything else -> 1)."""
    _, sep, tail = detail.rpartition(" x")
    if sep and tail.isdigit():
        return int(tail)
    return 1


class Tracer:
    """Collects records in memory; ``TraceWriter`` flushes them to a run directory.

    ``record`` is rebound to the container's ``append`` so that a call from the executor costs
    one builtin call, not a Python frame.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.records = self._new_buffer()
        self.record = self.records.append
        # Queue overwrites already turned into events, keyed by the executor's objects (they
        # hash by identity): subscription -> its count seen, node -> its total seen.
        self._overwrites_seen: dict[Any, int] = {}
        self._node_totals: dict[Any, int] = {}
        self._node_subs: dict[Any, list] = {}

    def _new_buffer(self) -> Any:
        return []

    def drain(self) -> list[tuple]:
        """Take the records collected so far (not safe against a concurrent ``record``)."""
        out, self.records = self.records, self._new_buffer()
        self.record = self.records.append
        return out

    def close(self) -> None:
        """Flush whatever a writer holds (none for the in-memory tracer)."""

    def typed(self) -> list[CallbackRecord]:
        return [CallbackRecord._make(r) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(enabled={self.enabled}, records={len(self)})"

    @staticmethod
    def event(kind: str, detail: Any = "") -> tuple[str, str]:
        return (str(getattr(kind, "value", kind)), str(detail))

    def node_events(self, node: Any, topics: dict) -> tuple:
        """The events of the callback that just ran on ``node``, with the queue overwrites of
        its subscriptions since its previous run.

        The executor counts overwrites where they happen (in the publisher's thread); turning
        the counter change into an event here costs one dict lookup when nothing changed.
        """
        total = node.counters.get("overwrite", 0)
        if total == self._node_totals.get(node, 0):
            return tuple(node.events)
        self._node_totals[node] = total
        return tuple(node.events) + tuple(self._overwrite_events(node, topics))

    def _overwrite_events(self, node: Any, topics: dict) -> list[tuple[str, str]]:
        subs = self._node_subs.get(node)
        if subs is None:
            subs = [s for t in topics.values() for s in t.subscriptions if s.node is node]
            self._node_subs[node] = subs
        events = []
        for sub in subs:
            new = sub.overwritten - self._overwrites_seen.get(sub, 0)
            if new > 0:
                self._overwrites_seen[sub] = sub.overwritten
                events.append((EventKind.OVERWRITE.value, overwrite_detail(sub.topic, new)))
        return events
