"""Timer ticks, as both drivers fire them: the first due one period after start, and a tick
skipped while the previous one has not run yet."""

from __future__ import annotations

from collections.abc import Iterable

from stack.executor.entities import Timer
from stack.scheduler.policy import Policy


def start_timers(timers: Iterable[Timer], now_ns: int) -> None:
    """Every timer's first tick one period after ``now_ns`` (the run clock's time)."""
    for timer in timers:
        timer.due_ns = now_ns + timer.period_ns


def fire(timer: Timer, now_mono: int, policy: Policy) -> None:
    """Make ``timer``'s callback ready, keyed by the policy at ``now_mono`` (perf_counter ns)."""
    if timer.pending:  # the previous tick has not run yet: skip, as rclpy does
        timer.skipped += 1
        timer.node.count("timer_skip")
        return
    timer.pending = True
    timer.node.queue.push(policy.timer_key(timer.chains, now_mono), timer)
