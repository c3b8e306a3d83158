"""Box fitting and vehicle completion on ray-cast scans and constructed clusters."""

from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import RigidTransform, wrap_angle
from perception.lidar import boxes
from perception.lidar.boxes import BoxFit, complete_vehicle_faces, fit_boxes, lshape_rects
from perception.lidar.pipeline import ObstacleConfig, detect_obstacles
from perception.lidar.synthetic import SceneBox, ray_cast_sweep
from perception.objects import Label

MOUNT = RigidTransform.from_xyzrpy(1.0, 0.0, 1.95, 0.0, 0.0, 0.0)
CFG = ObstacleConfig(cluster_tolerance=1.0, sensor_xy=(1.0, 0.0))


def _scan(boxes: list[SceneBox]) -> np.ndarray:
    return MOUNT.apply(ray_cast_sweep(boxes, seed=6)[:, :3])


def test_lshape_fit_keeps_a_truck_side_and_end_square():
    # A truck ahead-left shows its long side and rear: the smallest rectangle around those
    # points is tilted ~15 degrees and a metre off; the L-shape fit is the truck.
    objs = detect_obstacles(_scan([SceneBox(20.0, 7.0, 0.0, 9.7, 2.5, 3.2)]), CFG)
    assert len(objs) == 1 and objs.label[0] == Label.TRUCK
    assert np.allclose(objs.position[0, :2], [20.0, 7.0], atol=0.3)
    assert abs(wrap_angle(2 * objs.yaw[0])) < np.deg2rad(4)
    assert objs.dims[0, 0] == pytest.approx(9.7, abs=0.4)


def test_lshape_rects_of_a_rotated_l():
    rng = np.random.default_rng(0)
    yaw = np.deg2rad(30)
    u = np.r_[rng.uniform(0, 4.5, 60), np.zeros(30)]  # a long side and a short end
    v = np.r_[np.zeros(60), rng.uniform(0, 1.8, 30)]
    xy = np.column_stack([u * np.cos(yaw) - v * np.sin(yaw), u * np.sin(yaw) + v * np.cos(yaw)])
    (cx, cy, length, width, fit_yaw) = lshape_rects(xy, np.array([0]), np.array([90]))[0]
    assert length == pytest.approx(4.5, abs=0.1) and width == pytest.approx(1.8, abs=0.1)
    assert abs(wrap_angle(2 * (fit_yaw - yaw))) < np.deg2rad(4)
    centre = np.array(
        [2.25 * np.cos(yaw) - 0.9 * np.sin(yaw), 2.25 * np.sin(yaw) + 0.9 * np.cos(yaw)]
    )
    assert np.allclose([cx, cy], centre, atol=0.1)


def test_lshape_rects_is_the_same_for_all_headings_at_once_and_one_at_a_time(monkeypatch):
    """Small sweeps take every heading in one array, large ones one heading at a time: the
    boxes are the same to the bit, ties between headings (a square, a single line) included."""
    rng = np.random.default_rng(3)
    counts = rng.integers(4, 300, 25)
    counts[:3] = (4, 9, 16)
    clusters = [rng.normal(rng.uniform(-30, 30, 2), rng.uniform(0.1, 3, 2), (n, 2)) for n in counts]
    clusters[0] = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # a square: ties
    clusters[1] = np.column_stack([np.linspace(0, 4, 9), np.full(9, 2.0)])  # a line
    xy = np.concatenate(clusters)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    at_once = lshape_rects(xy, starts, counts)
    monkeypatch.setattr(boxes, "_ALL_HEADINGS_MAX", 0)
    assert np.array_equal(lshape_rects(xy, starts, counts), at_once)


def test_a_cyclist_side_on_is_not_completed_to_a_car():
    # Bike (1.7 m long, to 1 m) with a rider's torso above its middle, seen side-on from 13 m:
    # a face as wide as a car's end, but narrow on top.
    bike = SceneBox(6.0, -13.0, 0.0, 1.7, 0.12, 1.0)
    rider = SceneBox(6.0, -13.0, 0.0, 0.45, 0.35, 1.75)
    objs = detect_obstacles(_scan([bike, rider]), CFG)
    assert len(objs) == 1 and objs.label[0] == Label.BICYCLE
    assert np.allclose(objs.position[0, :2], [6.0, -13.0], atol=0.3)
    assert objs.dims[0, 0] < 2.2


def _one(center, yaw, dims, top=None) -> BoxFit:
    return BoxFit(
        np.array([center], float),
        np.array([yaw], float),
        np.array([dims], float),
        np.array([40]),
        None if top is None else np.array([top], float),
    )


def test_an_end_face_with_a_strip_of_roof_is_grown_along_the_line_of_sight():
    # A car 30 m ahead seen as its rear plus roof: 1.8 wide, 1.7 deep (more than a bare face).
    out = complete_vehicle_faces(_one((30.0, 0.0, 0.8), np.pi / 2, (1.8, 1.7, 1.5), (1.6, 1.0)))
    assert out.center[0, 0] == pytest.approx(30.0 + (4.5 - 1.7) / 2)
    assert out.dims[0, :2] == pytest.approx([4.5, 1.8])
    assert abs(np.cos(out.yaw[0])) == pytest.approx(1.0)  # heading along x
    # Rear plus more roof: the longer side already runs along the line of sight.
    out = complete_vehicle_faces(_one((-25.0, 0.0, 0.8), 0.0, (2.4, 1.7, 1.5), (1.0, 1.5)))
    assert out.center[0, 0] == pytest.approx(-25.0 - (4.5 - 2.4) / 2)  # away from the sensor
    assert out.dims[0, :2] == pytest.approx([4.5, 1.7])


def test_a_short_side_along_the_line_of_sight_is_not_turned_across_the_lane():
    # 1.8 m of a car's side in the next lane, seen edge-on: not an end face.
    fit = _one((20.0, 3.5, 0.8), 0.0, (1.8, 0.2, 1.4), (1.8, 0.2))
    out = complete_vehicle_faces(fit)
    assert np.array_equal(out.center, fit.center) and np.array_equal(out.dims, fit.dims)


def test_narrow_top_marks_a_rider_but_not_a_vehicle_end():
    rider = complete_vehicle_faces(_one((6.0, -13.0, 0.8), 0.0, (1.65, 0.3, 1.55), (0.45, 0.3)))
    assert rider.dims[0, 0] == pytest.approx(1.65)
    car_end = complete_vehicle_faces(_one((20.0, 0.0, 0.8), np.pi / 2, (1.8, 0.3, 1.5), (1.6, 0.3)))
    assert car_end.dims[0, 0] == pytest.approx(4.5)


def test_top_extent_is_measured_per_cluster():
    rng = np.random.default_rng(1)
    low = np.column_stack(
        [rng.uniform(-0.85, 0.85, 80), rng.uniform(-0.1, 0.1, 80), rng.uniform(0.3, 0.9, 80)]
    )
    top = np.column_stack(
        [rng.uniform(-0.2, 0.2, 40), rng.uniform(-0.1, 0.1, 40), rng.uniform(1.2, 1.7, 40)]
    )
    # Cluster 0: a bike with a narrow rider on top. Cluster 1, 10 m on: a full-width face.
    face = np.concatenate([low, low * np.array([1.0, 1.0, 1.9])]) + np.array([10.0, 0.0, 0.0])
    pts = np.concatenate([low, top, face])
    labels = np.r_[np.zeros(120, int), np.ones(160, int)]
    fit = fit_boxes(pts, labels)
    assert fit.top_extent[0, 0] == pytest.approx(0.4, abs=0.05)
    assert fit.top_extent[1, 0] > 1.5
