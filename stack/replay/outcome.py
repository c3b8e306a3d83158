"""What a replay is asked to do (:class:`ReplayOptions`) and what it did (:class:`ReplayResult`,
one :class:`TopicResult` per bag topic), as replay.json and the summary line report it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stack.replay.errors import ReplayError


@dataclass(frozen=True)
class ReplayOptions:
    rate: float | None = None  # None: lockstep
    start_s: float = 0.0  # offset into the bag
    duration_s: float | None = None  # of bag time
    topics: tuple[str, ...] = ()  # bag topics to replay; empty: all
    remap: Mapping[str, str] = field(default_factory=dict)  # bag topic -> graph topic
    policy: str = "l4"
    fail_fast: bool = False
    trace: bool = True

    @property
    def lockstep(self) -> bool:
        return self.rate is None

    def validate(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ReplayError(f"--rate must be > 0, got {self.rate}")
        if not self.start_s >= 0:
            raise ReplayError(f"--start must be >= 0 s, got {self.start_s}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ReplayError(f"--duration must be > 0 s, got {self.duration_s}")


@dataclass
class TopicResult:
    bag_topic: str
    topic: str
    msgtype: str
    read: int
    injected: int
    decode_errors: int
    status: str  # replayed | not subscribed | skipped: <reason>
    duplicates: int = 0


@dataclass
class ReplayResult:
    bag: str
    launch: str
    mode: str  # lockstep | rate
    rate: float | None
    window_start_ns: int
    window_end_ns: int  # exclusive
    last_ns: int = 0  # bag time of the last message read
    messages: int = 0  # read from the bag in the window
    injected: int = 0
    decode_errors: int = 0  # undecodable, or sizes that disagree with the layout
    duplicates: int = 0  # inputs repeating the (topic, header.stamp) before them, dropped
    drops: int = 0  # queue overwrites in the graph
    callback_errors: int = 0
    recorded: dict[str, int] = field(default_factory=dict)
    record_errors: dict[str, int] = field(default_factory=dict)
    topics: list[TopicResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def bag_s(self) -> float:
        """Bag time covered: window start to the last message read."""
        return max(0, self.last_ns - self.window_start_ns) / 1e9

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["bag_s"] = self.bag_s
        return out
