"""A rosbag2 (MCAP storage) writer that hands message payloads to the file without copying them.

rosbags' and the ``mcap`` package's writers copy every payload several times through BytesIO
buffers; for camera and lidar outputs that is most of a replay's cost. Here a chunk is a list of
buffers (small record headers plus the serialized messages themselves), and a writer thread passes
each list to the OS, where the one unavoidable copy runs without the GIL. Offsets and indexes are
computed from buffer sizes on the producer side. Files follow the MCAP spec (ros2 profile,
indexed, uncompressed, no CRCs) and open in rosbags, ros2 bag and Foxglove.

A recording survives its writer being killed: metadata.yaml is written at the start (as rosbag2
does) and again at ``close`` with the counts; a chunk is closed once it spans ``CHUNK_SPAN_NS``
of log time (bag time in a replay, so a lockstep run chunks the same way every time) or holds
``CHUNK_BYTES``, and goes to the OS at once, so SIGKILL loses about a second. Such a file has no
summary; ``stack.replay.recover`` reads it and ``l4 bag reindex`` completes it with
:class:`BagSummary`, the summary section and metadata.yaml this writer produces too.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from stack.replay.errors import ReplayError
from stack.replay.mcapformat import (
    CHANNEL,
    CHUNK,
    CHUNK_HEAD,
    HEADER,
    LIBRARY,
    MAGIC,
    MESSAGE,
    MSG_HEAD,
    PROFILE,
    RECORD_HEAD,
    SCHEMA,
    U16,
    U64,
    BagSummary,
    Channel,
    ChunkPlace,
    map_,
    message_index_records,
    record,
    string,
    write_metadata_yaml,
)

CHUNK_BYTES = 4 << 20  # close a chunk once its records exceed this
CHUNK_SPAN_NS = 1_000_000_000  # ... or once it spans this much log time
IOV_MAX = 1024  # buffers per writev (POSIX minimum of the limit)
QUEUE_CHUNKS = 16  # chunks in flight to the writer thread before write() blocks


class McapWriteError(ReplayError):
    """The output bag could not be written (the message names the file)."""


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
    """Writes lists of buffers to a file, in order, on a thread of its own.

    A failed write (disk full, I/O error) stops the writing: nothing is written after it, so the
    file holds whole records up to the failed one, and the next ``write`` or ``close`` raises.
    """

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
            raise McapWriteError(
                f"{self.path}: write failed: {_reason(self._error)}; recording stopped there"
            ) from self._error


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return str(exc) or type(exc).__name__


class Rosbag2McapWriter:
    """Create the rosbag2 directory ``path`` holding ``<name>.mcap`` and metadata.yaml.

    ``add_connection`` then ``write`` (log times in ns), then ``close``, which writes the summary,
    footer and metadata.yaml; a bag is complete only after ``close``. Until then metadata.yaml
    lists no messages (``write_metadata`` rewrites it) and the file has no summary.
    """

    def __init__(
        self,
        path: Path,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        chunk_span_ns: int = CHUNK_SPAN_NS,
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise McapWriteError(f"{self.path}: already exists; not overwriting")
        try:
            self.path.mkdir(parents=True)
            self.file = self.path / f"{self.path.name}.mcap"
            self._sink = _FileSink(self.file)
        except OSError as exc:
            raise McapWriteError(f"{self.path}: cannot create: {_reason(exc)}") from exc
        self._chunk_bytes = chunk_bytes
        self._chunk_span_ns = chunk_span_ns
        self._chunk_close_ns = 0  # log time at which the open chunk is closed
        self._pos = 0
        self._schemas: dict[str, int] = {}  # msgtype -> schema id
        self._summary = BagSummary()
        self._channels = self._summary.channels
        self._chunk = _Chunk()
        self._closed = False
        self._emit([MAGIC, record(HEADER, string(PROFILE) + string(LIBRARY))])
        self.write_metadata()

    def _emit(self, buffers: list) -> None:
        self._pos += sum(len(b) for b in buffers)
        self._sink.write(buffers)

    # ---- connections --------------------------------------------------------------------
    def add_connection(self, topic: str, msgtype: str, msgdef: str, rihs01: str = "") -> int:
        """Declare a topic; returns the channel id to write with."""
        if msgtype not in self._schemas:
            sid = self._schemas[msgtype] = len(self._schemas) + 1
            body = U16.pack(sid) + string(msgtype) + string("ros2msg") + string(msgdef)
            self._summary.schema_records.append(record(SCHEMA, body))
            self._emit([self._summary.schema_records[-1]])
        sid = self._schemas[msgtype]
        channel = Channel(len(self._channels) + 1, topic, msgtype, sid, rihs01)
        meta = map_([(string("offered_qos_profiles"), string("[]"))])
        body = U16.pack(channel.id) + U16.pack(sid) + string(topic) + string("cdr") + meta
        rec = record(CHANNEL, body)
        self._channels.append(channel)
        self._summary.channel_records.append(rec)
        self._emit([rec])
        return channel.id

    # ---- messages -----------------------------------------------------------------------
    def write(self, channel_id: int, log_time: int, data: bytes | memoryview) -> None:
        """Queue one message; ``data`` (bytes-like, one byte per item) must not change after."""
        chunk = self._chunk
        if not chunk.buffers:
            chunk.start = chunk.end = log_time
            self._chunk_close_ns = log_time + self._chunk_span_ns
        elif log_time < chunk.start:
            chunk.start = log_time
        elif log_time > chunk.end:
            chunk.end = log_time
        index = chunk.index.get(channel_id)
        if index is None:
            index = chunk.index[channel_id] = []
        index.append((log_time, chunk.size))
        size = len(data)
        chunk.buffers.append(MSG_HEAD.pack(MESSAGE, 22 + size, channel_id, 0, log_time, log_time))
        chunk.buffers.append(data)
        chunk.size += 31 + size
        self._channels[channel_id - 1].count += 1
        if chunk.size >= self._chunk_bytes or log_time >= self._chunk_close_ns:
            self._flush_chunk()

    def _flush_chunk(self) -> None:
        chunk = self._chunk
        if not chunk.buffers:
            return
        self._chunk = _Chunk()
        head = CHUNK_HEAD.pack(chunk.start, chunk.end, chunk.size, 0) + string("")
        head += U64.pack(chunk.size)
        chunk_start = self._pos
        chunk_len = RECORD_HEAD.size + len(head) + chunk.size
        indexes, offsets = message_index_records(chunk.index, chunk_start + chunk_len)
        self._emit([RECORD_HEAD.pack(CHUNK, len(head) + chunk.size), head])
        self._emit(chunk.buffers)
        self._emit(indexes)
        self._summary.add_chunk(
            ChunkPlace(
                chunk.start,
                chunk.end,
                chunk_start,
                chunk_len,
                offsets,
                sum(len(r) for r in indexes),
                "",
                chunk.size,
                chunk.size,
            )
        )

    # ---- finishing ------------------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return self._summary.message_count

    def write_metadata(self, custom_data: dict[str, str] | None = None) -> None:
        """(Re)write metadata.yaml with the counts so far (rosbag2 writes it at the start)."""
        try:
            write_metadata_yaml(self.path, self._summary.info(self.file.name), custom_data)
        except OSError as exc:
            raise McapWriteError(
                f"{self.path / 'metadata.yaml'}: cannot write: {_reason(exc)}"
            ) from exc

    def close(self, custom_data: dict[str, str] | None = None) -> None:
        """Write the summary, footer and metadata.yaml. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush_chunk()
            self._emit(self._summary.tail(self._pos, self.file.name))
        finally:
            self._sink.close()
        self.write_metadata(custom_data)
