from __future__ import annotations

import pytest

from stack.executor import Runtime, SimClock
from stack.graph import GraphError, parse_graph
from stack.msgs import new, ns_to_stamp, stamp_to_ns

MS = 1_000_000
T0 = 1_000 * 1_000_000_000  # clock start: 1000 s


def watchdog(params: str = "") -> tuple[Runtime, list]:
    text = f"""
nodes:
  watchdog:
    class: stack.nodes.watchdog:ControlWatchdog
    params: {{deadline_ms: 100, check_rate_hz: 50{params}}}
"""
    rt = Runtime(
        parse_graph(text, "w.yaml"), SimClock(T0), lockstep=True,
        external_topics=("/control/command",),
    )  # fmt: skip
    out: list = []
    rt.taps.append(lambda topic, msg, t: out.append((topic, msg)))
    rt.start_timers()
    return rt, out


def command(stamp_ns: int):
    header = new("std_msgs/msg/Header", stamp=ns_to_stamp(stamp_ns), frame_id="base_link")
    drive = new("ackermann_msgs/msg/AckermannDrive", speed=8.0, acceleration=0.5)
    return new("ackermann_msgs/msg/AckermannDriveStamped", header=header, drive=drive)


def send(rt: Runtime, stamp_ns: int) -> None:
    rt.inject("/control/command", command(stamp_ns))
    rt.run_until_idle()


def levels(out) -> list[int]:
    return [m.status[0].level for t, m in out if t == "/diagnostics"]


def stops(out) -> list:
    return [m for t, m in out if t == "/control/safe_stop"]


def test_quiet_while_commands_are_fresh():
    rt, out = watchdog()
    for step in range(1, 20):
        now = T0 + step * 20 * MS
        send(rt, now - 30 * MS)  # 30 ms old on arrival: fresh
        rt.advance_to(now)
    assert out == []


def test_fires_when_commands_stop_and_clears_once_when_they_return():
    rt, out = watchdog()
    send(rt, T0)
    rt.advance_to(T0 + 100 * MS)  # exactly at the deadline: still fresh
    assert out == []
    rt.advance_to(T0 + 160 * MS)  # checks at 120, 140, 160 ms: stale
    safe = stops(out)
    assert len(safe) == 3
    assert all(m.drive.speed == 0.0 and m.drive.acceleration == -6.0 for m in safe)
    assert stamp_to_ns(safe[0].header.stamp) == T0 + 120 * MS
    assert levels(out) == [2, 2, 2]
    status = next(m for t, m in out if t == "/diagnostics").status[0]
    assert status.name == "l4/control_watchdog"
    assert "120 ms old (deadline 100 ms)" in status.message
    assert {kv.key: kv.value for kv in status.values}["age_ms"] == "120.0"
    counters = rt.counters()["watchdog"]
    assert counters["deadline_miss"] == 1  # one trip, however many checks it lasts

    out.clear()
    rt.clock.set(T0 + 170 * MS)
    send(rt, T0 + 165 * MS)  # fresh again: cleared right away
    assert stops(out) == [] and levels(out) == [0]
    rt.advance_to(T0 + 240 * MS)
    send(rt, T0 + 235 * MS)
    rt.advance_to(T0 + 260 * MS)
    assert levels(out) == [0]  # OK is said once, not at every check
    assert rt.nodes["watchdog"].instance.trips == 1


def test_a_late_command_does_not_count_as_fresh():
    rt, out = watchdog()
    rt.advance_to(T0 + 150 * MS)  # nothing since start: tripped
    assert (
        "no control command received"
        in next(m for t, m in out if t == "/diagnostics").status[0].message
    )
    out.clear()
    send(rt, T0 + 10 * MS)  # arrives now, 140 ms old
    rt.advance_to(T0 + 180 * MS)
    assert levels(out) == [2, 2]
    assert len(stops(out)) == 2


def test_topics_and_braking_are_configurable():
    rt, out = watchdog(", output: /vehicle/estop, max_decel: 9.0, diagnostics: /diag")
    rt.advance_to(T0 + 120 * MS)
    topics = {t for t, _ in out}
    assert topics == {"/vehicle/estop", "/diag"}
    assert stops(out) == [] and out[0][1].drive.acceleration == -9.0


@pytest.mark.parametrize(
    ("params", "message"),
    [("deadline_ms: 0", "deadline_ms must be > 0"), ("max_decel: -3", "max_decel must be > 0")],
)
def test_bad_parameters_are_rejected(params, message):
    text = f"nodes:\n  w: {{class: stack.nodes.watchdog:ControlWatchdog, params: {{{params}}}}}\n"
    with pytest.raises(GraphError, match=message):
        parse_graph(text, "w.yaml")
