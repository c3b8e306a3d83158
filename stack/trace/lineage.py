"""Chain latency from message lineage in the trace.

Every output in a record carries ``origins``: {chain start topic: Origin(header stamp ns, time
it was published on the start topic)}, merged newest-per-source across a node's inputs. So a
chain's latency at each publish on its end topic is ``publish_ns - origins[start].publish_ns``,
whatever the path in between: a fusion node's output carries the origin of each of its sources (fan-in), and
every branch of a fan-out carries the same origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from stack.graph import ChainSpec


@dataclass(frozen=True)
class ChainSamples:
    """One row per publish on the chain's end topic."""

    publish_ns: np.ndarray  # int64, perf_counter ns of the end publish
    latency_ns: np.ndarray  # int64, publish_ns - start publish time
    stamp_ns: np.ndarray  # int64, header stamp of the start message

    def __len__(self) -> int:
        return len(self.latency_ns)

    def select(self, mask: np.ndarray) -> ChainSamples:
        """The rows where ``mask`` is True."""
        return ChainSamples(self.publish_ns[mask], self.latency_ns[mask], self.stamp_ns[mask])

    @classmethod
    def from_online(cls, rows: np.ndarray) -> ChainSamples:
        """From the executor's (publish_ns, latency_ns) rows; stamps are unknown (-1)."""
        rows = np.asarray(rows, np.int64).reshape(-1, 2)
        return cls(rows[:, 0].copy(), rows[:, 1].copy(), np.full(len(rows), -1, np.int64))


def chain_samples(
    records: Iterable[tuple], chains: Mapping[str, ChainSpec]
) -> dict[str, ChainSamples]:
    """Latency samples of every chain, in publish order."""
    by_end: dict[str, list[tuple[str, str]]] = {}
    for chain in chains.values():
        by_end.setdefault(chain.end, []).append((chain.name, chain.start))
    pub: dict[str, list[int]] = {name: [] for name in chains}
    t_start: dict[str, list[int]] = {name: [] for name in chains}
    stamp: dict[str, list[int]] = {name: [] for name in chains}
    # Most records publish nothing on a chain end; filter them in one comprehension first.
    hits = [o for r in records for o in r[7] if o[0] in by_end]
    for topic, pub_ns, origins in hits:
        for name, start in by_end[topic]:
            origin = origins.get(start)
            if origin is not None:
                stamp_ns, start_ns = origin  # an Origin; a plain pair in older traces
                pub[name].append(pub_ns)
                t_start[name].append(start_ns)
                stamp[name].append(stamp_ns)
    out = {}
    for name in chains:
        p = np.array(pub[name], np.int64)
        order = np.argsort(p, kind="stable")
        p = p[order]
        lat = p - np.array(t_start[name], np.int64).reshape(-1)[order]
        out[name] = ChainSamples(p, lat, np.array(stamp[name], np.int64).reshape(-1)[order])
    return out


def chain_nodes(chain: ChainSpec, publishers: Mapping[str, Iterable[str]]) -> set[str]:
    """Nodes that publish a topic of the chain after its start (the chain's processing nodes)."""
    return {node for topic in chain.path[1:] for node in publishers.get(topic, ())}
