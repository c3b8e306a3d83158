"""The pipe between a process executor and its parent: what crosses it, and how.

Each item is a pickled pair ``(kind, body)``: the kind's plain string value and a body of
builtins. Bodies that cross per message (a published message, a trace record) stay plain tuples:
a NamedTuple or an enum member would be pickled by class name and unpickled by import, a few
microseconds per item. They are typed on each side by ``PipeKind`` and ``PipeMessage``.
"""

from __future__ import annotations

import enum
import pickle
import threading
from typing import Any, NamedTuple

from stack.msgs import deserialize, serialize
from stack.trace.records import Origins

_PICKLE = pickle.HIGHEST_PROTOCOL


class PipeKind(str, enum.Enum):
    """What an item on the pipe carries, and which way it goes."""

    READY = "ready"  # up: the child built its nodes (body None)
    ERROR = "error"  # up: building them failed (body: the message)
    START = "start"  # down: start the run (body: the parent's clock)
    STOP = "stop"  # down: finish the last inputs, then report (body None)
    MSG = "msg"  # either way: a message published on a topic the other side needs (PipeMessage)
    REC = "rec"  # up: a trace record of a callback the child ran
    FAIL = "fail"  # up: a callback failed under fail-fast (body: the message)
    DONE = "done"  # up: the child stopped (body: stack.executor.stats.ChildStats)


_KINDS = {k.value: k for k in PipeKind}
_MSG, _REC = PipeKind.MSG.value, PipeKind.REC.value  # per item: not looked up each time


class PipeMessage(NamedTuple):
    """A published message as it crosses: CDR bytes with their lineage and publish time."""

    topic: str
    msgtype: str
    data: bytes
    origins: Origins
    publish_ns: int

    def decode(self) -> Any:
        return deserialize(self.data, self.msgtype)


class Wire:
    """One end of the pipe: items sent whole, from any thread."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, kind: PipeKind, body: Any = None) -> None:
        self._put((kind.value, body))

    def _put(self, item: tuple[str, Any]) -> None:
        data = pickle.dumps(item, _PICKLE)
        with self._lock:
            self.conn.send_bytes(data)

    def receive(self) -> tuple[PipeKind, Any]:
        """The next item (blocking); EOFError or OSError once the other side is gone."""
        tag, body = pickle.loads(self.conn.recv_bytes())
        return _KINDS[tag], body

    def forward(
        self, topic: str, msgtype: str, msg: Any, origins: Origins, publish_ns: int
    ) -> None:
        """A message for the other side, as a publish or an inject hands it over."""
        self._put((_MSG, (topic, msgtype, serialize(msg, msgtype), origins, publish_ns)))

    def record(self, rec: tuple) -> None:
        """A trace record for the parent's tracer."""
        self._put((_REC, rec))


def message(body: tuple) -> PipeMessage:
    """The body of a MSG item, typed."""
    return PipeMessage._make(body)
