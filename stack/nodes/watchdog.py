"""The control watchdog: commands a safe stop when no fresh control output arrives in time.

It subscribes to the controller's AckermannDriveStamped and checks at ``check_rate_hz`` how old
the newest command is (clock now minus its ``header.stamp``, which carries the sensor time
through the graph). Past ``deadline_ms`` -- or with no command at all ``deadline_ms`` after
start -- every check publishes the safe-stop command (speed 0, full braking) and an ERROR
diagnostic, until a fresh command returns; then one OK diagnostic says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack import topics
from stack.events import EventKind
from stack.msgs import ns_to_stamp, stamp_to_ns
from stack.node import Context, Node
from stack.params import positive

ACKERMANN = "ackermann_msgs/msg/AckermannDriveStamped"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"
STATUS = "diagnostic_msgs/msg/DiagnosticStatus"
KEY_VALUE = "diagnostic_msgs/msg/KeyValue"
OK, ERROR = "OK", "ERROR"  # DiagnosticStatus level constants, read from the message class


@dataclass
class WatchdogParams:
    input: str = topics.CONTROL_COMMAND
    output: str = topics.SAFE_STOP
    diagnostics: str = topics.DIAGNOSTICS
    deadline_ms: float = 200.0
    check_rate_hz: float = 50.0
    max_decel: float = 6.0  # m/s^2, commanded as a negative acceleration
    frame_id: str = topics.FRAME_BASE
    name: str = "l4/control_watchdog"
    hardware_id: str = "l4stack"

    def validate(self) -> None:
        positive("deadline_ms", self.deadline_ms)
        positive("check_rate_hz", self.check_rate_hz)
        positive("max_decel", self.max_decel)  # a magnitude


class ControlWatchdog(Node):
    Params = WatchdogParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p = self.params
        self.deadline_ns = int(p.deadline_ms * 1e6)
        self.stop_pub = ctx.publisher(p.output, ACKERMANN)
        self.diag_pub = ctx.publisher(p.diagnostics, DIAGNOSTICS)
        ctx.subscribe(p.input, ACKERMANN, self.on_command, depth=1)
        ctx.timer(1.0 / p.check_rate_hz, self.check)
        self.started_ns = self.now_ns()
        self.last_stamp_ns: int | None = None
        self.tripped = False
        self.trips = 0
        self.safe_stops = 0

    def on_command(self, msg: Any) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        if self.last_stamp_ns is None or stamp > self.last_stamp_ns:
            self.last_stamp_ns = stamp
        if self.tripped and self._age_ns(self.now_ns()) <= self.deadline_ns:
            self._clear()

    def check(self) -> None:
        now = self.now_ns()
        age = self._age_ns(now)
        if age <= self.deadline_ns:
            if self.tripped:
                self._clear()
            return
        if not self.tripped:
            self.tripped = True
            self.trips += 1
            self.ctx.event(
                EventKind.DEADLINE_MISS, f"no fresh {self.params.input} for {age / 1e6:.0f} ms"
            )
            self.log.error(
                "no fresh control command for %.0f ms (deadline %g ms): commanding safe stop",
                age / 1e6,
                self.params.deadline_ms,
            )
        self._safe_stop(now)
        self._diagnose(now, ERROR, self._stale_text(age), age)

    def _age_ns(self, now: int) -> int:
        # Before the first command the watchdog counts from its own start.
        ref = self.last_stamp_ns if self.last_stamp_ns is not None else self.started_ns
        return now - ref

    def _stale_text(self, age: int) -> str:
        if self.last_stamp_ns is None:
            return f"no control command received ({age / 1e6:.0f} ms since start)"
        return f"control command {age / 1e6:.0f} ms old (deadline {self.params.deadline_ms:g} ms)"

    def _clear(self) -> None:
        self.tripped = False
        now = self.now_ns()
        self.log.info("fresh control command again: safe stop released")
        self._diagnose(now, OK, "control command fresh", self._age_ns(now))

    def _safe_stop(self, now: int) -> None:
        p = self.params
        ctx = self.ctx
        drive = ctx.new("ackermann_msgs/msg/AckermannDrive", speed=0.0, acceleration=-p.max_decel)
        self.stop_pub.publish(ctx.new(ACKERMANN, header=self._header(now), drive=drive))
        self.safe_stops += 1

    def _diagnose(self, now: int, level: str, message: str, age: int) -> None:
        p = self.params
        ctx = self.ctx
        values = [
            ctx.new(KEY_VALUE, key="age_ms", value=f"{age / 1e6:.1f}"),
            ctx.new(KEY_VALUE, key="deadline_ms", value=f"{p.deadline_ms:g}"),
            ctx.new(KEY_VALUE, key="topic", value=p.input),
        ]
        status = ctx.new(STATUS, name=p.name, message=message, hardware_id=p.hardware_id)
        # The constant, not a literal: rclpy types the level as bytes, rosbags as int.
        status.level = getattr(status, level)
        status.values = values
        self.diag_pub.publish(ctx.new(DIAGNOSTICS, header=self._header(now), status=[status]))

    def _header(self, now: int) -> Any:
        return self.ctx.new(
            "std_msgs/msg/Header", stamp=ns_to_stamp(now), frame_id=self.params.frame_id
        )
