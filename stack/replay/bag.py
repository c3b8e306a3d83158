"""Open any rosbag that rosbags reads: ROS 1 .bag, rosbag2 directories, bare .mcap / .db3 files.

A rosbag2 directory is read from its storage files. The storage holds what was recorded, while
metadata.yaml is a summary that ROS 2 itself sometimes writes inconsistently: bags recorded by
rosbag2 carry QoS profiles in metadata.yaml that differ from the storage's, and plain rosbags then
matches no connection and yields nothing, without a word. Counts come from the storage's own
index, and :meth:`Bag.messages` checks that it yielded every message the index promised.

An MCAP file without a summary (its writer was killed, or the disk filled) is read by scanning
its records (``stack.replay.recover``); the bag then says it is ``unfinished``, with a warning
naming what was recovered and `l4 bag reindex`, which completes the file.
"""

from __future__ import annotations

import heapq
import logging
import sys
from collections.abc import Collection, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection, MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag1 import Reader as Ros1Reader
from rosbags.rosbag2 import Reader as Rosbag2Reader
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

from stack.replay.errors import ReplayError
from stack.replay.mcapformat import MAGIC as MAGIC_MCAP
from stack.replay.recover import RecoveredMcapReader, is_finished

if sys.version_info >= (3, 14):  # the zstd rosbags itself uses for compressed rosbag2
    from compression import zstd
else:
    from backports import zstd

log = logging.getLogger(__name__)

MAGIC_ROS1 = b"#ROSBAG V2.0"
MAGIC_SQLITE = b"SQLite format 3\x00"
STORAGE_SUFFIXES = (".mcap", ".db3")


class BagFormat(str, Enum):
    ROS1 = "ros1"
    ROSBAG2 = "rosbag2"  # a directory with metadata.yaml
    MCAP = "mcap"  # a bare storage file
    SQLITE3 = "sqlite3"


class Encoding(str, Enum):
    """How messages are serialized in the bag."""

    CDR = "cdr"
    ROS1 = "ros1"


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int
    encoding: Encoding
    definition: MessageDefinition
    connections: tuple[Connection, ...]


@dataclass(frozen=True)
class _Part:
    """One readable unit: a ROS 1 reader or one rosbag2 storage file."""

    reader: Any  # has .connections and .messages(connections, start, stop)
    compressed_messages: bool = False

    def messages(
        self, connections: list[Connection], start: int | None, stop: int | None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        if not connections:
            return iter(())
        if isinstance(self.reader, Ros1Reader):
            return self.reader.messages(connections=connections, start=start, stop=stop)
        gen = self.reader.messages(connections, start, stop)
        if self.compressed_messages:
            return ((c, t, zstd.decompress(d)) for c, t, d in gen)
        return gen


def sniff(path: Path) -> BagFormat:
    """What kind of bag ``path`` is, from its contents (a renamed file still opens)."""
    if not path.exists():
        raise ReplayError(f"{path}: no such file or directory")
    if path.is_dir():
        return BagFormat.ROSBAG2
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror}") from exc
    if not head:
        raise ReplayError(f"{path}: the file is empty (0 bytes), not a bag")
    if head.startswith(MAGIC_ROS1):
        return BagFormat.ROS1
    if head.startswith(MAGIC_MCAP):
        return BagFormat.MCAP
    if head.startswith(MAGIC_SQLITE):
        return BagFormat.SQLITE3
    raise ReplayError(
        f"{path}: not a rosbag (expected a ROS 1 .bag, an .mcap or .db3 file or a rosbag2 "
        f"directory; the file starts with {head[:12]!r})"
    )


class Bag:
    """An open bag: topics with counts and types, and its messages in time order.

    Use as a context manager. Errors are ReplayError naming the file and the problem.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.format = sniff(self.path)
        self.warnings: list[str] = []
        self.unfinished = False  # a storage file had no summary and was read by scanning
        self._recovered: list[str] = []  # what scanning each such file found
        self.storage_id = ""
        self._stack = ExitStack()
        self._parts: list[_Part] = []
        self.topics: dict[str, BagTopic] = {}
        self.start_ns = 0
        self.end_ns = 0  # time of the last message
        self.message_count = 0

    # ---- opening -------------------------------------------------------------------------
    def __enter__(self) -> Bag:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self._open_parts()
        except ReplayError:
            self.close()
            raise
        except Exception as exc:  # rosbags, apsw and the OS raise many kinds
            self.close()
            raise ReplayError(
                f"{self.path}: cannot read bag (truncated or corrupt?): {_describe(exc)}"
            ) from exc
        self._note_recovered()
        self._index()

    def close(self) -> None:
        self._stack.close()
        self._parts = []

    def _open_parts(self) -> None:
        if self.format is BagFormat.ROS1:
            reader = self._enter(Ros1Reader(self.path))
            self._parts = [_Part(reader)]
            self.storage_id = "ros1"
        elif self.format is BagFormat.ROSBAG2:
            self._open_directory()
        else:
            self._parts = [_Part(self._enter(_storage_reader(self.path, self.format)))]
            self.storage_id = self.format.value

    def _enter(self, reader: Any) -> Any:
        reader.open()
        self._stack.callback(reader.close)
        return reader

    def _open_directory(self) -> None:
        files = sorted(p for p in self.path.iterdir() if p.suffix in STORAGE_SUFFIXES)
        if any(p.suffix == ".mcap" and not is_finished(p) for p in files):
            self._open_storage_files(files, None)  # metadata.yaml is as of the start
            return
        if not (self.path / "metadata.yaml").exists():
            if not files:
                raise ReplayError(
                    f"{self.path}: not a rosbag2 directory (no metadata.yaml and no "
                    f"{'/'.join(STORAGE_SUFFIXES)} storage file in it)"
                )
            self._open_storage_files(files, "there is none")
            return
        try:
            reader = self._enter(Rosbag2Reader(self.path))
        except Exception as exc:
            if not files:
                raise
            try:  # a broken metadata.yaml need not lose the recording
                self._open_storage_files(files, f"cannot use it ({_first_line(exc)})")
            except Exception:
                self._parts = []
                raise exc from None
            return
        directory = reader.storage
        message_mode = directory.metadata.compression_mode == "message"
        self._parts = [_Part(s, message_mode) for s in directory.storages]
        self.storage_id = _storage_name(directory.storages)
        if directory.metadata.compression_mode:
            mode, fmt = directory.metadata.compression_mode, directory.metadata.compression_format
            self.storage_id += f" ({fmt}, per {mode})"
        self._check_metadata(directory)

    def _open_storage_files(self, files: list[Path], why: str | None) -> None:
        for file in files:
            self._parts.append(_Part(self._enter(_storage_reader(file, sniff(file)))))
        self.storage_id = sniff(files[0]).value
        if why is not None:
            names = [f.name for f in files]
            self._warn(f"{self.path}: metadata.yaml: {why}; read {names} directly")

    def _note_recovered(self) -> None:
        for part in self._parts:
            reader = part.reader
            if isinstance(reader, RecoveredMcapReader) and reader.scan is not None:
                self.unfinished = True
                found = reader.scan.describe()
                self._recovered.append(found)
                bag = self.path if self.path.is_dir() else reader.path
                self._warn(
                    f"{reader.path}: unfinished recording (no summary: its writer was killed "
                    f"or the disk filled); {found}; "
                    f"`l4 bag reindex {bag}` completes it"
                )

    def _check_metadata(self, directory: Any) -> None:
        """Say where metadata.yaml disagrees with the storage (the storage wins)."""
        stored = [c for s in directory.storages for c in s.connections]
        declared = directory.connections
        differ = sorted(
            {
                c.topic
                for c in stored
                if c.msgcount
                and not any(
                    d.topic == c.topic and d.msgtype == c.msgtype and d.ext == c.ext
                    for d in declared
                )
            }
        )
        if differ:
            self._warn(
                f"{self.path}: metadata.yaml disagrees with the storage about topic(s) "
                f"{differ} (QoS or type); using what the storage holds"
            )
        total = sum(c.msgcount for c in stored)
        if directory.metadata.message_count != total:
            self._warn(
                f"{self.path}: metadata.yaml counts {directory.metadata.message_count} "
                f"messages, the storage holds {total}; using what the storage holds"
            )

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        log.warning(text)

    def _index(self) -> None:
        by_topic: dict[str, list[Connection]] = {}
        for part in self._parts:
            for conn in part.reader.connections:
                by_topic.setdefault(conn.topic, []).append(conn)
        encoding = Encoding.ROS1 if self.format is BagFormat.ROS1 else Encoding.CDR
        for name, conns in by_topic.items():
            types = sorted({c.msgtype for c in conns})
            definition = next(
                (c.msgdef for c in conns if c.msgdef.format != MessageDefinitionFormat.NONE),
                MessageDefinition(MessageDefinitionFormat.NONE, ""),
            )
            self.topics[name] = BagTopic(
                name,
                types[0] if len(types) == 1 else ",".join(types),
                sum(c.msgcount for c in conns),
                encoding,
                definition,
                tuple(conns),
            )
        self.message_count = sum(t.count for t in self.topics.values())
        if self.message_count == 0 and self.unfinished:
            self.close()
            raise ReplayError(
                f"{self.path}: no message could be recovered; the file is truncated or corrupt "
                f"({'; '.join(self._recovered)})"
            )
        if self.message_count == 0:
            self.close()
            raise ReplayError(
                f"{self.path}: the bag holds no messages (topics: {sorted(self.topics) or 'none'})"
            )
        starts, ends = [], []
        for part in self._parts:
            meta = _time_range(part.reader)
            if meta is not None:
                starts.append(meta[0])
                ends.append(meta[1])
        self.start_ns = min(starts)
        self.end_ns = max(ends)

    # ---- reading -------------------------------------------------------------------------
    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def messages(
        self,
        topics: Collection[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[tuple[Connection, int, bytes]]:
        """Yield ``(connection, log time ns, raw bytes)`` in time order.

        ``stop_ns`` is exclusive. Reading every message of the selected topics without a time
        window checks the count against the index and raises ReplayError if any went missing.
        """
        wanted = set(self.topics) if topics is None else set(topics)
        sources = []
        for part in self._parts:
            conns = [c for c in part.reader.connections if c.topic in wanted]
            if conns:
                sources.append(part.messages(conns, start_ns, stop_ns))
        merged = sources[0] if len(sources) == 1 else heapq.merge(*sources, key=lambda m: m[1])
        expected = None
        if start_ns is None and stop_ns is None:
            expected = sum(t.count for n, t in self.topics.items() if n in wanted)
        return self._checked(merged, expected)

    def first_message(self, topic: str) -> bytes | None:
        """The raw bytes of the topic's first message, None if it has none."""
        source = self.messages([topic])
        try:
            return next((raw for _conn, _t, raw in source), None)
        finally:
            source.close()

    def _checked(
        self, source: Iterator[tuple[Connection, int, bytes]], expected: int | None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        n = 0
        try:
            for item in source:
                n += 1
                yield item
        except Exception as exc:
            raise ReplayError(
                f"{self.path}: reading failed after {n} messages (truncated or corrupt?): "
                f"{_describe(exc)}"
            ) from exc
        if expected is not None and n < expected:
            raise ReplayError(
                f"{self.path}: read only {n} of the {expected} messages its index lists "
                "(truncated or corrupt?)"
            )


def _storage_reader(path: Path, fmt: BagFormat) -> Any:
    if fmt is BagFormat.MCAP:
        return McapReader(path) if is_finished(path) else RecoveredMcapReader(path)
    if fmt is BagFormat.SQLITE3:
        return Sqlite3Reader(path)
    raise ReplayError(f"{path}: expected an .mcap or .db3 storage file, found a {fmt.value} file")


def _first_line(exc: BaseException) -> str:
    return _describe(exc).splitlines()[0]


def _storage_name(storages: list[Any]) -> str:
    if storages and isinstance(storages[0], McapReader):
        return "mcap"
    return "sqlite3"


def _time_range(reader: Any) -> tuple[int, int] | None:
    """(first, last) message time of a part, None when it holds no message."""
    if isinstance(reader, Ros1Reader):
        if not reader.message_count:
            return None
        return reader.start_time, reader.end_time - 1
    meta = reader.metadata
    if not meta.message_count:
        return None
    return meta.start_time, meta.end_time - 1


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    with suppress(Exception):
        if isinstance(exc, FileNotFoundError) and exc.filename:
            text = f"missing file {exc.filename}"
    return text
