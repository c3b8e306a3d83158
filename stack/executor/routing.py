"""Topic routing: the graph's topics, and where a publish or an inject goes from there.

A message published on a topic is counted, sampled for the chains that end there, shown to the
taps (the recorder, the rclpy bridge), queued on the subscriptions that run in this process and
handed to the pipes of the process executors that subscribe it (or up to the parent). This is the
per-message path: keep it as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stack.executor.entities import Envelope, Link, NodeState, Subscription, Tap, TopicState
from stack.executor.errors import ExecutorError
from stack.graph import LaunchGraph, Topology
from stack.msgs import stamp_of
from stack.scheduler.policy import Policy
from stack.trace.records import Origin, Origins

if TYPE_CHECKING:
    from stack.scheduler.hooks import SchedulerHooks


class Remote(Link, Protocol):
    """A process executor, as routing sees it: the nodes it runs and its pipe."""

    @property
    def nodes(self) -> frozenset[str]: ...


class Router:
    """The topics of one runtime and the routing of every message published on them."""

    def __init__(self, graph: LaunchGraph, policy: Policy, scheduler: SchedulerHooks) -> None:
        self.graph = graph
        self.policy = policy
        self.scheduler = scheduler  # its blocking guard hears of every arrival
        self.topics: dict[str, TopicState] = {}
        self.taps: list[Tap] = []
        self.chain_latencies: dict[str, list[tuple[int, int]]] = {c: [] for c in graph.chains}
        # Chain start topic -> publish times of the frames that entered there (degrade
        # controllers judge each frame, delivered or not: stack.scheduler.frames).
        self.start_times: dict[str, list[int]] = {}

    # ---- declaring ----------------------------------------------------------------------
    def topic(self, name: str, msgtype: str = "") -> TopicState:
        state = self.topics.get(name)
        if state is None:
            state = self.topics[name] = TopicState(name, msgtype)
        elif msgtype and not state.msgtype:
            state.msgtype = msgtype
        return state

    def declare_topic(self, topic: str, msgtype: str, node: str, *, publisher: bool) -> None:
        state = self.topic(topic, msgtype)
        if state.msgtype != msgtype:
            raise ExecutorError(
                f"{self.graph.source}: nodes.{node}: topic {topic!r} declared as {msgtype}, "
                f"but already used as {state.msgtype}"
            )
        if publisher:
            state.publishers.append(node)

    def add_subscription(self, sub: Subscription) -> None:
        state = self.topic(sub.topic)
        state.subscriptions.append(sub)
        state.local.append(sub)

    def mark_chain_starts(self) -> None:
        """Flag the chains' start topics (before the nodes are built: a publish there starts
        a lineage)."""
        for chain in self.graph.chains.values():
            self.topic(chain.start).chain_start = True
            self.start_times.setdefault(chain.start, [])

    def mark_chain_ends(self) -> None:
        """Note the chains ending on each topic (a publish there is a latency sample)."""
        for chain in self.graph.chains.values():
            self.topic(chain.end).chain_ends.append(chain.name)

    def topology(self) -> Topology:
        pubs = {t: tuple(s.publishers) for t, s in self.topics.items() if s.publishers}
        subs = {
            t: tuple(sub.node.name for sub in s.subscriptions)
            for t, s in self.topics.items()
            if s.subscriptions
        }
        return Topology(pubs, subs)

    # ---- process executors --------------------------------------------------------------
    def route_up(self, uplink: Link) -> None:
        """A process executor's own runtime: what its nodes publish goes up to the parent."""
        for state in self.topics.values():
            if state.publishers:
                state.links.append(uplink)

    def route_to(self, remotes: Sequence[Remote]) -> None:
        """The parent's runtime: the subscriptions of ``remotes``' nodes run there, not here;
        their topics go down their pipes."""
        remote_nodes = {n for r in remotes for n in r.nodes}
        for state in self.topics.values():
            state.local[:] = [s for s in state.subscriptions if s.node.name not in remote_nodes]
            state.links[:] = [r for r in remotes if _subscribes(r, state.subscriptions)]

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
                origins[topic] = Origin(stamp_of(msg), now)
            node.outputs.append((topic, now, origins))
            fan_out(state, msg, origins, now, None)

        return publish

    def publish_from(
        self, source: object, topic: str, msg: Any, origins: Origins, publish_ns: int
    ) -> None:
        """A message a process executor (``source``) published: counted and delivered here as
        if published here, and forwarded to the other process executors that subscribe it."""
        self._fan_out(self.topics[topic], msg, origins, publish_ns, source)

    def _fan_out(
        self, state: TopicState, msg: Any, origins: Origins, now: int, source: object
    ) -> None:
        """A publish on ``state``'s topic: chain samples, taps, local subscriptions, and the
        pipes of process executors (but not back to ``source``, the one it came from)."""
        topic = state.name
        if state.chain_start:
            origin = origins.get(topic)
            if origin is not None:
                self.start_times[topic].append(origin.publish_ns)
        for name in state.chain_ends:
            origin = origins.get(self.graph.chains[name].start)
            if origin is not None:
                self.chain_latencies[name].append((now, now - origin.publish_ns))
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

    def deliver_external(self, topic: str, msg: Any, origins: Origins, publish_ns: int) -> None:
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
        origins: Origins = {}
        if state.chain_start:
            origins = {topic: Origin(stamp_of(msg), now)}
            self.start_times[topic].append(now)
        env = Envelope(topic, msg, origins, now)
        state.published += 1
        for sub in state.local:
            self._deliver(sub, env, self.policy)
        for link in state.links:
            link.forward(topic, state.msgtype, msg, origins, now)

    def _deliver(self, sub: Subscription, env: Envelope, policy: Policy) -> None:
        queue = sub.queue
        full = len(queue) >= sub.depth
        if full:
            queue.popleft()
            sub.overwritten += 1
            sub.node.count("overwrite")
        queue.append(env)
        guard = self.scheduler.guard
        if guard is not None:
            guard.arrived(sub, env.publish_ns)
        if not full:  # else the ready item already queued for this subscription takes the newest
            sub.node.queue.push(policy.message_key(sub.chains, env.origins), sub)

    # ---- results ------------------------------------------------------------------------
    def dropped(self) -> int:
        """Inputs overwritten in a full subscription queue, over every subscription."""
        return sum(s.overwritten for t in self.topics.values() for s in t.subscriptions)


def _subscribes(remote: Remote, subs: Iterable[Subscription]) -> bool:
    return any(s.node.name in remote.nodes for s in subs)
