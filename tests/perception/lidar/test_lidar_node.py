from __future__ import annotations

import numpy as np
import pytest

from perception.lidar.node import LidarObstacles
from perception.lidar.pointcloud import make_pointcloud2
from perception.lidar.synthetic import SceneBox, synthetic_sweep
from perception.objects import objects_from_msg
from stack import msgs, topics

LIDAR_Z = 1.95
STAMP = 1_700_000_000_123_000_000


def _cloud(fake, points: np.ndarray, frame: str = "lidar_top"):
    return make_pointcloud2(msgs.new, fake.header(STAMP, frame), points)


def _scene_in_lidar_frame() -> np.ndarray:
    sweep = synthetic_sweep([SceneBox(15.0, 2.0, 0.0, 4.5, 1.8, 1.5)], 8000, 800, seed=5)
    sweep[:, 0] -= 1.0
    sweep[:, 2] -= LIDAR_Z
    return sweep


def test_publishes_objects_in_base_link_with_the_sensor_stamp(fake):
    node, ctx = fake.make_node(LidarObstacles)
    ctx.deliver(topics.TF_STATIC, fake.tf_static("lidar_top", (1.0, 0.0, LIDAR_Z)))
    ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, _scene_in_lidar_frame()))
    (out,) = ctx.sent(topics.LIDAR_OBJECTS)
    assert msgs.stamp_to_ns(out.header.stamp) == STAMP
    assert out.header.frame_id == "base_link"
    objs = objects_from_msg(out)
    assert len(objs) == 1
    assert np.allclose(objs.position[0, :2], [15.0, 2.0], atol=0.15)
    assert objs.position[0, 2] == pytest.approx(0.75, abs=0.1)
    assert node.last_stats.counts["boxes"] == 1
    assert not ctx.events


def test_empty_cloud_is_counted_and_not_published(fake):
    _, ctx = fake.make_node(LidarObstacles)
    ctx.deliver(topics.TF_STATIC, fake.tf_static("lidar_top", (1.0, 0.0, LIDAR_Z)))
    ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, np.zeros((0, 4))))
    ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, np.full((4, 4), np.nan)))
    assert ctx.sent(topics.LIDAR_OBJECTS) == []
    assert ctx.event_counts["drop"] == 2
    assert "empty point cloud" in ctx.events[0][1]


def test_cloud_without_xyz_is_counted(fake):
    _, ctx = fake.make_node(LidarObstacles)
    msg = make_pointcloud2(msgs.new, fake.header(STAMP, "lidar_top"), np.ones((5, 2)), ("a", "b"))
    ctx.deliver(topics.LIDAR_POINTS, msg)
    assert ctx.sent(topics.LIDAR_OBJECTS) == []
    assert "no field 'x'" in ctx.events[0][1]


def test_unknown_sensor_frame_is_counted_unless_a_fallback_is_set(fake):
    _, ctx = fake.make_node(LidarObstacles)
    ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, _scene_in_lidar_frame()))
    assert ctx.sent(topics.LIDAR_OBJECTS) == [] and "no tf_static" in ctx.events[0][1]

    _, ctx = fake.make_node(LidarObstacles, fallback_extrinsic=[1.0, 0.0, LIDAR_Z, 0.0, 0.0, 0.0])
    ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, _scene_in_lidar_frame()))
    assert len(objects_from_msg(ctx.sent(topics.LIDAR_OBJECTS)[0])) == 1


def test_params_validate_the_fallback_extrinsic(fake):
    with pytest.raises(ValueError, match="fallback_extrinsic"):
        fake.make_node(LidarObstacles, fallback_extrinsic=[1.0, 2.0])


def test_points_queue_depth_reaches_the_subscription_and_is_checked(fake):
    _, ctx = fake.make_node(LidarObstacles)
    assert ctx.depths[topics.LIDAR_POINTS] == 1  # keep-latest unless the launch file asks for more
    _, ctx = fake.make_node(LidarObstacles, points_queue_depth=2)
    assert ctx.depths[topics.LIDAR_POINTS] == 2
    with pytest.raises(ValueError, match=r"points_queue_depth must be >= 1 \(got 0\)"):
        fake.make_node(LidarObstacles, points_queue_depth=0)
