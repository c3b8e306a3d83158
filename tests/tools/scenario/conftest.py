"""Small generated scenarios shared by the scenario tests (built once per session in tmp)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from tools.scenario import make_scenario

SECONDS = 2.0
SEED = 11


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic -> [(bag time, message)] read with plain rosbags (definitions from the bag)."""
    out: dict[str, list[tuple[int, object]]] = defaultdict(list)
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        for conn, t, raw in reader.messages():
            out[conn.topic].append((t, reader.deserialize(raw, conn.msgtype)))
    return dict(out)


@pytest.fixture(scope="session")
def mcap_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "day_light"
    make_scenario(path, SECONDS, SEED, storage="mcap", progress=False)
    return path


@pytest.fixture(scope="session")
def mcap_messages(mcap_bag) -> dict[str, list[tuple[int, object]]]:
    return read_bag(mcap_bag)


@pytest.fixture(scope="session")
def sqlite_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "night_dense"
    make_scenario(path, 1.0, 4, storage="sqlite3", weather="night", traffic="dense", progress=False)
    return path
