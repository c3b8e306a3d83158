"""Narrow, typed views of the Runtime, one per user, each with only what that user reads or calls.

The Runtime (stack.executor.runtime) satisfies all of them; each user is typed against its view
rather than the Runtime, so it does not import the runtime (no import cycle) and says exactly
what it depends on:

- ``NodeHost``: the Context a node is built with (stack.executor.context);
- ``HookedRuntime``: the scheduler's hooks (stack.scheduler.hooks);
- ``ProcessParent`` / ``ProcessChild``: the two ends of a process executor (stack.executor.process);
- ``RunResults``: the run directory (stack.trace.rundir) and a child's statistics;
- ``BuiltGraph``: the schedulability simulator (tools.schedsim), which only builds the graph;
- ``BridgedRuntime``: the rclpy bridge (stack.ros.bridge): inputs in, outputs tapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from stack.executor.clock import RunClock
from stack.executor.entities import NodeState, Subscription, Tap, Timer, TopicState
from stack.executor.errors import ExecutorError
from stack.graph import LaunchGraph
from stack.scheduler.policy import Policy
from stack.trace.records import Origins, Tracer

ChainLatencies = Mapping[str, list[tuple[int, int]]]  # chain -> (end publish ns, latency ns)


class BuiltGraph(Protocol):
    """A launch graph with its nodes built: the topics and timers they declared."""

    @property
    def graph(self) -> LaunchGraph: ...

    @property
    def topics(self) -> Mapping[str, TopicState]: ...

    @property
    def timers(self) -> Sequence[Timer]: ...


class RunResults(BuiltGraph, Protocol):
    """What a finished run leaves: trace, chain samples, counters and callback errors."""

    @property
    def tracer(self) -> Tracer: ...

    @property
    def chain_latencies(self) -> ChainLatencies: ...

    @property
    def errors(self) -> list[str]: ...

    def counters(self) -> dict[str, dict[str, int]]: ...


class BridgedRuntime(Protocol):
    """What a bridge to another middleware needs: the topics, a tap on every publish, and
    injecting what comes in."""

    @property
    def topics(self) -> Mapping[str, TopicState]: ...

    @property
    def taps(self) -> list[Tap]: ...

    def inject(self, topic: str, msg: Any) -> None: ...


class NodeHost(Protocol):
    """What a node's Context asks of the runtime while the node is built."""

    @property
    def graph(self) -> LaunchGraph: ...

    @property
    def clock(self) -> RunClock: ...

    def declare_topic(self, topic: str, msgtype: str, node: str, *, publisher: bool) -> None: ...

    def add_subscription(self, sub: Subscription) -> None: ...

    def add_timer(self, timer: Timer) -> None: ...

    def publisher_fn(self, node: NodeState, topic: str) -> Callable[[Any], None]: ...

    def load_engine(self, node: NodeState, model: str | Path, **options: Any) -> Any: ...


class HookedRuntime(Protocol):
    """What the scheduler's hooks read: the graph as built, the policy, and chain samples."""

    @property
    def graph(self) -> LaunchGraph: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def lockstep(self) -> bool: ...

    @property
    def tracer(self) -> Tracer: ...

    @property
    def topics(self) -> Mapping[str, TopicState]: ...

    @property
    def nodes(self) -> Mapping[str, NodeState]: ...

    @property
    def chain_latencies(self) -> ChainLatencies: ...

    @property
    def start_times(self) -> Mapping[str, Sequence[int]]: ...


class ProcessParent(Protocol):
    """The parent's runtime as a process executor's relay sees it."""

    @property
    def graph(self) -> LaunchGraph: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def fail_fast(self) -> bool: ...

    @property
    def tracer(self) -> Tracer: ...

    @property
    def clock(self) -> RunClock: ...

    def publish_from(
        self, source: object, topic: str, msg: Any, origins: Origins, publish_ns: int
    ) -> None: ...

    def fail(self, failure: ExecutorError) -> None: ...


class ProcessChild(RunResults, Protocol):
    """A process executor's own runtime, as the child's pipe loop drives it."""

    @property
    def clock(self) -> RunClock: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def failure(self) -> ExecutorError | None: ...

    def deliver_external(self, topic: str, msg: Any, origins: Origins, publish_ns: int) -> None: ...

    def start(self) -> None: ...

    def request_stop(self) -> None: ...

    def wait_idle(self, timeout_s: float) -> bool: ...

    def shutdown(self, timeout_s: float = ...) -> None: ...


class ChildFactory(Protocol):
    """Builds a process executor's runtime in the child (the Runtime class itself)."""

    def __call__(
        self,
        graph: LaunchGraph,
        clock: RunClock,
        *,
        policy: str,
        tracer: Tracer,
        fail_fast: bool,
        uplink: Any,
    ) -> ProcessChild: ...
