from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stack import msgs
from stack.msgs import MessageError, deserialize, new, ns_to_stamp, serialize, stamp_to_ns
from stack.msgs.factory import DEFS_DIR


def _own_types() -> list[str]:
    return sorted(f"{p.parent.parent.name}/msg/{p.stem}" for p in DEFS_DIR.glob("*/msg/*.msg"))


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return all(_equal(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def test_own_definitions_are_registered():
    names = _own_types()
    assert "autoware_perception_msgs/msg/DetectedObjects" in names
    assert "ackermann_msgs/msg/AckermannDriveStamped" in names
    for name in names:
        assert name in msgs.typestore().types


@pytest.mark.parametrize("typename", _own_types())
def test_cdr_round_trip_own_types_with_defaults(typename):
    msg = new(typename)
    assert _equal(deserialize(serialize(msg), typename), msg)


def test_cdr_round_trip_nested_values():
    cls = new(
        "autoware_perception_msgs/msg/ObjectClassification", label=7, probability=np.float32(0.5)
    )
    obj = new("autoware_perception_msgs/msg/DetectedObject", classification=[cls])
    obj.kinematics.pose_with_covariance.pose.position.x = 12.5
    obj.shape.dimensions.x = 4.2
    arr = new(
        "autoware_perception_msgs/msg/DetectedObjects",
        header=new(
            "std_msgs/msg/Header", stamp=ns_to_stamp(1_700_000_000_123_456_789), frame_id="map"
        ),
        objects=[obj, obj],
    )
    back = deserialize(serialize(arr), "autoware_perception_msgs/msg/DetectedObjects")
    assert _equal(back, arr)
    assert back.objects[1].classification[0].label == 7
    assert back.objects[0].kinematics.pose_with_covariance.pose.position.x == 12.5
    assert stamp_to_ns(back.header.stamp) == 1_700_000_000_123_456_789


def test_cdr_round_trip_trajectory_and_ackermann():
    pts = [
        new("autoware_planning_msgs/msg/TrajectoryPoint", longitudinal_velocity_mps=float(i))
        for i in range(5)
    ]
    traj = new("autoware_planning_msgs/msg/Trajectory", points=pts)
    back = deserialize(serialize(traj), "autoware_planning_msgs/msg/Trajectory")
    assert [p.longitudinal_velocity_mps for p in back.points] == [0, 1, 2, 3, 4]
    cmd = new("ackermann_msgs/msg/AckermannDriveStamped")
    cmd.drive.steering_angle = 0.25
    cmd.drive.speed = 3.0
    back = deserialize(serialize(cmd), "ackermann_msgs/AckermannDriveStamped")
    assert back.drive.steering_angle == pytest.approx(0.25)
    assert back.drive.speed == pytest.approx(3.0)


def test_cdr_round_trip_image():
    data = np.arange(4 * 3 * 3, dtype=np.uint8)
    img = new("sensor_msgs/msg/Image", height=4, width=3, encoding="bgr8", step=9, data=data)
    back = deserialize(serialize(img), "sensor_msgs/msg/Image")
    assert (back.height, back.width, back.encoding, back.step) == (4, 3, "bgr8", 9)
    assert np.array_equal(back.data, data)


def test_cdr_round_trip_pointcloud2():
    fields = [
        new("sensor_msgs/msg/PointField", name=n, offset=4 * i, datatype=7, count=1)
        for i, n in enumerate("xyz")
    ]
    pts = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    cloud = new(
        "sensor_msgs/msg/PointCloud2",
        height=1,
        width=10,
        fields=fields,
        point_step=12,
        row_step=120,
        data=pts.view(np.uint8).ravel(),
        is_dense=True,
    )
    back = deserialize(serialize(cloud), "sensor_msgs/msg/PointCloud2")
    assert [f.name for f in back.fields] == ["x", "y", "z"]
    assert np.array_equal(back.data.view(np.float32).reshape(10, 3), pts)


def test_cdr_round_trip_imu():
    imu = new("sensor_msgs/msg/Imu")
    imu.angular_velocity.z = 0.1
    imu.linear_acceleration.x = 9.81
    imu.orientation_covariance[0] = -1.0
    back = deserialize(serialize(imu), "sensor_msgs/msg/Imu")
    assert back.angular_velocity.z == pytest.approx(0.1)
    assert back.linear_acceleration.x == pytest.approx(9.81)
    assert back.orientation_covariance[0] == -1.0
    assert back.orientation_covariance.shape == (9,)


def test_defaults_follow_ros_conventions():
    imu = new("sensor_msgs/Imu")
    assert imu.orientation.w == 0.0  # ROS default, not identity: omitted means zero
    assert imu.header.frame_id == ""
    assert imu.orientation_covariance.dtype == np.float64
    uuid = new("unique_identifier_msgs/msg/UUID")
    assert uuid.uuid.shape == (16,) and uuid.uuid.dtype == np.uint8


def test_unknown_type_and_field_name_the_culprit():
    with pytest.raises(MessageError, match="no_such_msgs/msg/Thing"):
        new("no_such_msgs/msg/Thing")
    with pytest.raises(MessageError, match=r"sensor_msgs/msg/Imu has no field.*'speed'"):
        new("sensor_msgs/msg/Imu", speed=3)
    with pytest.raises(MessageError, match="sensor_msgs/msg/Imu"):
        deserialize(b"\x00\x01", "sensor_msgs/msg/Imu")


def test_cached_builders_keep_errors_and_the_backend(monkeypatch):
    """After a type's first message, ``new`` takes the cached builder (by the name as spelled):
    a bad field still names the type and field, a wrong value type still raises TypeError,
    and a backend set later (rclpy) still gets every call."""
    for name in ("geometry_msgs/Vector3", "geometry_msgs/msg/Vector3"):
        assert new(name, x=1.0).x == 1.0  # caches the builder under this spelling
        with pytest.raises(MessageError, match=r"geometry_msgs/msg/Vector3 has no field.*'w'"):
            new(name, x=1.0, w=2.0)
    with pytest.raises(TypeError):
        new("geometry_msgs/msg/Vector3", 1.0)  # positional: not a field problem
    seen = []
    monkeypatch.setattr(msgs.factory, "_backend", lambda t, **f: seen.append((t, f)) or "rosidl")
    assert new("geometry_msgs/Vector3", x=2.0) == "rosidl"
    assert seen == [("geometry_msgs/msg/Vector3", {"x": 2.0})]


def test_mutable_defaults_are_built_per_message_and_given_values_kept():
    """The generated constructors share only immutable defaults: nested messages, arrays and
    lists are new for every message; given values are used as they are, not copied."""
    a, b = new("geometry_msgs/msg/PoseWithCovariance"), new("geometry_msgs/msg/PoseWithCovariance")
    assert a.pose is not b.pose and a.pose.position is not b.pose.position
    assert a.covariance is not b.covariance and a.covariance.shape == (36,)
    a.pose.position.x, a.covariance[0] = 1.0, 2.0
    assert b.pose.position.x == 0.0 and b.covariance[0] == 0.0
    c, d = new("vision_msgs/msg/Detection2D"), new("vision_msgs/msg/Detection2D")
    assert c.results == [] and c.results is not d.results and c.id == ""
    point = new("geometry_msgs/msg/Point", x=1.5)
    assert new("geometry_msgs/msg/Pose", position=point).position is point
    with pytest.raises(MessageError, match=r"geometry_msgs/msg/Pose has no field.*'yaw'"):
        new("geometry_msgs/msg/Pose", position=point, yaw=1.0)


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, -1])
def test_stamp_round_trip(ns):
    stamp = ns_to_stamp(ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(stamp) == ns


@pytest.mark.parametrize("text", ["int32[ x\n", "this is not a definition ((\n"])
def test_bad_definition_file_names_the_file(tmp_path: Path, monkeypatch, text: str):
    from rosbags.typesys import Stores, get_typestore

    from stack.msgs import factory

    bad = tmp_path / "bad_msgs" / "msg"
    bad.mkdir(parents=True)
    (bad / "Broken.msg").write_text(text)
    monkeypatch.setattr(factory, "DEFS_DIR", tmp_path)
    with pytest.raises(MessageError, match=r"Broken\.msg"):
        factory._load_own_definitions(get_typestore(Stores.ROS2_HUMBLE))


_MAKER_CASES = [
    ("geometry_msgs/msg/Point", ("x", "y", "z"), (1.5, -2.0, 3.25)),
    ("geometry_msgs/Vector3", ("z",), (7.0,)),  # short spelling, one field, the rest default
    ("vision_msgs/msg/Detection2D", ("id",), ("car-1",)),
    ("autoware_perception_msgs/msg/Shape", ("type", "dimensions"), (0, None)),
    (
        "autoware_perception_msgs/msg/DetectedObjectKinematics",
        ("has_position_covariance",),
        (True,),
    ),
]


@pytest.mark.parametrize(("typename", "fields", "values"), _MAKER_CASES)
def test_maker_builds_what_new_builds(typename, fields, values):
    """A positional maker gives the message ``new`` gives for the same keywords: the same
    fields, the same defaults (and their types), the same CDR bytes."""
    if typename.endswith("Shape"):
        values = (0, new("geometry_msgs/msg/Vector3", x=4.5, y=1.8, z=1.5))
    made = msgs.maker(new, typename, *fields)(*values)
    want = new(typename, **dict(zip(fields, values)))
    assert repr(made) == repr(want) and _equal(made, want)
    assert serialize(made) == serialize(want)


def test_maker_defaults_are_fresh_per_message():
    """Defaults a maker fills in (nested messages, arrays, lists) are new for every message."""
    kin = msgs.maker(new, "autoware_perception_msgs/msg/DetectedObjectKinematics")
    a, b = kin(), kin()
    assert a.twist_with_covariance is not b.twist_with_covariance
    assert a.twist_with_covariance.twist.linear is not a.twist_with_covariance.twist.angular
    assert a.twist_with_covariance.covariance is not b.twist_with_covariance.covariance
    a.twist_with_covariance.twist.linear.x = 3.0
    a.pose_with_covariance.covariance[0] = 1.0
    assert b.twist_with_covariance.twist.linear.x == 0.0
    assert b.pose_with_covariance.covariance[0] == 0.0
    assert b.pose_with_covariance.covariance.dtype == np.float64
    shape = msgs.maker(new, "autoware_perception_msgs/msg/Shape")
    assert (
        shape().footprint.points == [] and shape().footprint.points is not shape().footprint.points
    )


def test_maker_refuses_unknown_types_and_fields_by_name():
    with pytest.raises(MessageError, match="no_such_msgs/msg/Thing"):
        msgs.maker(new, "no_such_msgs/msg/Thing", "x")
    with pytest.raises(MessageError, match=r"geometry_msgs/msg/Point.*no field.*'w'"):
        msgs.maker(new, "geometry_msgs/msg/Point", "x", "w")
    with pytest.raises(MessageError, match=r"geometry_msgs/msg/Point.*repeats"):
        msgs.maker(new, "geometry_msgs/msg/Point", "x", "x")
    with pytest.raises(TypeError):
        msgs.maker(new, "geometry_msgs/msg/Point", "x", "y")(1.0)  # one value short


def test_maker_goes_through_any_other_factory_and_a_backend(monkeypatch):
    """With a factory other than msgs.new (a context's method) or a backend set (rclpy), the
    maker calls that factory with keywords; a maker asked for after a backend is set uses it."""
    calls = []

    def factory(typename, **fields):
        calls.append((typename, fields))
        return new(typename, **fields)

    point = msgs.maker(factory, "geometry_msgs/Point", "x", "y")
    assert point(1.0, 2.0).y == 2.0
    assert calls == [("geometry_msgs/Point", {"x": 1.0, "y": 2.0})]
    with pytest.raises(TypeError, match="2 values expected, got 3"):
        point(1.0, 2.0, 3.0)
    fast = msgs.maker(new, "geometry_msgs/msg/Point", "x")
    seen = []
    monkeypatch.setattr(msgs.factory, "_backend", lambda t, **f: seen.append((t, f)) or "rosidl")
    assert msgs.maker(new, "geometry_msgs/msg/Point", "x")(4.0) == "rosidl"
    assert seen == [("geometry_msgs/msg/Point", {"x": 4.0})]
    assert fast(5.0).x == 5.0  # kept from before: the rosbags class (ask per use, as documented)
