"""Chain assignment: which chains each subscription and timer serves (for priority and deadline)."""

from __future__ import annotations

from collections.abc import Iterable

from stack.executor.entities import Timer
from stack.executor.routing import Router
from stack.scheduler.policy import ChainMembership

Hop = tuple[tuple[str, str], ...]  # the (node, callback) pairs that make one hop of a chain


def assign_chains(router: Router, timers: Iterable[Timer]) -> None:
    """Tell each subscription and timer which chains it serves.

    A subscription serves a chain where its node makes the next hop of the path. A side
    input of such a node (the pose a tracker needs to place objects) serves the node's
    chains too: starving it would stall the chain as surely as starving the hop itself.
    Its age says nothing about the chain's, so it is not dropped as stale: a scan-matched
    pose carries the lineage of the odometry it started from, older than the 20 ms budget of
    the IMU chain by the time it arrives, and dropping it cost localization its scan poses.
    """
    per_node: dict[str, list[ChainMembership]] = {}
    topic_of = router.topic  # a process executor's part may lack some of a chain's topics
    for chain in router.graph.chains.values():
        member = ChainMembership(chain.name, chain.priority, chain.start, chain.budget_ns)
        hops = [hop(router, topic, nxt) for topic, nxt in zip(chain.path, chain.path[1:])]
        for i, topic in enumerate(chain.path[:-1]):
            for sub in topic_of(topic).subscriptions:
                if (sub.node.name, sub.name) in hops[i]:
                    sub.chains += (member,)
                    sub.ahead[chain.name] = tuple(h for h in hops[i:] if h)
                    per_node.setdefault(sub.node.name, []).append(member)
        for node in topic_of(chain.start).publishers:
            per_node.setdefault(node, []).append(member)
    for state in router.topics.values():
        for sub in state.subscriptions:
            if not sub.chains:
                sub.chains = tuple(dict.fromkeys(per_node.get(sub.node.name, ())))
                sub.side_input = bool(sub.chains)
    for timer in timers:
        timer.chains = tuple(dict.fromkeys(per_node.get(timer.node.name, ())))


def hop(router: Router, topic: str, nxt: str) -> Hop:
    """The callbacks that take ``topic`` to ``nxt``: (node, callback) of each subscription to
    ``topic`` whose node publishes ``nxt`` (a process executor's part may hold none)."""
    makers = set(router.topic(nxt).publishers)
    subs = router.topic(topic).subscriptions
    return tuple((s.node.name, s.name) for s in subs if s.node.name in makers)
