"""Kinematic limits of vehicle tracks (car, truck, bus, trailer).

Autoware's multi_object_tracker follows vehicles with a bicycle model: a vehicle moves along its
body axis, sideways only by a small slip, and turns at a bounded rate. Our tracker keeps its
linear constant-velocity filter and enforces the same limits in two places:

- an association gate: a confirmed, moving vehicle track refuses a measured box whose body axis
  differs from the track's heading by more than a scan's worth of turn rate (plus the box-yaw
  noise) -- a car cannot turn 60 degrees in 0.1 s, so such a box belongs to another object;
- a lateral-velocity constraint: when an update leaves a vehicle track moving across the measured
  box axis faster than ``max_lateral_speed``, a zero-lateral-velocity pseudo-measurement (a Kalman
  update of the velocity only) pulls it back along the axis. A velocity that needed this came from
  a doubtful association, so the tracker damps it while the track coasts.

Box axes are only trusted for vehicle-labelled boxes long and slender enough for their yaw to
mean the direction of travel (up to pi: a box has no front).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.geometry import wrap_angle
from perception.objects import Label
from stack.params import at_least, in_range, positive

VEHICLE_LABELS = np.array([Label.CAR, Label.TRUCK, Label.BUS, Label.TRAILER])


@dataclass
class VehicleLimits:
    enabled: bool = True
    max_yaw_rate: float = 1.0  # rad/s a vehicle can turn at (about 0.4 g at 4 m/s)
    yaw_tolerance: float = 0.5  # rad of box-yaw noise allowed on top of the turn
    max_lateral_speed: float = 2.0  # m/s across its body axis before the velocity is constrained
    lateral_speed_std: float = 0.3  # m/s: std of the zero-lateral-velocity pseudo-measurement
    min_speed: float = 2.0  # m/s: slower tracks have no heading to keep
    min_length: float = 2.0  # m: a shorter box's yaw says little
    min_aspect: float = 2.2  # length / width; 1.8 cost seed 1003 0.001 more MOTA
    coast_damping: float = 0.5  # velocity factor per missed scan of a constrained track
    # Weight of a new box's yaw in a track's body axis (the lateral constraint's reference).
    axis_smoothing: float = 0.3

    def __post_init__(self) -> None:
        positive("max_yaw_rate", self.max_yaw_rate)
        at_least("yaw_tolerance", self.yaw_tolerance, 0.0)
        positive("max_lateral_speed", self.max_lateral_speed)
        positive("lateral_speed_std", self.lateral_speed_std)
        at_least("min_speed", self.min_speed, 0.0)
        positive("min_length", self.min_length)
        at_least("min_aspect", self.min_aspect, 1.0)
        in_range("coast_damping", self.coast_damping, 0.0, 1.0)
        in_range("axis_smoothing", self.axis_smoothing, 0.0, 1.0)


def is_vehicle(label: np.ndarray) -> np.ndarray:
    """Mask of vehicle labels."""
    return np.isin(np.asarray(label), VEHICLE_LABELS)


def slender(dims: np.ndarray, limits: VehicleLimits) -> np.ndarray:
    """Mask of boxes (dims (N, 3)) long and slender enough for their yaw to mean a heading."""
    length, width = dims[:, 0], np.maximum(dims[:, 1], 1e-6)
    return (length >= limits.min_length) & (length / width >= limits.min_aspect)


def axis_known(label: np.ndarray, dims: np.ndarray, limits: VehicleLimits) -> np.ndarray:
    """Mask of boxes (label (N,), dims (N, 3)) whose yaw gives a vehicle's direction of travel."""
    return is_vehicle(label) & slender(dims, limits)


def axis_difference(heading: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """|heading - axis| modulo pi, in [0, pi/2]."""
    return np.abs(wrap_angle(2.0 * (heading - axis))) / 2.0


def smooth_axis(prior: np.ndarray, measured: np.ndarray, weight: float) -> np.ndarray:
    """Body axes ``prior`` (N,) moved by ``weight`` towards the box yaws ``measured`` (N,), both
    modulo pi (a box has no front); a NaN prior (no axis yet) takes the measured one. One box's
    yaw is noisy -- at 32 m in fog (seed 1001) those of a car driving straight at 9 m/s swung
    20 degrees either side of its heading, and turning the velocity onto each in turn walked the
    track off the car until the gate lost it -- a run of them is not."""
    step = wrap_angle(2.0 * (measured - prior)) / 2.0
    return np.where(np.isnan(prior), measured, wrap_angle(prior + weight * step))


def heading_gate(
    velocity: np.ndarray,
    track_is_vehicle: np.ndarray,
    det_yaw: np.ndarray,
    det_axis_known: np.ndarray,
    dt: float,
    limits: VehicleLimits,
) -> np.ndarray:
    """(T, D) mask of track-detection pairs to refuse: a moving vehicle track (velocity (T, 2))
    and a vehicle box whose axis turned further than ``max_yaw_rate * dt + yaw_tolerance``."""
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    heading = np.arctan2(velocity[:, 1], velocity[:, 0])
    turn = axis_difference(heading[:, None], det_yaw[None, :])
    checked = (track_is_vehicle & (speed >= limits.min_speed))[:, None] & det_axis_known[None, :]
    return checked & (turn > limits.max_yaw_rate * dt + limits.yaw_tolerance)


def constrain_lateral_velocity(
    x: np.ndarray, p: np.ndarray, axis: np.ndarray, apply: np.ndarray, limits: VehicleLimits
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-measure zero velocity across ``axis`` (N,) for the states ``x`` (N, D) (covariances
    ``p``) where ``apply`` holds and the lateral speed exceeds ``max_lateral_speed``; what
    lateral speed the soft update leaves is then capped at ``max_lateral_speed``.

    Returns the new (x, p) and the mask of states constrained."""
    c, s = np.cos(axis), np.sin(axis)
    lateral = -s * x[:, 2] + c * x[:, 3]
    hit = apply & (np.abs(lateral) > limits.max_lateral_speed)
    if not hit.any():
        return x, p, hit
    x, p = x.copy(), p.copy()
    h = np.zeros((int(hit.sum()), x.shape[1]))
    h[:, 2], h[:, 3] = -s[hit], c[hit]
    ph = np.einsum("nij,nj->ni", p[hit], h)  # P H^T (n, D)
    var = np.einsum("ni,ni->n", h, ph) + limits.lateral_speed_std**2
    gain = ph / var[:, None]
    x[hit] = x[hit] - gain * lateral[hit][:, None]
    p[hit] = p[hit] - gain[:, :, None] * ph[:, None, :]
    # The pseudo-measurement is soft (a young track's velocity is loose): cap what is left.
    left = -s * x[:, 2] + c * x[:, 3]
    excess = np.where(
        hit, left - np.clip(left, -limits.max_lateral_speed, limits.max_lateral_speed), 0
    )
    x[:, 2] += s * excess
    x[:, 3] -= c * excess
    return x, p, hit
