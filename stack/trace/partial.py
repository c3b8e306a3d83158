"""A run's facts rebuilt from its trace alone, for a run that never wrote run.json.

A run killed outright (SIGKILL, a full disk, a crash) leaves trace.l4t, whose frames reach the
disk every few milliseconds, but not run.json, which is written at the end. The trace header
holds the run's static facts (mode, graph, chains, nodes, executors; see
``stack.trace.rundir.run_facts``); the records give what the counters would have said: who
published which topic, inputs delivered and overwritten per subscription, events per node and
callback errors. The result has run.json's shape, with ``cut_short`` set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stack.events import EventKind
from stack.trace.fileformat import TraceFile
from stack.trace.records import event_count

_OVERWRITE = EventKind.OVERWRITE.value
_DROP = EventKind.DROP.value
_EXCEPTION = EventKind.EXCEPTION.value


def meta_from_trace(trace: TraceFile, run_format: int, run_dir: Path) -> dict[str, Any]:
    """run.json's content as far as ``trace`` tells it (``cut_short``: True)."""
    facts = trace.header.get("run")
    facts = facts if isinstance(facts, dict) else {}
    graph = facts.get("graph") if isinstance(facts.get("graph"), dict) else None
    counts = _Counts.of(trace.records)
    return {
        "format": run_format,
        "mode": str(facts.get("mode", "")),
        "graph": graph or {"name": run_dir.resolve().name, "source": ""},
        "written_wall_ns": None,
        "chains": facts.get("chains") or {},
        "chain_samples": [],
        "nodes": facts.get("nodes") or {n: {} for n in counts.nodes},
        "executors": facts.get("executors") or {},
        "topics": {
            t: {"type": "", "publishers": sorted(p), "subscribers": [], "published": n}
            for t, (p, n) in sorted(counts.published.items())
        },
        "subscriptions": counts.subscriptions(),
        "timers": [],
        "counters": counts.counters,
        "errors": counts.errors,
        "trace": {
            "file": trace.path.name,
            "records": len(trace.records),
            "frames": trace.frames,
            "truncated": trace.truncated,
            "lost": None,  # unknown: the writer's count died with the run
        },
        "interrupted": False,
        "signal": None,
        "cut_short": True,
    }


class _Counts:
    def __init__(self) -> None:
        self.nodes: dict[str, None] = {}
        self.published: dict[str, tuple[set[str], int]] = {}
        self.delivered: dict[tuple[str, str], int] = {}
        self.overwritten: dict[tuple[str, str], int] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.errors: list[str] = []

    @classmethod
    def of(cls, records: list[tuple]) -> _Counts:
        out = cls()
        for r in records:
            node = r[0]
            out.nodes[node] = None
            decision = r[4] == r[5] and not r[7] and any(k == _DROP for k, _ in r[9])
            if not decision:
                for topic, _stamp in r[6]:
                    key = (node, topic)
                    out.delivered[key] = out.delivered.get(key, 0) + 1
            for output in r[7]:
                nodes, n = out.published.get(output[0], (set(), 0))
                nodes.add(node)
                out.published[output[0]] = (nodes, n + 1)
            for kind, detail in r[9]:
                out._event(node, r[1], kind, detail)
        return out

    def _event(self, node: str, callback: str, kind: str, detail: str) -> None:
        n = event_count(detail) if kind == _OVERWRITE else 1
        counters = self.counters.setdefault(node, {})
        counters[kind] = counters.get(kind, 0) + n
        if kind == _OVERWRITE:
            topic = detail.rpartition(" x")[0] or detail
            key = (node, topic)
            self.overwritten[key] = self.overwritten.get(key, 0) + n
        elif kind == _EXCEPTION:
            self.errors.append(f"node {node} callback {callback} raised {detail}")

    def subscriptions(self) -> list[dict[str, Any]]:
        keys = sorted(set(self.delivered) | set(self.overwritten))
        return [
            {
                "node": node,
                "topic": topic,
                "depth": 0,  # not in the trace
                "overwritten": self.overwritten.get((node, topic), 0),
                "delivered": self.delivered.get((node, topic), 0),
            }
            for node, topic in keys
        ]
