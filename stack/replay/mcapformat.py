"""The MCAP records a rosbag2 (ros2 profile) file is made of, and its summary.

What the writer (``stack.replay.mcap``) produces and recovery (``stack.replay.recover``)
rebuilds: record encoding, MessageIndex and ChunkIndex records, the summary section and footer,
and the rosbag2 metadata.yaml that describes the same contents.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MAGIC = b"\x89MCAP0\r\n"
PROFILE = "ros2"
LIBRARY = "l4stack"
ROSBAG2_VERSION = 9

# opcodes (MCAP spec)
HEADER, FOOTER, SCHEMA, CHANNEL, MESSAGE, CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
MESSAGE_INDEX, CHUNK_INDEX, STATISTICS, METADATA = 0x07, 0x08, 0x0B, 0x0C
METADATA_INDEX, SUMMARY_OFFSET, DATA_END = 0x0D, 0x0E, 0x0F
MAX_OPCODE = 0x0F

RECORD_HEAD = struct.Struct("<BQ")  # opcode, record length
CHUNK_HEAD = struct.Struct("<QQQI")  # chunk start, end, uncompressed size, crc
MSG_HEAD = struct.Struct("<BQHIQQ")  # opcode, length, channel, sequence, log_time, publish_time
U16, U32, U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


def string(text: str) -> bytes:
    data = text.encode()
    return U32.pack(len(data)) + data


def map_(items: Sequence[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(k + v for k, v in items)
    return U32.pack(len(body)) + body


def record(opcode: int, body: bytes) -> bytes:
    return RECORD_HEAD.pack(opcode, len(body)) + body


@dataclass
class Channel:
    """A channel as the summary and metadata.yaml describe it."""

    id: int
    topic: str
    msgtype: str
    schema_id: int
    rihs01: str
    count: int = 0


def message_index_records(
    index: dict[int, list[tuple[int, int]]], pos: int
) -> tuple[list[bytes], list[tuple[int, int]]]:
    """A chunk's MessageIndex records, written from ``pos`` on, and (channel, offset) of each."""
    records, offsets = [], []
    for cid in sorted(index):
        entries = index[cid]
        body = U16.pack(cid) + U32.pack(16 * len(entries))
        body += b"".join(struct.pack("<QQ", t, o) for t, o in entries)
        rec = record(MESSAGE_INDEX, body)
        offsets.append((cid, pos))
        records.append(rec)
        pos += len(rec)
    return records, offsets


@dataclass(frozen=True)
class ChunkPlace:
    """Where a chunk lies and what its ChunkIndex record says about it."""

    start_ns: int
    end_ns: int
    offset: int  # of the chunk record
    length: int  # of the chunk record
    index_offsets: list[tuple[int, int]]  # (channel, offset of its MessageIndex record)
    index_length: int  # of all its MessageIndex records
    compression: str
    compressed_size: int
    uncompressed_size: int

    def record(self) -> bytes:
        offsets = b"".join(U16.pack(c) + U64.pack(o) for c, o in self.index_offsets)
        body = struct.pack("<QQQQ", self.start_ns, self.end_ns, self.offset, self.length)
        body += U32.pack(len(offsets)) + offsets + U64.pack(self.index_length)
        body += string(self.compression)
        body += U64.pack(self.compressed_size) + U64.pack(self.uncompressed_size)
        return record(CHUNK_INDEX, body)


@dataclass
class BagSummary:
    """What a file's summary section and its rosbag2 metadata.yaml say: schemas, channels with
    counts, chunk indexes and the time range. The writer keeps one; recovery rebuilds one."""

    schema_records: list[bytes] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    channel_records: list[bytes] = field(default_factory=list)
    chunk_indexes: list[bytes] = field(default_factory=list)
    start: int = 1 << 64
    end: int = 0

    @property
    def message_count(self) -> int:
        return sum(c.count for c in self.channels)

    def add_chunk(self, place: ChunkPlace) -> None:
        self.start = min(self.start, place.start_ns)
        self.end = max(self.end, place.end_ns)
        self.chunk_indexes.append(place.record())

    def tail(self, pos: int, file_name: str) -> list[bytes]:
        """Everything after the data: metadata, DataEnd, summary, offsets, footer, magic."""
        out: list[bytes] = []
        meta = record(
            METADATA,
            string("rosbag2")
            + map_([(string("serialized_metadata"), string(yaml.safe_dump(self.info(file_name))))]),
        )
        meta_index = struct.pack("<QQ", pos, len(meta)) + string("rosbag2")
        out += [meta, record(DATA_END, U32.pack(0))]
        pos += len(meta) + len(out[-1])
        groups: list[tuple[int, list[bytes]]] = [
            (SCHEMA, self.schema_records),
            (CHANNEL, self.channel_records),
            (CHUNK_INDEX, self.chunk_indexes),
            (METADATA_INDEX, [record(METADATA_INDEX, meta_index)]),
            (STATISTICS, [self._statistics()]),
        ]
        summary_start = pos
        offsets = []
        for opcode, records in groups:
            if records:
                size = sum(len(r) for r in records)
                out += records
                offsets.append(record(SUMMARY_OFFSET, struct.pack("<BQQ", opcode, pos, size)))
                pos += size
        offset_start = pos
        out += offsets
        out += [record(FOOTER, struct.pack("<QQI", summary_start, offset_start, 0)), MAGIC]
        return out

    def _statistics(self) -> bytes:
        counts = b"".join(U16.pack(c.id) + U64.pack(c.count) for c in self.channels)
        count = self.message_count
        start, end = (self.start, self.end) if count else (0, 0)
        body = struct.pack(
            "<QHIIIIQQ",
            count,
            len(self.schema_records),
            len(self.channels),
            0,  # attachments
            1,  # metadata records
            len(self.chunk_indexes),
            start,
            end,
        )
        return record(STATISTICS, body + U32.pack(len(counts)) + counts)

    def info(self, file_name: str) -> dict:
        """The ``rosbag2_bagfile_information`` of a bag of this one file."""
        return rosbag2_info([(file_name, self)])


def rosbag2_info(files: Sequence[tuple[str, BagSummary]]) -> dict:
    """metadata.yaml's ``rosbag2_bagfile_information`` for storage files (name, summary)."""
    entries, topics = [], {}
    for name, s in files:
        count = s.message_count
        entries.append(
            {
                "path": name,
                "starting_time": {"nanoseconds_since_epoch": s.start if count else 0},
                "duration": {"nanoseconds": s.end - s.start if count else 0},
                "message_count": count,
            }
        )
        for c in s.channels:
            key = (c.topic, c.msgtype)
            if key not in topics:
                topics[key] = {"topic_metadata": _topic_metadata(c), "message_count": 0}
            topics[key]["message_count"] += c.count
    counted = [s for _, s in files if s.message_count]
    start = min((s.start for s in counted), default=0)
    end = max((s.end for s in counted), default=0)
    return {
        "version": ROSBAG2_VERSION,
        "storage_identifier": "mcap",
        "relative_file_paths": [name for name, _ in files],
        "duration": {"nanoseconds": end - start},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(s.message_count for _, s in files),
        "topics_with_message_count": list(topics.values()),
        "compression_format": "",
        "compression_mode": "",
        "files": entries,
        "custom_data": None,
        "ros_distro": "",
    }


def _topic_metadata(c: Channel) -> dict:
    return {
        "name": c.topic,
        "type": c.msgtype,
        "serialization_format": "cdr",
        "offered_qos_profiles": [],
        "type_description_hash": c.rihs01,
    }


def write_metadata_yaml(
    directory: Path, info: dict, custom_data: dict[str, str] | None = None
) -> None:
    """Replace ``directory``/metadata.yaml atomically (a reader never sees half a file)."""
    info = dict(info, custom_data=custom_data or None)
    tmp = directory / "metadata.yaml.tmp"
    tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}))
    tmp.replace(directory / "metadata.yaml")
