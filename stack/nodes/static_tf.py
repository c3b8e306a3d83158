"""StaticTransformPublisher node: fixed transforms on /tf_static from parameters, as
tf2_ros's ``static_transform_publisher`` gives them (parent, child, translation, and the rotation
as roll/pitch/yaw or as a quaternion).

Use it for a log whose /tf_static lacks a sensor's mounting (an IMU mounted rotated):

    imu_mount:
      class: stack.nodes.static_tf:StaticTransformPublisher
      params: {parent: base_link, child: imu_link, rpy: [1.5708, 0, -1.5708]}

ROS publishes /tf_static once with transient-local ("latched") durability, so that a late
subscriber still gets it. The embedded bus has no late subscribers (every subscription exists
before the run starts) and no durability, so the node publishes once, at its first timer tick
(``delay_s`` after the start); ``republish_s`` > 0 repeats it, for a consumer that joins later
(a bridged ROS graph without transient-local QoS on /tf_static).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stack import topics
from stack.errors import ParamError
from stack.node import Context, Node
from stack.params import length, non_negative, positive


def quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of the fixed-axis roll-pitch-yaw rotation (REP 103, as tf2's setRPY)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    )


@dataclass
class StaticTransformParams:
    parent: str = topics.FRAME_BASE
    child: str = ""
    translation: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # m, x y z
    rpy: list[float] = field(default_factory=list)  # rad: roll, pitch, yaw (fixed axes)
    quaternion: list[float] = field(default_factory=list)  # x, y, z, w (normalised here)
    delay_s: float = 0.05  # the first (and usually only) publish, after the start
    republish_s: float = 0.0  # > 0: publish again this often

    def validate(self) -> None:
        if not self.child:
            raise ParamError("child must name the child frame (got '')")
        if self.child.lstrip("/") == self.parent.lstrip("/"):
            raise ParamError(f"child must differ from parent (got {self.child!r} for both)")
        length("translation", self.translation, 3, "[x, y, z]")
        if self.rpy and self.quaternion:
            raise ParamError("give rpy or quaternion, not both")
        if self.rpy:
            length("rpy", self.rpy, 3, "[roll, pitch, yaw]")
        if self.quaternion:
            length("quaternion", self.quaternion, 4, "[x, y, z, w]")
            norm = math.sqrt(sum(float(v) ** 2 for v in self.quaternion))
            if not math.isfinite(norm) or norm < 1e-6:
                raise ParamError(f"quaternion must have a rotation (got {self.quaternion!r})")
        for i, v in enumerate([*self.translation, *self.rpy]):
            if not math.isfinite(float(v)):
                raise ParamError(f"translation/rpy value {i} must be finite (got {v!r})")
        positive("delay_s", self.delay_s)
        non_negative("republish_s", self.republish_s)

    def rotation(self) -> tuple[float, float, float, float]:
        if self.quaternion:
            q = [float(v) for v in self.quaternion]
            norm = math.sqrt(sum(v * v for v in q))
            return q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm
        return quaternion_from_rpy(*(float(v) for v in self.rpy)) if self.rpy else (0, 0, 0, 1.0)


class StaticTransformPublisher(Node):
    """Publishes one parent->child transform on /tf_static."""

    Params = StaticTransformParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: StaticTransformParams
        self.pub = ctx.publisher(topics.TF_STATIC, "tf2_msgs/msg/TFMessage")
        self.published_ns: int | None = None
        ctx.timer(self.params.delay_s, self.on_timer)

    def on_timer(self) -> None:
        now = self.ctx.clock.now_ns()
        again = self.params.republish_s
        if self.published_ns is None or (again > 0 and now - self.published_ns >= again * 1e9):
            self.pub.publish(self.message(now))
            self.published_ns = now

    def message(self, stamp_ns: int) -> Any:
        new, p = self.ctx.new, self.params
        qx, qy, qz, qw = p.rotation()
        tx, ty, tz = (float(v) for v in p.translation)
        stamp = new("builtin_interfaces/msg/Time", sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        transform = new(
            "geometry_msgs/msg/TransformStamped",
            header=new("std_msgs/msg/Header", stamp=stamp, frame_id=p.parent.lstrip("/")),
            child_frame_id=p.child.lstrip("/"),
            transform=new(
                "geometry_msgs/msg/Transform",
                translation=new("geometry_msgs/msg/Vector3", x=tx, y=ty, z=tz),
                rotation=new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
            ),
        )
        return new("tf2_msgs/msg/TFMessage", transforms=[transform])
