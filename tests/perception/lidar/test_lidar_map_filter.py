from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import Pose2D
from perception.lidar.map_filter import MapFilterError, StaticMapFilter
from perception.lidar.node import LidarObstacles
from perception.lidar.pipeline import ObstacleConfig, detect_obstacles
from perception.lidar.pointcloud import make_pointcloud2
from perception.lidar.synthetic import SceneBox, box_surface_points, synthetic_sweep
from perception.map_roi import STATIC_MATERIALS
from perception.objects import Label, objects_from_msg
from stack import msgs, topics

POLE_XY = (110.0, 50.0)  # map frame
STAMP = 1_700_000_000_000_000_000


def _pole_and_sign(rng: np.random.Generator) -> np.ndarray:
    """Map points of a 3 m post at POLE_XY and a sign plate (z 2.4..2.9) reaching 1 m along +x
    from it, like a crossing sign."""
    pole = box_surface_points(SceneBox(*POLE_XY, 0.0, 0.1, 0.1, 3.0), 400, rng)
    plate = box_surface_points(
        SceneBox(POLE_XY[0] + 0.5, POLE_XY[1], 0.0, 1.0, 0.05, 0.5), 200, rng
    )
    plate[:, 2] += 2.4
    return np.concatenate([pole, plate])


def test_points_on_the_map_structure_go_and_a_person_beside_or_under_it_stays():
    rng = np.random.default_rng(0)
    filt = StaticMapFilter(_pole_and_sign(rng), cell=0.2, z_margin=0.2)
    # The ego 10 m behind the post, heading +y in the map: base_link x is map +y.
    ego = Pose2D(POLE_XY[0], POLE_XY[1] - 10.0, np.pi / 2)
    pole_pts = np.column_stack([np.full(20, 10.0), np.zeros(20), np.linspace(0.3, 2.9, 20)])
    # A person 0.8 m from the post (map +x = base_link -y), and one under the plate's far end.
    person = np.column_stack([np.full(10, 10.0), np.full(10, -0.8), np.linspace(0.2, 1.8, 10)])
    under = np.column_stack([np.full(10, 10.0), np.full(10, -0.9), np.linspace(0.2, 1.7, 10)])
    plate = np.array([[10.0, -0.9, 2.6]])
    mask = filt.on_map(np.concatenate([pole_pts, person, under, plate]), ego)
    assert mask[:20].all()
    assert not mask[20:40].any()
    assert mask[40]


def test_a_wrong_pose_keeps_the_structure():
    filt = StaticMapFilter(_pole_and_sign(np.random.default_rng(1)))
    pole_pts = np.column_stack([np.full(5, 10.0), np.zeros(5), np.linspace(0.3, 2.0, 5)])
    assert filt.on_map(pole_pts, Pose2D(POLE_XY[0], POLE_XY[1] - 10.0, np.pi / 2)).all()
    assert not filt.on_map(pole_pts, Pose2D(POLE_XY[0] - 10.0, POLE_XY[1] + 2.0, 0.0)).any()
    assert filt.on_map(np.zeros((0, 3)), Pose2D()).shape == (0,)


def test_from_map_uses_static_materials_only_and_names_bad_files(tmp_path):
    rng = np.random.default_rng(2)
    pts = _pole_and_sign(rng)
    road = np.column_stack([rng.uniform(100, 120, 50), rng.uniform(45, 55, 50), np.zeros(50)])
    path = tmp_path / "map.npz"
    material = np.r_[np.full(len(pts), STATIC_MATERIALS[0]), np.zeros(len(road), np.uint8)]
    np.savez(path, points=np.concatenate([pts, road]), point_material=material)
    filt = StaticMapFilter.from_map(path)
    assert filt is not None
    ego = Pose2D(POLE_XY[0], POLE_XY[1] - 10.0, np.pi / 2)
    assert filt.on_map(np.array([[10.0, 0.0, 1.0]]), ego).all()
    assert not filt.on_map(np.array([[5.0, -5.0, 0.05]]), ego).any()  # road is no structure

    lane_only = tmp_path / "lanes.npz"
    np.savez(lane_only, centerline=np.zeros((3, 2)))
    assert StaticMapFilter.from_map(lane_only) is None
    bad = tmp_path / "bad.npz"
    np.savez(bad, points=np.zeros((4, 2)), point_material=np.zeros(4))
    with pytest.raises(MapFilterError, match=r"bad\.npz"):
        StaticMapFilter.from_map(bad)
    with pytest.raises(MapFilterError, match=r"missing\.npz"):
        StaticMapFilter.from_map(tmp_path / "missing.npz")
    with pytest.raises(MapFilterError, match="cell"):
        StaticMapFilter(pts, cell=0.0)


def test_pipeline_separates_a_person_from_the_post_beside_it():
    rng = np.random.default_rng(3)
    sweep = synthetic_sweep([SceneBox(12.0, -4.0, 0.0, 0.5, 0.5, 1.75)], 6000, 400, seed=3)
    post = box_surface_points(SceneBox(12.0, -4.75, 0.0, 0.15, 0.15, 3.5), 200, rng)
    points = np.concatenate([sweep[:, :3], post]).astype(np.float32)
    cfg = ObstacleConfig(cluster_tolerance=1.0)
    merged = detect_obstacles(points, cfg)
    assert len(merged) == 1 and merged.dims[0, 2] > 3.0  # person and post: one tall box

    def on_post(pts: np.ndarray) -> np.ndarray:
        return np.hypot(pts[:, 0] - 12.0, pts[:, 1] + 4.75) < 0.2

    objs = detect_obstacles(points, cfg, exclude=on_post)
    assert len(objs) == 1 and objs.label[0] == Label.PEDESTRIAN
    assert np.allclose(objs.position[0, :2], [12.0, -4.0], atol=0.15)


def test_node_filters_map_points_with_the_pose_at_the_cloud_stamp(fake, tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "map.npz"
    post = box_surface_points(SceneBox(*POLE_XY, 0.0, 0.15, 0.15, 3.5), 300, rng)
    np.savez(path, points=post, point_material=np.full(len(post), STATIC_MATERIALS[0]))
    node, ctx = fake.make_node(LidarObstacles, map_path=str(path), cluster_tolerance=1.0)
    ctx.deliver(topics.TF_STATIC, fake.tf_static("lidar_top", (0.0, 0.0, 0.0)))
    # In base_link: a person at (12, -4) and the post at (12, -4.75); ego heading +x.
    ego_xy = (POLE_XY[0] - 12.0, POLE_XY[1] + 4.75)
    sweep = synthetic_sweep([SceneBox(12.0, -4.0, 0.0, 0.5, 0.5, 1.75)], 6000, 400, seed=4)
    base_post = box_surface_points(SceneBox(12.0, -4.75, 0.0, 0.15, 0.15, 3.5), 200, rng)
    cloud = np.concatenate([sweep, np.column_stack([base_post, np.ones(len(base_post))])])
    msg = make_pointcloud2(msgs.new, fake.header(STAMP, "lidar_top"), cloud)

    ctx.deliver(topics.LIDAR_POINTS, msg)  # no pose yet: clustered as is, nothing dropped
    assert node.unfiltered_clouds == 1
    (first,) = ctx.sent(topics.LIDAR_OBJECTS)
    assert objects_from_msg(first).dims[0, 2] > 3.0

    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP - 10_000_000, *ego_xy))
    ctx.deliver(topics.LIDAR_POINTS, msg)
    objs = objects_from_msg(ctx.sent(topics.LIDAR_OBJECTS)[-1])
    assert len(objs) == 1 and objs.label[0] == Label.PEDESTRIAN
    assert node.unfiltered_clouds == 1

    ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(STAMP, *ego_xy, frame_id="odom"))
    assert ctx.event_counts["drop"] == 1 and "odom" in ctx.events[-1][1]
