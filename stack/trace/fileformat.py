"""The trace file: a magic line, then length-prefixed pickle frames of record tuples.

    b"L4TRACE1\n"  header frame (dict)  record frame (list of tuples)  record frame ...

Each frame is a little-endian uint32 length followed by a pickle (protocol 5) of builtins only
(tuples, lists, dicts, str, int, float). Frames make the file appendable from a background
thread and survivable: a run killed mid-write loses at most the frame being written, which the
reader detects and reports. The reader refuses any pickle that names a class or function, so
loading a trace from elsewhere cannot run code.
"""

from __future__ import annotations

import contextlib
import gc
import io
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from stack.trace.errors import TraceError

MAGIC = b"L4TRACE1\n"
FORMAT_VERSION = 1
PROTOCOL = 5
_LEN = struct.Struct("<I")
MAX_FRAME = 1 << 30
# The only globals a trace may name: our event-kind enum, if a node put one in an event, and
# the lineage origin (a NamedTuple of two ints) the outputs carry.
_ALLOWED_GLOBALS = {
    ("stack.trace.records", "EventKind"),
    ("stack.events", "EventKind"),
    ("stack.trace.records", "Origin"),
}


def write_header(f: BinaryIO, header: dict[str, Any]) -> None:
    f.write(MAGIC)
    write_frame(f, header)


def encode_frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, PROTOCOL)
    return _LEN.pack(len(data)) + data


def write_frame(f: BinaryIO, obj: Any) -> int:
    frame = encode_frame(obj)
    f.write(frame)
    return len(frame)


class _BuiltinsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"trace frames may hold builtins only, found {module}.{name}")


@dataclass
class TraceFile:
    """A trace read back: its header, the records, and whether the tail was cut off."""

    path: Path
    header: dict[str, Any]
    records: list[tuple] = field(default_factory=list)
    frames: int = 0
    truncated: bool = False


def _frames(path: Path, f: BinaryIO) -> Iterator[bytes | None]:
    """Yield frame payloads; ``None`` once if the last frame is cut off."""
    while True:
        head = f.read(_LEN.size)
        if not head:
            return
        if len(head) < _LEN.size:
            yield None
            return
        (size,) = _LEN.unpack(head)
        if size > MAX_FRAME:
            raise TraceError(f"{path}: corrupt frame length {size} at byte {f.tell() - 4}")
        data = f.read(size)
        if len(data) < size:
            yield None
            return
        yield data


def _load(path: Path, data: bytes) -> Any:
    try:
        return _BuiltinsOnly(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise TraceError(f"{path}: corrupt trace frame: {exc}") from exc


def read_trace(path: Path) -> TraceFile:
    """Read a whole trace file. A cut-off last frame sets ``truncated`` instead of failing."""
    path = Path(path)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open trace: {exc.strerror}") from exc
    with f:
        if f.read(len(MAGIC)) != MAGIC:
            raise TraceError(f"{path}: not an l4 trace file (bad magic)")
        frames = _frames(path, f)
        first = next(frames, None)
        if first is None:
            raise TraceError(f"{path}: trace header missing or cut off")
        header = _load(path, first)
        if not isinstance(header, dict) or header.get("version") != FORMAT_VERSION:
            raise TraceError(f"{path}: unsupported trace header {header!r:.200}")
        out = TraceFile(path, header)
        with _records_outside_gc():
            for data in frames:
                if data is None:
                    out.truncated = True
                    break
                chunk = _load(path, data)
                if not isinstance(chunk, list):
                    raise TraceError(f"{path}: frame {out.frames + 1} is not a list of records")
                out.records.extend(chunk)
                out.frames += 1
    return out


@contextlib.contextmanager
def _records_outside_gc() -> Iterator[None]:
    """Load with the cyclic collector paused, then move what was loaded to its permanent
    generation (gc.freeze).

    A million records are several million tuples and dicts without a single cycle; left to the
    collector, every later full collection would walk all of them (seconds per report). They
    are still freed by reference counting when the records are dropped.
    """
    was_enabled = gc.isenabled()
    gc.collect()  # so that no pending garbage is frozen with the records
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
