"""The Runtime: a launch graph instantiated in-process, run by worker threads or in lockstep."""

from __future__ import annotations

import heapq
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.executor.context import EmbeddedContext
from stack.executor.entities import Envelope, NodeState, Subscription, Timer
from stack.executor.errors import ExecutorError
from stack.executor.heap import freeze_startup_heap, thaw_heap
from stack.executor.ready import ReadyQueue, mark_worker
from stack.executor.threads import configure_worker_thread, current_cpu
from stack.graph import LaunchGraph, Topology, check_topology, resolve_path
from stack.msgs import stamp_of, typestore
from stack.scheduler.hooks import SchedulerHooks
from stack.scheduler.policy import ChainMembership, Policy, make_policy
from stack.trace.records import Tracer

log = logging.getLogger(__name__)
LOCKSTEP_QUEUE = "lockstep"


@dataclass(eq=False)
class TopicState:
    name: str
    msgtype: str
    publishers: list[str] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    chain_ends: list[str] = field(default_factory=list)  # chains ending here
    chain_start: bool = False
    published: int = 0
    # Where a message published here goes: subscriptions run in this process, and the pipes of
    # process executors (stack.executor.process) that subscribe it, or up to the parent.
    local: list[Subscription] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)


Tap = Callable[[str, Any, int], None]  # (topic, msg, publish_ns)


class Runtime:
    """Builds the nodes of a LaunchGraph and runs their callbacks.

    Threaded mode (``start``/``stop``): each executor has worker threads pinned to its cores and
    one ready queue; a timer thread fires timers on the run's clock. Lockstep mode
    (``lockstep=True``): no threads; the driver injects an input and calls ``run_until_idle`` so
    every run of the same inputs executes callbacks in the same order.
    """

    def __init__(
        self,
        graph: LaunchGraph,
        clock: Any,
        *,
        lockstep: bool = False,
        policy: Policy | str = "l4",
        tracer: Tracer | None = None,
        fail_fast: bool = False,
        external_topics: Iterable[str] = (),
        uplink: Any = None,
    ) -> None:
        self.graph = graph
        self.clock = clock
        self.lockstep = lockstep
        self.policy = make_policy(policy, lockstep=lockstep) if isinstance(policy, str) else policy
        self.tracer = tracer if tracer is not None else Tracer(enabled=False)
        self.fail_fast = fail_fast
        self.topics: dict[str, TopicState] = {}
        self.nodes: dict[str, NodeState] = {}
        self.timers: list[Timer] = []
        self._local_timers: list[Timer] = []  # those fired here (not in a process executor)
        self.taps: list[Tap] = []
        self.chain_latencies: dict[str, list[tuple[int, int]]] = {c: [] for c in graph.chains}
        self.errors: list[str] = []
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._timer_wake = threading.Event()
        self._frozen = False  # this runtime froze the start-up heap (stack.executor.heap)
        # Python's switch interval before this runtime set scheduler.switch_interval_ms: a
        # worker whose numpy call released the interpreter lock waits up to one interval to
        # get it back from a thread running Python (at 2.5x load, 5 ms stretched lidar
        # clustering's p99 from 24 to 30 ms)
        self._switch_before: float | None = None
        self.scheduler = SchedulerHooks(self)  # stale drops, GPU gates, variant degrade
        self.queues = self._make_queues()
        self.uplink = uplink  # this runtime is a process executor's: its publishes go up here
        self.remotes: list[Any] = []  # executors in processes of their own
        typestore()  # load message definitions now, not inside the first callback
        self._build(frozenset(external_topics))
        self._start_processes()

    # ---- construction -------------------------------------------------------------------
    def _make_queues(self) -> dict[str, ReadyQueue]:
        if self.lockstep:
            shared = ReadyQueue(LOCKSTEP_QUEUE)
            return {name: shared for name in self.graph.executors}
        return {name: ReadyQueue(name) for name in self.graph.executors}

    def _build(self, external: frozenset[str]) -> None:
        for chain in self.graph.chains.values():
            self._topic(chain.start).chain_start = True
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
        for chain in self.graph.chains.values():
            self._topic(chain.end).chain_ends.append(chain.name)
        self._assign_chains()
        self.scheduler.after_build()

    def _topic(self, name: str, msgtype: str = "") -> TopicState:
        state = self.topics.get(name)
        if state is None:
            state = self.topics[name] = TopicState(name, msgtype)
        elif msgtype and not state.msgtype:
            state.msgtype = msgtype
        return state

    def declare_topic(self, topic: str, msgtype: str, node: str, *, publisher: bool) -> None:
        state = self._topic(topic, msgtype)
        if state.msgtype != msgtype:
            raise ExecutorError(
                f"{self.graph.source}: nodes.{node}: topic {topic!r} declared as {msgtype}, "
                f"but already used as {state.msgtype}"
            )
        if publisher:
            state.publishers.append(node)

    def add_subscription(self, sub: Subscription) -> None:
        state = self._topic(sub.topic)
        state.subscriptions.append(sub)
        state.local.append(sub)

    def _start_processes(self) -> None:
        """Start the process executors' children and route their topics through pipes."""
        if self.uplink is not None:
            for state in self.topics.values():
                if state.publishers:
                    state.links.append(self.uplink)
            return
        if self.lockstep or not any(e.process for e in self.graph.executors.values()):
            return
        from stack.executor.process import RemoteExecutor

        try:
            for spec in self.graph.executors.values():
                if spec.process:
                    self.remotes.append(RemoteExecutor(self, spec))
        except BaseException:
            self.stop_processes()
            raise
        remote_nodes = {n for r in self.remotes for n in r.nodes}
        for state in self.topics.values():
            state.local[:] = [s for s in state.subscriptions if s.node.name not in remote_nodes]
            state.links[:] = [r for r in self.remotes if r.subscribes(state.subscriptions)]

    def add_timer(self, timer: Timer) -> None:
        self.timers.append(timer)

    def topology(self) -> Topology:
        pubs = {t: tuple(s.publishers) for t, s in self.topics.items() if s.publishers}
        subs = {
            t: tuple(sub.node.name for sub in s.subscriptions)
            for t, s in self.topics.items()
            if s.subscriptions
        }
        return Topology(pubs, subs)

    def _assign_chains(self) -> None:
        """Tell each subscription and timer which chains it serves (for priority and deadline).

        A subscription serves a chain where its node makes the next hop of the path. A side
        input of such a node (the pose a tracker needs to place objects) serves the node's
        chains too: starving it would stall the chain as surely as starving the hop itself.
        Its age says nothing about the chain's, so it is not dropped as stale: a scan-matched
        pose carries the lineage of the odometry it started from, older than the 20 ms budget of
        the IMU chain by the time it arrives, and dropping it cost localization its scan poses.
        """
        per_node: dict[str, list[ChainMembership]] = {}
        for chain in self.graph.chains.values():
            member = ChainMembership(chain.name, chain.priority, chain.start, chain.budget_ns)
            hops = [self._hop(topic, nxt) for topic, nxt in zip(chain.path, chain.path[1:])]
            for i, topic in enumerate(chain.path[:-1]):
                for sub in self._topic(topic).subscriptions:
                    if (sub.node.name, sub.name) in hops[i]:
                        sub.chains += (member,)
                        sub.ahead[chain.name] = tuple(h for h in hops[i:] if h)
                        per_node.setdefault(sub.node.name, []).append(member)
            for node in self._topic(chain.start).publishers:
                per_node.setdefault(node, []).append(member)
        for topic in self.topics.values():
            for sub in topic.subscriptions:
                if not sub.chains:
                    sub.chains = tuple(dict.fromkeys(per_node.get(sub.node.name, ())))
                    sub.side_input = bool(sub.chains)
        for timer in self.timers:
            timer.chains = tuple(dict.fromkeys(per_node.get(timer.node.name, ())))

    def _hop(self, topic: str, nxt: str) -> tuple[tuple[str, str], ...]:
        """The callbacks that take ``topic`` to ``nxt``: (node, callback) of each subscription to
        ``topic`` whose node publishes ``nxt`` (a process executor's part may hold none)."""
        makers = set(self._topic(nxt).publishers)
        subs = self._topic(topic).subscriptions
        return tuple((s.node.name, s.name) for s in subs if s.node.name in makers)

    def load_engine(self, node: NodeState, model: str | Path, **options: Any) -> Any:
        from stack.engine import EngineOptions, load_engine

        path = resolve_path(self.graph.source, model)
        cores = self.graph.executors[node.spec.executor].cores
        options.setdefault("intra_op_threads", max(1, len(cores)))
        engine = load_engine(path, EngineOptions.from_mapping(options, f"node {node.name}"))
        return self.scheduler.gate_engine(node, engine, options)

    # ---- publishing ---------------------------------------------------------------------
    def publisher_fn(self, node: NodeState, topic: str) -> Callable[[Any], None]:
        state = self.topics[topic]
        fan_out = self._fan_out
        clock_ns = time.perf_counter_ns

        def publish(msg: Any) -> None:
            now = clock_ns()
            origins = node.merged_origins()
            if state.chain_start:
                origins = dict(origins)
                origins[topic] = (stamp_of(msg), now)
            node.outputs.append((topic, now, origins))
            fan_out(state, msg, origins, now, None)

        return publish

    def publish_from(
        self, source: Any, topic: str, msg: Any, origins: dict, publish_ns: int
    ) -> None:
        """A message a process executor (``source``) published: counted and delivered here as
        if published here, and forwarded to the other process executors that subscribe it."""
        self._fan_out(self.topics[topic], msg, origins, publish_ns, source)

    def _fan_out(self, state: TopicState, msg: Any, origins: dict, now: int, source: Any) -> None:
        """A publish on ``state``'s topic: chain samples, taps, local subscriptions, and the
        pipes of process executors (but not back to ``source``, the one it came from)."""
        topic = state.name
        for name in state.chain_ends:
            origin = origins.get(self.graph.chains[name].start)
            if origin is not None:
                self.chain_latencies[name].append((now, now - origin[1]))
        state.published += 1
        env = Envelope(topic, msg, origins, now)
        for tap in self.taps:
            tap(topic, msg, now)
        policy = self.policy
        for sub in state.local:
            self._deliver(sub, env, policy)
        for link in state.links:
            if link is not source:
                link.forward(topic, state.msgtype, msg, origins, now)

    def deliver_external(self, topic: str, msg: Any, origins: dict, publish_ns: int) -> None:
        """A process executor's input from its parent: lineage and publish time as published."""
        state = self.topics.get(topic)
        if state is None:
            return
        env = Envelope(topic, msg, origins, publish_ns)
        for sub in state.local:
            self._deliver(sub, env, self.policy)

    def inject(self, topic: str, msg: Any) -> None:
        """Publish from outside the graph (a bag, a test) on ``topic``."""
        state = self.topics.get(topic)
        if state is None or not state.subscriptions:
            return
        now = time.perf_counter_ns()
        origins = {topic: (stamp_of(msg), now)} if state.chain_start else {}
        env = Envelope(topic, msg, origins, now)
        state.published += 1
        for sub in state.local:
            self._deliver(sub, env, self.policy)
        for link in state.links:
            link.forward(topic, state.msgtype, msg, origins, now)

    def _deliver(self, sub: Subscription, env: Envelope, policy: Policy) -> None:
        queue = sub.queue
        if len(queue) >= sub.depth:
            queue.popleft()
            sub.overwritten += 1
            sub.node.count("overwrite")
            queue.append(env)
            guard = self.scheduler.guard
            if guard is not None:
                guard.arrived(sub, env.publish_ns)
            return  # the ready item already queued for this subscription takes the newest
        queue.append(env)
        guard = self.scheduler.guard
        if guard is not None:
            guard.arrived(sub, env.publish_ns)
        sub.node.queue.push(policy.message_key(sub.chains, env.origins), sub)

    # ---- running callbacks ----------------------------------------------------------------
    def _run_item(self, item: tuple, queue: ReadyQueue) -> None:
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
        node.logger.error("%s\n%s", text, traceback.format_exc().rstrip())
        if self.fail_fast and self._failure is None:
            failure = ExecutorError(text)
            failure.__cause__ = exc
            self.fail(failure)

    def fail(self, failure: ExecutorError) -> None:
        """Stop the run; ``shutdown`` raises ``failure`` (the first one)."""
        if self._failure is None:
            self._failure = failure
        self.request_stop()

    @property
    def failure(self) -> ExecutorError | None:
        return self._failure

    # ---- lockstep ---------------------------------------------------------------------------
    def start_timers(self) -> None:
        now = self.clock.now_ns()
        for timer in self.timers:
            timer.due_ns = now + timer.period_ns

    def run_until_idle(self) -> int:
        """Lockstep: run ready callbacks in policy order until none is left. Returns the count."""
        queue = next(iter(self.queues.values()))
        ran = 0
        while not self._stop.is_set():
            item = queue.pop_nowait()
            if item is None:
                break
            self._run_item(item, queue)
            ran += 1
        self.raise_failure()
        return ran

    def advance_to(self, t_ns: int) -> None:
        """Lockstep: move simulated time to ``t_ns``, firing due timers in time order."""
        if not self.timers:
            self.clock.set(max(t_ns, self.clock.now_ns()))
            return
        heap = [(tm.due_ns, i, tm) for i, tm in enumerate(self.timers)]
        heapq.heapify(heap)
        while heap and heap[0][0] <= t_ns and not self._stop.is_set():
            due, i, timer = heapq.heappop(heap)
            self.clock.set(max(due, self.clock.now_ns()))
            self._fire(timer, due)  # simulated time: the order must not depend on wall timing
            self.run_until_idle()
            timer.due_ns = due + timer.period_ns
            heapq.heappush(heap, (timer.due_ns, i, timer))
        self.clock.set(max(t_ns, self.clock.now_ns()))

    def _fire(self, timer: Timer, now_mono: int) -> None:
        if timer.pending:  # the previous tick has not run yet: skip, as rclpy does
            timer.skipped += 1
            timer.node.count("timer_skip")
            return
        timer.pending = True
        timer.node.queue.push(self.policy.timer_key(timer.chains, now_mono), timer)

    # ---- threaded -----------------------------------------------------------------------------
    def start(self) -> None:
        """Threaded mode: start worker threads of every executor and the timer thread."""
        if self.lockstep:
            raise ExecutorError("start() is for threaded mode; lockstep runs via run_until_idle()")
        if self.scheduler.config.gc_freeze and not self._frozen:
            freeze_startup_heap()  # before the clocks start: it takes a while
            self._frozen = True
        switch_ms = self.scheduler.config.switch_interval_ms
        if switch_ms is not None and self._switch_before is None:
            self._switch_before = sys.getswitchinterval()
            sys.setswitchinterval(switch_ms / 1e3)
        self.start_timers()
        apart = {r.name for r in self.remotes}
        here = [e for e in self.graph.executors.values() if e.name not in apart]
        for spec in here:
            queue = self.queues[spec.name]
            for i in range(spec.threads):
                t = threading.Thread(
                    target=self._worker, args=(spec, queue), name=f"{spec.name}-{i}", daemon=True
                )
                self._threads.append(t)
                t.start()
        self._local_timers = [t for t in self.timers if t.node.spec.executor not in apart]
        if self._local_timers:
            t = threading.Thread(target=self._timer_loop, name="timers", daemon=True)
            self._threads.append(t)
            t.start()
        for remote in self.remotes:
            remote.start()

    def _worker(self, spec: Any, queue: ReadyQueue) -> None:
        configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
        mark_worker(queue)
        admit = self.scheduler.admit_for(spec.name)
        while not self._stop.is_set():
            item = queue.pop(admit=admit)
            if item is None:
                continue
            self._run_item(item, queue)

    def _timer_loop(self) -> None:
        self.scheduler.setup_timer_thread()
        while not self._stop.is_set():
            now = self.clock.now_ns()
            mono = time.perf_counter_ns()
            next_due = None
            for timer in self._local_timers:
                if timer.due_ns <= now:
                    self._fire(timer, mono)
                    timer.due_ns += timer.period_ns
                    if timer.due_ns <= now:  # fell behind by whole periods: do not burst
                        missed = (now - timer.due_ns) // timer.period_ns + 1
                        timer.skipped += missed
                        timer.due_ns += missed * timer.period_ns
                if next_due is None or timer.due_ns < next_due:
                    next_due = timer.due_ns
            if next_due is not None:
                self._timer_wake.wait(self.clock.wall_delay_s(next_due - self.clock.now_ns()))

    def request_stop(self) -> None:
        self._stop.set()
        self._timer_wake.set()
        for queue in self.queues.values():
            queue.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def spin(self, duration_s: float | None = None) -> None:
        """Threaded mode: run until ``duration_s`` passes or ``request_stop`` is called."""
        self.start()
        self._stop.wait(duration_s)
        self.shutdown()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self.request_stop()
        self.stop_processes()
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
        self.tracer.close()
        self.raise_failure()

    def stop_processes(self) -> None:
        """Stop the process executors and take their counters and errors into this runtime's."""
        for remote in self.remotes:
            remote.stop()
            if remote.stats is not None:
                self._merge_stats(remote.stats)
        self.remotes = []

    def _merge_stats(self, stats: dict[str, Any]) -> None:
        for name, counters in stats["counters"].items():
            self.nodes[name].counters = dict(counters)
        subs = {(s.node.name, t): s for t, st in self.topics.items() for s in st.subscriptions}
        for node, topic, overwritten, delivered in stats["subscriptions"]:
            sub = subs[(node, topic)]
            sub.overwritten, sub.delivered = overwritten, delivered
        timers = {(t.node.name, t.name): t for t in self.timers}
        for node, name, skipped in stats["timers"]:
            timers[(node, name)].skipped = skipped
        self.errors.extend(stats["errors"])

    def wait_idle(self, timeout_s: float) -> bool:
        """Threaded mode: wait (bounded) until no callback is queued or running here."""
        deadline = time.perf_counter() + timeout_s
        quiet = 0
        while time.perf_counter() < deadline and not self.stopping:
            busy = any(len(q) for q in self.queues.values()) or any(
                n.busy for n in self.nodes.values()
            )
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:
                return True
            time.sleep(0.005)
        return False

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # ---- results ------------------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, int]]:
        return {name: dict(state.counters) for name, state in self.nodes.items()}

    def dropped(self) -> int:
        return sum(s.overwritten for t in self.topics.values() for s in t.subscriptions)
