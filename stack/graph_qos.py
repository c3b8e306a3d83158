"""Per-topic ROS 2 QoS of a launch file (`qos:`), used where the graph meets rclpy.

    qos:
      /sensing/lidar/points: {reliability: best_effort, depth: 2}
      /tf_static: {durability: transient_local}

Every key is optional; what a topic leaves out comes from its default (``default_qos``):
an input from the vehicle (a topic the graph subscribes to) is best effort, volatile, keep last
-- a best-effort subscription connects to reliable and best-effort publishers alike, a reliable
one never to a best-effort sensor driver; an output is reliable, volatile, keep last 10; and
``/tf_static`` is reliable and transient local both ways, as tf2's static broadcaster publishes
it (its subscription keeps 100, as tf2's static listener does), so transforms published before
the graph started still arrive.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stack.graph_errors import GraphError
from stack.graph_values import expect_int
from stack.params import parse_enum
from stack.topics import TF_STATIC

QOS_KEYS = ("reliability", "durability", "history", "depth")
INPUT_MIN_DEPTH = 5  # rclpy's qos_profile_sensor_data keeps 5
OUTPUT_DEPTH = 10
TF_STATIC_PUB_DEPTH = 1  # tf2_ros StaticBroadcasterQoS
TF_STATIC_SUB_DEPTH = 100  # tf2_ros StaticListenerQoS


class Reliability(enum.Enum):
    RELIABLE = "reliable"
    BEST_EFFORT = "best_effort"


class Durability(enum.Enum):
    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"


class History(enum.Enum):
    KEEP_LAST = "keep_last"
    KEEP_ALL = "keep_all"


class Role(enum.Enum):
    """Which end of a topic the graph is: it subscribes (an input) or publishes (an output)."""

    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True)
class Qos:
    reliability: Reliability
    durability: Durability
    history: History
    depth: int


@dataclass(frozen=True)
class QosOverride:
    """What the launch file says about one topic; None keeps the default."""

    reliability: Reliability | None = None
    durability: Durability | None = None
    history: History | None = None
    depth: int | None = None

    def apply(self, base: Qos) -> Qos:
        given = {k: getattr(self, k) for k in QOS_KEYS if getattr(self, k) is not None}
        return replace(base, **given)


def parse_qos(source: str, raw: Any) -> dict[str, QosOverride]:
    """The `qos:` section: topic -> QosOverride; every key and value checked."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise GraphError(f"{source}: qos: expected a mapping of topic -> settings, got {raw!r}")
    out = {}
    for topic, body in raw.items():
        where = f"{source}: qos.{topic}"
        if not isinstance(topic, str) or not topic.startswith("/"):
            raise GraphError(f"{source}: qos: topic {topic!r} must be an absolute name (/...)")
        if not isinstance(body, Mapping):
            raise GraphError(f"{where}: expected a mapping of {list(QOS_KEYS)}, got {body!r}")
        unknown = sorted(set(body) - set(QOS_KEYS))
        if unknown:
            raise GraphError(f"{where}: unknown key {unknown[0]!r}; known keys: {list(QOS_KEYS)}")
        out[topic] = QosOverride(
            reliability=_enum(where, body, "reliability", Reliability),
            durability=_enum(where, body, "durability", Durability),
            history=_enum(where, body, "history", History),
            depth=None if "depth" not in body else expect_int(f"{where}.depth", body["depth"], 1),
        )
    return out


def _enum(where: str, body: Mapping, key: str, kind: type[enum.Enum]) -> Any:
    if key not in body:
        return None
    return parse_enum(kind, body[key], f"{where}.{key}", GraphError)


def default_qos(topic: str, role: Role, queue_depth: int = 1) -> Qos:
    """The QoS a topic gets when the launch file says nothing about it."""
    if topic == TF_STATIC:
        depth = TF_STATIC_SUB_DEPTH if role is Role.INPUT else TF_STATIC_PUB_DEPTH
        return Qos(Reliability.RELIABLE, Durability.TRANSIENT_LOCAL, History.KEEP_LAST, depth)
    if role is Role.INPUT:
        depth = max(queue_depth, INPUT_MIN_DEPTH)
        return Qos(Reliability.BEST_EFFORT, Durability.VOLATILE, History.KEEP_LAST, depth)
    return Qos(Reliability.RELIABLE, Durability.VOLATILE, History.KEEP_LAST, OUTPUT_DEPTH)


def topic_qos(
    overrides: Mapping[str, QosOverride], topic: str, role: Role, queue_depth: int = 1
) -> Qos:
    base = default_qos(topic, role, queue_depth)
    override = overrides.get(topic)
    return override.apply(base) if override is not None else base
