"""Multi-object tracker: Kalman filters (constant velocity by default, or constant
acceleration), gated Hungarian association with a second, maneuver-wide gate for confirmed
tracks the first one lost, birth after ``min_hits`` associated detections and death after
``max_misses`` missed ones.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

import numpy as np

from perception.geometry import dominated_by_footprint, wrap_angle
from perception.objects import NUM_LABELS, ObjectArray
from perception.tracking import existence as ex
from perception.tracking import footprint as fp
from perception.tracking import kalman
from perception.tracking import vehicle_motion as vm
from perception.tracking.association import Assignment, gated_assignment
from perception.tracking.trackset import TrackSet
from stack.errors import L4Error
from stack.params import at_least, in_range, parse_enum, positive

# Object ids must be the same on every replay of a bag, so they are name-based, not random.
_ID_NAMESPACE = uuid.UUID("6f1c3a52-44f5-4c55-8a57-1a2f0f7c9e01")


class TrackerError(L4Error, ValueError):
    """Input the tracker cannot take (e.g. a stamp older than its current time)."""


class MotionModel(str, enum.Enum):
    # Constant velocity, white-noise acceleration (accel_std); hard braking is caught by the
    # maneuver gate. The default: on scenario seeds 1001-1005 it gave MOTA 0.87-0.95 where CA
    # (jerk_std 2-6) gave 0.84-0.91, its noisier velocities splitting and swapping tracks.
    CV = "cv"
    CA = "ca"  # constant acceleration, white-noise jerk (jerk_std)


@dataclass
class TrackerConfig:
    min_hits: int = 3  # detections before a track is published
    max_misses: int = 5  # consecutive missed updates before a confirmed track is deleted
    tentative_max_misses: int = 1
    gate_chi2: float = 13.8  # 99.9 % of a 2-dof chi-square
    max_distance: float = 5.0  # m; hard cap on association distance
    motion_model: MotionModel = MotionModel.CV
    # m/s^2 white-noise acceleration (CV). 3 left the velocity of a car braking at 8 m/s^2
    # over 2 m/s behind for a second (plans then assumed it would stop metres too far on).
    accel_std: float = 4.5
    jerk_std: float = 6.0  # m/s^2.5 white-noise jerk density (CA)
    init_velocity_std: float = 8.0  # m/s: a new track may move at city speed in any direction
    init_accel_std: float = 3.0  # m/s^2 (CA)
    size_smoothing: float = 0.3  # weight of a new detection in the extent estimate
    # Largest footprint (length, width) per class name (see footprint): spray-merged boxes.
    max_footprint: dict[str, list[float]] = field(default_factory=fp.default_footprint)
    class_decay: float = 0.8  # how fast old class evidence fades
    heading_from_velocity: float = 1.0  # m/s: faster tracks take their yaw from the velocity
    merge_speed_difference: float = 2.0  # m/s: a track inside another moving alike is a duplicate
    # A moving confirmed track the gate lost is tried again assuming it has braked (or sped up)
    # at up to maneuver_accel (m/s^2, along its heading; maneuver_lateral_accel across) over the
    # last maneuver_time (s); maneuver_accel 0 disables.
    maneuver_accel: float = 8.0
    maneuver_lateral_accel: float = 0.0
    maneuver_time: float = 1.0
    maneuver_min_speed: float = 2.0  # m/s: slower tracks have no heading to brake along
    # Turn-rate gate and lateral-velocity limit of vehicle tracks (see vehicle_motion).
    vehicle: vm.VehicleLimits = field(default_factory=vm.VehicleLimits)
    # Existence probability against the clutter density (see existence): confirmation needs it.
    existence: ex.ExistenceConfig = field(default_factory=ex.ExistenceConfig)

    def __post_init__(self) -> None:
        if isinstance(self.vehicle, dict):
            self.vehicle = vm.VehicleLimits(**self.vehicle)
        if isinstance(self.existence, dict):
            self.existence = ex.ExistenceConfig(**self.existence)
        self.motion_model = parse_enum(MotionModel, self.motion_model, "motion_model")
        at_least("min_hits", self.min_hits, 1)
        at_least("max_misses", self.max_misses, 0)
        at_least("tentative_max_misses", self.tentative_max_misses, 0)
        positive("gate_chi2", self.gate_chi2)
        positive("max_distance", self.max_distance)
        in_range("size_smoothing", self.size_smoothing, 0.0, 1.0)
        in_range("class_decay", self.class_decay, 0.0, 1.0)
        self._footprint_table = fp.footprint_table(self.max_footprint)

    def footprint_limit(self, label: np.ndarray) -> np.ndarray:
        """(N, 2) largest length and width of each ``label`` (inf where the table has none)."""
        return self._footprint_table[label]

    def clip_footprint(self, dims: np.ndarray, label: np.ndarray) -> np.ndarray:
        """``dims`` (N, 3) clipped to each ``label``'s largest footprint."""
        return fp.clip(dims, label, self._footprint_table)


class MultiObjectTracker:
    """Tracks objects of one frame (normally map) through :meth:`step` calls in stamp order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.cfg = config or TrackerConfig()
        self.dim = kalman.CA_DIM if self.cfg.motion_model is MotionModel.CA else kalman.CV_DIM
        self.noise_std = (
            self.cfg.jerk_std if self.cfg.motion_model is MotionModel.CA else self.cfg.accel_std
        )
        self.tracks = TrackSet.empty(self.dim)
        self.clutter = ex.ClutterMap(self.cfg.existence)
        self.time_ns: int | None = None
        self._next_id = 0

    def step(
        self, stamp_ns: int, detections: ObjectArray, sensor_xy: np.ndarray | None = None
    ) -> None:
        """Predict all tracks to ``stamp_ns`` and update them with ``detections``;
        ``sensor_xy``: where the sensor was (tracking frame), for the clutter density by range
        (without it the density stays at its floor).

        Raises TrackerError when ``stamp_ns`` is older than the last step.
        """
        if self.time_ns is not None and stamp_ns < self.time_ns:
            raise TrackerError(
                f"detections stamped {stamp_ns} ns are older than the tracker time {self.time_ns} ns"
            )
        dt = 0.0 if self.time_ns is None else (stamp_ns - self.time_ns) * 1e-9
        self.time_ns = stamp_ns
        if len(self.tracks) and dt > 0.0:
            self.tracks.x, self.tracks.p = kalman.predict(
                self.tracks.x, self.tracks.p, dt, self.noise_std
            )
            self.tracks.existence = ex.predict(self.tracks.existence, dt, self.cfg.existence)
        cost = self._cost(detections)
        refused = self._turn_refused(detections, dt)
        self.tracks.doubtful |= (refused & (cost <= self.cfg.gate_chi2)).any(axis=1)
        cost[refused] = np.inf
        match = gated_assignment(cost, self.cfg.gate_chi2)
        rows, cols = match.rows, match.cols
        unmatched_rows, unmatched_cols = match.unmatched_rows, match.unmatched_cols
        if self.cfg.maneuver_accel > 0 and len(unmatched_rows) and len(unmatched_cols):
            extra = self._maneuver_match(
                unmatched_rows,
                detections.select(unmatched_cols),
                refused[np.ix_(unmatched_rows, unmatched_cols)],
            )
            if len(extra.rows):
                rows = np.concatenate([rows, unmatched_rows[extra.rows]])
                cols = np.concatenate([cols, unmatched_cols[extra.cols]])
                unmatched_rows = unmatched_rows[extra.unmatched_rows]
                unmatched_cols = unmatched_cols[extra.unmatched_cols]
        if self.cfg.existence.enabled:  # before the update: the prediction's innovation
            t = self.tracks
            t.existence[rows] = ex.weigh(
                t.existence[rows], t.x[rows, :2], t.p[rows, :2, :2], t.confirmed[rows],
                cols, detections.position[:, :2], detections.cov_xy, self.clutter, sensor_xy,
            )  # fmt: skip
        self._update(rows, detections.select(cols))
        self._miss(unmatched_rows)
        self._birth(detections.select(unmatched_cols))
        self._merge_duplicates()

    def _maneuver_match(
        self, rows: np.ndarray, det: ObjectArray, refused: np.ndarray
    ) -> Assignment:
        """Second chance for confirmed tracks the gate lost (``rows``) against the unmatched
        detections ``det``: a car braking hard runs out of a constant-velocity gate within a few
        scans, its velocity estimate lagging ever more. Under the hypothesis that it has
        accelerated at up to maneuver_accel over the last maneuver_time, its covariance grows by
        that much process noise; a detection inside that wider gate is its own, and the grown
        covariance lets the update correct the velocity at once instead of coasting on."""
        t, cfg = self.tracks, self.cfg
        speed = np.hypot(t.x[rows, 2], t.x[rows, 3])
        # Only tracks that had their detection last scan: a coasting track has lost it already.
        rows_ok = rows[
            t.confirmed[rows] & (t.misses[rows] == 0) & (speed >= cfg.maneuver_min_speed)
        ]
        heading = np.arctan2(t.x[rows_ok, 3], t.x[rows_ok, 2])
        grown = t.p[rows_ok].copy()
        grown[:, :4, :4] += kalman.process_noise_oriented(
            cfg.maneuver_time, cfg.maneuver_accel, cfg.maneuver_lateral_accel, heading
        )
        resid, s = kalman.innovation(t.x[rows_ok], grown, det.position[:, :2], det.cov_xy)
        cost = kalman.mahalanobis_sq(resid, s)
        cost[np.hypot(resid[..., 0], resid[..., 1]) > cfg.max_distance] = np.inf
        cost[refused[np.searchsorted(rows, rows_ok)]] = np.inf
        match = gated_assignment(cost, cfg.gate_chi2)
        t.p[rows_ok[match.rows]] = grown[match.rows]
        # Express the result in the caller's row indices (``rows``).
        index = np.searchsorted(rows, rows_ok)
        return Assignment(
            index[match.rows],
            match.cols,
            np.setdiff1d(np.arange(len(rows)), index[match.rows]),
            match.unmatched_cols,
        )

    def _merge_duplicates(self) -> None:
        """A track sitting inside the footprint of a track with more hits, and moving with it,
        follows the same object (a split cluster gave it birth): keep only the established
        one. Objects that cross each other move differently and keep their own tracks; a
        tentative track has no velocity yet and is absorbed on position alone."""
        t = self.tracks
        if len(t) < 2:
            return
        dv = np.linalg.norm(t.x[:, None, 2:4] - t.x[None, :, 2:4], axis=2)
        compatible = (dv <= self.cfg.merge_speed_difference) | ~t.confirmed[None, :]
        dup = dominated_by_footprint(
            t.x[:, :2], t.yaw, t.dims[:, :2], t.hits, margin=0.0, compatible=compatible
        )
        if dup.any():
            self.tracks = t.select(~dup)

    def _vehicle_tracks(self) -> np.ndarray:
        t = self.tracks
        return t.confirmed & vm.is_vehicle(np.argmax(t.class_evidence, axis=1))

    def _turn_refused(self, det: ObjectArray, dt: float) -> np.ndarray:
        """(T, D) pairs a confirmed vehicle track could only reach by turning faster than a
        vehicle can (see vehicle_motion.heading_gate)."""
        limits = self.cfg.vehicle
        if not limits.enabled or len(self.tracks) == 0 or len(det) == 0:
            return np.zeros((len(self.tracks), len(det)), bool)
        return vm.heading_gate(
            self.tracks.x[:, 2:4],
            self._vehicle_tracks(),
            det.yaw,
            vm.axis_known(det.label, det.dims, limits),
            dt,
            limits,
        )

    def _cost(self, det: ObjectArray) -> np.ndarray:
        if len(self.tracks) == 0 or len(det) == 0:
            return np.zeros((len(self.tracks), len(det)))
        resid, s = kalman.innovation(self.tracks.x, self.tracks.p, det.position[:, :2], det.cov_xy)
        cost = kalman.mahalanobis_sq(resid, s)
        cost[np.hypot(resid[..., 0], resid[..., 1]) > self.cfg.max_distance] = np.inf
        return cost

    def _update(self, rows: np.ndarray, det: ObjectArray) -> None:
        if len(rows) == 0:
            return
        t, cfg = self.tracks, self.cfg
        # A confirmed track's centre is not dragged by a box larger than its class allows
        # (merged with a neighbour in fog, or a one-face cluster grown to a longer class prior).
        label = np.argmax(t.class_evidence[rows], axis=1)
        jump = fp.size_jump_cov(det.dims, cfg.footprint_limit(label))
        r = det.cov_xy + jump * t.confirmed[rows, None, None]
        t.x[rows], t.p[rows] = kalman.update(t.x[rows], t.p[rows], det.position[:, :2], r)
        t.doubtful[rows] = False
        if cfg.vehicle.enabled:
            # The body axis: smoothed over its boxes when this one has one, else the track's yaw
            # (a blob's yaw says nothing).
            vehicle = vm.is_vehicle(label)
            det_known = vm.axis_known(det.label, det.dims, cfg.vehicle)
            own_known = vm.slender(t.dims[rows], cfg.vehicle)
            known_axis = np.where(
                det_known,
                vm.smooth_axis(t.axis[rows], det.yaw, cfg.vehicle.axis_smoothing),
                t.axis[rows],
            )
            t.axis[rows] = known_axis
            axis = np.where(det_known, known_axis, t.yaw[rows])
            t.x[rows], t.p[rows], t.doubtful[rows] = vm.constrain_lateral_velocity(
                t.x[rows], t.p[rows], axis, vehicle & (det_known | own_known), cfg.vehicle
            )
        w = cfg.size_smoothing
        dims = (1 - w) * t.dims[rows] + w * det.dims
        t.z[rows] = (1 - w) * t.z[rows] + w * det.position[:, 2]
        t.yaw[rows] = self._fuse_yaw(t.yaw[rows], det.yaw, t.x[rows, 2:4])
        evidence = cfg.class_decay * t.class_evidence[rows]
        evidence[np.arange(len(rows)), det.label] += det.score
        t.class_evidence[rows] = evidence
        t.dims[rows] = cfg.clip_footprint(dims, np.argmax(evidence, axis=1))
        t.hits[rows] += 1
        t.misses[rows] = 0
        ready = t.hits[rows] >= cfg.min_hits
        if cfg.existence.enabled:
            ready &= t.existence[rows] >= cfg.existence.confirm_existence
        t.confirmed[rows] |= ready

    def _fuse_yaw(self, prior: np.ndarray, measured: np.ndarray, vel: np.ndarray) -> np.ndarray:
        """Heading from the velocity when moving, else the box yaw nearest the prior (boxes are
        symmetric, so a measured yaw is only known up to pi)."""
        flip = np.abs(wrap_angle(measured - prior)) > np.pi / 2
        box_yaw = wrap_angle(np.where(flip, measured + np.pi, measured))
        speed = np.hypot(vel[:, 0], vel[:, 1])
        moving_yaw = np.arctan2(vel[:, 1], vel[:, 0])
        return np.where(speed > self.cfg.heading_from_velocity, moving_yaw, box_yaw)

    def _miss(self, rows: np.ndarray) -> None:
        t = self.tracks
        t.misses[rows] += 1
        if self.cfg.existence.enabled:
            t.existence[rows] = ex.miss(t.existence[rows], self.cfg.existence)
        if self.cfg.vehicle.enabled:
            damp = rows[t.doubtful[rows]]
            t.x[damp, 2:] *= self.cfg.vehicle.coast_damping
        limit = np.where(t.confirmed, self.cfg.max_misses, self.cfg.tentative_max_misses)
        alive = t.misses <= limit
        if self.cfg.existence.enabled:
            alive &= t.existence >= self.cfg.existence.delete_existence
        if not alive.all():
            self.tracks = t.select(alive)

    def _new_ids(self, count: int) -> np.ndarray:
        ids = np.zeros((count, 16), np.uint8)
        for i in range(count):
            ids[i] = np.frombuffer(uuid.uuid5(_ID_NAMESPACE, str(self._next_id)).bytes, np.uint8)
            self._next_id += 1
        return ids

    def _birth(self, det: ObjectArray) -> None:
        n = len(det)
        if n == 0:
            return
        p = np.zeros((n, self.dim, self.dim))
        p[:, :2, :2] = det.cov_xy
        p[:, 2, 2] = p[:, 3, 3] = self.cfg.init_velocity_std**2
        if self.dim == kalman.CA_DIM:
            p[:, 4, 4] = p[:, 5, 5] = self.cfg.init_accel_std**2
        evidence = np.zeros((n, NUM_LABELS))
        evidence[np.arange(n), det.label] = det.score
        born = TrackSet(
            x=np.column_stack([det.position[:, :2], np.zeros((n, self.dim - 2))]),
            p=p,
            z=det.position[:, 2].copy(),
            yaw=det.yaw.copy(),
            dims=self.cfg.clip_footprint(det.dims, det.label),
            class_evidence=evidence,
            hits=np.ones(n, np.int64),
            misses=np.zeros(n, np.int64),
            confirmed=np.full(n, self.cfg.min_hits <= 1),
            uuid=self._new_ids(n),
            doubtful=np.zeros(n, bool),
            existence=np.full(n, self.cfg.existence.birth_existence),
            axis=np.where(vm.axis_known(det.label, det.dims, self.cfg.vehicle), det.yaw, np.nan),
        )
        self.tracks = TrackSet.concat(self.tracks, born)

    def confirmed_objects(self) -> tuple[ObjectArray, np.ndarray, np.ndarray]:
        """(objects with ids and velocities, existence probability, velocity covariance) of the
        confirmed tracks at the tracker time."""
        t = self.tracks.select(self.tracks.confirmed)
        n = len(t)
        label = np.argmax(t.class_evidence, axis=1).astype(np.uint8) if n else np.zeros(0, np.uint8)
        total = t.class_evidence.sum(axis=1)
        score = np.where(
            total > 0, t.class_evidence.max(axis=1, initial=0.0) / np.maximum(total, 1e-9), 0.0
        )
        objs = ObjectArray(
            position=np.column_stack([t.x[:, :2], t.z]),
            yaw=t.yaw.copy(),
            dims=t.dims.copy(),
            label=label,
            score=score,
            velocity=t.x[:, 2:4].copy(),
            cov_xy=t.p[:, :2, :2].copy(),
            uuid=t.uuid.copy(),
        )
        old = 1.0 - 0.5 ** np.maximum(t.hits - t.misses, 1)  # existence without the estimate
        existence = t.existence.copy() if self.cfg.existence.enabled else old
        return objs, existence, t.p[:, 2:4, 2:4].copy()
