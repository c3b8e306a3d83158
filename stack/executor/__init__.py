"""The embedded in-process executor: worker threads, ready queues, timers, lockstep."""

from stack.executor.clock import ScaledClock, SimClock, WallClock
from stack.executor.errors import ExecutorError
from stack.executor.runtime import Runtime

__all__ = ["ExecutorError", "Runtime", "ScaledClock", "SimClock", "WallClock"]
