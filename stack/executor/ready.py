"""The ready queue of one executor: a heap ordered by the policy key, and a condition variable."""

from __future__ import annotations

import heapq
import itertools
import threading

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

    def pop(self, timeout: float | None = None) -> tuple | None:
        with self.cv:
            while not self.heap:
                if self.closed:
                    return None
                self.idle_workers += 1
                try:
                    if not self.cv.wait(timeout):
                        return None
                finally:
                    self.idle_workers -= 1
            return heapq.heappop(self.heap)

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def __len__(self) -> int:
        return len(self.heap)


def mark_worker(queue: ReadyQueue | None) -> None:
    """Tell the ready queues which queue the calling thread serves."""
    _local.queue = queue
