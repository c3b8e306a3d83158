"""What `l4 bag info` shows: storage, duration, and per topic its type, count and rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stack.replay.bag import Bag


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int
    rate_hz: float  # mean over the bag's duration
    serialization: str
    definition_in_bag: bool


@dataclass(frozen=True)
class BagInfo:
    path: str
    format: str
    storage: str
    size_bytes: int
    start_ns: int
    end_ns: int
    duration_s: float
    messages: int
    topics: tuple[TopicInfo, ...]
    warnings: tuple[str, ...]
    unfinished: bool = False  # read by scanning a storage file without summary (killed writer)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def bag_info(path: str | Path) -> BagInfo:
    """Summarize a bag from its index (no message is read)."""
    with Bag(path) as bag:
        duration_s = bag.duration_ns / 1e9
        topics = tuple(
            TopicInfo(
                t.name,
                t.msgtype,
                t.count,
                t.count / duration_s if duration_s > 0 else 0.0,
                t.encoding.value,
                t.definition.data != "",
            )
            for t in sorted(bag.topics.values(), key=lambda t: t.name)
        )
        return BagInfo(
            str(bag.path),
            bag.format.value,
            bag.storage_id,
            _size(bag.path),
            bag.start_ns,
            bag.end_ns,
            duration_s,
            bag.message_count,
            topics,
            tuple(bag.warnings),
            bag.unfinished,
        )


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
