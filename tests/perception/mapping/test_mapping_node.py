from __future__ import annotations

import math

import numpy as np
import pytest

from perception.lidar.pointcloud import make_pointcloud2, read_points
from perception.mapping.node import MapRecorder
from stack import msgs, topics
from stack.graph import GraphError, parse_graph

STAMP = 1_700_000_000_500_000_000
LIDAR_Z = 2.0


def cloud(fake, points, frame: str = "lidar_top"):
    return make_pointcloud2(msgs.new, fake.header(STAMP, frame), np.asarray(points, float),
                            names=("x", "y", "z"))  # fmt: skip


def ready(fake, **params):
    """A recorder with the lidar extrinsic and a pose at (100, 5) heading +y (yaw 90 deg)."""
    node, ctx = fake.make_node(MapRecorder, **params)
    ctx.deliver("/tf_static", fake.tf_static("lidar_top", (0.0, 0.0, LIDAR_Z)))
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP, x=100.0, y=5.0, yaw=math.pi / 2))
    return node, ctx


def test_sweep_is_placed_in_the_map_frame_with_the_pose(fake):
    node, ctx = ready(fake)
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [[10.0, 0.0, -1.0]]))  # 10 m ahead, 1 m up
    (out,) = ctx.sent(topics.VOXEL_UPDATES)
    assert out.header.frame_id == "map"
    assert msgs.stamp_to_ns(out.header.stamp) == STAMP
    assert [f.name for f in out.fields] == ["x", "y", "z"]
    (p,) = read_points(out)
    voxel = node.params.voxel
    assert p[0] == pytest.approx(100.0, abs=voxel)
    assert p[1] == pytest.approx(15.0, abs=voxel)
    assert p[2] == pytest.approx(1.0, abs=voxel)
    assert not ctx.events


def test_only_new_voxels_are_published(fake):
    node, ctx = ready(fake)
    first = [[10.0, 0.0, -1.0], [0.0, 10.0, -1.0]]
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, first))
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, first))  # the same sweep: nothing new
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [*first, [20.0, 0.0, -1.0]]))
    widths = [m.width for m in ctx.sent(topics.VOXEL_UPDATES)]
    assert widths == [2, 0, 1]
    (p,) = read_points(ctx.sent(topics.VOXEL_UPDATES)[2])
    assert p[:2] == pytest.approx([100.0, 25.0], abs=node.params.voxel)
    assert len(node.map) == 3


def test_points_in_the_base_frame_need_no_extrinsic(fake):
    node, ctx = fake.make_node(MapRecorder)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP, x=1.0, y=2.0))
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [[3.0, 0.0, 0.5]], frame="base_link"))
    (p,) = read_points(ctx.sent(topics.VOXEL_UPDATES)[0])
    assert p == pytest.approx([4.0, 2.0, 0.5], abs=node.params.voxel)


def test_sweep_before_any_pose_is_a_counted_drop(fake):
    _, ctx = fake.make_node(MapRecorder)
    ctx.deliver("/tf_static", fake.tf_static("lidar_top", (0.0, 0.0, LIDAR_Z)))
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [[10.0, 0.0, 0.0]]))
    assert ctx.sent(topics.VOXEL_UPDATES) == []
    assert ctx.event_counts["drop"] == 1
    assert "no pose yet" in ctx.events[0][1]


def test_odometry_in_another_frame_is_a_counted_drop(fake):
    node, ctx = fake.make_node(MapRecorder)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP, frame_id="odom"))
    assert node.pose is None
    assert ctx.events == [("drop", f"{topics.LOCALIZATION_ODOMETRY}: frame 'odom' is not 'map'")]


def test_sweep_without_tf_static_is_a_counted_drop(fake):
    _, ctx = fake.make_node(MapRecorder)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP))
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [[10.0, 0.0, 0.0]]))
    assert ctx.sent(topics.VOXEL_UPDATES) == []
    assert ctx.events == [
        ("drop", f"{topics.LIDAR_POINTS}: no tf_static from 'lidar_top' to 'base_link'")
    ]


def test_bad_cloud_is_a_counted_drop_and_the_next_one_goes_through(fake):
    _, ctx = ready(fake)
    bad = make_pointcloud2(msgs.new, fake.header(STAMP, "lidar_top"), np.ones((5, 2)), ("a", "b"))
    ctx.deliver(topics.LIDAR_POINTS, bad)
    assert ctx.sent(topics.VOXEL_UPDATES) == []
    assert ctx.event_counts["drop"] == 1
    assert ctx.events[0][1].startswith(f"{topics.LIDAR_POINTS}: ") and "'x'" in ctx.events[0][1]
    ctx.deliver(topics.LIDAR_POINTS, cloud(fake, [[10.0, 0.0, 0.0]]))
    assert len(ctx.sent(topics.VOXEL_UPDATES)) == 1


def test_bad_tf_static_is_a_counted_drop(fake):
    _, ctx = fake.make_node(MapRecorder)
    ctx.deliver("/tf_static", fake.tf_static("lidar_top", (0, 0, 2), quat=(0, 0, 0, 0)))
    assert ctx.event_counts["drop"] == 1
    assert ctx.events[0][1].startswith("tf_static: base_link->lidar_top: quaternion")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("voxel: 0", r"voxel must be > 0 \(got 0\)"),
        ("radius: -1", r"radius must be > 0 \(got -1\)"),
        ("radius: .nan", r"radius must be a finite number \(got nan\)"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_value(params, message):
    text = f"nodes:\n  rec: {{class: perception.mapping.node:MapRecorder, params: {{{params}}}}}\n"
    with pytest.raises(GraphError, match=rf"m.yaml: nodes.rec.params: {message}"):
        parse_graph(text, "m.yaml")
