"""Oriented boxes around point clusters, and a size-based class guess."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from perception.geometry import dominated_by_footprint
from perception.lidar.preprocess import GroundPlane
from perception.objects import Label, ObjectArray


@dataclass(frozen=True)
class BoxFit:
    """Boxes of K clusters, in the frame of the clustered points."""

    center: np.ndarray  # (K, 3)
    yaw: np.ndarray  # (K,) heading of the long side, in [-pi/2, pi/2)
    dims: np.ndarray  # (K, 3) length >= width, height
    num_points: np.ndarray  # (K,)


def _min_area_rect(xy: np.ndarray) -> tuple[float, float, float, float, float]:
    """(cx, cy, length, width, yaw) of the smallest rectangle around ``xy``.

    The yaw comes from the rectangle's corners, not from OpenCV's angle, whose convention changed
    between OpenCV releases.
    """
    (cx, cy), _, _ = rect = cv2.minAreaRect(xy)
    corners = cv2.boxPoints(rect)
    e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
    n1, n2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    edge, length, width = (e1, n1, n2) if n1 >= n2 else (e2, n2, n1)
    yaw = float(np.arctan2(edge[1], edge[0]))
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
    return float(cx), float(cy), length, width, yaw


def fit_boxes(
    points: np.ndarray,
    labels: np.ndarray,
    plane: GroundPlane | None = None,
    min_extent: float = 0.1,
    ground_snap: float = 1.0,
) -> BoxFit:
    """Minimum-area oriented boxes of the clusters ``labels`` (>= 0) of ``points``.

    A cluster whose lowest point is within ``ground_snap`` of the ground plane is extended down to
    the plane, since ground removal shaves the bottom off every object.
    """
    member = labels >= 0
    pts, lab = points[member], labels[member]
    k = int(lab.max()) + 1 if len(lab) else 0
    if k == 0:
        return BoxFit(np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)), np.zeros(0, np.int64))
    order = np.argsort(lab, kind="stable")
    pts, lab = pts[order], lab[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    counts = np.diff(np.r_[starts, len(lab)])
    z_min = np.minimum.reduceat(pts[:, 2], starts).astype(float)
    z_max = np.maximum.reduceat(pts[:, 2], starts).astype(float)
    xy = np.ascontiguousarray(pts[:, :2], dtype=np.float32)
    rects = np.array([_min_area_rect(xy[s : s + c]) for s, c in zip(starts, counts)])
    center = np.column_stack([rects[:, 0], rects[:, 1], np.zeros(k)])
    if plane is not None:
        ground = plane.a * center[:, 0] + plane.b * center[:, 1] + plane.c
        z_min = np.where(z_min - ground < ground_snap, np.minimum(z_min, ground), z_min)
    center[:, 2] = 0.5 * (z_min + z_max)
    dims = np.column_stack([rects[:, 2], rects[:, 3], z_max - z_min])
    dims = np.maximum(dims, min_extent)
    return BoxFit(center, rects[:, 4], dims, counts)


@dataclass(frozen=True)
class VehiclePriors:
    """Footprints used to complete a vehicle seen only by one face (Autoware's shape corrector).

    A lidar sees the faces turned towards it: a car straight ahead is a thin 1.8 m wall, its
    box centre a half car length short of the truth. Such a face is grown away from the sensor
    to the prior footprint.
    """

    thin: float = 1.2  # a face (plus a glimpse of roof or side) is at most this deep
    end_depth: float = 1.5  # an end face with a glimpse of the side is at most this deep
    end_face: tuple[float, float] = (1.4, 2.7)  # width of a vehicle seen from behind / ahead
    side_face: tuple[float, float] = (2.8, 12.0)  # length of a vehicle seen from the side
    height: tuple[float, float] = (0.25, 3.9)  # lower is kerb, taller is wall; far faces look low
    rider_height: float = 1.64  # an end face this tall but under 2 m wide is a cyclist side-on
    car: tuple[float, float] = (4.5, 1.85)  # length, width
    truck: tuple[float, float] = (8.5, 2.5)
    truck_height: float = 2.4


def complete_vehicle_faces(
    fit: BoxFit, sensor_xy: tuple[float, float] = (0.0, 0.0), priors: VehiclePriors | None = None
) -> BoxFit:
    """Grow single-face vehicle boxes to their prior footprint, away from the sensor."""
    p = priors or VehiclePriors()
    length, width, height = fit.dims[:, 0], fit.dims[:, 1], fit.dims[:, 2]
    tall_enough = (height >= p.height[0]) & (height <= p.height[1])
    thin = (width <= p.thin) & tall_enough
    truck = height > p.truck_height
    rider = (height > p.rider_height) & (length < 2.0) & ~truck
    end_face = (width <= p.end_depth) & tall_enough
    end = end_face & (length >= p.end_face[0]) & (length <= p.end_face[1]) & ~rider
    side = thin & (length >= p.side_face[0]) & (length <= p.side_face[1])
    if not (end.any() or side.any()):
        return fit
    prior_len = np.where(truck, p.truck[0], p.car[0])
    prior_wid = np.where(truck, p.truck[1], p.car[1])
    # Normal of the long side, pointing away from the sensor.
    normal = np.column_stack([-np.sin(fit.yaw), np.cos(fit.yaw)])
    away = np.sign(np.einsum("ij,ij->i", normal, fit.center[:, :2] - np.asarray(sensor_xy)))
    normal *= np.where(away == 0, 1.0, away)[:, None]
    grow = np.where(end, prior_len - width, np.where(side, prior_wid - width, 0.0))
    grow = np.maximum(grow, 0.0)
    center = fit.center.copy()
    center[:, :2] += normal * (grow / 2)[:, None]
    # A side seen shorter than the prior (its far end hidden) grows along itself, away too.
    axis = np.column_stack([np.cos(fit.yaw), np.sin(fit.yaw)])
    along = np.sign(np.einsum("ij,ij->i", axis, fit.center[:, :2] - np.asarray(sensor_xy)))
    grow_len = np.where(side, np.maximum(prior_len - length, 0.0), 0.0)
    center[:, :2] += axis * (np.where(along == 0, 1.0, along) * grow_len / 2)[:, None]
    dims = fit.dims.copy()
    # An end face becomes the width of a vehicle whose length runs along the normal.
    dims[:, 0] = np.where(end, prior_len, np.where(side, np.maximum(length, prior_len), length))
    dims[:, 1] = np.where(end, np.maximum(length, 0.0), np.where(side, prior_wid, width))
    yaw = np.where(end, fit.yaw + np.pi / 2, fit.yaw)
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
    return BoxFit(center, yaw, dims, fit.num_points)


def suppress_contained(fit: BoxFit, margin: float = 0.3) -> BoxFit:
    """Drop boxes whose centre lies inside a box with more points (a car's roof and bumper
    seen as two clusters become one box once both are completed to a car footprint)."""
    drop = dominated_by_footprint(fit.center, fit.yaw, fit.dims[:, :2], fit.num_points, margin)
    keep = ~drop
    return BoxFit(fit.center[keep], fit.yaw[keep], fit.dims[keep], fit.num_points[keep])


@dataclass(frozen=True)
class SizeClasses:
    """Footprint and height ranges (m) of the size heuristic; length is the longer side."""

    pedestrian_max_length: float = 1.2
    pedestrian_height: tuple[float, float] = (1.0, 2.2)
    bicycle_length: tuple[float, float] = (1.2, 2.2)
    bicycle_max_width: float = 0.9
    car_length: tuple[float, float] = (2.2, 6.0)
    car_max_height: float = 2.4
    truck_min_length: float = 6.0
    truck_min_height: float = 2.4


def classify_by_size(
    dims: np.ndarray, classes: SizeClasses | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(label, probability) per box from its (length, width, height).

    Lidar sees only the near faces of an object, so these guesses are weak (a car seen square
    from behind looks like a bicycle): the camera's class wins in fusion whenever it is present.
    """
    c = classes or SizeClasses()
    length, width, height = dims[:, 0], dims[:, 1], dims[:, 2]
    tall_person = (height >= c.pedestrian_height[0]) & (height <= c.pedestrian_height[1])
    pedestrian = (length <= c.pedestrian_max_length) & tall_person
    bicycle = (
        (length > c.bicycle_length[0])
        & (length <= c.bicycle_length[1])
        & (width <= c.bicycle_max_width)
        & (height >= 1.0)
        & (height <= 2.0)
    )
    car_side = (length > c.car_length[0]) & (length <= c.car_length[1])
    car_corner = (length >= 1.4) & (width >= 1.2) & (length <= c.car_length[1])
    car = (car_side | car_corner) & (height >= 0.8) & (height <= c.car_max_height)
    truck = (length > c.bicycle_length[1]) & (
        (length > c.truck_min_length) | (height > c.truck_min_height)
    )
    label = np.select(
        [pedestrian, car, truck, bicycle],
        [Label.PEDESTRIAN, Label.CAR, Label.TRUCK, Label.BICYCLE],
        default=Label.UNKNOWN,
    ).astype(np.uint8)
    prob = np.select([pedestrian, car, truck, bicycle], [0.6, 0.6, 0.5, 0.35], default=0.3)
    return label, prob


def boxes_to_objects(fit: BoxFit, classes: SizeClasses | None = None, pos_std: float = 0.3):
    """An ObjectArray of the fitted boxes, labelled by size."""
    label, prob = classify_by_size(fit.dims, classes)
    return ObjectArray.create(fit.center, fit.yaw, fit.dims, label, prob, pos_std=pos_std)
