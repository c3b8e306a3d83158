from __future__ import annotations

import numpy as np

from perception.objects import Label, ObjectArray, detected_objects_msg, objects_from_msg
from perception.tracking.node import ObjectTracker
from stack import msgs, topics

T0 = 1_700_000_000_000_000_000
DT = 100_000_000


def _odometry(fake, stamp: int, x: float, y: float, yaw: float, frame: str = "map"):
    return fake.odometry(stamp, x, y, yaw, frame_id=frame)


def _detections(fake, stamp: int, xy, label=Label.CAR, score=0.6, frame="base_link"):
    xy = np.asarray(xy, float).reshape(-1, 2)
    n = len(xy)
    objs = ObjectArray.create(
        np.column_stack([xy, np.full(n, 0.8)]),
        np.zeros(n),
        np.tile([4.5, 1.8, 1.5], (n, 1)),
        [label] * n,
        [score] * n,
        pos_std=0.2,
    )
    return detected_objects_msg(msgs.new, fake.header(stamp, frame), objs)


def test_static_object_seen_from_a_moving_ego_is_static_in_the_map(fake):
    _, ctx = fake.make_node(ObjectTracker)
    for k in range(20):
        stamp, ego_x = T0 + k * DT, 1.0 * k  # ego drives at 10 m/s along x
        ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, stamp, ego_x, 0.0, 0.0))
        ctx.deliver(topics.LIDAR_OBJECTS, _detections(fake, stamp, [[50.0 - ego_x, 3.0]]))
    out = ctx.sent(topics.TRACKED_OBJECTS)
    assert len(out) == 20
    last = out[-1]
    assert msgs.stamp_to_ns(last.header.stamp) == T0 + 19 * DT
    assert last.header.frame_id == "map"
    objs = objects_from_msg(last)
    assert len(objs) == 1
    assert np.allclose(objs.position[0, :2], [50.0, 3.0], atol=0.05)
    assert np.hypot(*objs.velocity[0]) < 0.2
    assert objs.uuid[0].any()
    assert not ctx.events


def test_camera_class_is_fused_into_lidar_tracks(fake):
    _, ctx = fake.make_node(ObjectTracker)
    for k in range(5):
        stamp = T0 + k * DT
        ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, stamp, 0.0, 0.0, 0.0))
        ctx.deliver(
            topics.CAMERA_OBJECTS,
            _detections(fake, stamp + 5_000_000, [[20.5, 0.2]], Label.PEDESTRIAN, 0.9),
        )
        ctx.deliver(
            topics.LIDAR_OBJECTS, _detections(fake, stamp, [[20.0, 0.0]], Label.BICYCLE, 0.35)
        )
    objs = objects_from_msg(ctx.sent(topics.TRACKED_OBJECTS)[-1])
    assert len(objs) == 1 and objs.label[0] == Label.PEDESTRIAN


def test_camera_alone_drives_the_tracker_when_lidar_is_silent(fake):
    _, ctx = fake.make_node(ObjectTracker)
    for k in range(4):
        stamp = T0 + k * DT
        ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, stamp, 0.0, 0.0, 0.0))
        ctx.deliver(topics.CAMERA_OBJECTS, _detections(fake, stamp, [[20.0, 0.0]], Label.CAR, 0.9))
    out = ctx.sent(topics.TRACKED_OBJECTS)
    assert len(out) == 4 and len(out[-1].objects) == 1


def test_objects_without_an_ego_pose_are_dropped(fake):
    _, ctx = fake.make_node(ObjectTracker)
    ctx.deliver(topics.LIDAR_OBJECTS, _detections(fake, T0, [[10.0, 0.0]]))
    assert ctx.sent(topics.TRACKED_OBJECTS) == []
    assert "no ego pose" in ctx.events[0][1]


def test_map_frame_objects_need_no_pose_and_bad_inputs_are_counted(fake):
    _, ctx = fake.make_node(ObjectTracker)
    ctx.deliver(topics.LIDAR_OBJECTS, _detections(fake, T0, [[10.0, 0.0]], frame="map"))
    assert len(ctx.sent(topics.TRACKED_OBJECTS)) == 1
    bad = _detections(fake, T0 + DT, [[10.0, 0.0]], frame="map")
    bad.objects[0].shape.dimensions.x = float("inf")
    ctx.deliver(topics.LIDAR_OBJECTS, bad)
    ctx.deliver(topics.LIDAR_OBJECTS, _detections(fake, T0 - DT, [[10.0, 0.0]], frame="map"))  # old
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 0.0, 0.0, 0.0, frame="odom"))
    assert len(ctx.sent(topics.TRACKED_OBJECTS)) == 1
    assert ctx.event_counts["drop"] == 3
    details = " | ".join(d for _, d in ctx.events)
    assert "non-finite" in details and "older" in details and "'odom'" in details


def test_nested_params_accept_dicts(fake):
    node, _ = fake.make_node(ObjectTracker, tracker={"min_hits": 1}, fusion={"max_distance": 1.0})
    assert node.tracker.cfg.min_hits == 1
    assert node.params.fusion.max_distance == 1.0


def test_map_roi_drops_detections_off_the_road(fake, tmp_path):
    path = tmp_path / "map.npz"
    np.savez(path, centerline=np.array([[0.0, 0.0], [100.0, 0.0]]))
    _, ctx = fake.make_node(
        ObjectTracker, map_path=str(path), roi_max_offset=11.0, tracker={"min_hits": 1}
    )
    ctx.deliver(
        topics.LIDAR_OBJECTS, _detections(fake, T0, [[20.0, 3.0], [20.0, 25.0]], frame="map")
    )
    objs = objects_from_msg(ctx.sent(topics.TRACKED_OBJECTS)[-1])
    assert len(objs) == 1 and objs.position[0, 1] == 3.0
