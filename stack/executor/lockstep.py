"""The lockstep driver: no threads; simulated time moves only when the driver says, and every
input runs to quiescence, so the same inputs run the same callbacks in the same order."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from stack.executor.clock import SteppedClock
from stack.executor.control import RunControl
from stack.executor.dispatch import Dispatcher
from stack.executor.entities import Timer
from stack.executor.ready import ReadyQueue
from stack.executor.timers import fire, start_timers
from stack.scheduler.policy import Policy


class LockstepDriver:
    """Runs one runtime's single ready queue (every executor shares it in lockstep)."""

    def __init__(
        self,
        queue: ReadyQueue,
        dispatcher: Dispatcher,
        control: RunControl,
        clock: SteppedClock,
        timers: Sequence[Timer],
        policy: Policy,
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.control = control
        self.clock = clock
        self.timers = timers  # the runtime's list: nodes add to it while they are built
        self.policy = policy

    def start_timers(self) -> None:
        start_timers(self.timers, self.clock.now_ns())

    def run_until_idle(self) -> int:
        """Run ready callbacks in policy order until none is left. Returns the count."""
        queue = self.queue
        run_item = self.dispatcher.run_item
        stop = self.control.stop
        ran = 0
        while not stop.is_set():
            item = queue.pop_nowait()
            if item is None:
                break
            run_item(item, queue)
            ran += 1
        self.control.raise_failure()
        return ran

    def advance_to(self, t_ns: int) -> None:
        """Move simulated time to ``t_ns``, firing due timers in time order."""
        clock = self.clock
        if not self.timers:
            clock.set(max(t_ns, clock.now_ns()))
            return
        heap = [(tm.due_ns, i, tm) for i, tm in enumerate(self.timers)]
        heapq.heapify(heap)
        stop = self.control.stop
        while heap and heap[0][0] <= t_ns and not stop.is_set():
            due, i, timer = heapq.heappop(heap)
            clock.set(max(due, clock.now_ns()))
            fire(
                timer, due, self.policy
            )  # simulated time: the order must not depend on wall timing
            self.run_until_idle()
            timer.due_ns = due + timer.period_ns
            heapq.heappush(heap, (timer.due_ns, i, timer))
        clock.set(max(t_ns, clock.now_ns()))
