"""A rosbag2 writer for the scenario topics (rosbags.rosbag2.Writer, CDR via stack.msgs)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Writer, WriterError

from stack.msgs import serialize, typestore
from tools.scenario import topics
from tools.scenario.config import Storage
from tools.scenario.errors import ScenarioError

BAG_VERSION = 8


def _qos(durability: QosDurability, reliability: QosReliability) -> Qos:
    zero = QosTime(sec=0, nsec=0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=1,
        reliability=reliability,
        durability=durability,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


# /tf_static is latched (transient local) so that `ros2 bag play` late joiners still get it.
_LATCHED = _qos(QosDurability.TRANSIENT_LOCAL, QosReliability.RELIABLE)
_SENSOR = _qos(QosDurability.VOLATILE, QosReliability.RELIABLE)


class BagWriter:
    """Context manager: opens the bag with one connection per scenario topic, writes messages
    with bag time = header stamp, and counts them per topic."""

    def __init__(self, path: Path, storage: Storage, skip: frozenset[str] = frozenset()) -> None:
        self.path = Path(path)
        self.storage = storage
        self.skip = skip  # topics this bag does not carry (no connection)
        self.counts: Counter[str] = Counter()
        self._writer: Writer | None = None
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        try:
            self._writer = Writer(
                self.path, version=BAG_VERSION, storage_plugin=self.storage.plugin
            )
            self._writer.open()
        except WriterError as exc:
            raise ScenarioError(f"cannot create bag {self.path}: {exc}") from exc
        store = typestore()
        for topic, msgtype in topics.MSGTYPES.items():
            if topic in self.skip:
                continue
            qos = _LATCHED if topic == topics.TF_STATIC else _SENSOR
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=store, offered_qos_profiles=[qos]
            )
        return self

    def write(self, topic: str, ns: int, msg: Any) -> None:
        if self._writer is None:
            raise ScenarioError(f"bag {self.path} is not open")
        data = serialize(msg, topics.MSGTYPES[topic])
        self._writer.write(self._connections[topic], ns, data)
        self.counts[topic] += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing also on error leaves a readable bag with what was written so far.
        if self._writer is not None:
            self._writer.close()
            self._writer = None
