"""Running a ready callback: one at a time per node, traced, its failure counted and logged.

Both drivers (threaded workers, the lockstep loop) hand each item they pop to ``run_item``.
This is the per-callback path: keep it as it is.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from stack.executor.control import RunControl
from stack.executor.entities import NodeState, Subscription, Timer, TopicState
from stack.executor.errors import ExecutorError
from stack.executor.ready import ReadyQueue
from stack.executor.threads import current_cpu
from stack.msgs import stamp_of
from stack.trace.records import Tracer

if TYPE_CHECKING:
    from stack.scheduler.hooks import SchedulerHooks


class Dispatcher:
    """Runs callbacks of one runtime; ``errors`` lists the callbacks that raised."""

    def __init__(
        self,
        topics: dict[str, TopicState],
        scheduler: SchedulerHooks,
        tracer: Tracer,
        control: RunControl,
        *,
        fail_fast: bool,
    ) -> None:
        self.topics = topics  # the router's: the tracer looks up queue overwrites there
        self.scheduler = scheduler
        self.tracer = tracer
        self.control = control
        self.fail_fast = fail_fast
        self.errors: list[str] = []

    def run_item(self, item: tuple, queue: ReadyQueue) -> None:
        entity = item[3]
        node = entity.node
        if node.busy:  # one callback at a time per node, as a ROS 2 mutually exclusive group
            node.deferred.append(item)
            return
        node.busy = True
        try:
            if isinstance(entity, Subscription):
                self._run_subscription(entity)
            else:
                self._run_timer(entity)
        finally:
            node.busy = False
            if node.deferred:
                deferred, node.deferred = node.deferred, []
                for it in deferred:
                    queue.repush(it)

    def _run_subscription(self, sub: Subscription) -> None:
        queue = sub.queue
        if not queue:
            return
        env = queue.popleft()
        node = sub.node
        if self.scheduler.drop_stale(sub, env):
            return
        node.latest[sub.topic] = sub.lineage(env.origins)
        sub.delivered += 1
        self._invoke(node, sub.name, sub.callback, (env.msg,), sub.topic)

    def _run_timer(self, timer: Timer) -> None:
        timer.pending = False
        self._invoke(timer.node, timer.name, timer.callback, (), None)

    def _invoke(
        self, node: NodeState, name: str, callback: Callable, args: tuple, topic: str | None
    ) -> None:
        """Run one callback; ``topic`` names the subscription whose message is ``args[0]``."""
        node.outputs = []
        node.events = []
        start = time.perf_counter_ns()
        try:
            callback(*args)
        except Exception as exc:
            self._callback_failed(node, name, exc)
        end = time.perf_counter_ns()
        guard = self.scheduler.guard
        if guard is not None:
            guard.ran(node.name, name, end - start)
        tracer = self.tracer
        if tracer.enabled:
            tracer.record(
                (
                    node.name,
                    name,
                    threading.current_thread().name,
                    current_cpu(),
                    start,
                    end,
                    ((topic, stamp_of(args[0])),) if topic is not None else (),
                    tuple(node.outputs),
                    node.variant,
                    tracer.node_events(node, self.topics),  # + queue overwrites since last run
                )
            )

    def _callback_failed(self, node: NodeState, name: str, exc: Exception) -> None:
        node.count("exception")
        node.events.append(("exception", f"{type(exc).__name__}: {exc}"))
        text = f"node {node.name} callback {name} raised {type(exc).__name__}: {exc}"
        self.errors.append(text)
        if node.logger is not None:
            node.logger.error("%s\n%s", text, traceback.format_exc().rstrip())
        if self.fail_fast and self.control.failure is None:
            failure = ExecutorError(text)
            failure.__cause__ = exc
            self.control.fail(failure)
