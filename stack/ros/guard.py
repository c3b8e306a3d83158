"""Callback exceptions under rclpy: logged, counted, and never the end of an executor.

A stock rclpy executor re-raises a callback's exception out of ``spin_once`` (ros2/rclpy
humble, rclpy/executors.py, ``SingleThreadedExecutor._spin_once_impl``: ``handler()`` then
``raise handler.exception()``; ``MultiThreadedExecutor._spin_once_impl`` through
``future.result()``), which ends ``spin()`` and, on a thread of its own, silently every node
the executor carries -- planner, controller and watchdog alike. Here every callback we give
rclpy is wrapped (the exception is logged with node and callback name and counted, as the
embedded executor does), and the spin loop itself survives anything that still escapes.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rclpy.executors import Executor

log = logging.getLogger(__name__)


class CallbackErrors:
    """Counts of callback exceptions by (node, callback), shared by every executor thread."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.spin_errors = 0
        self._lock = threading.Lock()

    def wrap(self, node: str, callback: Callable[..., None], logger: Any = None) -> Callable:
        name = getattr(callback, "__name__", type(callback).__name__)
        out = logger if logger is not None else log

        @functools.wraps(callback)
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:
                with self._lock:
                    self.counts[(node, name)] += 1
                    count = self.counts[(node, name)]
                out.error(
                    f"{node}.{name}: callback raised {type(exc).__name__}: {exc} "
                    f"(error {count}; the node keeps running)"
                )

        return guarded

    def spin_failed(self, executor: str, exc: BaseException) -> None:
        with self._lock:
            self.spin_errors += 1
        log.error("rclpy executor %s: spin_once raised %r; spinning on", executor, exc)

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.spin_errors

    def summary(self) -> str:
        if not self.total:
            return "no callback errors"
        parts = [f"{node}.{cb}: {n}" for (node, cb), n in sorted(self.counts.items())]
        if self.spin_errors:
            parts.append(f"executor: {self.spin_errors}")
        return "callback errors: " + ", ".join(parts)


def spin_until_stopped(
    executor: Executor,
    name: str,
    ok: Callable[[], bool],
    errors: CallbackErrors,
    timeout_s: float = 0.1,
) -> None:
    """``executor.spin()`` that outlives an exception out of ``spin_once``."""
    shutdown = _shutdown_exceptions()
    while ok():
        try:
            executor.spin_once(timeout_sec=timeout_s)
        except shutdown:
            return
        except Exception as exc:
            errors.spin_failed(name, exc)


def _shutdown_exceptions() -> tuple[type[BaseException], ...]:
    try:
        from rclpy.executors import ExternalShutdownException, ShutdownException
    except ImportError:  # older or stand-in rclpy: stop on ok() only
        return ()
    return (ShutdownException, ExternalShutdownException)
