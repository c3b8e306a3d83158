"""Read an MCAP recording its writer never finished (killed, or the disk filled).

Such a file holds the header and whole records up to where the writer stopped, then perhaps part
of a record, and no summary or footer: rosbags, ros2 bag and Foxglove refuse it. :func:`scan`
walks its records from the start and stops at the first one that is cut off. A chunk followed by
its MessageIndex records and then by another chunk is indexed from those records; the last chunk
(whose index records may be incomplete) is indexed from its own messages.
:class:`RecoveredMcapReader` reads messages from the scan with the interface ``stack.replay.bag``
uses of rosbags' McapReader; ``stack.replay.reindex`` completes the file.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rosbags.interfaces import Connection, ConnectionExtRosbag2
from rosbags.rosbag2.storage_mcap import Schema, decompress, get_msgdef, get_qos

from stack.replay.errors import ReplayError
from stack.replay.mcapformat import (
    CHANNEL,
    CHUNK,
    CHUNK_HEAD,
    DATA_END,
    FOOTER,
    MAGIC,
    MAX_OPCODE,
    MESSAGE,
    MESSAGE_INDEX,
    RECORD_HEAD,
    SCHEMA,
    U16,
    U32,
    U64,
)

_FOOTER_SIZE = 9 + 20  # footer record; the magic follows it
_ENTRY = struct.Struct("<QQ")  # MessageIndex entry: log time, offset


class RecoveryError(ReplayError):
    """An MCAP file that cannot be scanned or completed (the message names file and byte)."""


@dataclass(frozen=True)
class SchemaRecord:
    id: int
    name: str
    encoding: str
    data: str
    raw: bytes  # the whole record, as found


@dataclass(frozen=True)
class ChannelRecord:
    id: int
    schema_id: int
    topic: str
    encoding: str
    metadata: bytes
    raw: bytes


@dataclass
class ScannedChunk:
    offset: int  # of the chunk record
    length: int  # of the chunk record
    start_ns: int
    end_ns: int
    compression: str
    compressed_size: int
    uncompressed_size: int
    crc: int
    data_at: int  # file offset of its (compressed) records
    index: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # channel -> (t, off)
    index_offsets: list[tuple[int, int]] = field(default_factory=list)  # as found in the file
    index_end: int = 0  # end of the MessageIndex records found after it

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.index.values())


@dataclass
class McapScan:
    """What a scan found: the records before the first one cut off."""

    path: Path
    size: int
    finished: bool  # the file ends in a footer and the magic
    schemas: dict[int, SchemaRecord] = field(default_factory=dict)
    channels: dict[int, ChannelRecord] = field(default_factory=dict)
    chunks: list[ScannedChunk] = field(default_factory=list)
    end: int = 0  # just after the last whole record of the data section
    stopped: str = ""  # why the scan stopped before a DataEnd record, if it did
    loose_messages: int = 0  # messages outside chunks (not recovered)

    @property
    def message_count(self) -> int:
        return sum(c.count for c in self.chunks)

    def channel_counts(self) -> dict[int, int]:
        counts = dict.fromkeys(self.channels, 0)
        for chunk in self.chunks:
            for cid, entries in chunk.index.items():
                counts[cid] = counts.get(cid, 0) + len(entries)
        return counts

    def describe(self) -> str:
        text = f"recovered {self.message_count} messages in {len(self.chunks)} chunk(s)"
        if self.size > self.end and not self.stopped.startswith("its summary"):
            text += f"; the last {self.size - self.end} bytes are lost"
        if self.stopped:
            text += f" ({self.stopped})"
        if self.loose_messages:
            text += f"; {self.loose_messages} messages outside chunks are not read"
        return text


def is_finished(path: Path) -> bool:
    """Whether an MCAP file ends in a footer record and the magic (its writer closed it)."""
    try:
        with path.open("rb") as f:
            return _has_footer(f, os.fstat(f.fileno()).st_size)
    except OSError:
        return True  # let the regular reader report what is wrong


def _has_footer(f: BinaryIO, size: int) -> bool:
    if size < 2 * len(MAGIC) + _FOOTER_SIZE:
        return False
    f.seek(size - len(MAGIC) - _FOOTER_SIZE)
    tail = f.read(len(MAGIC) + _FOOTER_SIZE)
    return tail[0] == FOOTER and tail.endswith(MAGIC)


def scan(path: Path) -> McapScan:
    """Index an MCAP file by walking its records; raises RecoveryError if it is not one."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(len(MAGIC)) != MAGIC:
                raise RecoveryError(f"{path}: not an MCAP file (bad magic)")
            out = McapScan(path, size, _has_footer(f, size), end=len(MAGIC))
            _Scanner(f, out).run()
    except OSError as exc:
        raise RecoveryError(f"{path}: cannot read: {exc.strerror}") from exc
    return out


class _Scanner:
    def __init__(self, f: BinaryIO, out: McapScan) -> None:
        self.f = f
        self.out = out
        self.pending: ScannedChunk | None = None  # the last chunk seen, still taking indexes

    def run(self) -> None:
        out, pos = self.out, self.out.end
        while True:
            self.f.seek(pos)
            head = self.f.read(RECORD_HEAD.size)
            if len(head) < RECORD_HEAD.size:
                if head:
                    out.stopped = f"a record head at byte {pos} is cut off"
                break
            op, length = RECORD_HEAD.unpack(head)
            if not 0 < op <= MAX_OPCODE:
                out.stopped = f"no valid record at byte {pos} (opcode 0x{op:02x})"
                break
            if pos + RECORD_HEAD.size + length > out.size:
                have = out.size - pos - RECORD_HEAD.size
                out.stopped = f"the record at byte {pos} is cut off ({have} of {length} bytes)"
                break
            if op == DATA_END:
                if not out.finished:
                    out.stopped = "its summary is cut off"
                self._finish(by_content=False)
                return
            self._record(op, pos, length)
            pos += RECORD_HEAD.size + length
            out.end = pos
        self._finish(by_content=True)

    def _record(self, op: int, pos: int, length: int) -> None:
        if op == CHUNK:
            self._finish(by_content=False)
            self.pending = self._chunk(pos, length)
            self.out.chunks.append(self.pending)
        elif op == MESSAGE_INDEX and self.pending is not None and pos == self.pending.index_end:
            body = self.f.read(length)
            (cid,) = U16.unpack_from(body)
            (n,) = U32.unpack_from(body, 2)
            self.pending.index[cid] = [_ENTRY.unpack_from(body, 6 + i) for i in range(0, n, 16)]
            self.pending.index_offsets.append((cid, pos))
            self.pending.index_end = pos + RECORD_HEAD.size + length
        elif op in (SCHEMA, CHANNEL):
            _definition(self.out, op, self.f.read(length))
        elif op == MESSAGE:
            self.out.loose_messages += 1

    def _chunk(self, pos: int, length: int) -> ScannedChunk:
        body = self.f.read(min(length, 4096))
        start, end, usize, crc = CHUNK_HEAD.unpack_from(body)
        (n,) = U32.unpack_from(body, 28)
        compression = body[32 : 32 + n].decode()
        (csize,) = U64.unpack_from(body, 32 + n)
        data_at = pos + RECORD_HEAD.size + 40 + n
        length += RECORD_HEAD.size
        chunk = ScannedChunk(pos, length, start, end, compression, csize, usize, crc, data_at)
        chunk.index_end = chunk.end
        return chunk

    def _finish(self, by_content: bool) -> None:
        """Done with the pending chunk: index it from its records where its own index may be
        incomplete (the last chunk) or is missing or names channels not seen yet."""
        chunk, self.pending = self.pending, None
        if chunk is None:
            return
        if by_content or not chunk.index or not set(chunk.index) <= set(self.out.channels):
            chunk.index = _index_records(self.out, read_chunk(self.f, chunk, self.out.path))


def _definition(out: McapScan, op: int, body: bytes) -> None:
    """A Schema or Channel record (in the data section or inside a chunk)."""
    raw = RECORD_HEAD.pack(op, len(body)) + body
    (key,) = U16.unpack_from(body)
    if op == SCHEMA:
        name, at = _string_at(body, 2)
        encoding, at = _string_at(body, at)
        data, _ = _string_at(body, at)
        out.schemas[key] = SchemaRecord(key, name, encoding, data, raw)
        return
    (schema_id,) = U16.unpack_from(body, 2)
    topic, at = _string_at(body, 4)
    encoding, at = _string_at(body, at)
    (n,) = U32.unpack_from(body, at)
    out.channels[key] = ChannelRecord(
        key, schema_id, topic, encoding, body[at + 4 : at + 4 + n], raw
    )


def _string_at(body: bytes, at: int) -> tuple[str, int]:
    (n,) = U32.unpack_from(body, at)
    return body[at + 4 : at + 4 + n].decode(), at + 4 + n


def read_chunk(f: BinaryIO, chunk: ScannedChunk, path: Path) -> bytes:
    """The chunk's records, decompressed."""
    f.seek(chunk.data_at)
    data = f.read(chunk.compressed_size)
    try:
        return decompress(data, chunk.compression, chunk.uncompressed_size, chunk.crc)
    except Exception as exc:
        raise RecoveryError(f"{path}: chunk at byte {chunk.offset}: {exc}") from exc


def _index_records(out: McapScan, data: bytes) -> dict[int, list[tuple[int, int]]]:
    """Channel -> (log time, offset) of each message in a chunk's records."""
    index: dict[int, list[tuple[int, int]]] = {}
    pos = 0
    while pos + RECORD_HEAD.size <= len(data):
        op, length = RECORD_HEAD.unpack_from(data, pos)
        if pos + RECORD_HEAD.size + length > len(data):
            break
        if op == MESSAGE and length >= 22:
            cid, _seq, t = struct.unpack_from("<HIQ", data, pos + RECORD_HEAD.size)
            index.setdefault(cid, []).append((t, pos))
        elif op in (SCHEMA, CHANNEL):
            _definition(out, op, data[pos + RECORD_HEAD.size : pos + RECORD_HEAD.size + length])
        pos += RECORD_HEAD.size + length
    return index


@dataclass(frozen=True)
class _Meta:
    message_count: int
    start_time: int
    end_time: int  # one past the last message (as rosbags reports it)


class RecoveredMcapReader:
    """Reads an unfinished MCAP file from a scan of its records (see rosbags' McapReader)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.scan: McapScan | None = None
        self.connections: list[Connection] = []
        self.metadata = _Meta(0, 0, 0)
        self._file: BinaryIO | None = None

    def open(self) -> None:
        self.scan = scan(self.path)
        self._file = self.path.open("rb")
        counts = self.scan.channel_counts()
        self.connections = [self._connection(c, counts[c.id]) for c in self.scan.channels.values()]
        times = [t for c in self.scan.chunks for v in c.index.values() for t, _ in v]
        if times:
            self.metadata = _Meta(len(times), min(times), max(times) + 1)

    def _connection(self, channel: ChannelRecord, count: int) -> Connection:
        assert self.scan is not None
        s = self.scan.schemas.get(channel.schema_id)
        schema = Schema(s.id, s.name, s.encoding, s.data) if s else None
        return Connection(
            channel.id,
            channel.topic,
            s.name if s else "__schemaless__",
            get_msgdef(schema),
            "",
            count,
            ConnectionExtRosbag2(channel.encoding, get_qos(channel.metadata)),
            self,
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def messages(
        self, connections: Collection[Connection], start: int | None = None, stop: int | None = None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        """Messages of ``connections`` in log-time order, ``start <= t < stop``."""
        assert self.scan is not None
        cmap = {c.id: c for c in connections}
        lo = -(1 << 63) if start is None else start
        hi = 1 << 64 if stop is None else stop
        sources = [
            self._chunk_messages(k, chunk, cmap, lo, hi)
            for k, chunk in enumerate(self.scan.chunks)
            if any(cid in chunk.index for cid in cmap)
        ]
        for t, _k, _off, conn, data in heapq.merge(*sources):
            if conn is not None:
                yield conn, t, data

    def _chunk_messages(
        self, k: int, chunk: ScannedChunk, cmap: dict[int, Connection], lo: int, hi: int
    ) -> Iterator[tuple]:
        entries = sorted(
            (t, off, cid) for cid in cmap for t, off in chunk.index.get(cid, ()) if lo <= t < hi
        )
        if not entries:
            return
        yield (entries[0][0], k, -1, None, b"")  # read the chunk only once the merge needs it
        assert self._file is not None
        data = read_chunk(self._file, chunk, self.path)
        for t, off, cid in entries:
            (length,) = U64.unpack_from(data, off + 1)
            yield (t, k, off, cmap[cid], data[off + 31 : off + RECORD_HEAD.size + length])
