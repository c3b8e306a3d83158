"""What a degrade controller judges: a chain's frames and its executor's shed work.

``FrameLedger`` judges each frame that entered a chain (its start topic's publish times), not
only the outputs the chain delivered: a frame is judged with its end-to-end latency once an
output carries it within the budget, and with its age once it is past the budget undelivered
(late, overwritten in a queue, dropped as stale, or still queued). A chain so overloaded that it
delivers nothing still yields frames to judge -- each with an age over the budget.

Frames that entered before the chain's first delivery are not judged: a graph starting up (a
planner waiting for its localization to converge) delivers nothing by design.

``ShedMeter`` counts the inputs an executor's chain subscriptions took and how many of them were
shed (overwritten in a full queue or dropped as stale): low-priority work the l4 policy gives
up when the executor has no time for it, which a cheaper variant of a node there would leave
room for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stack.events import EventKind

DROP = EventKind.DROP.value


class FrameLedger:
    """Judges the frames of one chain in the order they entered it."""

    def __init__(
        self, starts: Sequence[int], samples: Sequence[tuple[int, int]], budget_ns: int
    ) -> None:
        self.starts = starts  # chain-start publish times (ns), appended by the runtime
        self.samples = samples  # (output time, latency) at the chain end, appended likewise
        self.budget_ns = budget_ns
        self._best: dict[int, int] = {}  # frame start -> its least latency delivered so far
        self._sample_seen = 0
        self._next = len(starts)  # first frame not yet judged (none before the first output)
        self._started = False

    @property
    def started(self) -> bool:
        """Whether the chain has delivered its first output (frames are judged from there)."""
        return self._started

    def judge(self, now_ns: int) -> list[tuple[int, int]]:
        """Frames judged since the last call: (start ns, latency or age ns), in order."""
        self._read_samples()
        if not self._started:
            return []
        out: list[tuple[int, int]] = []
        starts, best, budget = self.starts, self._best, self.budget_ns
        i, n = self._next, len(starts)
        while i < n:
            t = starts[i]
            lat = best.get(t)
            if lat is None or lat > budget:  # not (yet) delivered in time
                if now_ns - t < budget:
                    break  # may still make it; later frames even more so
                lat = lat if lat is not None else now_ns - t
            out.append((t, lat))
            i += 1
        self._next = i
        if out:  # delivered frames judged: their entries are no longer needed
            cut = out[-1][0]
            self._best = {k: v for k, v in best.items() if k > cut}
        return out

    def _read_samples(self) -> None:
        samples = self.samples
        n = len(samples)
        if n == self._sample_seen:
            return
        best = self._best
        for t, lat in samples[self._sample_seen : n]:
            origin = t - lat
            old = best.get(origin)
            if old is None or lat < old:
                best[origin] = lat
        if not self._started:
            # Judge from the first frame the first output carried (those before it entered
            # while the graph started up).
            first = samples[self._sample_seen][0] - samples[self._sample_seen][1]
            self._next = next((i for i, t in enumerate(self.starts) if t >= first), 0)
            self._started = True
        self._sample_seen = n


@dataclass(frozen=True)
class ShedCount:
    shed: int
    inputs: int


class ShedMeter:
    """Inputs taken and shed, so far, by the subscriptions of one executor."""

    def __init__(self, subscriptions: Iterable[Any], nodes: Iterable[Any]) -> None:
        # Hops of a chain only: a side input (the pose a node reads beside its frames) is a
        # keep-latest queue whose overwrites are its design, not work given up.
        self.subscriptions = tuple(s for s in subscriptions if s.chains and not s.side_input)
        self.nodes = tuple(nodes)  # their stale drops are counted per node (hops only)

    def __call__(self) -> ShedCount:
        overwritten = sum(s.overwritten for s in self.subscriptions)
        delivered = sum(s.delivered for s in self.subscriptions)
        dropped = sum(n.counters.get(DROP, 0) for n in self.nodes)
        return ShedCount(overwritten + dropped, overwritten + dropped + delivered)


ShedSource = Callable[[], ShedCount]
