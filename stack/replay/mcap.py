"""A rosbag2 (MCAP storage) writer that hands message payloads to the file without copying them.

rosbags' and the ``mcap`` package's writers copy every payload several times through BytesIO
buffers; for camera and lidar outputs that is most of a replay's cost. Here a chunk is a list of
buffers (small record headers plus the serialized messages themselves), and a writer thread passes
each list to the OS, where the one unavoidable copy runs without the GIL. Offsets and indexes are
computed from buffer sizes on the producer side. Files follow the MCAP spec (ros2 profile,
indexed, uncompressed, no CRCs) and open in rosbags, ros2 bag and Foxglove.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stack.errors import L4Error

MAGIC = b"\x89MCAP0\r\n"
PROFILE = "ros2"
LIBRARY = "l4stack"
CHUNK_BYTES = 4 << 20  # close a chunk once its records exceed this
ROSBAG2_VERSION = 9
IOV_MAX = 1024  # buffers per writev (POSIX minimum of the limit)
QUEUE_CHUNKS = 16  # chunks in flight to the writer thread before write() blocks

# opcodes (MCAP spec)
HEADER, FOOTER, SCHEMA, CHANNEL, MESSAGE, CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
MESSAGE_INDEX, CHUNK_INDEX, STATISTICS, METADATA = 0x07, 0x08, 0x0B, 0x0C
METADATA_INDEX, SUMMARY_OFFSET, DATA_END = 0x0D, 0x0E, 0x0F

_MSG_HEAD = struct.Struct("<BQHIQQ")  # opcode, length, channel, sequence, log_time, publish_time
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")


class McapWriteError(L4Error):
    """The output bag could not be written (the message names the file)."""


def _string(text: str) -> bytes:
    data = text.encode()
    return _U32.pack(len(data)) + data


def _map(items: Sequence[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(k + v for k, v in items)
    return _U32.pack(len(body)) + body


def _record(opcode: int, body: bytes) -> bytes:
    return struct.pack("<BQ", opcode, len(body)) + body


@dataclass
class _Channel:
    id: int
    topic: str
    msgtype: str
    schema_id: int
    rihs01: str
    count: int = 0


@dataclass
class _Chunk:
    buffers: list = field(default_factory=list)
    size: int = 0
    start: int = 0
    end: int = 0
    index: dict = field(default_factory=dict)  # channel id -> [(log_time, offset)]


def _writev_all(fd: int, buffers: list) -> None:
    """One system call per batch (the GIL is released for all of it), resumed if partial."""
    views = [memoryview(b).cast("B") for b in buffers]
    while views:
        batch = views[:IOV_MAX]
        written = os.writev(fd, batch)
        total = sum(v.nbytes for v in batch)
        if written == total:
            del views[: len(batch)]
            continue
        while written >= views[0].nbytes:  # drop what went out, keep the rest of a part
            written -= views.pop(0).nbytes
        views[0] = views[0][written:]


class _FileSink:
    """Writes lists of buffers to a file, in order, on a thread of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("xb", buffering=0)
        self._queue: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mcap-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._file.fileno()
        while True:
            buffers = self._queue.get()
            if buffers is None:
                return
            if self._error is None:
                try:
                    _writev_all(fd, buffers)
                except BaseException as exc:  # disk full: report at the next write or close
                    self._error = exc

    def write(self, buffers: list) -> None:
        self._raise()
        self._queue.put(buffers)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise McapWriteError(f"{self.path}: write failed: {self._error}") from self._error


class Rosbag2McapWriter:
    """Create the rosbag2 directory ``path`` holding ``<name>.mcap`` and metadata.yaml.

    ``add_connection`` then ``write`` (log times in ns), then ``close``, which writes the summary,
    footer and metadata.yaml; a bag is complete only after ``close``.
    """

    def __init__(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise McapWriteError(f"{self.path}: already exists; not overwriting")
        self.path.mkdir(parents=True)
        self.file = self.path / f"{self.path.name}.mcap"
        self._sink = _FileSink(self.file)
        self._chunk_bytes = chunk_bytes
        self._pos = 0
        self._schemas: dict[str, tuple[int, bytes]] = {}  # msgtype -> (id, record)
        self._channels: list[_Channel] = []
        self._channel_records: list[bytes] = []
        self._chunk_indexes: list[bytes] = []
        self._chunk = _Chunk()
        self._start = 1 << 64
        self._end = 0
        self._closed = False
        self._emit([MAGIC, _record(HEADER, _string(PROFILE) + _string(LIBRARY))])

    def _emit(self, buffers: list) -> None:
        self._pos += sum(len(b) for b in buffers)
        self._sink.write(buffers)

    # ---- connections --------------------------------------------------------------------
    def add_connection(self, topic: str, msgtype: str, msgdef: str, rihs01: str = "") -> int:
        """Declare a topic; returns the channel id to write with."""
        if msgtype not in self._schemas:
            sid = len(self._schemas) + 1
            body = _U16.pack(sid) + _string(msgtype) + _string("ros2msg") + _string(msgdef)
            self._schemas[msgtype] = (sid, _record(SCHEMA, body))
            self._emit([self._schemas[msgtype][1]])
        sid = self._schemas[msgtype][0]
        channel = _Channel(len(self._channels) + 1, topic, msgtype, sid, rihs01)
        meta = _map([(_string("offered_qos_profiles"), _string("[]"))])
        body = _U16.pack(channel.id) + _U16.pack(sid) + _string(topic) + _string("cdr") + meta
        record = _record(CHANNEL, body)
        self._channels.append(channel)
        self._channel_records.append(record)
        self._emit([record])
        return channel.id

    # ---- messages -----------------------------------------------------------------------
    def write(self, channel_id: int, log_time: int, data: bytes | memoryview) -> None:
        """Queue one message; ``data`` (bytes-like, one byte per item) must not change after."""
        chunk = self._chunk
        if not chunk.buffers:
            chunk.start = chunk.end = log_time
        elif log_time < chunk.start:
            chunk.start = log_time
        elif log_time > chunk.end:
            chunk.end = log_time
        index = chunk.index.get(channel_id)
        if index is None:
            index = chunk.index[channel_id] = []
        index.append((log_time, chunk.size))
        size = len(data)
        chunk.buffers.append(_MSG_HEAD.pack(MESSAGE, 22 + size, channel_id, 0, log_time, log_time))
        chunk.buffers.append(data)
        chunk.size += 31 + size
        self._channels[channel_id - 1].count += 1
        if chunk.size >= self._chunk_bytes:
            self._flush_chunk()

    def _flush_chunk(self) -> None:
        chunk = self._chunk
        if not chunk.buffers:
            return
        self._chunk = _Chunk()
        self._start = min(self._start, chunk.start)
        self._end = max(self._end, chunk.end)
        head = struct.pack("<QQQI", chunk.start, chunk.end, chunk.size, 0) + _string("")
        head += _U64.pack(chunk.size)
        chunk_start = self._pos
        chunk_len = 9 + len(head) + chunk.size
        indexes, offsets = [], []
        pos = chunk_start + chunk_len
        for cid in sorted(chunk.index):
            entries = chunk.index[cid]
            body = _U16.pack(cid) + _U32.pack(16 * len(entries))
            body += b"".join(struct.pack("<QQ", t, o) for t, o in entries)
            record = _record(MESSAGE_INDEX, body)
            offsets.append(_U16.pack(cid) + _U64.pack(pos))
            indexes.append(record)
            pos += len(record)
        self._emit([bytes([CHUNK]), _U64.pack(len(head) + chunk.size), head])
        self._emit(chunk.buffers)
        self._emit(indexes)
        self._chunk_indexes.append(
            _record(
                CHUNK_INDEX,
                struct.pack("<QQQQ", chunk.start, chunk.end, chunk_start, chunk_len)
                + _U32.pack(10 * len(offsets))
                + b"".join(offsets)
                + _U64.pack(pos - chunk_start - chunk_len)
                + _string("")
                + _U64.pack(chunk.size)
                + _U64.pack(chunk.size),
            )
        )

    # ---- finishing ------------------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return sum(c.count for c in self._channels)

    def close(self, custom_data: dict[str, str] | None = None) -> None:
        """Write the summary, footer and metadata.yaml. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush_chunk()
            self._write_summary()
        finally:
            self._sink.close()
        self._write_metadata_yaml(custom_data or {})

    def _write_summary(self) -> None:
        meta_start = self._pos
        meta = _record(
            METADATA,
            _string("rosbag2")
            + _map([(_string("serialized_metadata"), _string(yaml.safe_dump(self._info())))]),
        )
        self._emit([meta, _record(DATA_END, _U32.pack(0))])
        meta_index = struct.pack("<QQ", meta_start, len(meta)) + _string("rosbag2")
        groups: list[tuple[int, list[bytes]]] = [
            (SCHEMA, [rec for _, rec in self._schemas.values()]),
            (CHANNEL, self._channel_records),
            (CHUNK_INDEX, self._chunk_indexes),
            (METADATA_INDEX, [_record(METADATA_INDEX, meta_index)]),
            (STATISTICS, [self._statistics()]),
        ]
        summary_start = self._pos
        offsets = []
        for opcode, records in groups:
            if records:
                start = self._pos
                self._emit(records)
                offsets.append(
                    _record(SUMMARY_OFFSET, struct.pack("<BQQ", opcode, start, self._pos - start))
                )
        offset_start = self._pos
        self._emit(offsets)
        footer = _record(FOOTER, struct.pack("<QQI", summary_start, offset_start, 0))
        self._emit([footer, MAGIC])

    def _statistics(self) -> bytes:
        counts = b"".join(_U16.pack(c.id) + _U64.pack(c.count) for c in self._channels)
        start, end = (self._start, self._end) if self.message_count else (0, 0)
        body = struct.pack(
            "<QHIIIIQQ",
            self.message_count,
            len(self._schemas),
            len(self._channels),
            0,  # attachments
            1,  # metadata records
            len(self._chunk_indexes),
            start,
            end,
        )
        return _record(STATISTICS, body + _U32.pack(len(counts)) + counts)

    def _info(self) -> dict:
        count = self.message_count
        start = self._start if count else 0
        duration = self._end - self._start if count else 0
        return {
            "version": ROSBAG2_VERSION,
            "storage_identifier": "mcap",
            "relative_file_paths": [self.file.name],
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": c.topic,
                        "type": c.msgtype,
                        "serialization_format": "cdr",
                        "offered_qos_profiles": [],
                        "type_description_hash": c.rihs01,
                    },
                    "message_count": c.count,
                }
                for c in self._channels
            ],
            "compression_format": "",
            "compression_mode": "",
            "files": [
                {
                    "path": self.file.name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": duration},
                    "message_count": count,
                }
            ],
            "custom_data": None,
            "ros_distro": "",
        }

    def _write_metadata_yaml(self, custom_data: dict[str, str]) -> None:
        info = self._info()
        info["custom_data"] = custom_data or None
        tmp = self.path / "metadata.yaml.tmp"
        tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}))
        tmp.replace(self.path / "metadata.yaml")
