"""A run's frames and callback times with the host's spells taken out.

This VM has spells in which the meter's pure-Python loop runs 1.5-1.8x slower (another tenant
on the physical cores; tools.bench.meter); the graph's callbacks slow less and unevenly (the
detector and clustering 10-15 %, the planner 17-40 %, in one pair of runs). A 60-s replay has
about 570 frames per camera chain, so its p99 is its 6th-worst frame: a spell of one second can
set it, wherever the spell falls. Two runs a minute apart then differ by up to 20-50 % at p99
(``run_to_run`` in `l4 bench sim`), and no model of the graph, however exact, can predict the
other run's spells. Taking the spells out removes only part of that difference.

So `l4 bench sim` also compares the runs *outside* their spells, as the meter beside each run
timed them (``MeterReading.slow_spans``):

- a frame counts when neither its time in the graph nor the ``BACKLOG_S`` before it met a spell
  (work queued during a spell still delays the frames after it);
- the profile keeps the callback runs that did not overlap a spell, so the simulator draws the
  times of a steady host.

What the spells hide is the host, not the graph: the graph's own bursts (a map flush beside a
camera frame) stay in both runs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

BACKLOG_S = 0.25


@dataclasses.dataclass(frozen=True)
class Spans:
    """Sorted, disjoint (start, end) perf_counter ns intervals."""

    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, spans: Sequence[tuple[int, int]]) -> Spans:
        ordered = sorted(spans)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start <= end:
                raise ValueError(f"spans overlap: one ends at {end} ns, the next starts at {start}")
        return cls(
            np.array([s for s, _ in ordered], np.int64), np.array([e for _, e in ordered], np.int64)
        )

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def total_s(self) -> float:
        return float((self.ends - self.starts).sum()) / 1e9

    def overlaps(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per interval [lo, hi]: does it meet a span?"""
        lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
        if not len(self):
            return np.zeros(lo.shape, bool)
        # The last span starting by ``hi`` is the only one that can reach back to ``lo``.
        idx = np.searchsorted(self.starts, hi, side="right") - 1
        return (idx >= 0) & (self.ends[np.maximum(idx, 0)] >= lo)


def frame_mask(samples: Any, spans: Spans, backlog_s: float = BACKLOG_S) -> np.ndarray:
    """Per chain output (``stack.trace.lineage.ChainSamples``): True when the frame ran clear
    of the spans, ``backlog_s`` before it included."""
    start = samples.publish_ns - samples.latency_ns
    return ~spans.overlaps(start - int(backlog_s * 1e9), samples.publish_ns)


def stamps_clear(
    samples: Any,
    clear: np.ndarray,
    stamps: np.ndarray,
    spans: Spans,
    budget_ms: float,
    backlog_s: float = BACKLOG_S,
) -> np.ndarray:
    """Per sensor frame stamp (bag time): True when its output, if it had one, ran clear of the
    spans (``clear``: ``frame_mask`` of ``samples``); for a frame with no output, when the spans
    left alone the budget after it arrived and the backlog before. Bag time maps onto the clock
    by the run's outputs (at real time, a constant offset)."""
    known = samples.stamp_ns >= 0
    if not known.any():
        return np.ones(len(stamps), bool)
    offset = np.median((samples.publish_ns - samples.latency_ns - samples.stamp_ns)[known])
    arrival = (stamps + offset).astype(np.int64)
    hit = spans.overlaps(arrival - int(backlog_s * 1e9), arrival + int(budget_ms * 1e6))
    output_hit = np.isin(stamps, samples.stamp_ns[~clear])
    output_ok = np.isin(stamps, samples.stamp_ns[clear])
    return np.where(output_ok, True, ~hit) & ~output_hit


def without_spans(analysis: Any, spans: Spans) -> tuple[Any, float]:
    """A copy of a run's analysis (``stack.report.analysis.RunAnalysis``) whose callbacks keep
    only the steady-state runs clear of the spans, and the share of runs kept. A callback with
    every run in a spell keeps them all: some time is better than none for the simulator."""
    if not len(spans):
        return analysis, 1.0
    kept = total = 0
    nodes = {}
    for name, node in analysis.nodes.items():
        callbacks = {}
        for cb_name, cb in node.callbacks.items():
            callbacks[cb_name] = cb
            if cb.steady_ns is None or cb.steady_at_ns is None or not len(cb.steady_ns):
                continue
            start = cb.steady_at_ns + analysis.origin_ns
            clear = ~spans.overlaps(start, start + cb.steady_ns)
            total += len(clear)
            kept += int(clear.sum())
            if clear.any():
                callbacks[cb_name] = dataclasses.replace(
                    cb, steady_ns=cb.steady_ns[clear], steady_at_ns=cb.steady_at_ns[clear]
                )
        nodes[name] = dataclasses.replace(node, callbacks=callbacks)
    return dataclasses.replace(analysis, nodes=nodes), (kept / total if total else 1.0)
