"""Budget analysis of a run directory: chain latency against budgets, per-callback statistics,
drops, deadline misses and model variant switches."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from stack.graph import ChainSpec
from stack.report.profile import (
    SourceSchedule,
    first_consumed,
    overlap_fractions,
    source_origin_ns,
    source_schedules,
    wakeup_delays_ns,
    warm_start_ns,
)
from stack.trace.lineage import ChainSamples, chain_nodes, chain_samples
from stack.trace.records import DROP_KINDS, EventKind, event_count
from stack.trace.rundir import RunDir

if TYPE_CHECKING:
    from stack.report.telemetry import Telemetry

MAX_PROFILE_SAMPLES = 2000


class Verdict(str, enum.Enum):
    OK = "OK"
    OVER = "OVER BUDGET"
    NO_DATA = "NO DATA"


def pct_ms(values_ns: np.ndarray, pct: float) -> float:
    if len(values_ns) == 0:
        return float("nan")
    return float(np.percentile(values_ns, pct)) / 1e6


@dataclass
class ChainResult:
    spec: ChainSpec
    samples: ChainSamples
    drops: int
    source: str  # "trace" (lineage in the trace) or "online" (the executor's own samples)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def latency_ms(self) -> np.ndarray:
        return self.samples.latency_ns / 1e6

    def pct_ms(self, pct: float) -> float:
        return pct_ms(self.samples.latency_ns, pct)

    @property
    def at_percentile_ms(self) -> float:
        return self.pct_ms(self.spec.percentile)

    @property
    def max_ms(self) -> float:
        return float(self.samples.latency_ns.max()) / 1e6 if self.count else float("nan")

    @property
    def miss_mask(self) -> np.ndarray:
        return self.samples.latency_ns > self.spec.budget_ns

    @property
    def misses(self) -> int:
        return int(self.miss_mask.sum())

    @property
    def verdict(self) -> Verdict:
        if not self.count:
            return Verdict.NO_DATA
        return Verdict.OK if self.at_percentile_ms <= self.spec.budget_ms else Verdict.OVER

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


@dataclass
class CallbackResult:
    node: str
    callback: str
    durations_ns: np.ndarray
    rate_hz: float
    exceptions: int = 0
    drops: int = 0
    # topic -> fraction of its steady-state runs that published it (for the simulator's profile)
    publishes: dict[str, float] = field(default_factory=dict)
    steady_ns: np.ndarray | None = None  # durations once the graph was warm (None: all are)
    # mean fraction of its steady runs spent while another worker thread ran a callback
    overlap: float = 0.0
    # when each steady run began, after the first sensor input (time 0 of the sources)
    steady_at_ns: np.ndarray | None = None
    # mean time from a steady run's first publish to its end (work after its output)
    publish_after_ms: float = 0.0

    @property
    def count(self) -> int:
        return len(self.durations_ns)

    def pct_ms(self, pct: float) -> float:
        return pct_ms(self.durations_ns, pct)

    @property
    def max_ms(self) -> float:
        return float(self.durations_ns.max()) / 1e6 if self.count else float("nan")

    @property
    def mean_ms(self) -> float:
        return float(self.durations_ns.mean()) / 1e6 if self.count else float("nan")

    def profile_samples_ms(self, limit: int = MAX_PROFILE_SAMPLES) -> list[float]:
        """Up to ``limit`` steady-state execution times, evenly spread over the run (for a
        schedulability simulator that replays measured profiles)."""
        steady = self.steady_ns is not None and len(self.steady_ns) > 0
        return samples_ms(self.steady_ns if steady else self.durations_ns, limit)

    def profile_times_s(self, limit: int = MAX_PROFILE_SAMPLES) -> list[float] | None:
        """When each of :meth:`profile_samples_ms` was measured: seconds after the first
        input from outside the graph, the time 0 of the report's ``sources``."""
        if self.steady_at_ns is None or not len(self.steady_at_ns):
            return None
        return [round(ms / 1e3, 4) for ms in samples_ms(self.steady_at_ns, limit)]


def samples_ms(values_ns: np.ndarray, limit: int = MAX_PROFILE_SAMPLES) -> list[float]:
    """Up to ``limit`` values in ms, evenly spread over the array."""
    if len(values_ns) > limit:
        values_ns = values_ns[np.linspace(0, len(values_ns) - 1, limit).astype(np.int64)]
    return [round(float(x) / 1e6, 4) for x in values_ns]


@dataclass
class NodeResult:
    name: str
    callbacks: dict[str, CallbackResult] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)
    switches: int = 0
    # (t_ns, variant) where the node's current variant changed, the first run included
    variant_timeline: list[tuple[int, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(cb.count for cb in self.callbacks.values())

    @property
    def rate_hz(self) -> float:
        return sum(cb.rate_hz for cb in self.callbacks.values())

    @property
    def durations_ns(self) -> np.ndarray:
        parts = [cb.durations_ns for cb in self.callbacks.values()]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def pct_ms(self, pct: float) -> float:
        return pct_ms(self.durations_ns, pct)

    @property
    def max_ms(self) -> float:
        d = self.durations_ns
        return float(d.max()) / 1e6 if len(d) else float("nan")

    @property
    def exceptions(self) -> int:
        return self.counters.get(EventKind.EXCEPTION.value, 0)

    @property
    def overwrites(self) -> int:
        return self.counters.get(EventKind.OVERWRITE.value, 0)

    @property
    def drops(self) -> int:
        return sum(self.counters.get(k, 0) for k in DROP_KINDS)

    @property
    def deadline_misses(self) -> int:
        return self.counters.get(EventKind.DEADLINE_MISS.value, 0)


@dataclass(frozen=True)
class TimelineEvent:
    t_ns: int
    node: str
    kind: str
    detail: str
    derived: bool = False  # found by the analysis (a variant change), not recorded by a node


@dataclass
class RunAnalysis:
    run: RunDir
    chains: dict[str, ChainResult]
    nodes: dict[str, NodeResult]
    events: list[TimelineEvent]
    t0_ns: int
    duration_s: float
    records: int
    truncated: bool
    warm_ns: int = 0  # from here on every chain had delivered: the steady state profiled
    sources: dict[str, SourceSchedule] = field(default_factory=dict)
    wakeups_ns: dict[str, np.ndarray] = field(default_factory=dict)  # executor -> delays
    origin_ns: int = 0  # time 0 of the callbacks' ``steady_at_ns`` (perf_counter ns)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.chains.values())

    @property
    def name(self) -> str:
        return self.run.name

    @cached_property
    def telemetry(self) -> Telemetry | None:
        """The run's Jetson telemetry (None without it), read once for every output."""
        from stack.report.telemetry import load_telemetry

        return load_telemetry(self.run.path)


@dataclass(frozen=True)
class _Columns:
    """Per-record columns, extracted once (a million records: list comprehensions, not loops)."""

    keys: list[tuple[str, str]]  # (node, callback) of each id
    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, records: Sequence[tuple]) -> _Columns:
        index = {k: i for i, k in enumerate(dict.fromkeys([(r[0], r[1]) for r in records]))}
        ids = np.array([index[(r[0], r[1])] for r in records], np.int64)
        start = np.array([r[4] for r in records], np.int64)
        end = np.array([r[5] for r in records], np.int64)
        return cls(list(index), ids, start, end)


def analyze(run: RunDir) -> RunAnalysis:
    """Everything the report shows, computed once from a run directory."""
    records: Sequence[tuple] = run.trace.records if run.has_trace else []
    truncated = run.trace.truncated if run.has_trace else False
    if records:
        samples = chain_samples(records, run.chains)
        source = "trace"
    else:
        online = run.online_latencies
        samples = {
            n: ChainSamples.from_online(online.get(n, np.zeros((0, 2), np.int64)))
            for n in run.chains
        }
        source = "online"
    cols = _Columns.of(records) if records else None
    t0, t1 = _time_span(cols, samples)
    duration_s = max((t1 - t0) / 1e9, 1e-9)
    warm = warm_start_ns(samples, t0)
    first = first_consumed(records) if records else {}
    origin = t0 if (found := source_origin_ns(first)) is None else found
    nodes = _nodes(run, records, cols, duration_s, warm, origin)
    events = _events(records)
    _variants(records, nodes, events)
    chains = {
        name: ChainResult(spec, samples[name], _chain_drops(run, spec), source)
        for name, spec in run.chains.items()
    }
    return RunAnalysis(
        run, chains, nodes, events, t0, duration_s, len(records), truncated, warm,
        source_schedules(records, first) if records else {},
        wakeup_delays_ns(records) if records else {}, origin,
    )  # fmt: skip


def _time_span(cols: _Columns | None, samples: dict[str, ChainSamples]) -> tuple[int, int]:
    if cols is not None:
        return int(cols.start.min()), int(cols.end.max())
    ends = [s.publish_ns for s in samples.values() if len(s)]
    if not ends:
        return 0, 0
    lo = min(int((s.publish_ns - s.latency_ns).min()) for s in samples.values() if len(s))
    return lo, max(int(e.max()) for e in ends)


def _nodes(
    run: RunDir,
    records: Sequence[tuple],
    cols: _Columns | None,
    duration_s: float,
    warm_ns: int,
    origin_ns: int,
) -> dict[str, NodeResult]:
    nodes = {name: NodeResult(name) for name in run.meta.get("nodes", {})}
    for name, counters in run.counters.items():
        nodes.setdefault(name, NodeResult(name)).counters = dict(counters)
    if cols is None:
        return nodes
    dur = cols.end - cols.start
    runs = ~_decision_mask(records)
    order = np.argsort(cols.ids, kind="stable")
    order = order[runs[order]]
    bounds = np.searchsorted(cols.ids[order], np.arange(len(cols.keys) + 1))
    per_cb_events = _callback_event_counts(records)
    warm = cols.start >= warm_ns
    published, after = _outputs(records, runs & warm)
    overlap = overlap_fractions(records)
    for k, (node, cb) in enumerate(cols.keys):
        idx = order[bounds[k] : bounds[k + 1]]
        d = dur[idx]
        exc, drops = per_cb_events.get((node, cb), (0, 0))
        counts = published.get((node, cb), {})
        steady_idx = idx[warm[idx]]
        steady_n = len(steady_idx)
        shares = {t: c / steady_n for t, c in counts.items()} if steady_n else {}
        ovl = float(overlap[steady_idx].mean()) if len(steady_idx) else 0.0
        result = CallbackResult(
            node, cb, d, len(d) / duration_s, exc, drops, shares, dur[steady_idx], ovl,
            cols.start[steady_idx] - origin_ns, after.get((node, cb), 0.0),
        )  # fmt: skip
        nodes.setdefault(node, NodeResult(node)).callbacks[cb] = result
    return nodes


def _outputs(
    records: Sequence[tuple], runs: np.ndarray
) -> tuple[dict[tuple[str, str], dict[str, int]], dict[tuple[str, str], float]]:
    """Per callback, over ``runs`` that published: how many published each topic, and the
    mean ms from the first publish to the run's end (a simulator delivers the output that
    much before the callback ends)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    after: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        if not runs[i] or not r[7]:
            continue
        key = (r[0], r[1])
        topics = counts.setdefault(key, {})
        for topic in {o[0] for o in r[7]}:
            topics[topic] = topics.get(topic, 0) + 1
        acc = after.setdefault(key, [0, 0])
        acc[0] += r[5] - min(o[1] for o in r[7])
        acc[1] += 1
    return counts, {key: total / n / 1e6 for key, (total, n) in after.items()}


def _decision_mask(records: Sequence[tuple]) -> np.ndarray:
    """Zero-length records the scheduler writes for an input it dropped as stale: events to
    count, not callback runs to time."""
    mask = np.zeros(len(records), bool)
    drop = EventKind.DROP.value
    with_events = [i for i, r in enumerate(records) if r[9]]
    for i in with_events:
        r = records[i]
        if r[4] == r[5] and not r[7] and any(k == drop for k, _ in r[9]):
            mask[i] = True
    return mask


def _callback_event_counts(records: Sequence[tuple]) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for r in records:
        if not r[9]:
            continue
        exc, drops = out.get((r[0], r[1]), (0, 0))
        for kind, detail in r[9]:
            if kind == EventKind.EXCEPTION.value:
                exc += 1
            elif kind in DROP_KINDS:
                drops += event_count(detail)
        out[(r[0], r[1])] = (exc, drops)
    return out


def _events(records: Sequence[tuple]) -> list[TimelineEvent]:
    return [
        TimelineEvent(r[4], r[0], str(kind), str(detail))
        for r in records
        if r[9]
        for kind, detail in r[9]
    ]


def _variants(
    records: Sequence[tuple], nodes: dict[str, NodeResult], events: list[TimelineEvent]
) -> None:
    """Variants each node used and its switches. Nodes whose variant set records "switch"
    events keep those; for the others a switch event is derived where consecutive runs differ."""
    recorded: dict[str, int] = {}
    for e in events:
        if e.kind == EventKind.SWITCH.value:
            recorded[e.node] = recorded.get(e.node, 0) + 1
    for node, count in recorded.items():
        nodes.setdefault(node, NodeResult(node)).switches = count
    last: dict[str, str] = {}
    for r in records:
        variant = r[8]
        if not variant:
            continue
        node = r[0]
        prev = last.get(node)
        if prev == variant:
            continue
        last[node] = variant
        result = nodes.setdefault(node, NodeResult(node))
        result.variant_timeline.append((int(r[4]), variant))
        if variant not in result.variants:
            result.variants.append(variant)
        if prev is not None and node not in recorded:
            result.switches += 1
            events.append(
                TimelineEvent(r[4], node, EventKind.SWITCH.value, f"{prev} -> {variant}", True)
            )
    events.sort(key=lambda e: e.t_ns)


def _chain_drops(run: RunDir, chain: ChainSpec) -> int:
    """Inputs lost along the chain: queue overwrites on the subscriptions that carry it, plus
    stale-input drops counted by the chain's processing nodes."""
    publishers = run.publishers
    carriers = {
        (topic, node)
        for topic, nxt in zip(chain.path, chain.path[1:])
        for node in publishers.get(nxt, ())
    }
    overwrites = sum(s.overwritten for s in run.subscriptions if (s.topic, s.node) in carriers)
    stale_nodes = chain_nodes(chain, publishers)
    stale = sum(run.counters.get(n, {}).get(EventKind.DROP.value, 0) for n in stale_nodes)
    return overwrites + stale


def compare_chains(a: RunAnalysis, b: RunAnalysis) -> dict[str, dict[str, Any]]:
    """Change of each chain of ``a`` against the same chain in baseline ``b``."""
    out: dict[str, dict[str, Any]] = {}
    for name, ca in a.chains.items():
        cb = b.chains.get(name)
        if cb is None:
            out[name] = {"in_baseline": False}
            continue
        out[name] = {
            "in_baseline": True,
            "p50_ms": _delta(ca.pct_ms(50), cb.pct_ms(50)),
            "p99_ms": _delta(ca.pct_ms(99), cb.pct_ms(99)),
            "max_ms": _delta(ca.max_ms, cb.max_ms),
            "misses": ca.misses - cb.misses,
            "drops": ca.drops - cb.drops,
            "baseline_ok": cb.ok,
        }
    return out


def _delta(x: float, base: float) -> float | None:
    if np.isnan(x) or np.isnan(base):
        return None
    return x - base
