from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import Pose2D
from perception.objects import (
    Label,
    ObjectArray,
    detected_objects_msg,
    objects_from_msg,
    tracked_objects_msg,
)
from stack import msgs


def _objects() -> ObjectArray:
    objs = ObjectArray.create(
        [[10.0, 2.0, 0.8], [-5.0, 1.0, 0.9]],
        [0.3, -1.2],
        [[4.5, 1.8, 1.6], [0.6, 0.6, 1.7]],
        [Label.CAR, Label.PEDESTRIAN],
        [0.9, 0.7],
        velocity=np.array([[5.0, 1.0], [0.0, -1.2]]),
        pos_std=0.4,
    )
    objs.uuid[1, :] = np.arange(16)
    return objs


def _header():
    return msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(123), frame_id="map")


def test_detected_objects_round_trip_through_cdr():
    objs = _objects()
    msg = detected_objects_msg(msgs.new, _header(), objs)
    back = objects_from_msg(msgs.deserialize(msgs.serialize(msg), msgs.msgtype_of(msg)))
    assert np.allclose(back.position, objs.position)
    assert np.allclose(back.yaw, objs.yaw)
    assert np.allclose(back.dims, objs.dims, atol=1e-6)
    assert list(back.label) == [Label.CAR, Label.PEDESTRIAN]
    assert np.allclose(back.cov_xy, objs.cov_xy)
    assert msg.header.stamp.nanosec == 123


def test_tracked_objects_twist_is_in_object_frame_and_ids_survive():
    objs = _objects()
    msg = tracked_objects_msg(msgs.new, _header(), objs, vel_cov=np.tile(np.eye(2), (2, 1, 1)))
    twist = msg.objects[0].kinematics.twist_with_covariance.twist.linear
    c, s = np.cos(0.3), np.sin(0.3)
    assert twist.x == pytest.approx(c * 5.0 + s * 1.0)
    assert twist.y == pytest.approx(-s * 5.0 + c * 1.0)
    assert msg.objects[1].kinematics.is_stationary is False
    back = objects_from_msg(msg)
    assert np.allclose(back.velocity, objs.velocity)
    assert list(back.uuid[1]) == list(range(16))


def test_missing_covariance_falls_back_to_default_std():
    msg = detected_objects_msg(msgs.new, _header(), _objects())
    msg.objects[0].kinematics.has_position_covariance = False
    back = objects_from_msg(msg, default_pos_std=2.0)
    assert np.allclose(back.cov_xy[0], np.eye(2) * 4.0)


def test_non_finite_object_is_rejected_with_its_index():
    msg = detected_objects_msg(msgs.new, _header(), _objects())
    msg.objects[1].kinematics.pose_with_covariance.pose.position.x = float("nan")
    with pytest.raises(ValueError, match="object 1"):
        objects_from_msg(msg)


def test_transformed_moves_positions_velocities_and_covariances():
    objs = ObjectArray.create(
        [[1.0, 0.0, 0.5]], [0.0], [[1, 1, 1]], velocity=np.array([[1.0, 0.0]])
    )
    objs.cov_xy[0] = np.diag([4.0, 1.0])
    out = objs.transformed(Pose2D(10.0, 5.0, np.pi / 2))
    assert np.allclose(out.position, [[10.0, 6.0, 0.5]])
    assert np.allclose(out.velocity, [[0.0, 1.0]], atol=1e-12)
    assert out.yaw[0] == pytest.approx(np.pi / 2)
    assert np.allclose(out.cov_xy[0], np.diag([1.0, 4.0]))
    assert np.allclose(objs.position, [[1.0, 0.0, 0.5]])  # the input is untouched


def test_select_and_concat_keep_rows_aligned():
    objs = _objects()
    both = ObjectArray.concat([objs.select([1]), objs.select([0])])
    assert list(both.label) == [Label.PEDESTRIAN, Label.CAR]
    assert len(ObjectArray.concat([])) == 0


def _keywords_only(typename, **fields):
    """A factory that is not msgs.new (as a context's method is): makers call it by keyword."""
    return msgs.new(typename, **fields)


@pytest.mark.parametrize("build", [detected_objects_msg, tracked_objects_msg])
def test_messages_are_the_same_through_any_factory(build):
    """The positional makers (rosbags) and a factory called by keyword (rclpy's route) give the
    same messages: the same repr and CDR bytes, every field set."""
    objs = _objects()
    fast, slow = build(msgs.new, _header(), objs), build(_keywords_only, _header(), objs)
    assert repr(fast) == repr(slow)
    assert msgs.serialize(fast) == msgs.serialize(slow)
    first = fast.objects[0]
    pose = first.kinematics.pose_with_covariance
    assert (pose.pose.position.x, pose.pose.position.y, pose.pose.position.z) == (10.0, 2.0, 0.8)
    assert pose.pose.orientation.z == pytest.approx(np.sin(0.15))
    assert pose.pose.orientation.w == pytest.approx(np.cos(0.15))
    assert pose.covariance[[0, 7, 35]].tolist() == pytest.approx([0.16, 0.16, 0.1])
    dims = first.shape.dimensions
    assert (dims.x, dims.y, dims.z) == (4.5, 1.8, 1.6) and first.shape.type == 0
    assert first.classification[0].label == Label.CAR
    assert first.classification[0].probability == pytest.approx(0.9)


def test_detected_objects_quaternions_match_yaw_to_quaternion():
    from perception.geometry import yaw_to_quaternion

    yaws = np.array([0.0, -0.0, 0.3, -1.2, np.pi, 3.0e-9, -2.5])
    objs = ObjectArray.create(np.zeros((len(yaws), 3)), yaws, np.ones((len(yaws), 3)))
    msg = detected_objects_msg(msgs.new, _header(), objs)
    for obj, yaw in zip(msg.objects, yaws.tolist()):
        q = obj.kinematics.pose_with_covariance.pose.orientation
        assert (q.x, q.y, q.z, q.w) == yaw_to_quaternion(yaw)  # exactly, as before
