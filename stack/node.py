"""The Node base class and the Context a node is constructed with.

A node declares publishers, subscriptions, timers and typed parameters in ``__init__`` and
does its work in callbacks. It never creates threads, never sleeps and never imports rclpy, so
the same class runs under the embedded executor, in replay and as an rclpy node.

    @dataclass
    class DetectorParams:
        score_threshold: float = 0.3

    class Detector(Node):
        Params = DetectorParams

        def __init__(self, ctx: Context) -> None:
            super().__init__(ctx)
            self.pub = ctx.publisher("objects", "autoware_perception_msgs/msg/DetectedObjects")
            ctx.subscribe("image", "sensor_msgs/msg/Image", self.on_image, depth=1)

        def on_image(self, msg) -> None:
            out = self.ctx.new("autoware_perception_msgs/msg/DetectedObjects", header=msg.header)
            self.pub.publish(out)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from stack.errors import ParamError
from stack.events import EventKind


@dataclass
class NoParams:
    """Parameters of a node that takes none."""


class Clock(Protocol):
    """Time source of a run: wall time, or simulated time driven by a bag or a test."""

    def now_ns(self) -> int: ...


class NodeLogger(Protocol):
    """What node code logs through (``self.log``): ``logging.Logger``'s calling convention,
    %-style arguments included; under rclpy a facade gives rclpy's logger one string
    (stack.ros.logger)."""

    def debug(self, msg: object, *args: Any, exc_info: Any = ...) -> None: ...

    def info(self, msg: object, *args: Any, exc_info: Any = ...) -> None: ...

    def warning(self, msg: object, *args: Any, exc_info: Any = ...) -> None: ...

    def error(self, msg: object, *args: Any, exc_info: Any = ...) -> None: ...

    def exception(self, msg: object, *args: Any, exc_info: Any = ...) -> None: ...


class Publisher(Protocol):
    topic: str
    msgtype: str

    def publish(self, msg: Any) -> None: ...


class Context(Protocol):
    """What a node gets from whatever runs it (embedded executor, replay or rclpy)."""

    name: str
    params: Any
    logger: NodeLogger
    clock: Clock

    def publisher(self, topic: str, msgtype: str) -> Publisher: ...

    def subscribe(
        self, topic: str, msgtype: str, callback: Callable[[Any], None], depth: int = 1
    ) -> None: ...

    def timer(self, period_s: float, callback: Callable[[], None]) -> None: ...

    def new(self, msgtype: str, **fields: Any) -> Any: ...

    def engine(self, model: str, **options: Any) -> Any:
        """An inference engine for ``model``; ``options`` are the flat names of
        stack.engine.EngineOptions (backend, precision, intra_op_threads, ...), an unknown
        one is refused by name."""
        ...

    def resolve_path(self, path: str) -> Any:
        """A path from the node's parameters: relative ones mean beside the launch file."""
        ...

    def event(self, kind: EventKind, detail: str = "") -> None:
        """Record a counted, traced event (e.g. ``EventKind.DROP`` for a bad input, the detail
        naming the topic and why) on the running callback; a kind that is not an EventKind
        is an error."""
        ...


class Node:
    """Base class of every l4stack node; subclasses set ``Params`` to their parameter dataclass."""

    Params: ClassVar[type] = NoParams

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.params = ctx.params
        self.log = ctx.logger

    def now_ns(self) -> int:
        return self.ctx.clock.now_ns()


def param_fields(params_cls: type) -> dict[str, dataclasses.Field]:
    """The declared parameters of a node's Params dataclass, by name."""
    if not dataclasses.is_dataclass(params_cls):
        raise ParamError(f"{params_cls.__name__}: a node's Params must be a dataclass")
    return {f.name: f for f in dataclasses.fields(params_cls)}
