"""The threaded driver: worker threads per executor, pinned and prioritised as the launch file
says, each serving its executor's ready queue, and one timer thread firing timers on the run's
clock. The process around them gets its start-up heap frozen and its switch interval set for the
run, and both back at the end."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence

from stack.executor.clock import RunClock
from stack.executor.control import RunControl
from stack.executor.dispatch import Dispatcher
from stack.executor.entities import NodeState, Timer
from stack.executor.heap import freeze_startup_heap, thaw_heap
from stack.executor.ready import ReadyQueue, mark_worker
from stack.executor.threads import configure_worker_thread
from stack.executor.timers import fire, start_timers
from stack.graph import ExecutorSpec, LaunchGraph
from stack.scheduler.hooks import SchedulerHooks
from stack.scheduler.policy import Policy

log = logging.getLogger(__name__)


class ThreadedDriver:
    """Starts and joins the threads of the executors that run in this process."""

    def __init__(
        self,
        graph: LaunchGraph,
        queues: Mapping[str, ReadyQueue],
        dispatcher: Dispatcher,
        control: RunControl,
        clock: RunClock,
        scheduler: SchedulerHooks,
        timers: Sequence[Timer],
        policy: Policy,
    ) -> None:
        self.graph = graph
        self.queues = queues
        self.dispatcher = dispatcher
        self.control = control
        self.clock = clock
        self.scheduler = scheduler
        self.timers = timers  # the runtime's list: nodes add to it while they are built
        self.policy = policy
        self._threads: list[threading.Thread] = []
        self._local_timers: list[Timer] = []  # those fired here (not in a process executor)
        self._frozen = False  # this driver froze the start-up heap (stack.executor.heap)
        # Python's switch interval before this run set scheduler.switch_interval_ms: a
        # worker whose numpy call released the interpreter lock waits up to one interval to
        # get it back from a thread running Python (at 2.5x load, 5 ms stretched lidar
        # clustering's p99 from 24 to 30 ms)
        self._switch_before: float | None = None

    def start(self, apart: Collection[str]) -> None:
        """Start the worker threads of every executor but those in ``apart`` (they run in
        processes of their own), and the timer thread for the timers of the rest."""
        config = self.scheduler.config
        if config.gc_freeze and not self._frozen:
            freeze_startup_heap()  # before the clocks start: it takes a while
            self._frozen = True
        switch_ms = config.switch_interval_ms
        if switch_ms is not None and self._switch_before is None:
            self._switch_before = sys.getswitchinterval()
            sys.setswitchinterval(switch_ms / 1e3)
        start_timers(self.timers, self.clock.now_ns())
        here = [e for e in self.graph.executors.values() if e.name not in apart]
        for spec in here:
            queue = self.queues[spec.name]
            for i in range(spec.threads):
                self._spawn(f"{spec.name}-{i}", self._worker, spec, queue)
        self._local_timers = [t for t in self.timers if t.node.spec.executor not in apart]
        if self._local_timers:
            self._spawn("timers", self._timer_loop)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _worker(self, spec: ExecutorSpec, queue: ReadyQueue) -> None:
        configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
        mark_worker(queue)
        admit = self.scheduler.admit_for(spec.name)
        run_item = self.dispatcher.run_item
        stop = self.control.stop
        while not stop.is_set():
            item = queue.pop(admit=admit)
            if item is None:
                continue
            run_item(item, queue)

    def _timer_loop(self) -> None:
        self.scheduler.setup_timer_thread()
        clock, policy, stop = self.clock, self.policy, self.control.stop
        while not stop.is_set():
            now = clock.now_ns()
            mono = time.perf_counter_ns()
            next_due = None
            for timer in self._local_timers:
                if timer.due_ns <= now:
                    fire(timer, mono, policy)
                    timer.due_ns += timer.period_ns
                    if timer.due_ns <= now:  # fell behind by whole periods: do not burst
                        missed = (now - timer.due_ns) // timer.period_ns + 1
                        timer.skipped += missed
                        timer.due_ns += missed * timer.period_ns
                if next_due is None or timer.due_ns < next_due:
                    next_due = timer.due_ns
            if next_due is not None:
                stop.wait(clock.wall_delay_s(next_due - clock.now_ns()))

    def join(self, timeout_s: float) -> None:
        """Join the threads (stop was requested), then give the process back its heap and
        switch interval."""
        for t in self._threads:
            t.join(timeout_s)
            if t.is_alive():
                log.warning("thread %s did not stop within %.1f s", t.name, timeout_s)
        self._threads.clear()
        if self._frozen:
            thaw_heap()
            self._frozen = False
        if self._switch_before is not None:
            sys.setswitchinterval(self._switch_before)
            self._switch_before = None

    def wait_idle(self, timeout_s: float, nodes: Collection[NodeState]) -> bool:
        """Wait (bounded) until no callback is queued or running here."""
        deadline = time.perf_counter() + timeout_s
        quiet = 0
        while time.perf_counter() < deadline and not self.control.stopping:
            busy = any(len(q) for q in self.queues.values()) or any(n.busy for n in nodes)
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:
                return True
            time.sleep(0.005)
        return False
