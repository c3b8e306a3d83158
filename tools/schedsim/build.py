"""From a launch file and a measured profile to a SimGraph, and the `predict` entry point."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stack.executor.view import BuiltGraph
from stack.graph import LaunchGraph
from stack.scheduler.config import parse_scheduler
from stack.scheduler.errors import SchedulerError
from tools.schedsim.errors import SimError
from tools.schedsim.model import (
    Service,
    SimCallback,
    SimGraph,
    SimSource,
    SimSubscription,
    SimTimer,
)
from tools.schedsim.profile import CallbackProfile, Profile
from tools.schedsim.results import ChainStats, sim_chain_stats
from tools.schedsim.simulator import CpuModel, Simulator

log = logging.getLogger(__name__)
CPU = "cpu"  # the speed factor that applies to every callback
# Calibrated on CPython 3.11 with SCHED_FIFO threads (`l4 bench sim`): a forced GIL switch lands
# this long after the switch interval, and a thread woken right after one loses the race for
# the lock this often.
FORCED_SWITCH_MS = 0.15
HANDOFF_LOSS = 0.3
DISPATCH_MS = 0.015  # executor work between two callbacks (record, queue pop)


@dataclass
class Prediction:
    policy: str
    duration_s: float
    chains: dict[str, ChainStats]
    utilization: dict[str, float]  # executor -> busy fraction of its threads
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.chains.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "duration_s": self.duration_s,
            "ok": self.ok,
            "chains": {name: c.to_json() for name, c in self.chains.items()},
            "utilization": {k: round(v, 4) for k, v in self.utilization.items()},
            "warnings": list(self.warnings),
        }


def build_runtime(graph: LaunchGraph, external: tuple[str, ...] = ()) -> BuiltGraph:
    """The graph's nodes constructed (lockstep, nothing runs) to learn their topics and timers."""
    from stack.executor import ExecutorError, Runtime, SimClock
    from stack.graph import GraphError

    try:
        return Runtime(graph, SimClock(), lockstep=True, external_topics=external)
    except (ExecutorError, GraphError) as exc:
        raise SimError(str(exc)) from exc


def sim_graph(
    runtime: BuiltGraph,
    profile: Profile,
    *,
    rates_hz: Mapping[str, float] | None = None,
    warnings: list[str] | None = None,
    solo: Profile | None = None,
    aligned: bool = True,
) -> SimGraph:
    """The runtime's graph with service times from ``profile``; external topics at
    ``rates_hz`` (topic -> Hz) or at the rate the profile observed. ``aligned``: draw each
    callback's times from the samples measured nearest the simulated time, where the profile
    says when they were measured (see :class:`Service`).

    With ``solo`` (the profile of a lockstep run: every callback alone), service times are
    the solo ones and each callback slows down by what ``profile`` measured beside other work
    (see :func:`slowdown`)."""
    graph: LaunchGraph = runtime.graph
    warnings = warnings if warnings is not None else []
    node_topics: dict[str, list[str]] = {}
    for name, topic in runtime.topics.items():
        for node in topic.publishers:
            node_topics.setdefault(node, []).append(name)

    def callback(node: str, name: str) -> SimCallback:
        prof = profile.get(node, name)
        if prof is None:
            warnings.append(f"profile has no {node}/{name}: taken as 0 ms")
            return SimCallback(node, name, Service.fixed(0.0), _all(node_topics.get(node, [])))
        pubs = prof.publishes
        if pubs is None:
            pubs = _all(node_topics.get(node, []))
        alone = solo.get(node, name) if solo is not None else None
        if alone is None:
            return SimCallback(
                node, name, _service(prof, aligned), dict(pubs),
                publish_after_ms=prof.publish_after_ms,
            )  # fmt: skip
        service = Service(tuple(alone.samples_ms.tolist()))
        return SimCallback(node, name, service, dict(pubs), slowdown(prof, alone))

    subs = [
        SimSubscription(
            s.node.name,
            s.topic,
            s.depth,
            callback(s.node.name, s.name),
            s.chains,
            s.side_input,
            s.ahead,
        )
        for t in runtime.topics.values()
        for s in t.subscriptions
    ]
    timers = [
        SimTimer(tm.node.name, tm.period_ns, callback(tm.node.name, tm.name), tm.chains)
        for tm in runtime.timers
    ]
    sources = _sources(runtime, profile, rates_hz or {}, warnings)
    try:
        config = parse_scheduler(graph.scheduler, graph.source)
    except SchedulerError as exc:
        raise SimError(str(exc)) from exc
    return SimGraph(
        executors={n: e.threads for n, e in graph.executors.items()},
        node_executor={n: s.executor for n, s in graph.nodes.items()},
        subscriptions=subs,
        timers=timers,
        sources=sources,
        chains=dict(graph.chains),
        stale_drop=config.stale_drop,
        blocking_guard=config.blocking_guard,
        wakeups={ex: Service(tuple(d.tolist())) for ex, d in profile.wakeups_ms.items()},
    )


def _service(prof: CallbackProfile, aligned: bool) -> Service:
    if not aligned or prof.at_s is None:
        return Service(tuple(prof.samples_ms.tolist()))
    order = np.argsort(prof.at_s, kind="stable")
    at_ns = np.round(prof.at_s[order] * 1e9).astype(np.int64)
    return Service(tuple(prof.samples_ms[order].tolist()), tuple(at_ns.tolist()))


MIN_OVERLAP = 0.1  # below this the measured runs say too little about contention
MAX_SLOWDOWN = 4.0


def slowdown(measured: CallbackProfile, alone: CallbackProfile) -> float:
    """The factor a callback's time stretches by while another thread runs a callback:
    measured mean = solo mean * (1 + (slowdown - 1) * overlap)."""
    solo = float(alone.samples_ms.mean())
    if measured.overlap < MIN_OVERLAP or solo <= 0:
        return 1.0
    ratio = float(measured.samples_ms.mean()) / solo
    return float(np.clip(1.0 + (ratio - 1.0) / measured.overlap, 1.0, MAX_SLOWDOWN))


def _all(topics: list[str]) -> dict[str, float]:
    return dict.fromkeys(topics, 1.0)


def _sources(
    runtime: BuiltGraph, profile: Profile, rates: Mapping[str, float], warnings: list[str]
) -> list[SimSource]:
    """External topics at their profiled schedule (period and phase), or at ``rates``."""
    out = []
    for name, topic in sorted(runtime.topics.items()):
        if topic.publishers or not topic.subscriptions:
            continue
        src = _source(name, profile, rates.get(name))
        if src is None and profile.sources:
            # The profile knows what arrived: this topic was silent in the profiled run.
            warnings.append(f"topic {name} never arrived in the profiled run: not simulated")
            continue
        if src is None:
            raise SimError(
                f"topic {name} comes from outside the graph and its rate is unknown: "
                f"the profile has no subscriber rate for it; give --rate {name}=HZ"
            )
        out.append(src)
    unknown = set(rates) - {s.topic for s in out}
    if unknown:
        raise SimError(
            f"--rate: {sorted(unknown)} are not external topics of the graph "
            f"(external: {[s.topic for s in out]})"
        )
    return out


def _source(topic: str, profile: Profile, hz: float | None) -> SimSource | None:
    sched = profile.sources.get(topic)
    if hz is None and sched is not None:
        return SimSource(
            topic, round(sched.period_ms * 1e6), round(sched.phase_ms * 1e6), sched.rank
        )
    hz = hz or profile.observed_rate_hz(topic)
    if not hz or hz <= 0:
        return None
    period = round(1e9 / hz)
    # A given rate keeps the profiled phase as a fraction of the period.
    if sched is None:
        return SimSource(topic, period)
    return SimSource(topic, period, round(period * sched.phase_ms / sched.period_ms), sched.rank)


def speed_scale(graph: LaunchGraph, speeds: Mapping[str, float]) -> dict[str, float]:
    """Service-time multiplier per node from RESOURCE=FACTOR speed factors (factor 2 = twice
    as fast). A node's own name wins over its executor's, which wins over "cpu"."""
    known = {CPU} | set(graph.executors) | set(graph.nodes)
    for res, factor in speeds.items():
        if res not in known:
            raise SimError(
                f"--speed {res}={factor}: unknown resource {res!r}; use 'cpu', an executor "
                f"({sorted(graph.executors)}) or a node ({sorted(graph.nodes)})"
            )
        if not factor > 0:
            raise SimError(f"--speed {res}={factor}: the factor must be > 0")
    out = {}
    for name, spec in graph.nodes.items():
        factor = speeds.get(name, speeds.get(spec.executor, speeds.get(CPU, 1.0)))
        out[name] = 1.0 / factor
    return out


def predict(
    runtime: BuiltGraph,
    profile: Profile,
    *,
    policy: str = "l4",
    duration_s: float = 60.0,
    speeds: Mapping[str, float] | None = None,
    rates_hz: Mapping[str, float] | None = None,
    seed: int = 0,
    repeats: int = 1,
    cpu: str | CpuModel = CpuModel.THREADS,
    overhead_ms: float = DISPATCH_MS,
    switch_ms: float | None = None,
    handoff_loss: float = HANDOFF_LOSS,
    solo: Profile | None = None,
    aligned: bool = True,
) -> Prediction:
    """Simulate ``runtime``'s graph under ``policy`` for ``duration_s`` of graph time,
    ``repeats`` times with seeds ``seed, seed + 1, ...``, pooling the chain samples: what
    runs of that length will show (timers start in phase, as in the runtime)."""
    if duration_s <= 0:
        raise SimError(f"duration must be > 0 s, got {duration_s}")
    if repeats < 1:
        raise SimError(f"repeats must be >= 1, got {repeats}")
    warnings: list[str] = []
    # Other sensor rates than profiled: the profiled times no longer meet the same frames.
    aligned = aligned and not rates_hz
    g = sim_graph(
        runtime, profile, rates_hz=rates_hz, warnings=warnings, solo=solo, aligned=aligned
    )
    scale = speed_scale(runtime.graph, speeds or {})
    if switch_ms is None and g.wakeups:
        switch_ms = 0.0  # the measured wake-ups include the waits for the interpreter lock
    if switch_ms is None:  # CPython's, as the graph's process will run with it
        switch_ms = sys.getswitchinterval() * 1e3 + FORCED_SWITCH_MS
    runs = [
        Simulator(
            g, policy, seed=seed + i, cpu=cpu, overhead_ms=overhead_ms, switch_ms=switch_ms,
            handoff_loss=handoff_loss, scale=scale,
        ).run(duration_s)
        for i in range(repeats)
    ]  # fmt: skip
    stats = sim_chain_stats(runs, g.chains, g.publishers())
    threads = g.executors
    total = duration_s * 1e9 * repeats
    util = {ex: sum(r.busy_ns[ex] for r in runs) / (total * threads[ex]) for ex in threads}
    return Prediction(policy, duration_s, stats, util, warnings)


def unschedulable_chains(prediction: Prediction) -> list[str]:
    """One line per chain the simulation says misses its budget at its percentile."""
    lines = []
    for c in prediction.chains.values():
        if c.ok:
            continue
        at = "no output" if c.count == 0 else f"p{c.percentile:g} {c.at_percentile_ms:.1f} ms"
        lines.append(
            f"chain {c.name}: predicted {at} > budget {c.budget_ms:g} ms "
            f"(miss rate {100 * c.miss_rate:.1f} %)"
        )
    return lines
