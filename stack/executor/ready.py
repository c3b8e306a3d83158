"""The ready queue of one executor: a heap ordered by the policy key, and a condition variable."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

Admit = Callable[[tuple, int], int]  # (ready item, now ns) -> 0 or hold-until ns

_local = threading.local()


class ReadyQueue:
    """Items are ``(neg_priority, deadline_ns, seq, entity)``; the smallest runs first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.heap: list[tuple] = []
        self.cv = threading.Condition(threading.Lock())
        self.seq = itertools.count()
        self.idle_workers = 0
        self.closed = False

    def push(self, key: tuple[int, int], entity: object) -> None:
        item = (key[0], key[1], next(self.seq), entity)
        with self.cv:
            heapq.heappush(self.heap, item)
            # A worker of this queue that publishes picks the item up itself when its callback
            # returns; waking another thread would only add a context switch.
            if self.idle_workers and (
                getattr(_local, "queue", None) is not self or len(self.heap) > 1
            ):
                self.cv.notify()

    def repush(self, item: tuple) -> None:
        with self.cv:
            heapq.heappush(self.heap, item)
            if self.idle_workers:
                self.cv.notify()

    def pop_nowait(self) -> tuple | None:
        with self.cv:
            return heapq.heappop(self.heap) if self.heap else None

    def pop(self, timeout: float | None = None, admit: Admit | None = None) -> tuple | None:
        """The most urgent item ``admit`` lets start (waiting while there is none): ``admit``
        returns 0 for "start it", or the perf_counter ns until which the item is held.
        None once ``timeout`` passes, or on close while the queue is empty or all of it held."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cv:
            while True:
                if not self.heap:
                    if self.closed or not self._sleep(_left(deadline)):
                        return None
                    continue
                if admit is None:
                    return heapq.heappop(self.heap)
                item, wake_ns = self._first_admitted(admit)
                if item is not None:
                    return item
                if self.closed:
                    return None  # stopping: held work is not worth waiting for
                # Everything ready is held: sleep until a push or the earliest hold ends.
                hold = max(wake_ns - time.perf_counter_ns(), 0) / 1e9
                left = _left(deadline)
                if left is not None and left <= 0:
                    return None
                self._sleep(hold if left is None else min(hold, left))

    def _sleep(self, timeout: float | None) -> bool:
        self.idle_workers += 1
        try:
            return self.cv.wait(timeout)
        finally:
            self.idle_workers -= 1

    def _first_admitted(self, admit: Admit) -> tuple[tuple | None, int]:
        return first_admitted(self.heap, admit, time.perf_counter_ns())

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def __len__(self) -> int:
        return len(self.heap)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def first_admitted(heap: list[tuple], admit: Admit, now_ns: int) -> tuple[tuple | None, int]:
    """Pop the most urgent item of ``heap`` that ``admit`` lets start, leaving held ones in
    place; returns (item or None, earliest hold end or 0). Shared with the simulator."""
    held: list[tuple] = []
    wake = 0
    found = None
    while heap:
        item = heapq.heappop(heap)
        until = admit(item, now_ns)
        if not until:
            found = item
            break
        held.append(item)
        wake = until if not wake else min(wake, until)
    for item in held:
        heapq.heappush(heap, item)
    return found, wake


def mark_worker(queue: ReadyQueue | None) -> None:
    """Tell the ready queues which queue the calling thread serves."""
    _local.queue = queue
