from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import wrap_angle
from perception.lidar.boxes import classify_by_size, fit_boxes
from perception.lidar.cluster import NOISE, euclidean_clusters
from perception.lidar.pipeline import ObstacleConfig, PipelineStats, detect_obstacles
from perception.lidar.preprocess import GroundConfig, segment_ground, voxel_downsample
from perception.lidar.synthetic import SceneBox, box_surface_points, synthetic_sweep
from perception.objects import Label


def test_voxel_downsample_returns_one_centroid_per_voxel():
    pts = np.array([[0.01, 0.01, 0.0], [0.09, 0.05, 0.0], [1.05, 0.0, 0.0]], np.float32)
    out = voxel_downsample(pts, 0.1)
    assert len(out) == 2
    assert np.allclose(sorted(out[:, 0]), [0.05, 1.05], atol=1e-6)


def test_ground_ransac_finds_a_tilted_plane_under_objects():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-30, 30, size=(4000, 2))
    z = 0.02 * xy[:, 0] + 0.1 + rng.normal(0, 0.02, len(xy))
    ground = np.column_stack([xy, z])
    car = box_surface_points(SceneBox(8, 3, 0.0, 4.5, 1.8, 1.5), 500, rng) + np.array([0, 0, 0.26])
    mask, plane = segment_ground(np.concatenate([ground, car]), GroundConfig(candidate_band=1.5))
    assert plane.a == pytest.approx(0.02, abs=0.005) and plane.c == pytest.approx(0.1, abs=0.05)
    assert mask[: len(ground)].mean() > 0.98
    car_height = plane.height_above(car)
    assert not mask[len(ground) :][car_height > 0.3].any()


def test_ground_falls_back_to_flat_plane_without_low_points():
    wall = np.column_stack([np.full(100, 5.0), np.linspace(-2, 2, 100), np.linspace(1, 3, 100)])
    mask, plane = segment_ground(wall, GroundConfig())
    assert (plane.a, plane.b, plane.c) == (0.0, 0.0, 0.0)
    assert not mask.any()


def test_clustering_separates_two_boxes_and_drops_small_ones():
    rng = np.random.default_rng(2)
    a = box_surface_points(SceneBox(10, 0, 0.0, 4.0, 1.8, 1.5), 400, rng)
    b = box_surface_points(SceneBox(10, 3.5, 0.0, 4.0, 1.8, 1.5), 400, rng)  # 1.7 m gap
    speck = np.array([[30.0, 30.0, 1.0]])
    labels = euclidean_clusters(np.concatenate([a, b, speck]), 0.6, min_points=3)
    assert len(set(labels[:400])) == 1 and len(set(labels[400:800])) == 1
    assert labels[0] != labels[400]
    assert labels[-1] == NOISE
    assert len(euclidean_clusters(np.zeros((0, 3)), 0.5)) == 0


def test_box_fit_recovers_pose_and_size_of_a_rotated_box():
    rng = np.random.default_rng(3)
    box = SceneBox(12.0, -4.0, 0.6, 4.6, 1.9, 1.5)
    pts = box_surface_points(box, 3000, rng)
    fit = fit_boxes(pts, np.zeros(len(pts), np.int64))
    assert np.allclose(fit.center[0, :2], [12.0, -4.0], atol=0.05)
    assert fit.center[0, 2] == pytest.approx(0.75, abs=0.05)
    assert np.allclose(fit.dims[0], [4.6, 1.9, 1.5], atol=0.06)
    assert abs(wrap_angle(2 * (fit.yaw[0] - 0.6))) < 0.02  # box yaw is known up to pi


def test_size_classes():
    dims = np.array(
        [[0.6, 0.5, 1.75], [4.5, 1.8, 1.5], [11.0, 2.5, 3.4], [1.8, 0.6, 1.6], [0.3, 0.3, 0.3]]
    )
    label, prob = classify_by_size(dims)
    assert list(label) == [Label.PEDESTRIAN, Label.CAR, Label.TRUCK, Label.BICYCLE, Label.UNKNOWN]
    assert np.all((prob > 0) & (prob <= 1))


def test_pipeline_finds_the_obstacles_of_a_sweep():
    boxes = [
        SceneBox(15.0, 3.0, 0.3, 4.5, 1.8, 1.5),
        SceneBox(20.0, -4.0, -0.2, 4.5, 1.8, 1.5),
        SceneBox(10.0, 0.0, 0.0, 0.5, 0.5, 1.7),
    ]
    sweep = synthetic_sweep(boxes, ground_points=20_000, points_per_box=800, seed=4)
    stats = PipelineStats()
    objs = detect_obstacles(sweep[:, :3], ObstacleConfig(), stats)
    assert len(objs) == 3
    for box, label in zip(boxes, [Label.CAR, Label.CAR, Label.PEDESTRIAN]):
        dist = np.hypot(objs.position[:, 0] - box.x, objs.position[:, 1] - box.y)
        i = int(np.argmin(dist))
        assert dist[i] < 0.15 and objs.label[i] == label
    assert stats.counts["ground"] < stats.counts["voxel"] / 5  # the road went away
    assert set(stats.ms) == {"crop", "voxel", "ground", "cluster", "fit", "structure", "boxes"}


def test_pipeline_ignores_the_ego_body_and_far_points():
    body = np.array([[1.0, 0.5, 1.0], [3.0, -0.5, 1.2], [0.0, 0.0, 1.5]] * 5, np.float32)
    far = np.array([[200.0, 0.0, 1.0]] * 10, np.float32)
    assert len(detect_obstacles(np.concatenate([body, far]), ObstacleConfig())) == 0


def test_config_validation_names_the_key():
    with pytest.raises(ValueError, match="crop_x"):
        ObstacleConfig(crop_x=(5.0, -5.0))
    cfg = ObstacleConfig(ground={"height_threshold": 0.3})
    assert cfg.ground.height_threshold == 0.3


def test_ray_cast_scan_of_a_car_from_behind_gives_its_rear_face():
    from perception.geometry import RigidTransform
    from perception.lidar.synthetic import ray_cast_sweep

    scan = ray_cast_sweep([SceneBox(20.0, 0.0, 0.0, 4.5, 1.8, 1.5)], seed=6)
    base = RigidTransform.from_xyzrpy(1.0, 0.0, 1.95, 0.0, 0.0, 0.0).apply(scan[:, :3])
    objs = detect_obstacles(base, ObstacleConfig(vehicle_priors=None))
    assert len(objs) == 1
    # Only the rear face is visible: a thin box across the lane at x = 17.75.
    assert objs.position[0, 0] == pytest.approx(17.75, abs=0.15)
    assert objs.position[0, 1] == pytest.approx(0.0, abs=0.1)
    assert objs.dims[0, 0] == pytest.approx(1.8, abs=0.2)  # the long side is the car's width
    assert objs.dims[0, 2] == pytest.approx(1.5, abs=0.3)


def test_rear_face_is_completed_to_a_car_footprint_away_from_the_sensor():
    from perception.geometry import RigidTransform
    from perception.lidar.synthetic import ray_cast_sweep

    scan = ray_cast_sweep([SceneBox(20.0, 0.0, 0.0, 4.5, 1.8, 1.5)], seed=6)
    base = RigidTransform.from_xyzrpy(1.0, 0.0, 1.95, 0.0, 0.0, 0.0).apply(scan[:, :3])
    objs = detect_obstacles(base, ObstacleConfig(sensor_xy=(1.0, 0.0)))
    assert len(objs) == 1
    # The box grows from the rear face (x = 17.75) to a 4.5 m car: centre near the truth.
    assert objs.position[0, 0] == pytest.approx(20.0, abs=0.3)
    assert objs.position[0, 1] == pytest.approx(0.0, abs=0.1)
    assert objs.dims[0, 0] == pytest.approx(4.5, abs=0.1)
    assert objs.dims[0, 1] == pytest.approx(1.8, abs=0.2)
    assert abs(np.cos(objs.yaw[0])) == pytest.approx(1.0, abs=0.05)  # heading along x


def test_side_face_grows_sideways_and_walls_are_left_alone():
    from perception.lidar.boxes import BoxFit, complete_vehicle_faces

    fit = BoxFit(
        center=np.array([[0.0, 5.0, 0.8], [0.0, -8.0, 3.0]]),
        yaw=np.array([0.0, 0.0]),
        dims=np.array([[4.4, 0.2, 1.5], [9.0, 0.3, 6.0]]),
        num_points=np.array([50, 400]),
    )
    out = complete_vehicle_faces(fit)
    assert out.center[0, 1] == pytest.approx(5.0 + (1.85 - 0.2) / 2)  # away from the sensor
    assert out.dims[0, 1] == pytest.approx(1.85)
    assert np.array_equal(out.center[1], fit.center[1]) and np.array_equal(out.dims[1], fit.dims[1])


def test_3d_cluster_mode_is_selectable():
    cfg = ObstacleConfig(cluster_mode="3d")
    sweep = synthetic_sweep([SceneBox(12.0, 0.0, 0.0, 0.5, 0.5, 1.7)], 5000, 600, seed=7)
    objs = detect_obstacles(sweep[:, :3], cfg)
    assert len(objs) == 1 and objs.label[0] == Label.PEDESTRIAN
    with pytest.raises(ValueError, match="cluster_mode='4d'"):
        ObstacleConfig(cluster_mode="4d")
