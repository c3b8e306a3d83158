"""GPU arbitration: one priority-ordered gate per device.

Engine runs of different nodes on one device pass through that device's gate: a lock whose
waiters are served highest priority first (arrival order among equals), and which is handed
straight to the chosen waiter on release so nobody can barge in. A run already on the device is
never interrupted, so the critical chain's inference waits for at most one other run.

    gate = PriorityGate("gpu")
    with gate(priority=10):
        engine_outputs = infer(...)
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Engine.device strings -> the resource a gate guards.
_CPU_MARKERS = ("cpu",)
_GPU_MARKERS = ("cuda", "tensorrt", "gpu")


def device_kind(device: str) -> str:
    """Which resource an engine runs on: "dla0"/"dla1", "gpu", "cpu" or the device lowercased.

    >>> device_kind("TensorRT 8.5.2 DLA 1"), device_kind("CUDAExecutionProvider")
    ('dla1', 'gpu')
    """
    text = device.lower()
    if "dla" in text:
        return "dla" + "".join(ch for ch in text.rpartition("dla")[2] if ch.isdigit())
    if any(m in text for m in _GPU_MARKERS):
        return "gpu"
    if any(m in text for m in _CPU_MARKERS):
        return "cpu"
    return text


class PriorityGate:
    """A non-reentrant lock whose waiters acquire it in order of priority (highest first)."""

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._busy = False
        self._waiters: list[tuple[int, int, threading.Event]] = []
        self._seq = itertools.count()
        self.runs = 0
        self.waited = 0  # runs that found the gate taken

    def acquire(self, priority: int = 0) -> None:
        with self._lock:
            self.runs += 1
            if not self._busy and not self._waiters:
                self._busy = True
                return
            self.waited += 1
            ticket = threading.Event()
            heapq.heappush(self._waiters, (-priority, next(self._seq), ticket))
        ticket.wait()  # release() hands the gate over by setting the event: we own it now

    def release(self) -> None:
        with self._lock:
            if not self._busy:
                raise RuntimeError(f"gate {self.name}: release without acquire")
            if self._waiters:
                _, _, ticket = heapq.heappop(self._waiters)
                ticket.set()  # ownership passes directly; _busy stays True
            else:
                self._busy = False

    @contextmanager
    def __call__(self, priority: int = 0) -> Iterator[None]:
        self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def waiting(self) -> int:
        """How many runs wait for the gate now."""
        with self._lock:
            return len(self._waiters)

    @property
    def busy(self) -> bool:
        return self._busy

    def __repr__(self) -> str:
        return f"PriorityGate({self.name!r}, busy={self._busy}, waiting={len(self._waiters)})"


class DeviceGates:
    """The gates of one run, one per device kind that is arbitrated."""

    def __init__(self, devices: tuple[str, ...] = ("gpu", "dla")) -> None:
        self.devices = tuple(d.lower() for d in devices)
        self._gates: dict[str, PriorityGate] = {}
        self._lock = threading.Lock()

    def arbitrated(self, kind: str) -> bool:
        # "dla" in the config covers every DLA core ("dla0", "dla1"), each with its own gate.
        return any(kind == d or (d == "dla" and kind.startswith("dla")) for d in self.devices)

    def for_device(self, device: str) -> PriorityGate | None:
        """The gate for an engine on ``device`` (an Engine.device string), None if not gated."""
        kind = device_kind(device)
        if not self.arbitrated(kind):
            return None
        with self._lock:
            gate = self._gates.get(kind)
            if gate is None:
                gate = self._gates[kind] = PriorityGate(kind)
            return gate

    def __getitem__(self, kind: str) -> PriorityGate:
        return self._gates[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self._gates
