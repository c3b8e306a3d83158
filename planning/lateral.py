"""Lateral clearance for vulnerable road users: move over within the lane to pass them wide.

A pedestrian or a cyclist beside the path (waiting at the kerb, riding by it) is not an obstacle
to stop for, but passing it with a hand's width to spare is not acceptable either. Within the
window where the ego passes it, the path is shifted away from it until their gap is at least
``vru_clearance`` plus a multiple of its lateral position uncertainty (which grows with the
prediction time), at most ``max_offset`` off the lane centre and never closer than
``other_clearance`` to anything on the side it moves to. What the shift cannot give, the
collision check still sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.objects import Label, ObjectArray
from planning.lane import Lane
from planning.prediction import Prediction
from planning.vehicle import VehicleShape
from stack.params import non_negative, positive

VULNERABLE = (Label.PEDESTRIAN, Label.BICYCLE)


@dataclass
class LateralConfig:
    vru_clearance: float = 1.2  # m between the ego's side and a pedestrian or cyclist
    other_clearance: float = 1.4  # m to anything else on the side the path moves to
    uncertainty_sigmas: float = 1.0  # the clearance grows by this many lateral position stds
    lateral_speed_std: float = 0.1  # m/s: how fast a person's lateral position uncertainty grows
    max_offset: float = 0.5  # m the path may leave the lane centre (the ego stays in its lane)
    longitudinal_margin: float = 3.0  # m before and after the person where the shift is held
    ramp_length: float = 12.0  # m (at least; 1.5 s of travel at speed) to move over and back
    # People moving across the lane faster than this are crossing: braking deals with them.
    crossing_speed: float = 0.5

    def __post_init__(self) -> None:
        non_negative("max_offset", self.max_offset)
        non_negative("uncertainty_sigmas", self.uncertainty_sigmas)
        positive("ramp_length", self.ramp_length)


@dataclass(frozen=True)
class Shift:
    """Hold ``offset`` (m, + left) for base_link arc lengths [s_start, s_end]."""

    s_start: float
    s_end: float
    offset: float


@dataclass(frozen=True)
class _Extents:
    """Objects' predicted lane coordinates (K, N) and half extents along / across the lane."""

    s: np.ndarray
    d: np.ndarray
    half_along: np.ndarray  # (N,)
    half_across: np.ndarray  # (N,)


def _extents(objs: ObjectArray, pred: Prediction, lane: Lane, rows: np.ndarray) -> _Extents:
    k = pred.xy.shape[0]
    s, d = lane.project(pred.xy[:, rows].reshape(-1, 2))
    rel_yaw = objs.yaw[rows] - lane.heading_at(pred.s[rows])
    length, width = objs.dims[rows, 0], objs.dims[rows, 1]
    along = 0.5 * (np.abs(np.cos(rel_yaw)) * length + np.abs(np.sin(rel_yaw)) * width)
    across = 0.5 * (np.abs(np.sin(rel_yaw)) * length + np.abs(np.cos(rel_yaw)) * width)
    return _Extents(s.reshape(k, -1), d.reshape(k, -1), along, across)


def _passing(ext: _Extents, ego_s: np.ndarray, shape: VehicleShape, margin: float) -> np.ndarray:
    """(K, N): the ego footprint (plus ``margin`` before and after) is beside the object."""
    rear = ego_s[:, None] - shape.rear_overhang - margin
    front = ego_s[:, None] + shape.front + margin
    return (ext.s + ext.half_along > rear) & (ext.s - ext.half_along < front)


class VruClearance:
    """The lateral clearance every pedestrian and cyclist beside the lane asks for, computed
    once per plan: only :meth:`shifts` depends on the ego's motion, which the planner's replans
    change (projecting the objects' predicted motion onto the lane is most of the cost)."""

    def __init__(
        self,
        objs: ObjectArray,
        pred: Prediction,
        lane: Lane,
        times: np.ndarray,
        shape: VehicleShape,
        cfg: LateralConfig,
    ) -> None:
        self.objs, self.pred, self.lane = objs, pred, lane
        self.times, self.shape, self.cfg = times, shape, cfg
        self.rows = np.flatnonzero(
            np.isin(objs.label, VULNERABLE) & (np.abs(pred.v_across) <= cfg.crossing_speed)
        )
        self._sides: dict[float, tuple[np.ndarray, _Extents | None]] = {}
        if len(self.rows) == 0 or cfg.max_offset <= 0:
            self.rows = self.rows[:0]
            return
        vru = self.rows
        self.ext = ext = _extents(objs, pred, lane, vru)
        half_w = 0.5 * shape.width
        heading = lane.heading_at(pred.s[vru])
        normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
        var_now = np.einsum("ni,nij,nj->n", normal, objs.cov_xy[vru], normal)
        sigma = np.sqrt(var_now[None, :] + (cfg.lateral_speed_std * times[:, None]) ** 2)
        need = cfg.vru_clearance + cfg.uncertainty_sigmas * sigma  # (K, N)
        self.right = right = ext.d < 0.0  # a person right of the lane centre pushes the path left
        # Where it is now or where it is predicted, whichever is nearer the path: the velocity
        # of someone standing is mostly noise, and may point away.
        d = np.where(right, np.maximum(ext.d, ext.d[:1]), np.minimum(ext.d, ext.d[:1]))
        # Centre-line offset that keeps the gap: left of the person on its right, right of it
        # else.
        bound = np.where(
            right, d + ext.half_across + half_w + need, d - ext.half_across - half_w - need
        )
        self.wanted = np.where(right, np.maximum(bound, 0.0), np.minimum(bound, 0.0))

    def shifts(self, ego_s: np.ndarray) -> list[Shift]:
        """The shifts that pass every pedestrian and cyclist beside the path wide enough, for
        the ego's planned base_link arc length ``ego_s`` (K,) at ``times``."""
        if len(self.rows) == 0:
            return []
        cfg, times = self.cfg, self.times
        passing = _passing(self.ext, ego_s, self.shape, cfg.longitudinal_margin)
        if not passing.any():
            return []
        wanted, right = self.wanted, self.right
        # Room is needed wherever the path is off the centre, ramps included.
        speed = float(ego_s[1] - ego_s[0]) / float(times[1] - times[0])
        ramp = max(cfg.ramp_length, 1.5 * speed)
        shifts = []
        for j in range(len(self.rows)):
            steps = np.flatnonzero(passing[:, j] & (wanted[:, j] != 0.0))
            if len(steps) == 0:
                continue
            side = 1.0 if right[steps, j].mean() >= 0.5 else -1.0
            offset = side * min(float(np.abs(wanted[steps, j]).max()), cfg.max_offset)
            start, end = float(ego_s[steps].min()), float(ego_s[steps].max())
            shifted = np.flatnonzero((ego_s >= start - ramp) & (ego_s <= end + ramp))
            offset = self._room(ego_s, shifted, offset, exclude=int(self.rows[j]))
            if offset != 0.0:
                shifts.append(Shift(start, end, offset))
        return shifts

    def _beside(self, side: float) -> tuple[np.ndarray, _Extents | None]:
        """Rows on ``side`` of the lane centre within reach of the shifted ego, and their
        extents (projected once per plan and side)."""
        if side not in self._sides:
            d = self.pred.d
            near = np.flatnonzero((side * d > 0) & (np.abs(d) < 12.0))
            ext = _extents(self.objs, self.pred, self.lane, near) if len(near) else None
            self._sides[side] = (near, ext)
        return self._sides[side]

    def _room(self, ego_s: np.ndarray, steps: np.ndarray, offset: float, exclude: int) -> float:
        """``offset`` reduced so that, at ``steps``, nothing beside the ego on the side it moves
        to comes within other_clearance (never past the centre line: 0 when there is no room)."""
        side = float(np.sign(offset))
        near, ext = self._beside(side)
        keep = near != exclude
        if ext is None or not keep.any():
            return offset
        ext = _Extents(ext.s[:, keep], ext.d[:, keep], ext.half_along[keep], ext.half_across[keep])
        beside = _passing(ext, ego_s, self.shape, 0.0)[steps]
        if not beside.any():
            return offset
        half_w = 0.5 * self.shape.width
        edge = np.abs(ext.d[steps]) - ext.half_across[None, :] - half_w - self.cfg.other_clearance
        limit = float(np.where(beside, edge, np.inf).min())
        return side * min(abs(offset), max(limit, 0.0))


def vru_shifts(
    objs: ObjectArray,
    pred: Prediction,
    lane: Lane,
    ego_s: np.ndarray,
    times: np.ndarray,
    shape: VehicleShape,
    cfg: LateralConfig,
) -> list[Shift]:
    """The shifts that pass every pedestrian and cyclist beside the path wide enough.

    ``ego_s`` (K,): the ego's planned base_link arc length at ``times`` (K,); ``pred``: the
    objects' predicted motion on the same time grid. A planner that replans builds one
    :class:`VruClearance` and asks it for each rollout instead.
    """
    return VruClearance(objs, pred, lane, times, shape, cfg).shifts(ego_s)


def shift_profile(shifts: list[Shift], s: np.ndarray, ramp: float, max_offset: float) -> np.ndarray:
    """Lateral offset (m, + left) at arc lengths ``s``: each shift held over its window and
    eased in and out (smoothstep) over ``ramp`` metres; shifts to the same side take the
    largest, opposite sides add up."""
    s = np.asarray(s, float)
    left, right = np.zeros(s.shape), np.zeros(s.shape)
    for sh in shifts:
        before = np.clip((s - (sh.s_start - ramp)) / ramp, 0.0, 1.0)
        after = np.clip(((sh.s_end + ramp) - s) / ramp, 0.0, 1.0)
        u = np.minimum(before, after)
        weight = u * u * (3.0 - 2.0 * u)
        if sh.offset > 0:
            left = np.maximum(left, sh.offset * weight)
        else:
            right = np.maximum(right, -sh.offset * weight)
    return np.clip(left - right, -max_offset, max_offset)
