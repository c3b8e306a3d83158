"""Nodes for the replay tests (loaded through allow_external_modules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.node import Context, Node


@dataclass
class ProbeParams:
    input: str = "/in"
    msgtype: str = "sensor_msgs/msg/Imu"


class Probe(Node):
    """Keeps every message it receives, and the clock time it arrived at."""

    Params = ProbeParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.received: list[Any] = []
        self.times: list[int] = []
        ctx.subscribe(self.params.input, self.params.msgtype, self.on_input, depth=100)

    def on_input(self, msg: Any) -> None:
        self.received.append(msg)
        self.times.append(self.now_ns())


@dataclass
class MutateParams:
    input: str = "/in"
    output: str = "/out"
    msgtype: str = "sensor_msgs/msg/Imu"


class Mutate(Node):
    """Edits the header of what it receives in place and republishes it (a contract breach)."""

    Params = MutateParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pub = ctx.publisher(self.params.output, self.params.msgtype)
        ctx.subscribe(self.params.input, self.params.msgtype, self.on_input)

    def on_input(self, msg: Any) -> None:
        msg.header.frame_id = "mutated"
        self.pub.publish(msg)


@dataclass
class BoomParams:
    input: str = "/in"
    output: str = "/out"
    msgtype: str = "sensor_msgs/msg/Imu"
    after: int = 5


class Boom(Node):
    """Forwards ``after`` messages, then raises on every later one."""

    Params = BoomParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.seen = 0
        self.pub = ctx.publisher(self.params.output, self.params.msgtype)
        ctx.subscribe(self.params.input, self.params.msgtype, self.on_input)

    def on_input(self, msg: Any) -> None:
        self.seen += 1
        if self.seen > self.params.after:
            raise RuntimeError(f"boom at message {self.seen}")
        self.pub.publish(msg)
