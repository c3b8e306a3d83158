"""What the simulator runs: a graph reduced to executors, subscriptions, timers, external
sources and per-callback service times. Build one from a launch file + profile
(:func:`tools.schedsim.build.sim_graph`) or by hand (tests)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from stack.executor.entities import without_chain_starts
from stack.graph import ChainSpec
from stack.scheduler.policy import ChainMembership
from tools.schedsim.errors import SimError

ALIGN_SPREAD = 1  # an aligned draw takes one of the 2 * ALIGN_SPREAD + 1 samples nearest in time


@dataclass(frozen=True)
class Service:
    """Execution time of one callback: drawn from measured samples (one sample: fixed).

    With ``at_ns`` (when each sample was measured, in the profiled run's time) a draw at
    simulated time ``t`` takes one of the samples measured nearest ``t``: a replay of the same
    drive meets the same scene at the same time (a crowded intersection makes the lidar
    callback slow for seconds, not at random), so bursts of slow frames stay bursts."""

    samples_ms: tuple[float, ...]
    at_ns: tuple[int, ...] = ()  # sorted, one per sample; () draws without regard to time

    def __post_init__(self) -> None:
        if self.at_ns and len(self.at_ns) != len(self.samples_ms):
            raise SimError(
                f"Service: {len(self.at_ns)} sample times for {len(self.samples_ms)} samples"
            )

    @classmethod
    def fixed(cls, ms: float) -> Service:
        return cls((float(ms),))

    def sample_ns(self, rng: np.random.Generator, scale: float = 1.0, at: int = 0) -> int:
        s = self.samples_ms
        if len(s) == 1:
            i = 0
        elif self.at_ns:
            i = self._near(at) + int(rng.integers(-ALIGN_SPREAD, ALIGN_SPREAD + 1))
            i = min(max(i, 0), len(s) - 1)
        else:
            i = int(rng.integers(len(s)))
        return round(s[i] * scale * 1e6)

    def _near(self, at: int) -> int:
        """The sample measured nearest ``at``; past the profiled span, the span repeats."""
        first, last = self.at_ns[0], self.at_ns[-1]
        if at > last and last > first:
            at = first + (at - first) % (last - first)
        i = bisect.bisect_left(self.at_ns, at)
        if i > 0 and (i == len(self.at_ns) or at - self.at_ns[i - 1] < self.at_ns[i] - at):
            i -= 1
        return i


@dataclass
class SimCallback:
    node: str
    name: str  # the trace's callback name: "sub:/topic", "timer:tick"
    service: Service
    publishes: Mapping[str, float] = field(default_factory=dict)  # topic -> P(published per run)
    # how much longer the callback takes while another thread runs one (1: not at all);
    # with it, ``service`` is the time alone
    slowdown: float = 1.0
    # its outputs go out this long before it ends (work after publishing: logging, cleanup)
    publish_after_ms: float = 0.0


@dataclass
class SimSubscription:
    node: str
    topic: str
    depth: int
    callback: SimCallback
    chains: tuple[ChainMembership, ...] = ()
    side_input: bool = False  # takes its node's chains' priority, never dropped as stale
    # as stack.executor.entities.Subscription.ahead: the callbacks still ahead on each chain
    ahead: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = field(default_factory=dict)

    def lineage(self, origins: dict) -> dict:
        """As stack.executor.entities.Subscription.lineage."""
        return without_chain_starts(origins, self.chains) if self.side_input else origins


@dataclass
class SimTimer:
    node: str
    period_ns: int
    callback: SimCallback
    chains: tuple[ChainMembership, ...] = ()


@dataclass
class SimSource:
    """A topic fed from outside the graph (a bag) at a fixed rate."""

    topic: str
    period_ns: int
    phase_ns: int | None = None  # first arrival; None: one period in, with no known phase
    rank: int = 0  # sources due at the same instant arrive in rank order


@dataclass
class SimGraph:
    executors: dict[str, int]  # name -> worker threads
    node_executor: dict[str, str]
    subscriptions: list[SimSubscription]
    timers: list[SimTimer]
    sources: list[SimSource]
    chains: dict[str, ChainSpec]
    stale_drop: bool = True
    blocking_guard: bool = True  # the l4 policy's (stack.scheduler.guard)
    # executor -> measured delay of an idle worker starting on a new input (replaces the
    # interpreter-lock hand-off model where given)
    wakeups: dict[str, Service] = field(default_factory=dict)

    def assign_chains(self) -> None:
        """Chain memberships as the runtime assigns them (subscriptions on a chain's path,
        timers of nodes on a chain or publishing its start)."""
        per_node: dict[str, list[ChainMembership]] = {}
        publishers = self.publishers()
        for sub in self.subscriptions:
            sub.chains, sub.ahead = (), {}
        for chain in self.chains.values():
            member = ChainMembership(chain.name, chain.priority, chain.start, chain.budget_ns)
            hops = [
                tuple((s.node, s.callback.name) for s in self.subscriptions if s.topic == topic)
                for topic in chain.path[:-1]
            ]
            for i, topic in enumerate(chain.path[:-1]):
                for sub in self.subscriptions:
                    if sub.topic == topic:
                        sub.chains += (member,)
                        sub.ahead[chain.name] = tuple(h for h in hops[i:] if h)
                        per_node.setdefault(sub.node, []).append(member)
            for node in publishers.get(chain.start, ()):
                per_node.setdefault(node, []).append(member)
        for timer in self.timers:
            timer.chains = tuple(dict.fromkeys(per_node.get(timer.node, ())))

    def publishers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cb in self.callbacks():
            for topic in cb.publishes:
                nodes = out.setdefault(topic, [])
                if cb.node not in nodes:
                    nodes.append(cb.node)
        return out

    def callbacks(self) -> list[SimCallback]:
        return [s.callback for s in self.subscriptions] + [t.callback for t in self.timers]
