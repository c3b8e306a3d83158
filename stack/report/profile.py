"""What a run measured that a schedulability simulator replays: when the graph was warm, and
the schedule of the sensor topics that came from outside the graph.

Warm-up: a callback's first runs pay one-time costs (lazy imports, the first inference, memory
pools) while the pipeline fills. A profile of steady state starts once every chain has
delivered an output; before that the graph is still warming up (trtexec's ``--warmUp``, for a
whole graph).

Sources: sensors arrive on a fixed schedule -- in a replay, the bag's stamps played at the
replay rate. Their periods and their phases relative to each other (a camera frame and a lidar
sweep stamped at the same instant arrive together) shape queueing as much as the callbacks'
times do, so the profile keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stack.trace.lineage import ChainSamples

MIN_SOURCE_MESSAGES = 3


@dataclass(frozen=True)
class SourceSchedule:
    """An external topic's arrivals in wall time: ``phase_ns + k * period_ns``."""

    topic: str
    period_ns: int
    phase_ns: int  # after the earliest source's first arrival
    rank: int = 0  # order among sources arriving at the same instant (a bag's message order)


def warm_start_ns(samples: Mapping[str, ChainSamples], t0_ns: int) -> int:
    """The first instant every chain has delivered an output (``t0_ns`` if one never did)."""
    firsts = [int(s.publish_ns.min()) for s in samples.values() if len(s)]
    if not firsts or len(firsts) < len(samples):
        return t0_ns
    return max(firsts)


def source_schedules(
    records: Sequence[tuple], first: dict[str, dict[int, int]] | None = None
) -> dict[str, SourceSchedule]:
    """Period and phase of each topic that is consumed in the run but published by no node.

    Periods come from the header stamps (exact in a bag); the stamp-to-wall scale (the replay
    rate) from a fit of when each stamp was first consumed against the stamp. ``first``:
    :func:`first_consumed` of ``records``, where the caller has it already.
    """
    first = first_consumed(records) if first is None else first
    if not first:
        return {}
    stamps = np.array([s for seen in first.values() for s in seen], np.float64)
    walls = np.array([w for seen in first.values() for w in seen.values()], np.float64)
    if np.ptp(stamps) <= 0:
        return {}
    # Wall ns per stamp ns; the earliest consumption per stamp bounds the arrival from above,
    # so the fit goes through the lower envelope of the delays: a robust slope is enough.
    scale = float(np.polyfit(stamps - stamps.min(), walls - walls.min(), 1)[0])
    if not scale > 0:
        return {}
    origin = min(min(seen) for seen in first.values())
    wins = _publish_order_wins(records, set(first))
    found = []
    for topic, seen in first.items():
        ordered = np.array(sorted(seen), np.int64)
        period = float(np.median(np.diff(ordered)))
        if period <= 0:
            continue
        phase = round((int(ordered[0]) - origin) * scale)
        found.append((phase, -wins.get(topic, 0), topic, round(period * scale)))
    found.sort()
    return {
        topic: SourceSchedule(topic, period, phase, rank)
        for rank, (phase, _, topic, period) in enumerate(found)
    }


def source_origin_ns(first: dict[str, dict[int, int]]) -> int | None:
    """When the first input from outside the graph was taken up (``first``: from
    :func:`first_consumed`): time 0 of the sources' schedule, and of a simulation of it
    (None: no external input)."""
    return min((min(seen.values()) for seen in first.values()), default=None)


def first_consumed(records: Sequence[tuple]) -> dict[str, dict[int, int]]:
    """Per external topic (consumed, published by no node): stamp -> when first consumed."""
    published = {o[0] for r in records for o in r[7]}
    first: dict[str, dict[int, int]] = {}
    for r in records:
        for topic, stamp in r[6]:
            if topic in published or stamp < 0:
                continue
            seen = first.setdefault(topic, {})
            if stamp not in seen or r[4] < seen[stamp]:
                seen[stamp] = r[4]
    return {t: s for t, s in first.items() if len(s) >= MIN_SOURCE_MESSAGES}


def _publish_order_wins(records: Sequence[tuple], topics: set[str]) -> dict[str, int]:
    """Which of the inputs stamped alike arrive first (a bag's message order): on each worker
    thread, inputs with the same stamp are taken up in arrival order (ties under the l4
    policy keep it). A topic's score is the number of topics it came before more often than
    after."""
    firsts: dict[tuple[str, int], dict[str, int]] = {}
    for r in records:
        for topic, stamp in r[6]:
            if topic in topics:
                seen = firsts.setdefault((r[2], stamp), {})
                seen.setdefault(topic, r[4])
    votes: dict[tuple[str, str], int] = {}
    for seen in firsts.values():
        order = sorted(seen, key=seen.__getitem__)
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                votes[(a, b)] = votes.get((a, b), 0) + 1
    return {
        a: sum(1 for b in topics if votes.get((a, b), 0) > votes.get((b, a), 0)) for a in topics
    }


def wakeup_delays_ns(records: Sequence[tuple]) -> dict[str, np.ndarray]:
    """Per executor: how long an idle worker took to start work after a new input came.

    Measured where the trace knows when the input was published -- a chain's start topic,
    whose publish time travels in the lineage of what the callback published -- and the
    worker had nothing running then: from that publish to the first callback the worker
    began, whichever input that was (a pose published while the worker waited for the lock
    runs first under the policy; counting only the wake-ups that ran the new input first
    would keep the quick ones). It is the wake-up plus the wait for the interpreter lock,
    which depends on how much of the other threads' work holds it (numpy and ONNX Runtime let
    go of it, pure-Python loops do not): a measured quantity, not a constant.
    """
    busy: dict[str, list[tuple[int, int]]] = {}
    for r in records:
        busy.setdefault(r[2], []).append((r[4], r[5]))
    intervals = {th: np.array(sorted(v), np.int64) for th, v in busy.items()}
    seen: set[tuple[str, int]] = set()  # one sample per (thread, publish): inputs fan out
    out: dict[str, list[int]] = {}
    for r in records:
        consumed = {topic for topic, _ in r[6]}
        published = {t for o in r[7] for topic, (_, t) in o[2].items() if topic in consumed}
        for t in published:
            if (r[2], t) in seen:
                continue
            seen.add((r[2], t))
            first = _first_start_after_idle(intervals[r[2]], t)
            if first is not None and first <= r[4]:
                out.setdefault(_executor(r[2]), []).append(first - t)
    return {ex: np.array(v, np.int64) for ex, v in out.items()}


def _first_start_after_idle(intervals: np.ndarray, t: int) -> int | None:
    """When the worker next began a callback after ``t``, if it was idle at ``t``."""
    i = int(np.searchsorted(intervals[:, 0], t, side="right")) - 1
    idle = i < 0 or intervals[i, 1] <= t
    return int(intervals[i + 1, 0]) if idle and i + 1 < len(intervals) else None


def _executor(thread: str) -> str:
    """Worker threads are named EXECUTOR-INDEX."""
    name, sep, index = thread.rpartition("-")
    return name if sep and index.isdigit() else thread


def overlap_fractions(records: Sequence[tuple]) -> np.ndarray:
    """Per record: the fraction of its run during which another thread ran a callback."""
    threads = np.array([r[2] for r in records])
    start = np.array([r[4] for r in records], np.int64)
    end = np.array([r[5] for r in records], np.int64)
    out = np.zeros(len(records))
    for th in np.unique(threads):
        mine = threads == th
        union = _union(start[~mine], end[~mine])
        covered = _covered_before(union, end[mine]) - _covered_before(union, start[mine])
        took = end[mine] - start[mine]
        out[mine] = np.where(took > 0, covered / np.maximum(took, 1), 0.0)
    return out


def _union(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sorted, disjoint (start, end) rows covering the intervals."""
    if not len(start):
        return np.zeros((0, 2), np.int64)
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    first = np.ones(len(s), bool)
    first[1:] = s[1:] > reach[:-1]
    groups = np.cumsum(first) - 1
    ends = np.zeros(int(groups[-1]) + 1, np.int64)
    np.maximum.at(ends, groups, e)
    return np.column_stack([s[first], ends])


def _covered_before(union: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Time before each ``t`` covered by the disjoint sorted intervals ``union``."""
    if not len(union):
        return np.zeros(len(t), np.int64)
    lengths = union[:, 1] - union[:, 0]
    before = np.concatenate([[0], np.cumsum(lengths)])
    k = np.searchsorted(union[:, 0], t, side="right") - 1
    inside = np.where(k >= 0, np.clip(t - union[np.maximum(k, 0), 0], 0, None), 0)
    inside = np.minimum(inside, np.where(k >= 0, lengths[np.maximum(k, 0)], 0))
    return np.where(k >= 0, before[np.maximum(k, 0)] + inside, 0)


__all__ = [
    "SourceSchedule",
    "first_consumed",
    "overlap_fractions",
    "source_origin_ns",
    "source_schedules",
    "wakeup_delays_ns",
    "warm_start_ns",
]
