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

GIL hand-off (``switch_ms``, CPython's switch interval): a thread that wakes up -- the timer
thread at a due time, an idle worker handed an input -- needs the interpreter lock first. While
another thread runs a callback it holds the lock, and gives it up only when it blocks or when
the waiter has waited a switch interval. So a wake-up waits ``min(switch, until the holder
blocks)``, which is what makes sensor timers late while the compute thread is busy.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from stack.scheduler.policy import Policy, PolicyKind, make_policy
from tools.schedsim.errors import SimError
from tools.schedsim.model import SimCallback, SimGraph, SimSubscription, SimTimer  # noqa: F401

_TIMER, _SOURCE, _FINISH, _RELEASE = 0, 1, 2, 3


class CpuModel(str, enum.Enum):
    THREADS = "threads"
    GIL = "gil"


@dataclass
class _Env:
    __slots__ = ("origins", "t")
    origins: dict
    t: int


@dataclass(eq=False)
class _Node:
    name: str
    executor: str
    busy: bool = False
    deferred: list = field(default_factory=list)
    latest: dict = field(default_factory=dict)


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


@dataclass
class _Exec:
    name: str
    idle: int
    heap: list = field(default_factory=list)


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
        scale: dict[str, float] | None = None,  # node -> service time multiplier
    ) -> None:
        self.graph = graph
        self.policy: Policy = make_policy(policy)
        self.rng = np.random.default_rng(seed)
        self.cpu = CpuModel(cpu)
        self.overhead_ns = int(overhead_ms * 1e6)
        self.switch_ns = int(switch_ms * 1e6)
        self.scale = scale or {}
        self.stale_check = self.policy.kind is PolicyKind.CHAIN and graph.stale_drop
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
        self.chain_starts = {c.start for c in g.chains.values()}
        self.chain_ends: dict[str, list[str]] = {}
        for c in g.chains.values():
            self.chain_ends.setdefault(c.end, []).append(c.name)
        self.traces = {name: ChainTrace() for name in g.chains}
        self.busy_ns = dict.fromkeys(self.execs, 0)
        self._gil_busy = False
        self._gil_waiters: deque = deque()
        self._running: dict[int, tuple[_Exec, int]] = {}  # job id -> (executor, end time)

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
            self._at(src.period_ns, _SOURCE, i)
        while self._events and self._events[0][0] <= end:
            t, _, kind, data = heapq.heappop(self._events)
            if kind == _FINISH:
                self._finish(t, data)
            elif kind == _TIMER:
                self._fire(t, data)
            elif kind == _RELEASE:
                self._release(t, data)
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

    def _at(self, t: int, kind: int, data: object) -> None:
        heapq.heappush(self._events, (t, next(self._seq), kind, data))

    def _fire(self, t: int, i: int) -> None:
        timer = self.timers[i]
        self._at(t + timer.spec.period_ns, _TIMER, i)
        wait = self._gil_wait(t)  # the timer thread wakes up and needs the interpreter lock
        if wait:
            self._at(t + wait, _RELEASE, i)
        else:
            self._release(t, i)

    def _gil_wait(self, t: int) -> int:
        """How long a thread waking at ``t`` waits for the interpreter lock."""
        if not self.switch_ns or not self._running:
            return 0
        wait = 0
        for ex, end in self._running.values():
            # The holder keeps the lock across callbacks while its queue has work.
            hold = self.switch_ns if ex.heap else min(self.switch_ns, end - t)
            wait = max(wait, hold)
        return wait

    def _release(self, t: int, i: int) -> None:
        timer = self.timers[i]
        if timer.pending:
            timer.skipped += 1
            return
        timer.pending = True
        self._push(timer.node.executor, self.policy.timer_key(timer.spec.chains, t), timer, t)

    def _inject(self, t: int, i: int) -> None:
        src = self.graph.sources[i]
        self._at(t + src.period_ns, _SOURCE, i)
        origins = {}
        if src.topic in self.chain_starts:
            origins = {src.topic: (t, t)}
            self._frame(src.topic, t)
        self._deliver_all(src.topic, _Env(origins, t), t)

    # ---- queues -----------------------------------------------------------------------------
    def _push(self, executor: str, key: tuple[int, int], entity: object, t: int) -> None:
        ex = self.execs[executor]
        heapq.heappush(ex.heap, (key[0], key[1], next(self._seq), entity))
        self._dispatch(ex, t, waking=True)

    def _deliver_all(self, topic: str, env: _Env, t: int) -> None:
        for sub in self.by_topic.get(topic, ()):
            queue = sub.queue
            if len(queue) >= sub.spec.depth:
                queue.popleft()
                sub.overwritten += 1
                queue.append(env)
                continue
            queue.append(env)
            key = self.policy.message_key(sub.spec.chains, env.origins)
            self._push(sub.node.executor, key, sub, t)

    def _dispatch(self, ex: _Exec, t: int, waking: bool = False) -> None:
        while ex.idle > 0 and ex.heap:
            item = heapq.heappop(ex.heap)
            entity = item[3]
            node = entity.node
            if node.busy:
                node.deferred.append(item)
                continue
            if isinstance(entity, _Sub):
                job = self._take_input(entity, t)
                if job is None:
                    continue
            else:
                entity.pending = False
                job = entity.spec.callback
            self._start(ex, node, job, t + (self._gil_wait(t) if waking else 0))

    def _take_input(self, sub: _Sub, t: int) -> SimCallback | None:
        if not sub.queue:
            return None
        env = sub.queue.popleft()
        if self.stale_check and self.policy.stale(sub.spec.chains, env.origins, t) is not None:
            sub.stale += 1
            return None
        sub.node.latest[sub.spec.topic] = env.origins
        return sub.spec.callback

    def _start(self, ex: _Exec, node: _Node, cb: SimCallback, t: int) -> None:
        node.busy = True
        ex.idle -= 1
        job = (ex, node, cb)
        if self.cpu is CpuModel.GIL:
            if self._gil_busy:
                self._gil_waiters.append(job)
                return
            self._gil_busy = True
        self._run(job, t)

    def _run(self, job: tuple, t: int) -> None:
        ex, node, cb = job
        took = cb.service.sample_ns(self.rng, self.scale.get(node.name, 1.0)) + self.overhead_ns
        self.busy_ns[ex.name] += took
        self._running[id(job)] = (ex, t + took)
        self._at(t + took, _FINISH, job)

    def _finish(self, t: int, job: tuple) -> None:
        ex, node, cb = job
        del self._running[id(job)]
        if self.cpu is CpuModel.GIL:
            if self._gil_waiters:
                self._run(self._gil_waiters.popleft(), t)
            else:
                self._gil_busy = False
        for topic, p in cb.publishes.items():
            if p >= 1.0 or self.rng.random() < p:
                self._publish(node, topic, t)
        node.busy = False
        ex.idle += 1
        if node.deferred:
            home = self.execs[node.executor]
            for item in node.deferred:
                heapq.heappush(home.heap, item)
            node.deferred = []
            self._dispatch(home, t)
        self._dispatch(ex, t)

    # ---- publishing -------------------------------------------------------------------------
    def _publish(self, node: _Node, topic: str, t: int) -> None:
        origins = _merged(node.latest)
        if topic in self.chain_starts:
            origins = dict(origins)
            origins[topic] = (t, t)
            self._frame(topic, t)
        for name in self.chain_ends.get(topic, ()):
            origin = origins.get(self.graph.chains[name].start)
            if origin is not None:
                trace = self.traces[name]
                trace.outputs.append((t, t - origin[1]))
                trace.reached.add(origin[1])
        self._deliver_all(topic, _Env(origins, t), t)

    def _frame(self, topic: str, t: int) -> None:
        for name, chain in self.graph.chains.items():
            if chain.start == topic:
                self.traces[name].frames.append(t)


def _merged(latest: dict) -> dict:
    """The runtime's NodeState.merged_origins: the newest origin of each chain start."""
    if len(latest) <= 1:
        for origins in latest.values():
            return origins
        return {}
    merged: dict = {}
    for origins in latest.values():
        for src, val in origins.items():
            old = merged.get(src)
            if old is None or val[1] > old[1]:
                merged[src] = val
    return merged


def simulate_graph(graph: SimGraph, duration_s: float, policy: str = "l4", **kw: object) -> SimRun:
    return Simulator(graph, policy, **kw).run(duration_s)  # type: ignore[arg-type]


__all__ = ["CpuModel", "SimRun", "Simulator", "simulate_graph"]
