"""The trace record and the in-process tracer.

On the hot path a record is a plain tuple appended to a list (a few hundred ns under the GIL);
``CallbackRecord`` names its fields for readers.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class CallbackRecord(NamedTuple):
    node: str
    callback: str
    thread: str
    cpu: int
    start_ns: int  # time.perf_counter_ns at callback start
    end_ns: int
    inputs: tuple  # ((topic, stamp_ns), ...) consumed by this run
    outputs: (
        tuple  # ((topic, publish_ns, origins), ...); origins: {chain start topic: (stamp_ns, t_ns)}
    )
    variant: str  # model variant in use, "" for none
    events: tuple  # ((kind, detail), ...): drop, overwrite, deadline_miss, exception, switch


class Tracer:
    """Collects records in memory; writers flush them elsewhere."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.records: list[tuple] = []

    def record(self, rec: tuple) -> None:
        self.records.append(rec)

    def drain(self) -> list[tuple]:
        out, self.records = self.records, []
        return out

    def close(self) -> None:
        """Flush whatever a writer holds (none for the in-memory tracer)."""

    def typed(self) -> list[CallbackRecord]:
        return [CallbackRecord._make(r) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"Tracer(enabled={self.enabled}, records={len(self.records)})"

    @staticmethod
    def event(kind: str, detail: Any = "") -> tuple[str, str]:
        return (kind, str(detail))
