"""A tiny stand-in for the executor's Context: records publications, lets tests call callbacks."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stack import msgs
from stack.events import EventKind, kind_value


@dataclass
class FakeClock:
    ns: int = 0

    def now_ns(self) -> int:
        return self.ns


@dataclass
class FakePublisher:
    topic: str
    msgtype: str
    sent: list = field(default_factory=list)
    bus: Any = None

    def publish(self, msg: Any) -> None:
        self.sent.append(msg)
        if self.bus is not None:
            self.bus.deliver(self.topic, msg)


class FakeBus:
    """Connects fake contexts: a publication runs every subscriber at once, depth first (like
    a lockstep replay), so a chain of nodes can be driven from recorded inputs."""

    def __init__(self) -> None:
        self.contexts: list[FakeContext] = []

    def add(self, node_cls: type, **params: Any) -> tuple[Any, FakeContext]:
        ctx = FakeContext(node_cls.Params(**params), name=node_cls.__name__, bus=self)
        node = node_cls(ctx)
        self.contexts.append(ctx)
        return node, ctx

    def deliver(self, topic: str, msg: Any) -> None:
        for ctx in self.contexts:
            if topic in ctx.callbacks:
                ctx.callbacks[topic](msg)


class FakeContext:
    def __init__(self, params: Any, name: str = "node", bus: FakeBus | None = None) -> None:
        self.bus = bus
        self.name = name
        self.params = params
        self.logger = logging.getLogger(name)
        self.clock = FakeClock()
        self.publishers: dict[str, FakePublisher] = {}
        self.callbacks: dict[str, Callable[[Any], None]] = {}
        self.depths: dict[str, int] = {}
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.events: list[tuple[str, str]] = []
        self.event_counts: dict[str, int] = defaultdict(int)

    def publisher(self, topic: str, msgtype: str) -> FakePublisher:
        pub = FakePublisher(topic, msgtype, bus=self.bus)
        self.publishers[topic] = pub
        return pub

    def subscribe(self, topic: str, msgtype: str, callback: Callable, depth: int = 1) -> None:
        self.callbacks[topic] = callback
        self.depths[topic] = depth

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self.timers.append((period_s, callback))

    # The factory itself, not a method calling it: nodes build ~190 messages a frame.
    new = staticmethod(msgs.new)

    def engine(self, model: str, **options: Any) -> Any:
        raise NotImplementedError("no engines in the fake context")

    def event(self, kind: EventKind, detail: str = "") -> None:
        value = kind_value(kind, self.name)  # a plain "drop" fails, as in the embedded context
        self.events.append((value, detail))
        self.event_counts[value] += 1

    # test helpers
    def deliver(self, topic: str, msg: Any) -> None:
        """Run the subscription callback of ``topic`` with ``msg``, as the executor would."""
        self.callbacks[topic](msg)

    def sent(self, topic: str) -> list:
        return self.publishers[topic].sent


def make_node(node_cls: type, **params: Any) -> tuple[Any, FakeContext]:
    ctx = FakeContext(node_cls.Params(**params), name=node_cls.__name__)
    return node_cls(ctx), ctx


def header(stamp_ns: int, frame_id: str) -> Any:
    return msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(stamp_ns), frame_id=frame_id)


def pose(x: float = 0.0, y: float = 0.0, yaw: float = 0.0) -> Any:
    """A geometry_msgs/Pose at (x, y) heading ``yaw``."""
    from perception.geometry import yaw_to_quaternion

    qx, qy, qz, qw = yaw_to_quaternion(yaw)
    return msgs.new(
        "geometry_msgs/msg/Pose",
        position=msgs.new("geometry_msgs/msg/Point", x=x, y=y),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
    )


def odometry(
    stamp_ns: int,
    x: float = 0.0,
    y: float = 0.0,
    yaw: float = 0.0,
    v: float = 0.0,
    frame_id: str = "map",
    child_frame_id: str = "base_link",
) -> Any:
    """A nav_msgs/Odometry: pose (x, y, yaw) in ``frame_id``, forward speed ``v``."""
    return msgs.new(
        "nav_msgs/msg/Odometry",
        header=header(stamp_ns, frame_id),
        child_frame_id=child_frame_id,
        pose=msgs.new("geometry_msgs/msg/PoseWithCovariance", pose=pose(x, y, yaw)),
        twist=msgs.new(
            "geometry_msgs/msg/TwistWithCovariance",
            twist=msgs.new(
                "geometry_msgs/msg/Twist", linear=msgs.new("geometry_msgs/msg/Vector3", x=v)
            ),
        ),
    )


def tf_static(
    child: str,
    xyz: tuple[float, float, float],
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
    parent: str = "base_link",
) -> Any:
    """A tf2_msgs/TFMessage with one parent -> child transform; ``quat`` is (x, y, z, w)."""
    (x, y, z), (qx, qy, qz, qw) = xyz, quat
    ts = msgs.new(
        "geometry_msgs/msg/TransformStamped",
        header=msgs.new("std_msgs/msg/Header", frame_id=parent),
        child_frame_id=child,
        transform=msgs.new(
            "geometry_msgs/msg/Transform",
            translation=msgs.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            rotation=msgs.new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        ),
    )
    return msgs.new("tf2_msgs/msg/TFMessage", transforms=[ts])
