"""The Runtime: a launch graph instantiated in-process, run by worker threads or in lockstep.

A facade over the parts, one concept each:

- ``routing.Router``: the topics, and where a publish or an inject goes (the per-message path);
- ``chains.assign_chains``: which chains each subscription and timer serves;
- ``dispatch.Dispatcher``: running one ready callback (the per-callback path);
- ``lockstep.LockstepDriver`` and ``threaded.ThreadedDriver``: the two ways of running them;
- ``control.RunControl``: stop requests and the first failure;
- ``process.RemoteExecutor`` and ``stats``: executors in processes of their own.

Its users see it through the narrow views of ``stack.executor.view``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stack.executor.chains import assign_chains
from stack.executor.clock import RunClock
from stack.executor.context import EmbeddedContext
from stack.executor.control import RunControl
from stack.executor.dispatch import Dispatcher
from stack.executor.entities import NodeState, Subscription, Tap, Timer, TopicState
from stack.executor.errors import ExecutorError
from stack.executor.lockstep import LockstepDriver
from stack.executor.pipe import Wire
from stack.executor.process import RemoteExecutor
from stack.executor.ready import ReadyQueue
from stack.executor.routing import Router
from stack.executor.stats import merge_stats
from stack.executor.threaded import ThreadedDriver
from stack.graph import LaunchGraph, Topology, check_topology, resolve_path
from stack.msgs import typestore
from stack.scheduler.hooks import SchedulerHooks
from stack.scheduler.policy import Policy, make_policy
from stack.trace.records import Origins, Tracer

LOCKSTEP_QUEUE = "lockstep"

__all__ = ["LOCKSTEP_QUEUE", "Runtime", "Tap", "TopicState"]


class Runtime:
    """Builds the nodes of a LaunchGraph and runs their callbacks.

    Threaded mode (``start``/``stop``): each executor has worker threads pinned to its cores and
    one ready queue; a timer thread fires timers on the run's clock. Lockstep mode
    (``lockstep=True``): no threads; the driver injects an input and calls ``run_until_idle`` so
    every run of the same inputs executes callbacks in the same order.
    """

    # Called per input or per message: bound to the part that does the work (no extra call).
    inject: Callable[[str, Any], None]  # publish from outside the graph (a bag, a test)
    run_until_idle: Callable[[], int]  # lockstep: run until nothing is ready; the count
    advance_to: Callable[[int], None]  # lockstep: move simulated time, firing due timers
    publish_from: Callable[[object, str, Any, Origins, int], None]  # a process executor's
    deliver_external: Callable[[str, Any, Origins, int], None]  # input from the parent

    def __init__(
        self,
        graph: LaunchGraph,
        clock: RunClock,
        *,
        lockstep: bool = False,
        policy: Policy | str = "l4",
        tracer: Tracer | None = None,
        fail_fast: bool = False,
        external_topics: Iterable[str] = (),
        uplink: Wire | None = None,
    ) -> None:
        self.graph = graph
        self.clock = clock
        self.lockstep = lockstep
        self.policy = make_policy(policy, lockstep=lockstep) if isinstance(policy, str) else policy
        tracer = tracer if tracer is not None else Tracer(enabled=False)
        self.fail_fast = fail_fast
        self.nodes: dict[str, NodeState] = {}
        self.timers: list[Timer] = []
        self.uplink = uplink  # this runtime is a process executor's: its publishes go up here
        self.remotes: list[RemoteExecutor] = []  # executors in processes of their own
        self.scheduler = SchedulerHooks(self)  # stale drops, GPU gates, variant degrade
        self.queues = self._make_queues()
        self._control = RunControl(self.queues.values())
        self._router = Router(graph, self.policy, self.scheduler)
        self.topics: dict[str, TopicState] = self._router.topics
        self.taps: list[Tap] = self._router.taps
        self.chain_latencies = self._router.chain_latencies
        self.start_times = self._router.start_times  # chain start topic -> frame publish times
        self._dispatch = Dispatcher(
            self.topics, self.scheduler, tracer, self._control, fail_fast=fail_fast
        )
        self.errors: list[str] = self._dispatch.errors
        self._lockstep = LockstepDriver(
            next(iter(self.queues.values()), ReadyQueue(LOCKSTEP_QUEUE)),
            self._dispatch, self._control, clock, self.timers, self.policy,  # type: ignore[arg-type]
        )  # fmt: skip
        self._threaded = ThreadedDriver(
            graph, self.queues, self._dispatch, self._control, clock, self.scheduler,
            self.timers, self.policy,
        )  # fmt: skip
        self.inject = self._router.inject
        self.publish_from = self._router.publish_from
        self.deliver_external = self._router.deliver_external
        self.run_until_idle = self._lockstep.run_until_idle
        self.advance_to = self._lockstep.advance_to
        typestore()  # load message definitions now, not inside the first callback
        self._build(frozenset(external_topics))
        self._start_processes()

    @property
    def tracer(self) -> Tracer:
        """Where callback records go; may be swapped between runs (the trace benchmark does)."""
        return self._dispatch.tracer

    @tracer.setter
    def tracer(self, tracer: Tracer) -> None:
        self._dispatch.tracer = tracer

    # ---- construction -------------------------------------------------------------------
    def _make_queues(self) -> dict[str, ReadyQueue]:
        if self.lockstep:
            shared = ReadyQueue(LOCKSTEP_QUEUE)
            return {name: shared for name in self.graph.executors}
        return {name: ReadyQueue(name) for name in self.graph.executors}

    def _build(self, external: frozenset[str]) -> None:
        self._router.mark_chain_starts()
        for spec in self.graph.nodes.values():
            state = NodeState(spec, queue=self.queues[spec.executor])
            state.logger = logging.getLogger(f"l4.{spec.name}")
            self.nodes[spec.name] = state
            try:
                state.instance = spec.node_class(EmbeddedContext(self, state))
            except Exception as exc:
                raise ExecutorError(
                    f"{self.graph.source}: nodes.{spec.name}: constructing {spec.class_path} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
        if self.uplink is None:  # a process executor's part: the parent checked the whole
            check_topology(self.graph, self.topology(), external)
        self._router.mark_chain_ends()
        assign_chains(self._router, self.timers)
        self.scheduler.after_build()

    def declare_topic(self, topic: str, msgtype: str, node: str, *, publisher: bool) -> None:
        self._router.declare_topic(topic, msgtype, node, publisher=publisher)

    def add_subscription(self, sub: Subscription) -> None:
        self._router.add_subscription(sub)

    def add_timer(self, timer: Timer) -> None:
        self.timers.append(timer)

    def publisher_fn(self, node: NodeState, topic: str) -> Callable[[Any], None]:
        """The publish function of ``node`` on ``topic`` (stack.executor.routing)."""
        return self._router.publisher_fn(node, topic)

    def topology(self) -> Topology:
        return self._router.topology()

    def load_engine(self, node: NodeState, model: str | Path, **options: Any) -> Any:
        # ONNX Runtime / TensorRT: only where a node asks
        from stack.engine import EngineOptions, load_engine

        path = resolve_path(self.graph.source, model)
        cores = self.graph.executors[node.spec.executor].cores
        options.setdefault("intra_op_threads", max(1, len(cores)))
        engine = load_engine(path, EngineOptions.from_mapping(options, f"node {node.name}"))
        return self.scheduler.gate_engine(node, engine, options)

    # ---- process executors --------------------------------------------------------------
    def _start_processes(self) -> None:
        """Start the process executors' children and route their topics through pipes."""
        if self.uplink is not None:
            self._router.route_up(self.uplink)
            return
        if self.lockstep or not any(e.process for e in self.graph.executors.values()):
            return
        try:
            for spec in self.graph.executors.values():
                if spec.process:
                    self.remotes.append(RemoteExecutor(self, spec, Runtime))
        except BaseException:
            self.stop_processes()
            raise
        self._router.route_to(self.remotes)

    def stop_processes(self) -> None:
        """Stop the process executors and take their counters and errors into this runtime's."""
        for remote in self.remotes:
            remote.stop()
            if remote.stats is not None:
                merge_stats(remote.stats, self.nodes, self.topics, self.timers, self.errors)
        self.remotes = []

    # ---- failure and stopping -----------------------------------------------------------
    def fail(self, failure: ExecutorError) -> None:
        """Stop the run; ``shutdown`` raises ``failure`` (the first one)."""
        self._control.fail(failure)

    @property
    def failure(self) -> ExecutorError | None:
        return self._control.failure

    def raise_failure(self) -> None:
        self._control.raise_failure()

    def request_stop(self) -> None:
        self._control.request_stop()

    @property
    def stopping(self) -> bool:
        return self._control.stopping

    # ---- lockstep -----------------------------------------------------------------------
    def start_timers(self) -> None:
        self._lockstep.start_timers()

    # ---- threaded -----------------------------------------------------------------------
    def start(self) -> None:
        """Threaded mode: start worker threads of every executor and the timer thread."""
        if self.lockstep:
            raise ExecutorError("start() is for threaded mode; lockstep runs via run_until_idle()")
        self._threaded.start(apart={r.name for r in self.remotes})
        for remote in self.remotes:
            remote.start()

    def spin(self, duration_s: float | None = None) -> None:
        """Threaded mode: run until ``duration_s`` passes or ``request_stop`` is called."""
        self.start()
        self._control.stop.wait(duration_s)
        self.shutdown()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self.request_stop()
        self.stop_processes()
        self._threaded.join(timeout_s)
        self.tracer.close()
        self.raise_failure()

    def wait_idle(self, timeout_s: float) -> bool:
        """Threaded mode: wait (bounded) until no callback is queued or running here."""
        return self._threaded.wait_idle(timeout_s, self.nodes.values())

    # ---- results ------------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, int]]:
        return {name: dict(state.counters) for name, state in self.nodes.items()}

    def dropped(self) -> int:
        return self._router.dropped()
