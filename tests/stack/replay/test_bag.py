"""Opening bags of every kind, their counts, and clear errors for bad ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from stack import msgs
from stack.replay import Bag, BagFormat, ReplayError
from tests.stack.replay.conftest import SMALL_COUNTS, small_bag

TOTAL = sum(SMALL_COUNTS.values())


def _storage_file(bag_dir: Path) -> Path:
    return next(p for p in bag_dir.iterdir() if p.suffix in (".mcap", ".db3"))


def _read_all(path: Path) -> tuple[Bag, list]:
    with Bag(path) as bag:
        return bag, list(bag.messages())


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_directory_bare_file_and_renamed_file_read_the_same(tmp_path: Path, storage: str) -> None:
    bag_dir = small_bag(tmp_path / "bag", storage=storage)
    renamed = tmp_path / "renamed.dat"
    shutil.copy(_storage_file(bag_dir), renamed)
    results = [_read_all(p) for p in (bag_dir, _storage_file(bag_dir), renamed)]
    for bag, messages in results:
        assert {t: bag.topics[t].count for t in SMALL_COUNTS} == SMALL_COUNTS
        assert bag.message_count == len(messages) == TOTAL
        times = [t for _, t, _ in messages]
        assert times == sorted(times)
        assert bag.start_ns == times[0] and bag.end_ns == times[-1]
    assert results[0][0].format is BagFormat.ROSBAG2
    assert results[1][0].format is BagFormat(storage)
    assert [m[1:] for m in results[0][1]] == [m[1:] for m in results[2][1]]


def test_time_window_and_topic_selection(module_bag: Path) -> None:
    with Bag(module_bag) as bag:
        imu = list(bag.messages(["/sensing/imu/data"]))
        assert len(imu) == SMALL_COUNTS["/sensing/imu/data"]
        start = bag.start_ns + 500_000_000
        window = list(bag.messages(None, start, start + 100_000_000))
    assert window and all(start <= t < start + 100_000_000 for _, t, _ in window)
    assert len(window) < TOTAL


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("rosbag2/rosbag2_talker_sqlite3", {"/topic": 10, "/rosout": 10, "/parameter_events": 0}),
        ("rosbag2/rosbag2_talker_mcap", {"/topic": 10, "/rosout": 10, "/parameter_events": 0}),
        ("rosbag2/rosbag2_talker_sqlite3/talker.db3", {"/topic": 10, "/rosout": 10}),
        ("rosbag2/rosbag2_talker_mcap/talker.mcap", {"/topic": 10, "/rosout": 10}),
        ("rosbag2/rosbag2_cdr_test_sqlite3", {"/array_topic": 4, "/test_topic": 3}),
        ("rosbag2/rosbag2_cdr_test_mcap", {"/array_topic": 4, "/test_topic": 3}),
    ],
)
def test_bags_written_by_ros2_yield_every_message(
    shared_data: Path, name: str, counts: dict
) -> None:
    bag, messages = _read_all(shared_data / name)
    for topic, count in counts.items():
        assert bag.topics[topic].count == count
        assert sum(1 for c, _, _ in messages if c.topic == topic) == count
    assert len(messages) == sum(counts.values())


def test_talker_metadata_quirk_is_reported(shared_data: Path) -> None:
    with Bag(shared_data / "rosbag2/rosbag2_talker_sqlite3") as bag:
        assert any("metadata.yaml disagrees" in w and "/topic" in w for w in bag.warnings)


def test_ros1_bag(shared_data: Path) -> None:
    with Bag(shared_data / "rosbag1/robot_localization_test2.bag") as bag:
        assert bag.format is BagFormat.ROS1
        assert bag.topics["/imu/data"].count == 3061
        assert bag.topics["/jackal_velocity_controller/odom"].count == 3060
        assert bag.topics["/imu/data"].msgtype == "sensor_msgs/msg/Imu"
        assert bag.start_ns == 47_580_000_000  # robot clock, not epoch
        assert bag.end_ns == 108_781_000_000


@pytest.mark.parametrize(
    ("metadata", "warning"),
    [(None, "there is none"), ("{{{ not yaml", "cannot use it (Could not load YAML")],
)
def test_a_missing_or_broken_metadata_yaml_falls_back_to_the_storage(
    tmp_path: Path, metadata: str | None, warning: str
) -> None:
    bag_dir = small_bag(tmp_path / "bag")
    if metadata is None:
        (bag_dir / "metadata.yaml").unlink()
    else:
        (bag_dir / "metadata.yaml").write_text(metadata)
    bag, messages = _read_all(bag_dir)
    assert len(messages) == TOTAL
    assert any(f"metadata.yaml: {warning}" in w for w in bag.warnings), bag.warnings


def test_missing_messages_are_an_error(module_bag: Path) -> None:
    with Bag(module_bag) as bag:
        storage = bag._parts[0].reader
        real = storage.messages
        storage.messages = lambda *a, **k: (m for i, m in enumerate(real(*a, **k)) if i != 3)
        with pytest.raises(ReplayError, match=rf"read only {TOTAL - 1} of the {TOTAL}"):
            list(bag.messages())


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (tmp_path / "nope.mcap", "no such file")
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    cases["empty file"] = (empty, "empty")
    text = tmp_path / "notes.bag"
    text.write_text("hello, not a bag\n")
    cases["not a bag"] = (text, "not a rosbag")
    (tmp_path / "emptydir").mkdir()
    cases["empty directory"] = (tmp_path / "emptydir", "not a rosbag2 directory")
    for storage in ("mcap", "sqlite3"):
        bag_dir = small_bag(tmp_path / f"trunc_{storage}", storage=storage)
        _truncate(_storage_file(bag_dir), 0.5)
        cases[f"truncated {storage}"] = (_storage_file(bag_dir), "truncated or corrupt")
    corrupt = tmp_path / "corrupt.mcap"
    corrupt.write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 8)
    cases["corrupt mcap"] = (corrupt, "truncated or corrupt")
    with Writer(tmp_path / "nomsgs", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        w.add_connection("/a", "std_msgs/msg/String", typestore=msgs.typestore())
    cases["no messages"] = (tmp_path / "nomsgs", "holds no messages")
    return cases


def test_bad_inputs_fail_naming_file_and_problem(tmp_path: Path) -> None:
    for case, (path, problem) in _bad_inputs(tmp_path).items():
        with pytest.raises(ReplayError) as err:
            Bag(path).open()
        assert str(path) in str(err.value), case
        assert problem in str(err.value), (case, str(err.value))


def test_truncated_ros1_bag(shared_data: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.bag"
    data = (shared_data / "rosbag1/robot_localization_test2.bag").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ReplayError, match=r"cut\.bag: cannot read bag \(truncated or corrupt"):
        Bag(cut).open()
