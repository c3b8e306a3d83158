"""Message types: from the typestore, from the bag's own definitions, or skipped with a reason."""

from __future__ import annotations

from pathlib import Path

from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer

from stack import msgs
from stack.replay import Bag
from stack.replay.bag import BagTopic, Encoding
from stack.replay.decode import resolve


def _decode_all(path: Path) -> tuple[dict[str, list], list]:
    with Bag(path) as bag:
        resolution = resolve(bag.topics.values(), sample=bag.first_message)
        decoders, skipped = resolution.decoders, resolution.skipped
        out: dict[str, list] = {}
        for conn, _t, raw in bag.messages(list(decoders)):
            out.setdefault(conn.topic, []).append(decoders[conn.topic](raw))
    return out, skipped


def test_types_defined_only_inside_the_bag(shared_data: Path) -> None:
    for storage in ("sqlite3", "mcap"):
        decoded, skipped = _decode_all(shared_data / f"rosbag2/rosbag2_cdr_test_{storage}")
        assert not skipped
        assert len(decoded["/array_topic"]) == 4 and len(decoded["/test_topic"]) == 3
        store = msgs.typestore()
        assert type(decoded["/array_topic"][0]) is store.types["test_msgs/msg/Arrays"]
        # registered for the whole process: nodes can build and record them too
        basic = msgs.new("test_msgs/msg/BasicTypes", int32_value=7)
        assert type(basic) is type(decoded["/test_topic"][0])
        assert msgs.deserialize(msgs.serialize(basic), "test_msgs/msg/BasicTypes").int32_value == 7


def test_ros1_messages_become_the_humble_classes(shared_data: Path) -> None:
    with Bag(shared_data / "rosbag1/robot_localization_test2.bag") as bag:
        resolution = resolve(bag.topics.values())
        decoders, skipped = resolution.decoders, resolution.skipped
        _conn, t, raw = next(iter(bag.messages(["/imu/data"])))
        imu = decoders["/imu/data"](raw)
    assert not skipped
    assert type(imu) is type(msgs.new("sensor_msgs/msg/Imu"))
    assert msgs.stamp_to_ns(imu.header.stamp) == t == 47_580_000_000
    assert imu.header.frame_id == "base_link"
    assert (
        abs(
            imu.orientation.x**2
            + imu.orientation.y**2
            + imu.orientation.z**2
            + imu.orientation.w**2
            - 1
        )
        < 1e-3
    )


def test_the_talker_types_come_from_the_typestore(shared_data: Path) -> None:
    decoded, skipped = _decode_all(shared_data / "rosbag2/rosbag2_talker_mcap")
    assert not skipped
    assert [m.data for m in decoded["/topic"]][:2] == ["Hello, world! 0", "Hello, world! 1"]
    assert len(decoded["/rosout"]) == 10


def test_a_conflicting_definition_is_skipped_with_its_reason(tmp_path: Path) -> None:
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(
            "/odd", "std_msgs/msg/String", msgdef="int32 data\n", rihs01="RIHS01_" + "0" * 64
        )
        writer.write(conn, 1, b"\x00\x01\x00\x00\x07\x00\x00\x00")
        ok = writer.add_connection("/ok", "std_msgs/msg/Bool", typestore=msgs.typestore())
        writer.write(ok, 2, msgs.serialize(msgs.new("std_msgs/msg/Bool", data=True)))
    decoded, skipped = _decode_all(tmp_path / "bag")
    assert [s.topic for s in skipped] == ["/odd"]
    assert "differently" in skipped[0].reason and "std_msgs/msg/String" in skipped[0].reason
    assert decoded["/ok"][0].data is True


def test_an_unknown_type_without_definition_is_skipped() -> None:
    topic = BagTopic(
        "/x",
        "nope_msgs/msg/Thing",
        1,
        Encoding.CDR,
        MessageDefinition(MessageDefinitionFormat.NONE, ""),
        (),
    )
    resolution = resolve([topic])
    assert not resolution.decoders
    skipped = resolution.skipped
    assert skipped[0].topic == "/x" and "carries no definition" in skipped[0].reason


def test_a_wrong_stored_definition_yields_to_the_typestore_when_messages_decode(
    shared_data: Path,
) -> None:
    # rosbag2's own test bag stores 'uint8 level' as the definition of rcl_interfaces/msg/Log
    with Bag(shared_data / "rosbag2/rosbag2_talker_sqlite3") as bag:
        resolution = resolve(bag.topics.values(), sample=bag.first_message)
        logs = [resolution.decoders["/rosout"](raw) for _, _, raw in bag.messages(["/rosout"])]
    assert not resolution.skipped
    assert any(n.startswith("/rosout:") and "rcl_interfaces/msg/Log" in n for n in resolution.notes)
    assert len(logs) == 10 and all(m.name == "minimal_publisher" for m in logs)
    assert logs[0].msg == "Publishing: 'Hello, world! 0'"
