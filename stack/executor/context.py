"""The Context the embedded executor gives each node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack import msgs
from stack.events import EventKind, kind_value
from stack.executor.entities import NodeState, Subscription, Timer
from stack.executor.errors import ExecutorError
from stack.executor.view import NodeHost
from stack.graph import resolve_path, resolve_topic


class EmbeddedPublisher:
    """``publish(msg)`` is the runtime's publish function itself: no extra call per message."""

    __slots__ = ("msgtype", "node", "publish", "topic")

    def __init__(self, runtime: NodeHost, node: NodeState, topic: str, msgtype: str) -> None:
        self.topic = topic
        self.msgtype = msgtype
        self.node = node
        self.publish: Callable[[Any], None] = runtime.publisher_fn(node, topic)


class EmbeddedContext:
    """Implements stack.node.Context on top of the runtime (its NodeHost view)."""

    def __init__(self, runtime: NodeHost, state: NodeState) -> None:
        self._runtime = runtime
        self._state = state
        self.name = state.name
        self.params = state.spec.params
        self.logger = state.logger
        self.clock = runtime.clock

    def _topic(self, name: str) -> str:
        topic = resolve_topic(name)
        return self._state.spec.remap.get(topic, topic)

    def publisher(self, topic: str, msgtype: str) -> EmbeddedPublisher:
        topic = self._topic(topic)
        msgtype = msgs.factory.normalize_typename(msgtype)
        self._runtime.declare_topic(topic, msgtype, self.name, publisher=True)
        return EmbeddedPublisher(self._runtime, self._state, topic, msgtype)

    def subscribe(
        self, topic: str, msgtype: str, callback: Callable[[Any], None], depth: int = 1
    ) -> None:
        if depth < 1:
            raise ExecutorError(f"node {self.name}: subscription {topic!r}: depth must be >= 1")
        topic = self._topic(topic)
        msgtype = msgs.factory.normalize_typename(msgtype)
        self._runtime.declare_topic(topic, msgtype, self.name, publisher=False)
        sub = Subscription(self._state, topic, msgtype, callback, depth)
        self._runtime.add_subscription(sub)

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        if period_s <= 0:
            raise ExecutorError(f"node {self.name}: timer period must be > 0, got {period_s}")
        self._runtime.add_timer(Timer(self._state, int(period_s * 1e9), callback))

    # The factory itself, not a method calling it: nodes build ~190 messages a frame.
    new = staticmethod(msgs.new)

    def engine(self, model: str | Path, **options: Any) -> Any:
        return self._runtime.load_engine(self._state, model, **options)

    def resolve_path(self, path: str | Path) -> Path:
        return resolve_path(self._runtime.graph.source, path)

    def event(self, kind: EventKind, detail: str = "") -> None:
        value = kind_value(kind, self.name)  # "drop" (a str) is refused, loudly
        self._state.events.append((value, str(detail)))
        self._state.count(value)

    def set_variant(self, variant: str) -> None:
        """Name the model variant the node now uses (shown in the trace and report)."""
        self._state.variant = variant
