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
    # (K, 2) spread of the points in the box's top 40 % along its long and its short side (0:
    # none up there); None when unknown. A vehicle's end is full width up to the roof, a rider
    # is not.
    top_extent: np.ndarray | None = None

    def select(self, keep: np.ndarray) -> BoxFit:
        top = None if self.top_extent is None else self.top_extent[keep]
        return BoxFit(
            self.center[keep], self.yaw[keep], self.dims[keep], self.num_points[keep], top
        )


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


_ALL_HEADINGS_MAX = 1 << 18  # headings x points that lshape_rects takes in one array


def _closeness(
    xy: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    k: np.ndarray,
    c: np.ndarray,
    s: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(score, lo_u, hi_u, lo_v, hi_v), each (H, clusters), of the rectangles at H headings at
    once (cos ``c`` and sin ``s`` as (H, 1) columns)."""
    u = xy[:, 0] * c + xy[:, 1] * s
    v = -xy[:, 0] * s + xy[:, 1] * c
    lo_u, hi_u = np.minimum.reduceat(u, starts, axis=1), np.maximum.reduceat(u, starts, axis=1)
    lo_v, hi_v = np.minimum.reduceat(v, starts, axis=1), np.maximum.reduceat(v, starts, axis=1)
    du = np.minimum(u - np.take(lo_u, k, axis=1), np.take(hi_u, k, axis=1) - u)
    dv = np.minimum(v - np.take(lo_v, k, axis=1), np.take(hi_v, k, axis=1) - v)
    # Points within 5 cm of an edge count fully; farther ones less and less.
    score = np.add.reduceat(1.0 / np.maximum(np.minimum(du, dv), 0.05), starts, axis=1)
    return score / counts, lo_u, hi_u, lo_v, hi_v


def lshape_rects(
    xy: np.ndarray, starts: np.ndarray, counts: np.ndarray, step_deg: float = 2.0
) -> np.ndarray:
    """(K, 5) cx, cy, length, width, yaw of the rectangle around each cluster (points grouped at
    ``starts``) whose edges the points hug most closely: L-shape fitting with the closeness
    criterion (Zhang et al., 2017, as in Autoware's shape estimation), searched over headings in
    ``step_deg`` steps.

    A lidar sees one or two faces of a vehicle; the smallest rectangle around such an L (or a
    line with a few points off it) is often a diagonal one, the rectangle that has the points on
    its edges is the vehicle.
    """
    angles = np.deg2rad(np.arange(0.0, 90.0, step_deg))
    k = np.repeat(np.arange(len(starts)), counts)
    if len(xy) * len(angles) <= _ALL_HEADINGS_MAX:
        # A sweep's few hundred clustered points: every heading in one array, (headings,
        # points), one numpy call per step instead of one per heading and step (twice as fast).
        cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
        score, lo_u, hi_u, lo_v, hi_v = _closeness(xy, starts, counts, k, cos, sin)
    else:
        # Tens of thousands (walls, no map filter): one heading at a time, in this loop, whose
        # arrays stay alive from one heading to the next. Through _closeness per heading the
        # same work took 2.4x as long: each return freed the arrays and glibc gave the memory
        # back to the system, to fault it in again for the next heading (with its trim and
        # mmap thresholds raised, the function took 12 ms against this loop's 16).
        cos, sin = np.cos(angles), np.sin(angles)
        score, lo_u, hi_u, lo_v, hi_v = (np.empty((len(angles), len(starts))) for _ in range(5))
        for i in range(len(angles)):
            u = xy[:, 0] * cos[i] + xy[:, 1] * sin[i]
            v = -xy[:, 0] * sin[i] + xy[:, 1] * cos[i]
            lo_u[i], hi_u[i] = np.minimum.reduceat(u, starts), np.maximum.reduceat(u, starts)
            lo_v[i], hi_v[i] = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
            du = np.minimum(u - lo_u[i, k], hi_u[i, k] - u)
            dv = np.minimum(v - lo_v[i, k], hi_v[i, k] - v)
            near = np.maximum(np.minimum(du, dv), 0.05)
            score[i] = np.add.reduceat(1.0 / near, starts) / counts
    # The first heading that beats every earlier one by more than 1e-9 wins (symmetric clusters
    # tie, and a plain argmax would let rounding pick among them).
    best = np.zeros(len(starts), np.int64)
    best_score = score[0].copy()
    for i in range(1, len(angles)):
        better = score[i] > best_score + 1e-9
        best[better] = i
        best_score[better] = score[i, better]
    col = np.arange(len(starts))
    lo_u, hi_u, lo_v, hi_v = lo_u[best, col], hi_u[best, col], lo_v[best, col], hi_v[best, col]
    c, s = cos.reshape(-1)[best], sin.reshape(-1)[best]
    cu, cv_ = 0.5 * (lo_u + hi_u), 0.5 * (lo_v + hi_v)
    out = np.column_stack(
        [cu * c - cv_ * s, cu * s + cv_ * c, hi_u - lo_u, hi_v - lo_v, angles[best]]
    )
    # Length is the longer side; yaw its heading in [-pi/2, pi/2).
    swap = out[:, 3] > out[:, 2]
    out[swap, 2], out[swap, 3] = out[swap, 3], out[swap, 2].copy()
    out[swap, 4] += np.pi / 2
    out[:, 4] = (out[:, 4] + np.pi / 2) % np.pi - np.pi / 2
    return out


def fit_boxes(
    points: np.ndarray,
    labels: np.ndarray,
    plane: GroundPlane | None = None,
    min_extent: float = 0.1,
    ground_snap: float = 1.0,
) -> BoxFit:
    """Oriented boxes (L-shape fitting) of the clusters ``labels`` (>= 0) of ``points``.

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
    rects = lshape_rects(xy.astype(np.float64), starts, counts)
    center = np.column_stack([rects[:, 0], rects[:, 1], np.zeros(k)])
    if plane is not None:
        ground = plane.a * center[:, 0] + plane.b * center[:, 1] + plane.c
        z_min = np.where(z_min - ground < ground_snap, np.minimum(z_min, ground), z_min)
    center[:, 2] = 0.5 * (z_min + z_max)
    dims = np.column_stack([rects[:, 2], rects[:, 3], z_max - z_min])
    dims = np.maximum(dims, min_extent)
    top = _top_extent(pts, starts, counts, center[:, :2], rects[:, 4], z_min, z_max)
    return BoxFit(center, rects[:, 4], dims, counts, top)


def _top_extent(
    pts: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    center: np.ndarray,
    yaw: np.ndarray,
    z_min: np.ndarray,
    z_max: np.ndarray,
    top_fraction: float = 0.4,
) -> np.ndarray:
    """(K, 2) per cluster (points grouped at ``starts``): the spread along its long and short
    axis of the points in the top ``top_fraction`` of its height."""
    k = np.repeat(np.arange(len(starts)), counts)
    rel = pts[:, :2] - center[k]
    c, s = np.cos(yaw[k]), np.sin(yaw[k])
    high = pts[:, 2] > z_max[k] - top_fraction * (z_max[k] - z_min[k])
    out = np.zeros((len(starts), 2))
    for j, coord in enumerate((rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c)):
        top = np.where(high, coord, np.nan)
        spread = np.fmax.reduceat(top, starts) - np.fmin.reduceat(top, starts)
        out[:, j] = np.nan_to_num(spread, nan=0.0)
    return out


@dataclass(frozen=True)
class VehiclePriors:
    """Footprints used to complete a vehicle seen only in part (Autoware's shape corrector).

    A lidar sees the faces turned towards it: a car straight ahead is its rear (plus, from a
    roof-mounted lidar, a strip of roof), its box centre up to half a car length short of the
    truth. A vehicle end across the line of sight is grown along the line of sight, away from
    the sensor, to the prior length; a side seen edge-on is grown sideways to the prior width.
    """

    thin: float = 1.2  # a side face (plus a glimpse of roof) is at most this deep
    end_face: tuple[float, float] = (1.4, 2.7)  # width of a vehicle seen from behind / ahead
    side_face: tuple[float, float] = (2.8, 12.0)  # length of a vehicle seen from the side
    height: tuple[float, float] = (0.25, 3.9)  # lower is kerb, taller is wall; far faces look low
    rider_height: float = 1.64  # an end face this tall but under 2 m wide is a cyclist side-on
    # ... and so is a face at least rider_min_height tall whose top 40 % spans less than this
    # fraction of its length: a rider's torso above the wheels, where a vehicle's end is full
    # width up to the roof (measured on scenario scans: riders <= 0.35, vehicle ends >= 0.7).
    rider_top_fraction: float = 0.6
    rider_min_height: float = 1.0
    car: tuple[float, float] = (4.5, 1.85)  # length, width
    truck: tuple[float, float] = (8.5, 2.5)
    truck_height: float = 2.4


def _riders(
    fit: BoxFit, p: VehiclePriors, truck: np.ndarray, long_across_sight: np.ndarray
) -> np.ndarray:
    """Faces across the line of sight that are a rider on a bike, not a vehicle's end."""
    length, width, height = fit.dims[:, 0], fit.dims[:, 1], fit.dims[:, 2]
    rider = (height > p.rider_height) & (length < 2.0) & ~truck
    if fit.top_extent is not None:
        across = np.where(long_across_sight, length, width)
        top = np.where(long_across_sight, fit.top_extent[:, 0], fit.top_extent[:, 1])
        narrow_top = top < p.rider_top_fraction * across
        rider |= narrow_top & (height >= p.rider_min_height) & ~truck
    return rider


def _grow_away(
    center: np.ndarray, axis: np.ndarray, grow: np.ndarray, sensor_xy: np.ndarray
) -> np.ndarray:
    """Centres moved by half of ``grow`` along ``axis`` (K, 2), away from the sensor."""
    away = np.sign(np.einsum("ij,ij->i", axis, center[:, :2] - sensor_xy))
    out = center.copy()
    out[:, :2] += axis * (np.where(away == 0, 1.0, away) * grow / 2)[:, None]
    return out


def complete_vehicle_faces(
    fit: BoxFit, sensor_xy: tuple[float, float] = (0.0, 0.0), priors: VehiclePriors | None = None
) -> BoxFit:
    """Grow vehicle boxes seen in part to their prior footprint, away from the sensor."""
    p = priors or VehiclePriors()
    sensor = np.asarray(sensor_xy, float)
    length, width, height = fit.dims[:, 0], fit.dims[:, 1], fit.dims[:, 2]
    truck = height > p.truck_height
    prior_len = np.where(truck, p.truck[0], p.car[0])
    prior_wid = np.where(truck, p.truck[1], p.car[1])
    axis = np.column_stack([np.cos(fit.yaw), np.sin(fit.yaw)])  # along the long side
    normal = np.column_stack([-axis[:, 1], axis[:, 0]])
    # Which box axis runs along the line of sight: a vehicle end is seen across it.
    sight = fit.center[:, :2] - sensor
    long_along_sight = np.abs(np.einsum("ij,ij->i", axis, sight)) >= np.abs(
        np.einsum("ij,ij->i", normal, sight)
    )
    rider = _riders(fit, p, truck, ~long_along_sight)
    vehicle = (height >= p.height[0]) & (height <= p.height[1]) & ~rider
    depth = np.where(long_along_sight, length, width)  # extent along the line of sight
    across = np.where(long_along_sight, width, length)
    end = vehicle & (across >= p.end_face[0]) & (across <= p.end_face[1]) & (depth < prior_len)
    side = vehicle & ~end & (width <= p.thin)
    side &= (length >= p.side_face[0]) & (length <= p.side_face[1])
    if not (end.any() or side.any()):
        return fit
    sight_axis = np.where(long_along_sight[:, None], axis, normal)
    center = _grow_away(fit.center, sight_axis, np.where(end, prior_len - depth, 0.0), sensor)
    # A side grows to the prior width, and along itself when its far end is hidden.
    center = _grow_away(center, normal, np.where(side, np.maximum(prior_wid - width, 0), 0), sensor)
    center = _grow_away(center, axis, np.where(side, np.maximum(prior_len - length, 0), 0), sensor)
    dims = fit.dims.copy()
    dims[:, 0] = np.where(end, prior_len, np.where(side, np.maximum(length, prior_len), length))
    dims[:, 1] = np.where(end, across, np.where(side, prior_wid, width))
    yaw = np.where(end & ~long_along_sight, fit.yaw + np.pi / 2, fit.yaw)
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
    return BoxFit(center, yaw, dims, fit.num_points, fit.top_extent)


def suppress_contained(fit: BoxFit, margin: float = 0.3) -> BoxFit:
    """Drop boxes whose centre lies inside a box with more points (a car's roof and bumper
    seen as two clusters become one box once both are completed to a car footprint)."""
    drop = dominated_by_footprint(fit.center, fit.yaw, fit.dims[:, :2], fit.num_points, margin)
    return fit.select(~drop)


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
