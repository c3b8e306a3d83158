"""Record what the graph publishes into a rosbag2 directory (mcap by default).

The recorder is a Runtime tap: called on every publish with the topic and message; the log time is
the run's clock (simulated bag time in replay), so outputs line up with the inputs' timing. In
lockstep it serializes inline (deterministic, and there is nothing to overlap with); in threaded
mode the tap only enqueues and a writer thread serializes and writes, so callbacks stay cheap.
``close`` always finishes the bag (index, summary, metadata.yaml), also after an interrupt.
metadata.yaml is written when the bag is opened too, and the writer hands each chunk (about a
second of log time) to the OS at once, so a recorder killed outright leaves a bag that
`l4 bag info` reads and `l4 bag reindex` completes. A write that fails (disk full) stops the
recording, not the run: ``failure`` says why, and what was written stays readable.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rosbags.typesys.store import Typestore

from stack import msgs
from stack.node import Clock
from stack.replay.errors import ReplayError
from stack.replay.mcap import McapWriteError, Rosbag2McapWriter

log = logging.getLogger(__name__)
_STOP = object()


class Recorder:
    """Writes every message published on ``topics`` (name -> type) into the bag at ``path``."""

    def __init__(
        self,
        path: Path,
        topics: Mapping[str, str],
        clock: Clock,
        *,
        threaded: bool = False,
        store: Typestore | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.threaded = threaded
        self.store = store if store is not None else msgs.typestore()
        self.counts: dict[str, int] = dict.fromkeys(topics, 0)
        self.errors: dict[str, int] = {}
        if self.path.exists():
            raise ReplayError(f"{self.path}: already exists; record into a new run directory")
        self._writer: Rosbag2McapWriter | None = None
        self._topics = dict(topics)
        self._conns: dict[str, tuple[int, str]] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.failure: str | None = None
        self._offered: tuple | None = None

    def open(self) -> Recorder:
        try:
            self._writer = Rosbag2McapWriter(self.path)
            for topic, msgtype in sorted(self._topics.items()):
                msgdef, _md5 = self.store.generate_msgdef(msgtype, ros_version=2)
                cid = self._writer.add_connection(
                    topic, msgtype, msgdef, self.store.hash_rihs01(msgtype)
                )
                self._conns[topic] = (cid, msgtype)
            self._writer.write_metadata()  # as rosbag2 does at the start: the topics, no counts
        except Exception as exc:
            raise ReplayError(f"{self.path}: cannot create the output bag: {exc}") from exc
        if self.threaded:
            self._thread = threading.Thread(target=self._drain, name="recorder", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> Recorder:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the tap ------------------------------------------------------------------------
    def tap(self, topic: str, msg: Any, publish_ns: int) -> None:
        """Runtime tap: (topic, msg, publish_ns); the log time is the run's clock."""
        entry = self._conns.get(topic)
        if entry is None or self.failure is not None:
            return
        if self.threaded:
            self._queue.put((entry, topic, self.clock.now_ns(), msg))
        else:
            self._write(entry, topic, self.clock.now_ns(), msg)

    def offer(self, msg: Any, raw: bytes, msgtype: str) -> None:
        """The CDR bytes of the message about to be injected.

        A node that republishes that very object is recorded with these bytes instead of
        serializing it again (a large share of a pass-through's cost). Nodes must not modify what
        they receive (every subscriber of a topic gets the same object, as with rclcpp's const
        shared pointers); the header is checked as a guard all the same.
        """
        self._offered = (msg, raw, msgtype, _header_key(msg))

    def _write(self, entry: tuple[int, str], topic: str, t_ns: int, msg: Any) -> None:
        channel, msgtype = entry
        offered = self._offered
        try:
            if (
                offered is not None
                and msg is offered[0]
                and msgtype == offered[2]
                and _header_key(msg) == offered[3]
            ):
                data = offered[1]
            else:
                data = self.store.serialize_cdr(msg, msgtype)
        except Exception as exc:  # a node published something that is not a `msgtype`
            n = self.errors.get(topic, 0)
            self.errors[topic] = n + 1
            if n == 0:
                log.warning("cannot record a message on %s as %s: %s", topic, msgtype, exc)
            return
        try:
            self._writer.write(channel, t_ns, data)  # type: ignore[union-attr]
        except McapWriteError as exc:  # disk full: stop recording, report it at the end
            self.failure = str(exc)
            log.error("%s; the run goes on without recording", exc)
            return
        self.counts[topic] += 1

    def _drain(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            if self.failure is None:  # else discard: the bag cannot take more
                self._write(*item)

    # ---- finishing ------------------------------------------------------------------------
    @property
    def recorded(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        """Write what is queued, then the bag's index and metadata.yaml. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        if self._writer is not None:
            try:
                self._writer.close()
            except McapWriteError as exc:
                self.failure = self.failure or str(exc)


def _header_key(msg: Any) -> tuple | None:
    header = getattr(msg, "header", None)
    stamp = getattr(header, "stamp", None)
    if stamp is None:
        return None
    return (stamp.sec, stamp.nanosec, header.frame_id)
