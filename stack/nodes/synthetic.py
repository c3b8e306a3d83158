"""Synthetic nodes for the built-in demo graph, tests and benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from stack import topics
from stack.msgs import ns_to_stamp
from stack.node import Context, Node
from stack.params import at_least, non_negative, positive

IMAGE = "sensor_msgs/msg/Image"


@dataclass
class SourceParams:
    topic: str = "/sensor/image"
    rate_hz: float = 10.0
    width: int = 64
    height: int = 48
    frame_id: str = "camera"

    def validate(self) -> None:
        positive("rate_hz", self.rate_hz)
        at_least("width", self.width, 1)
        at_least("height", self.height, 1)


class SyntheticCamera(Node):
    """A camera driver stand-in: a bgr8 image at ``rate_hz`` stamped with the clock."""

    Params = SourceParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.pub = ctx.publisher(p.topic, IMAGE)
        self.seq = 0
        self.pixels = np.zeros(p.width * p.height * 3, dtype=np.uint8)
        ctx.timer(1.0 / p.rate_hz, self.tick)

    def tick(self) -> None:
        p = self.params
        self.seq += 1
        self.pixels[:] = self.seq % 256
        header = self.ctx.new(
            "std_msgs/msg/Header", stamp=ns_to_stamp(self.now_ns()), frame_id=p.frame_id
        )
        msg = self.ctx.new(
            IMAGE,
            header=header,
            height=p.height,
            width=p.width,
            encoding="bgr8",
            step=p.width * 3,
            data=self.pixels.copy(),
        )
        self.pub.publish(msg)


@dataclass
class WorkParams:
    input: str = "/in"
    output: str = "/out"
    msgtype: str = IMAGE
    work_ms: float = 1.0
    depth: int = 1

    def validate(self) -> None:
        non_negative("work_ms", self.work_ms)
        at_least("depth", self.depth, 1)


def spin_for(ms: float) -> None:
    """Hold the CPU (and the GIL) for ``ms``, as a pure-Python algorithm would."""
    if ms <= 0:
        return
    end = time.perf_counter_ns() + int(ms * 1e6)
    while time.perf_counter_ns() < end:
        pass


class Work(Node):
    """Processing stand-in: spends ``work_ms`` of CPU per input and forwards it (stamp kept)."""

    Params = WorkParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.pub = ctx.publisher(p.output, p.msgtype)
        ctx.subscribe(p.input, p.msgtype, self.on_input, depth=p.depth)

    def on_input(self, msg: Any) -> None:
        spin_for(self.params.work_ms)
        self.pub.publish(msg)


@dataclass
class SinkParams:
    input: str = "/out"
    msgtype: str = IMAGE
    depth: int = 10


class Sink(Node):
    """Counts what arrives and the age of each input (clock now minus header.stamp)."""

    Params = SinkParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.received = 0
        self.stamps: list[int] = []
        ctx.subscribe(
            self.params.input, self.params.msgtype, self.on_input, depth=self.params.depth
        )

    def on_input(self, msg: Any) -> None:
        self.received += 1
        header = getattr(msg, "header", None)
        if header is not None:
            self.stamps.append(header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)


@dataclass
class HeartbeatParams:
    topic: str = "/heartbeat"
    rate_hz: float = 100.0
    frame_id: str = topics.FRAME_BASE

    def validate(self) -> None:
        positive("rate_hz", self.rate_hz)


class Heartbeat(Node):
    """A minimal source: a std_msgs/Header stamped with the clock at ``rate_hz``."""

    Params = HeartbeatParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pub = ctx.publisher(self.params.topic, "std_msgs/msg/Header")
        self.count = 0
        ctx.timer(1.0 / self.params.rate_hz, self.tick)

    def tick(self) -> None:
        self.count += 1
        self.pub.publish(
            self.ctx.new(
                "std_msgs/msg/Header",
                stamp=ns_to_stamp(self.now_ns()),
                frame_id=self.params.frame_id,
            )
        )
