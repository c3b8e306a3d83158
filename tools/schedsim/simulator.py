"""The discrete-event simulation: the embedded executor's semantics on simulated time.

It mirrors stack.executor.runtime: one ready queue per executor ordered by the policy key
(the same Policy objects), ``threads`` workers per executor, one callback at a time per node
(a busy node's items are deferred and re-queued when it finishes), keep-latest subscription
queues of ``depth`` (an overwrite replaces the queued input without a new ready item), timers
that skip a tick while the previous one is still pending, stale-input drops at dequeue under
the l4 policy, and message lineage (chain start publish time carried to the chain end).

CPU model: ``threads`` (each worker thread is its own server: callbacks that release the GIL
or spin on wall time, like stack.nodes.synthetic.Work) or ``gil`` (all callbacks of the process
serialize on one interpreter lock, as pure-Python CPU work does).

Interpreter-lock hand-off (``switch_ms``, CPython's switch interval): a thread that wakes up --
the timer thread at a due time, an idle worker handed an input by another thread -- needs the
GIL first. A worker running callbacks back to back holds it (spinning Python code, or between
native calls) until it blocks on its empty queue, or until a waiter has waited one switch
interval and forces a switch. So a wake-up waits ``min(switch, until every worker is idle)``;
waiters get the lock in the order they woke. After a forced switch, a thread woken by the one
that got the lock (a sensor worker woken by the timer thread) races the worker that was forced
off, and loses with probability ``handoff_loss``: it then waits a switch interval of its own.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stack.executor.entities import merge_origins
from stack.executor.ready import first_admitted
from stack.scheduler.guard import BlockingGuard
from stack.scheduler.policy import Policy, PolicyKind, make_policy
from stack.trace.records import Origin, Origins
from tools.schedsim.errors import SimError
from tools.schedsim.model import SimCallback, SimGraph, SimSubscription, SimTimer

_TIMER, _SOURCE, _FINISH, _GIL_CHECK, _WAKE, _RECHECK, _OUTPUT = 0, 1, 2, 3, 4, 5, 6


class CpuModel(str, enum.Enum):
    THREADS = "threads"
    GIL = "gil"


@dataclass(eq=False)
class _Node:
    name: str
    executor: str
    busy: bool = False
    deferred: list = field(default_factory=list)
    latest: dict = field(default_factory=dict)
    started: int = 0  # when its current callback began


@dataclass(eq=False)
class _Sub:
    spec: SimSubscription
    node: _Node
    queue: deque = field(default_factory=deque)
    overwritten: int = 0
    stale: int = 0


@dataclass(eq=False)
class _Timer:
    spec: SimTimer
    node: _Node
    pending: bool = False
    skipped: int = 0


@dataclass(eq=False)
class _Exec:
    name: str
    idle: int
    heap: list = field(default_factory=list)
    waking: int = 0  # workers woken for a ready item, not yet running


@dataclass(eq=False)
class _Active:
    """A callback in progress under the contention model: solo work left, current speed."""

    job: tuple
    left_ns: float
    slowdown: float
    started: int
    rate: float = 0.0
    version: int = 0


@dataclass
class ChainTrace:
    """Everything measured on one chain during a simulation."""

    frames: list[int] = field(default_factory=list)  # chain start publish times
    outputs: list[tuple[int, int]] = field(default_factory=list)  # (end time, latency)
    reached: set = field(default_factory=set)  # chain start times that produced an output


@dataclass
class SimRun:
    duration_ns: int
    chains: dict[str, ChainTrace]
    overwrites: dict[tuple[str, str], int]  # (node, topic) -> inputs overwritten in its queue
    stale_drops: dict[tuple[str, str], int]
    timer_skips: dict[str, int]
    busy_ns: dict[str, int]  # executor -> summed callback time


class Simulator:
    def __init__(
        self,
        graph: SimGraph,
        policy: str | PolicyKind = "l4",
        *,
        seed: int = 0,
        cpu: str | CpuModel = CpuModel.THREADS,
        overhead_ms: float = 0.0,
        switch_ms: float = 0.0,
        handoff_loss: float = 0.0,
        scale: dict[str, float] | None = None,  # node -> service time multiplier
    ) -> None:
        self.graph = graph
        self.policy: Policy = make_policy(policy)
        self.rng = np.random.default_rng(seed)
        self.cpu = CpuModel(cpu)
        self.overhead_ns = int(overhead_ms * 1e6)
        self.switch_ns = int(switch_ms * 1e6)
        self.handoff_loss = handoff_loss
        self._gil_rng = np.random.default_rng(seed + 1)
        self.scale = scale or {}
        self.stale_check = self.policy.kind is PolicyKind.CHAIN and graph.stale_drop
        # Contention: callbacks slow down while another thread runs one (measured slowdowns).
        self.fluid = self.cpu is CpuModel.THREADS and any(
            cb.slowdown != 1.0 for cb in graph.callbacks()
        )
        self._active: list[_Active] = []
        self._last_ns = 0
        self.guard = (
            BlockingGuard()
            if self.policy.kind is PolicyKind.CHAIN and graph.blocking_guard
            else None
        )
        self._events: list[tuple] = []
        self._seq = itertools.count()
        self._build()

    def _build(self) -> None:
        g = self.graph
        for name, threads in g.executors.items():
            if threads < 1:
                raise SimError(f"executor {name}: needs >= 1 thread, got {threads}")
        self.execs = {name: _Exec(name, threads) for name, threads in g.executors.items()}
        self.nodes: dict[str, _Node] = {}
        for node, ex in g.node_executor.items():
            if ex not in self.execs:
                raise SimError(f"node {node}: unknown executor {ex!r}")
            self.nodes[node] = _Node(node, ex)
        self.subs = [_Sub(s, self._node(s.node)) for s in g.subscriptions]
        self.by_topic: dict[str, list[_Sub]] = {}
        for sub in self.subs:
            self.by_topic.setdefault(sub.spec.topic, []).append(sub)
        self.timers = [_Timer(t, self._node(t.node)) for t in g.timers]
        self._admit: dict[str, Callable[[tuple, int], int]] = {}
        if self.guard is not None:
            for ex in self.execs:
                self.guard.watch(ex, [s.spec for s in self.subs if s.node.executor == ex])
                self._admit[ex] = self._admission(ex)
        self.chain_starts = {c.start for c in g.chains.values()}
        self.chain_ends: dict[str, list[str]] = {}
        for c in g.chains.values():
            self.chain_ends.setdefault(c.end, []).append(c.name)
        self.traces = {name: ChainTrace() for name in g.chains}
        self.busy_ns = dict.fromkeys(self.execs, 0)
        self._running = 0  # callbacks in progress
        self._serial_busy = False  # CpuModel.GIL: a callback holds the lock
        self._serial_waiters: deque = deque()
        self._gil_waiters: deque[tuple[int, Callable[[int], None]]] = deque()
        self._granting = False
        self._forced = False  # the grant in progress took the lock from a running callback
        self._due: list[int] = []  # timers come due while the timer thread waits for the lock
        self._timer_thread_waiting = False

    def _node(self, name: str) -> _Node:
        node = self.nodes.get(name)
        if node is None:
            raise SimError(f"node {name!r} has callbacks but no executor")
        return node

    # ---- the event loop -------------------------------------------------------------------
    def run(self, duration_s: float) -> SimRun:
        end = int(duration_s * 1e9)
        for i, timer in enumerate(self.timers):
            self._at(timer.spec.period_ns, _TIMER, i)
        for i, src in enumerate(self.graph.sources):
            first = src.period_ns if src.phase_ns is None else src.phase_ns
            self._at(first, _SOURCE, i, tie=src.rank)
        while self._events and self._events[0][0] <= end:
            t, _, _, kind, data = heapq.heappop(self._events)
            if kind == _FINISH:
                if self.fluid:
                    self._fluid_finish(t, data)
                else:
                    self._finish(t, data)
            elif kind == _TIMER:
                self._fire(t, data)
            elif kind == _GIL_CHECK:
                self._gil_check(t)
            elif kind == _WAKE:
                self._woken(data, t)
            elif kind == _RECHECK:
                self._dispatch(data, t)
            elif kind == _OUTPUT:
                self._outputs(data[1], data[2], t)
            else:
                self._inject(t, data)
        return SimRun(
            end,
            self.traces,
            {(s.spec.node, s.spec.topic): s.overwritten for s in self.subs},
            {(s.spec.node, s.spec.topic): s.stale for s in self.subs},
            {t.spec.node: t.skipped for t in self.timers},
            dict(self.busy_ns),
        )

    def _at(self, t: int, kind: int, data: object = None, tie: int = 0) -> None:
        """Events at the same instant run in ``tie`` order (sources: their rank), then in
        the order they were set."""
        heapq.heappush(self._events, (t, tie, next(self._seq), kind, data))

    # ---- the interpreter lock -------------------------------------------------------------
    def _contended(self) -> bool:
        """Whether a thread waking now must wait for the lock: a callback holds it, or
        threads that woke earlier wait for it (they get it first)."""
        if not self.switch_ns:
            return False
        if self._granting:
            # After a forced switch the granted thread lets go again soon; a thread it woke
            # races the worker that was forced off for the lock, and sometimes loses.
            return self._forced and bool(self._gil_rng.random() < self.handoff_loss)
        return bool(self._running or self._gil_waiters)

    def _with_gil(self, t: int, action: Callable[[int], None]) -> None:
        """Run ``action`` once a thread waking at ``t`` holds the interpreter lock."""
        if self._contended():
            self._wait_gil(t, action)
        else:
            action(t)

    def _wait_gil(self, t: int, action: Callable[[int], None]) -> None:
        self._gil_waiters.append((t, action))
        self._at(t + self.switch_ns, _GIL_CHECK)

    def _gil_check(self, t: int) -> None:
        while self._gil_waiters:
            since, action = self._gil_waiters[0]
            if self._running and t < since + self.switch_ns:
                return  # its own check event comes later
            self._gil_waiters.popleft()
            self._grant(t, action, forced=self._running > 0)

    def _grant(self, t: int, action: Callable[[int], None], forced: bool) -> None:
        # The thread that got the lock wakes whoever it hands work to before letting go.
        self._granting, self._forced = True, forced
        try:
            action(t)
        finally:
            self._granting, self._forced = False, False

    # ---- sources ----------------------------------------------------------------------------
    def _fire(self, t: int, i: int) -> None:
        # One timer thread, as in the runtime: once it holds the lock it releases every timer
        # that has come due meanwhile, in declaration order.
        timer = self.timers[i]
        self._at(t + timer.spec.period_ns, _TIMER, i)
        self._due.append(i)
        if not self._timer_thread_waiting:
            self._timer_thread_waiting = True
            self._with_gil(t, self._release_due)

    def _release_due(self, t: int) -> None:
        self._timer_thread_waiting = False
        due, self._due = sorted(self._due), []
        for i in due:
            self._release(t, self.timers[i])

    def _release(self, t: int, timer: _Timer) -> None:
        if timer.pending:
            timer.skipped += 1
            return
        timer.pending = True
        self._push(timer.node.executor, self.policy.timer_key(timer.spec.chains, t), timer, t)

    def _inject(self, t: int, i: int) -> None:
        src = self.graph.sources[i]
        self._at(t + src.period_ns, _SOURCE, i, tie=src.rank)
        origins: Origins = {}
        if src.topic in self.chain_starts:
            origins = {src.topic: Origin(t, t)}
            self._frame(src.topic, t)
        self._deliver_all(src.topic, origins, t)

    # ---- queues -----------------------------------------------------------------------------
    def _push(self, executor: str, key: tuple[int, int], entity: object, t: int) -> None:
        ex = self.execs[executor]
        heapq.heappush(ex.heap, (key[0], key[1], next(self._seq), entity))
        self._dispatch(ex, t, waking=True)

    def _deliver_all(self, topic: str, origins: Origins, t: int) -> None:
        env = (origins, t)
        guard = self.guard
        for sub in self.by_topic.get(topic, ()):
            if guard is not None:
                guard.arrived(sub.spec, t)
            queue = sub.queue
            if len(queue) >= sub.spec.depth:
                queue.popleft()
                sub.overwritten += 1
                queue.append(env)
                continue
            queue.append(env)
            key = self.policy.message_key(sub.spec.chains, origins)
            self._push(sub.node.executor, key, sub, t)

    def _dispatch(self, ex: _Exec, t: int, waking: bool = False) -> None:
        """Idle workers of ``ex`` take ready items; a woken worker first needs the GIL, or
        takes its measured wake-up delay. One worker wakes per ready item."""
        wake = self.graph.wakeups.get(ex.name) if waking else None
        # A running worker takes what is ready at once; a worker woken for an item taken
        # meanwhile finds the queue empty and sleeps again.
        while ex.idle > 0 and len(ex.heap) > (ex.waking if waking else 0):
            if wake is not None:
                self._wake(ex, t + wake.sample_ns(self.rng))
                continue
            if waking and self._contended():
                ex.idle -= 1  # this worker is awake, waiting for the lock
                ex.waking += 1
                self._wait_gil(t, lambda now, ex=ex: self._woken(ex, now))
                continue
            if not self._take_next(ex, t):
                break  # everything ready is held by the blocking guard

    def _wake(self, ex: _Exec, at: int) -> None:
        ex.idle -= 1
        ex.waking += 1
        self._at(at, _WAKE, ex)

    def _woken(self, ex: _Exec, t: int) -> None:
        ex.idle += 1
        ex.waking -= 1
        self._dispatch(ex, t)

    def _take_next(self, ex: _Exec, t: int) -> bool:
        item = self._admitted(ex, t)
        if item is None:
            return False
        entity = item[3]
        node = entity.node
        if node.busy:
            node.deferred.append(item)
            return True
        if isinstance(entity, _Sub):
            cb = self._take_input(entity, t)
            if cb is None:
                return True
        else:
            entity.pending = False
            cb = entity.spec.callback
        self._start(ex, node, cb, t)
        return True

    def _admission(self, executor: str) -> Callable[[tuple, int], int]:
        hold_until = self.guard.hold_until  # type: ignore[union-attr]

        def admit(item: tuple, now: int) -> int:
            entity = item[3]
            name = entity.spec.callback.name
            return hold_until(executor, -item[0], entity.node.name, name, now)

        return admit

    def _admitted(self, ex: _Exec, t: int) -> tuple | None:
        """The most urgent ready item the blocking guard lets start (as the runtime's
        ReadyQueue.pop); if it holds them all, look again when the earliest hold ends."""
        if self.guard is None:
            return heapq.heappop(ex.heap)
        found, wake = first_admitted(ex.heap, self._admit[ex.name], t)
        if found is None and wake:
            self._at(max(wake, t + 1), _RECHECK, ex)
        return found

    def _take_input(self, sub: _Sub, t: int) -> SimCallback | None:
        if not sub.queue:
            return None
        origins, _ = sub.queue.popleft()
        stale = self.stale_check and not sub.spec.side_input
        if stale and self.policy.stale(sub.spec.chains, origins, t, self._ahead(sub)) is not None:
            sub.stale += 1
            return None
        sub.node.latest[sub.spec.topic] = sub.spec.lineage(origins)
        return sub.spec.callback

    def _ahead(self, sub: _Sub) -> dict[str, int]:
        """As stack.scheduler.hooks.SchedulerHooks.work_ahead, from the simulated durations."""
        guard = self.guard
        return {} if guard is None else guard.work_ahead(sub.spec.ahead, bool(sub.queue))

    # ---- callbacks --------------------------------------------------------------------------
    def _start(self, ex: _Exec, node: _Node, cb: SimCallback, t: int) -> None:
        node.busy = True
        node.started = t
        ex.idle -= 1
        job = (ex, node, cb)
        if self.cpu is CpuModel.GIL:
            if self._serial_busy:
                self._serial_waiters.append(job)
                return
            self._serial_busy = True
        self._run(job, t)

    def _run(self, job: tuple, t: int) -> None:
        ex, node, cb = job
        took = cb.service.sample_ns(self.rng, self.scale.get(node.name, 1.0), t)
        took += self.overhead_ns
        self._running += 1
        if self.fluid:
            self._advance(t)
            self._active.append(_Active(job, float(took), cb.slowdown, t))
            self._retime(t)
            return
        self.busy_ns[ex.name] += took
        self._at(t + took, _FINISH, job)
        if self._early(cb):
            lead = min(took, round(cb.publish_after_ms * 1e6))
            self._at(t + took - lead, _OUTPUT, job)

    def _early(self, cb: SimCallback) -> bool:
        """Whether ``cb`` publishes before it ends (its own event), not at its end."""
        return cb.publish_after_ms > 0 and not self.fluid

    # ---- contention: every callback in progress progresses at its current speed ----------
    def _advance(self, t: int) -> None:
        elapsed = t - self._last_ns
        for a in self._active:
            a.left_ns -= elapsed * a.rate
        self._last_ns = t

    def _retime(self, t: int) -> None:
        contended = len(self._active) > 1
        for a in self._active:
            rate = 1.0 / a.slowdown if contended else 1.0
            if rate != a.rate:
                a.rate = rate
                a.version += 1
                self._at(t + max(0, math.ceil(a.left_ns / rate)), _FINISH, (a, a.version))

    def _fluid_finish(self, t: int, data: tuple) -> None:
        a, version = data
        if version != a.version:
            return  # rescheduled: its speed changed after this event was set
        self._advance(t)
        self._active.remove(a)
        self.busy_ns[a.job[0].name] += t - a.started
        self._retime(t)
        self._finish(t, a.job)

    def _finish(self, t: int, job: tuple) -> None:
        ex, node, cb = job
        self._running -= 1
        if self.guard is not None:
            self.guard.ran(node.name, cb.name, t - node.started)
        if self.cpu is CpuModel.GIL:
            if self._serial_waiters:
                self._run(self._serial_waiters.popleft(), t)
            else:
                self._serial_busy = False
        if not self._early(cb):
            self._outputs(node, cb, t)
        node.busy = False
        ex.idle += 1
        if node.deferred:
            home = self.execs[node.executor]
            for item in node.deferred:
                heapq.heappush(home.heap, item)
            node.deferred = []
            self._dispatch(home, t)
        self._dispatch(ex, t)
        if not self._running and self._gil_waiters:
            self._gil_check(t)  # every worker blocked: the lock is free

    # ---- publishing -------------------------------------------------------------------------
    def _outputs(self, node: _Node, cb: SimCallback, t: int) -> None:
        for topic, p in cb.publishes.items():
            if p >= 1.0 or self.rng.random() < p:
                self._publish(node, topic, t)

    def _publish(self, node: _Node, topic: str, t: int) -> None:
        origins = merge_origins(node.latest)
        if topic in self.chain_starts:
            origins = dict(origins)
            origins[topic] = Origin(t, t)
            self._frame(topic, t)
        for name in self.chain_ends.get(topic, ()):
            origin = origins.get(self.graph.chains[name].start)
            if origin is not None:
                trace = self.traces[name]
                trace.outputs.append((t, t - origin.publish_ns))
                trace.reached.add(origin.publish_ns)
        self._deliver_all(topic, origins, t)

    def _frame(self, topic: str, t: int) -> None:
        for name, chain in self.graph.chains.items():
            if chain.start == topic:
                self.traces[name].frames.append(t)


__all__ = ["CpuModel", "SimRun", "SimTimer", "Simulator"]
