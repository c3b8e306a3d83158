"""Stopping a run: the flag every loop of the runtime watches, and the first failure."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from stack.executor.errors import ExecutorError
from stack.executor.ready import ReadyQueue


class RunControl:
    """Stop is requested once (by the driver, a signal, or a failure) and seen by every
    worker, the timer thread and the lockstep loop; ``raise_failure`` raises the first
    failure when the run ends."""

    def __init__(self, queues: Iterable[ReadyQueue]) -> None:
        self.stop = threading.Event()  # set once; the timer thread sleeps on it too
        self._queues = list(queues)
        self._failure: ExecutorError | None = None

    def request_stop(self) -> None:
        self.stop.set()
        for queue in self._queues:
            queue.close()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def fail(self, failure: ExecutorError) -> None:
        """Stop the run; ``raise_failure`` raises ``failure`` (the first one)."""
        if self._failure is None:
            self._failure = failure
        self.request_stop()

    @property
    def failure(self) -> ExecutorError | None:
        return self._failure

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
