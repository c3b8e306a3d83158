"""Nodes used by the executor and graph tests (loaded through allow_external_modules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.node import Context, Node

HEADER = "std_msgs/msg/Header"
LOG: list[tuple[str, Any]] = []  # (node name, what it saw) in execution order


@dataclass
class RecorderParams:
    input: str = "/in"
    output: str = ""
    depth: int = 1
    fail_on: int = -1  # raise on the Nth input (0-based), -1 never


class Recorder(Node):
    """Logs each input's frame_id and forwards it to ``output`` when set."""

    Params = RecorderParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.seen: list[str] = []
        self.pub = ctx.publisher(self.params.output, HEADER) if self.params.output else None
        ctx.subscribe(self.params.input, HEADER, self.on_msg, depth=self.params.depth)

    def on_msg(self, msg: Any) -> None:
        n = len(self.seen)
        self.seen.append(msg.frame_id)
        LOG.append((self.ctx.name, msg.frame_id))
        if n == self.params.fail_on:
            raise RuntimeError(f"boom on input {n}")
        if self.pub is not None:
            self.pub.publish(msg)


@dataclass
class TickerParams:
    period_s: float = 0.1
    output: str = "/tick"


class Ticker(Node):
    """Publishes a Header stamped with the clock at each timer tick."""

    Params = TickerParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.ticks: list[int] = []
        self.pub = ctx.publisher(self.params.output, HEADER)
        ctx.timer(self.params.period_s, self.on_tick)

    def on_tick(self) -> None:
        from stack.msgs import ns_to_stamp

        now = self.now_ns()
        self.ticks.append(now)
        self.pub.publish(
            self.ctx.new(HEADER, stamp=ns_to_stamp(now), frame_id=f"t{len(self.ticks)}")
        )


@dataclass
class FuserParams:
    input: str = "/in"
    side: str = "/pose"
    output: str = "/out"
    fail_on: int = -1


class Fuser(Recorder):
    """A Recorder with a side input (as a tracker reads the ego pose), logged as side:FRAME."""

    Params = FuserParams

    def __init__(self, ctx: Context) -> None:
        Node.__init__(self, ctx)
        self.seen = []
        self.pub = ctx.publisher(self.params.output, HEADER)
        ctx.subscribe(self.params.input, HEADER, self.on_msg, depth=1)
        ctx.subscribe(self.params.side, HEADER, self.on_side, depth=5)

    def on_side(self, msg: Any) -> None:
        LOG.append((self.ctx.name, f"side:{msg.frame_id}"))


class NotANode:
    """A class that is not a Node, to check the launch file rejects it."""
