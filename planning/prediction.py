"""Constant-velocity prediction of tracked objects over the planning horizon.

Vehicles driving along the road keep their speed along the lane and their lateral offset (a
straight-line prediction on a 200 m curve would put an oncoming car in the ego lane within a few
seconds); everything else — pedestrians, crossing or turning objects — moves in a straight line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.geometry import wrap_angle
from perception.objects import Label, ObjectArray
from planning.lane import Lane

_VEHICLES = np.array(
    [Label.CAR, Label.TRUCK, Label.BUS, Label.TRAILER, Label.MOTORCYCLE, Label.BICYCLE]
)


@dataclass
class PredictionConfig:
    lane_follow_max_angle_deg: float = 25.0  # velocity this close to the lane axis follows it
    lane_follow_min_speed: float = 1.0  # m/s
    lane_follow_max_offset: float = 12.0  # m; farther objects are not on this road
    # Worst case for vehicles driving our way (RSS): they may brake this hard (m/s^2) at any
    # moment, so the plan stays behind where they would stop. 0 keeps constant velocity.
    lead_brake_decel: float = 0.0
    # m/s: faster than any person walks or runs. An object this fast along the lane is a vehicle
    # whatever its label says (in fog a car 40 m ahead is a few returns a pedestrian's size), so
    # it follows the lane and may brake like one.
    vehicle_speed: float = 4.0


@dataclass(frozen=True)
class Prediction:
    xy: np.ndarray  # (K, N, 2)
    yaw: np.ndarray  # (K, N)
    s: np.ndarray  # (N,) lane arc length now
    d: np.ndarray  # (N,) lateral offset now
    v_along: np.ndarray  # (N,) speed along the lane (negative: oncoming)
    v_across: np.ndarray  # (N,) speed across the lane (positive: to the left)
    follows_lane: np.ndarray  # (N,) bool


def predict_objects(
    objs: ObjectArray, lane: Lane, times: np.ndarray, cfg: PredictionConfig
) -> Prediction:
    """Positions and headings of ``objs`` (map frame) at ``times`` (K,) seconds from now."""
    s, d = lane.project(objs.position[:, :2]) if len(objs) else (np.zeros(0), np.zeros(0))
    h = lane.heading_at(s)
    tangent = np.stack([np.cos(h), np.sin(h)], -1)
    v_along = np.einsum("ni,ni->n", objs.velocity, tangent)
    v_across = objs.velocity[:, 1] * tangent[:, 0] - objs.velocity[:, 0] * tangent[:, 1]
    speed = np.hypot(objs.velocity[:, 0], objs.velocity[:, 1])
    rel = np.abs(wrap_angle(np.arctan2(objs.velocity[:, 1], objs.velocity[:, 0]) - h))
    rel = np.minimum(rel, np.pi - rel)  # oncoming traffic is aligned too
    vehicle = np.isin(objs.label, _VEHICLES) | (speed >= cfg.vehicle_speed)
    follows = (
        vehicle
        & (speed >= cfg.lane_follow_min_speed)
        & (rel <= np.deg2rad(cfg.lane_follow_max_angle_deg))
        & (np.abs(d) <= cfg.lane_follow_max_offset)
    )
    t = np.asarray(times, float)[:, None]
    straight = objs.position[None, :, :2] + t[..., None] * objs.velocity[None]
    yaw = np.broadcast_to(objs.yaw, (len(t), len(objs))).copy()
    xy = straight
    if follows.any():
        s_t = s[follows][None, :] + _travel(t, v_along[follows][None, :], cfg.lead_brake_decel)
        xy = straight.copy()
        xy[:, follows] = lane.point(s_t, np.broadcast_to(d[follows], s_t.shape))
        flip = np.where(v_along[follows] < 0, np.pi, 0.0)
        yaw[:, follows] = wrap_angle(lane.heading_at(s_t) + flip)
    return Prediction(xy, yaw, s, d, v_along, v_across, follows)


def _travel(t: np.ndarray, v: np.ndarray, decel: float) -> np.ndarray:
    """Distance along the lane after ``t``: constant speed, or braking to a stop at ``decel``
    for objects moving our way (v > 0); oncoming traffic keeps its speed."""
    if decel <= 0:
        return t * v
    t_stop = np.where(v > 0, v / decel, np.inf)
    tb = np.minimum(t, t_stop)
    braking = v * tb - 0.5 * decel * tb**2
    return np.where(v > 0, braking, t * v)


def approach_in_doubt(
    objs: ObjectArray,
    pred: Prediction,
    lane: Lane,
    velocity_cov: np.ndarray | None,
    sigmas: float,
    cfg: PredictionConfig,
) -> np.ndarray:
    """(N,) bool: people and other non-vehicles whose speed across the lane is within
    ``sigmas`` standard deviations of zero, by the track's own velocity covariance
    ``velocity_cov`` ((N, 2, 2), map frame). In rain a person waiting at the kerb gets a
    track drifting toward the lane at 0.8 m/s with a velocity std of 0.8 m/s: that motion is
    not evidence of walking. No covariance (None, or zeros) is never in doubt."""
    n = len(objs)
    if velocity_cov is None or sigmas <= 0.0 or n == 0:
        return np.zeros(n, bool)
    h = lane.heading_at(pred.s)
    normal = np.stack([-np.sin(h), np.cos(h)], -1)
    var = np.einsum("ni,nij,nj->n", normal, np.asarray(velocity_cov, float), normal)
    sigma = np.sqrt(np.maximum(var, 0.0))
    speed = np.hypot(objs.velocity[:, 0], objs.velocity[:, 1])
    vehicle = np.isin(objs.label, _VEHICLES) | (speed >= cfg.vehicle_speed) | pred.follows_lane
    return ~vehicle & (sigma > 0.0) & (np.abs(pred.v_across) < sigmas * sigma)
