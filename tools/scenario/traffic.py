"""Ground-truth motion of the ego and the actors, simulated at SIM_HZ in road (Frenet) coordinates.

Vehicles follow their lane with the Intelligent Driver Model (IDM), so nobody drives into the
vehicle or the person ahead; scripted events add a cut-in, a hard-braking leader and people
crossing the road (who wait at the kerb until approaching vehicles can stop for them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from perception.traffic_light.lightmap import LightState
from tools.scenario import road as rd
from tools.scenario.actors import ActorShape, Kind, make_shape
from tools.scenario.config import SIM_HZ, ScenarioConfig, Traffic
from tools.scenario.signals import COMFORT_DECEL, Signals

DT = 1.0 / SIM_HZ
EGO_ID = 0
EGO_LENGTH, EGO_WIDTH, EGO_HEIGHT = 4.7, 1.85, 1.5
EGO_CENTER_AHEAD = 1.4  # metres from base_link (rear axle) to the box centre
EGO_START_S = 100.0
ACTUATOR_LAG = 0.2  # s, first-order lag between IDM command and acceleration
PERSON_BAND = rd.LANE_WIDTH / 2 + 0.9  # |d - lane| within which a person blocks a lane
CROSS_WAIT_D = 8.0


class Role(IntEnum):
    EGO = 0
    LANE = 1
    CUT_IN = 2
    BRAKER = 3
    CROSSING = 4
    SIDEWALK = 5


class Phase(IntEnum):
    CRUISE = 0
    LANE_CHANGE = 1
    BRAKE = 2
    HOLD = 3
    WAIT = 4
    CROSS = 5


@dataclass(frozen=True)
class TrafficProfile:
    spacing: float  # mean distance between vehicles spawned in a lane
    truck_share: float
    cut_in_every: float  # seconds between scripted events (jittered)
    brake_every: float
    cross_every: float
    sidewalk_people: int
    overtakers: float  # chance per second of a vehicle coming from behind in the left lane


PROFILES = {
    Traffic.LIGHT: TrafficProfile(75.0, 0.15, 25.0, 30.0, 15.0, 3, 0.08),
    Traffic.DENSE: TrafficProfile(32.0, 0.2, 12.0, 15.0, 8.0, 8, 0.2),
}

_FIELDS = {
    "kind": np.int8, "role": np.int8, "phase": np.int8, "alive": np.bool_, "lane": np.int8,
    "s": np.float64, "d": np.float64, "v": np.float64, "vd": np.float64, "acc": np.float64,
    "dirn": np.float64, "rel": np.float64, "v0": np.float64, "amax": np.float64, "b": np.float64,
    "headway": np.float64, "s0": np.float64, "length": np.float64, "width": np.float64,
    "t_start": np.float64, "lc_dur": np.float64, "d_from": np.float64, "d_to": np.float64,
    "target": np.float64, "decel": np.float64, "hold": np.float64, "walk": np.float64,
    "spawn": np.int64, "despawn": np.int64,
}  # fmt: skip


class _Agents:
    """Struct of arrays indexed by actor id (the ego is id 0); grows as actors spawn."""

    def __init__(self) -> None:
        self.n = 0
        for name, dtype in _FIELDS.items():
            setattr(self, name, np.zeros(64, dtype))

    def add(self, **values: float) -> int:
        if self.n == len(self.s):
            for name in _FIELDS:
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))
        i = self.n
        self.n += 1
        for name in _FIELDS:
            getattr(self, name)[i] = values.get(name, 0)
        self.alive[i] = True
        self.despawn[i] = -1
        return i

    def ids(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask[: self.n] & self.alive[: self.n])

    def vehicles(self) -> np.ndarray:
        return self.ids(self.kind <= Kind.TRUCK)

    def people(self) -> np.ndarray:
        return self.ids(self.kind >= Kind.PEDESTRIAN)


@dataclass(frozen=True)
class Trajectories:
    """Sampled ground truth. Ego arrays are per simulation step (base_link pose); actor rows are
    sorted by step, ``offsets[k]:offsets[k+1]`` are the actors alive at step k."""

    steps: int
    ego_xy: np.ndarray
    ego_yaw: np.ndarray
    ego_speed: np.ndarray
    ego_accel: np.ndarray
    ego_yaw_rate: np.ndarray
    offsets: np.ndarray
    actor_id: np.ndarray
    actor_pose: np.ndarray  # (R,3) x, y, yaw of the footprint centre
    actor_velocity: np.ndarray  # (R,2) vx, vy in the actor frame
    actor_yaw_rate: np.ndarray
    shapes: dict[int, ActorShape]
    roles: dict[int, list[str]]
    spawn_step: dict[int, int]
    despawn_step: dict[int, int]

    def at(self, step: int) -> slice:
        return slice(int(self.offsets[step]), int(self.offsets[step + 1]))

    def actor_list(self) -> list[dict]:
        """One entry per actor for scenario.yaml."""
        out = []
        for i, shape in sorted(self.shapes.items()):
            out.append(
                {
                    "id": i,
                    "kind": shape.kind.class_name,
                    "roles": self.roles[i],
                    "dimensions": [round(v, 3) for v in shape.dimensions],
                    "spawn_s": round(self.spawn_step[i] * DT, 2),
                    "despawn_s": round(self.despawn_step[i] * DT, 2),
                }
            )
        return out


class _Simulation:
    def __init__(
        self,
        road: rd.Road,
        cfg: ScenarioConfig,
        rng: np.random.Generator,
        signals: Signals | None = None,
    ) -> None:
        self.road, self.rng, self.cfg, self.signals = road, rng, cfg, signals
        self.profile = PROFILES[cfg.traffic]
        self.a = _Agents()
        self.shapes: dict[int, ActorShape] = {}
        self.roles: dict[int, list[str]] = {}
        self.step_no = 0
        self.events = {"cut_in": 5.0, "brake": 10.0, "cross": 2.0}
        self.ego_phase = rng.uniform(0, 2 * math.pi, 2)
        self.rows: list[np.ndarray] = []
        self.ego_rows: list[tuple[float, float]] = []
        self.a.add(
            kind=Kind.CAR, role=Role.EGO, lane=rd.EGO_LANE, s=EGO_START_S,
            d=rd.LANE_OFFSETS[rd.EGO_LANE], v=10.0, dirn=1.0, v0=10.0, amax=1.5, b=2.5,
            headway=1.5, s0=4.0, length=EGO_LENGTH, width=EGO_WIDTH,
        )  # fmt: skip
        self.roles[EGO_ID] = ["ego"]
        self._populate()

    @property
    def t(self) -> float:
        return self.step_no * DT

    @property
    def ego_s(self) -> float:
        return float(self.a.s[EGO_ID])

    # -- spawning ---------------------------------------------------------------------------

    def _new_actor(self, kind: Kind, role: Role, **values: float) -> int:
        shape = make_shape(kind, self.rng)
        i = self.a.add(
            kind=kind, role=role, length=shape.length, width=shape.width, spawn=self.step_no,
            **values,
        )  # fmt: skip
        self.shapes[i] = shape
        self.roles[i] = [role.name.lower()]
        return i

    def _spawn_vehicle(self, lane: int, s: float, v0: float, role: Role = Role.LANE) -> int:
        kind = Kind.TRUCK if self.rng.random() < self.profile.truck_share else Kind.CAR
        truck = kind is Kind.TRUCK
        return self._new_actor(
            kind, role, lane=lane, s=s, d=rd.LANE_OFFSETS[lane], v=v0,
            dirn=float(rd.LANE_DIRECTION[lane]), v0=v0 * (0.85 if truck else 1.0),
            amax=1.0 if truck else self.rng.uniform(1.2, 2.0), b=2.5,
            headway=self.rng.uniform(1.2, 1.8), s0=self.rng.uniform(2.5, 4.0),
            rel=0.0 if rd.LANE_DIRECTION[lane] > 0 else math.pi,
        )  # fmt: skip

    def _lane_speed(self, lane: int) -> float:
        lo, hi = ((11.0, 15.0), (14.0, 18.0), (10.0, 15.0), (9.0, 13.0))[lane]
        return self.rng.uniform(lo, hi)

    def _lane_free(self, lane: int, s: float, margin: float) -> bool:
        ids = self.a.vehicles()
        in_lane = np.abs(self.a.d[ids] - rd.LANE_OFFSETS[lane]) < rd.LANE_WIDTH
        return not np.any(in_lane & (np.abs(self.a.s[ids] - s) < margin))

    def _spawn_person(self, crossing: bool, s: float, side: float) -> int:
        kind = Kind.CYCLIST if self.rng.random() < 0.3 else Kind.PEDESTRIAN
        bike = kind is Kind.CYCLIST
        walk = self.rng.uniform(3.5, 5.0) if bike else self.rng.uniform(1.1, 1.6)
        if crossing:
            return self._new_actor(
                kind, Role.CROSSING, phase=Phase.WAIT, s=s, d=side * CROSS_WAIT_D, walk=walk,
                rel=-side * math.pi / 2, lane=-1,
            )  # fmt: skip
        dirn = self.rng.choice([-1.0, 1.0])
        # Cyclists keep right on the path by the kerb (so they pass each other); people walk
        # further out on the sidewalk.
        keep_right = 0.3 if dirn * side < 0 else -0.3
        d = side * (8.4 + keep_right if bike else self.rng.uniform(9.0, 10.1))
        return self._new_actor(
            kind, Role.SIDEWALK, s=s, d=d, walk=walk, dirn=dirn, v=walk,
            rel=0.0 if dirn > 0 else math.pi, lane=-1,
        )  # fmt: skip

    def _populate(self) -> None:
        """Initial traffic; always a leader about 30 m ahead of the ego so short runs see one."""
        spacing = self.profile.spacing
        for lane in range(4):
            s = self.ego_s - 90.0 + self.rng.uniform(0, spacing)
            while s < self.ego_s + 230.0:
                if lane != rd.EGO_LANE or abs(s - self.ego_s) > 45.0:
                    self._spawn_vehicle(lane, s, self._lane_speed(lane))
                s += spacing * self.rng.uniform(0.7, 1.4)
        lead = self._spawn_vehicle(rd.EGO_LANE, self.ego_s + self.rng.uniform(26.0, 32.0), 10.0)
        self.a.v0[lead] = self.rng.uniform(11.0, 14.0)
        for _ in range(self.profile.sidewalk_people):
            self._spawn_person(
                False, self.ego_s + self.rng.uniform(10, 120), self.rng.choice([-1, 1])
            )
        self._spawn_person(True, self.ego_s + self.rng.uniform(35, 45), -1.0)

    def _refill(self) -> None:
        ego_s, p = self.ego_s, self.profile
        for lane in range(4):
            ids = self.a.vehicles()
            ids = ids[self.a.lane[ids] == lane]
            far = self.a.s[ids].max() if len(ids) else ego_s
            spawn_s = ego_s + self.rng.uniform(210.0, 240.0)
            if spawn_s - far > p.spacing * self.rng.uniform(0.7, 1.4):
                self._spawn_vehicle(lane, spawn_s, self._lane_speed(lane))
        behind = ego_s - 80.0
        if self.rng.random() < p.overtakers and self._lane_free(1, behind, 40.0):
            self._spawn_vehicle(1, behind, self.rng.uniform(15.0, 18.0))
        people = self.a.people()
        ahead = (self.a.s[people] > ego_s - 20) & (self.a.role[people] == Role.SIDEWALK)
        if ahead.sum() < p.sidewalk_people:
            self._spawn_person(False, ego_s + self.rng.uniform(80, 150), self.rng.choice([-1, 1]))

    def _despawn(self) -> None:
        ids = self.a.ids(np.ones(self.a.n, bool))[1:]
        rel = self.a.s[ids] - self.ego_s
        person = self.a.kind[ids] >= Kind.PEDESTRIAN
        gone = np.where(person, (rel < -50) | (rel > 200), (rel < -100) | (rel > 280))
        gone &= ~((self.a.phase[ids] == Phase.CROSS) & (rel > -50))
        self.a.alive[ids[gone]] = False
        self.a.despawn[ids[gone]] = self.step_no

    # -- events -----------------------------------------------------------------------------

    def _events(self) -> None:
        every = {
            "cut_in": self.profile.cut_in_every,
            "brake": self.profile.brake_every,
            "cross": self.profile.cross_every,
        }
        handlers = {"cut_in": self._try_cut_in, "brake": self._try_brake, "cross": self._try_cross}
        for name, due in self.events.items():
            if self.t >= due and handlers[name]():
                self.events[name] = self.t + every[name] * self.rng.uniform(0.7, 1.3)
        self._start_crossings()

    def _ego_front(self) -> float:
        return self.ego_s + EGO_LENGTH / 2

    def _try_cut_in(self) -> bool:
        a, ids = self.a, self.a.vehicles()
        ids = ids[(a.lane[ids] == 1) & (a.role[ids] == Role.LANE) & (a.phase[ids] == Phase.CRUISE)]
        rear_gap = a.s[ids] - a.length[ids] / 2 - self._ego_front()
        ok = (rear_gap > 5.0) & (rear_gap < 25.0) & (a.v[ids] >= a.v[EGO_ID] - 0.5)
        for i in ids[ok]:
            lane0 = a.vehicles()
            lane0 = lane0[
                (np.abs(a.d[lane0] - rd.LANE_OFFSETS[0]) < rd.LANE_WIDTH) & (lane0 != EGO_ID)
            ]
            lane0 = lane0[a.s[lane0] > self.ego_s]
            # Room ahead in the ego lane for the whole manoeuvre, leader slowing included.
            room = a.s[lane0] - a.length[lane0] / 2 - (a.s[i] + a.length[i] / 2)
            need = 3.0 + a.v[i] * 0.8 + np.maximum(0.0, a.v[i] - a.v[lane0]) * 2.5
            if np.any(room < need):
                continue
            a.role[i], a.phase[i], a.t_start[i] = Role.CUT_IN, Phase.LANE_CHANGE, self.t
            a.lc_dur[i], a.d_from[i], a.d_to[i] = (
                self.rng.uniform(2.5, 3.5),
                a.d[i],
                rd.LANE_OFFSETS[0],
            )
            a.v0[i] = max(a.v0[i], a.v[EGO_ID] + 1.0)
            self.roles[int(i)].append("cut_in")
            return True
        behind = self.ego_s - 25.0
        coming = ids[(a.s[ids] < self.ego_s) & (a.v[ids] > a.v[EGO_ID])]
        if not len(coming) and self._lane_free(1, behind, 20.0):
            i = self._spawn_vehicle(1, behind, a.v[EGO_ID] + 4.0)
            a.v0[i] = a.v[EGO_ID] + 4.0
        return False

    def _try_brake(self) -> bool:
        a = self.a
        lead, gap, _ = self._leaders(np.array([EGO_ID]))
        i = int(lead[0])
        if i < 0 or a.kind[i] > Kind.TRUCK or not 12.0 < gap[0] < 50.0 or a.v[i] < 5.0:
            return False
        if a.role[i] != Role.LANE or a.phase[i] != Phase.CRUISE:
            return False
        a.role[i], a.phase[i] = Role.BRAKER, Phase.BRAKE
        a.target[i], a.decel[i] = self.rng.uniform(0.0, 3.0), self.rng.uniform(3.0, 5.0)
        a.hold[i] = self.rng.uniform(2.0, 4.0)
        self.roles[i].append("braker")
        return True

    def _try_cross(self) -> bool:
        self._spawn_person(True, self.ego_s + self.rng.uniform(45, 75), self.rng.choice([-1, 1]))
        return True

    def _crossing_clear(self, s: float) -> bool:
        a, ids = self.a, self.a.vehicles()
        dist = (s - a.s[ids]) * a.dirn[ids] - a.length[ids] / 2
        v = a.v[ids]
        need = np.maximum(3.5 * v, v * v / 6.0 + 10.0)
        return not np.any((dist > -a.length[ids] - 3.0) & (dist < need))

    def _start_crossings(self) -> None:
        a = self.a
        for i in a.people():
            if a.phase[i] == Phase.WAIT and self._crossing_clear(a.s[i]):
                a.phase[i] = Phase.CROSS
                a.vd[i] = -np.sign(a.d[i]) * a.walk[i]

    # -- motion -----------------------------------------------------------------------------

    def _occupancy(self, ids: np.ndarray) -> np.ndarray:
        """(n, 4) lanes each vehicle overlaps (same driving direction only)."""
        a = self.a
        near = (
            np.abs(a.d[ids, None] - rd.LANE_OFFSETS[None])
            < rd.LANE_WIDTH / 2 + a.width[ids, None] / 2 - 0.2
        )
        return near & (rd.LANE_DIRECTION[None] == a.dirn[ids, None])

    def _leaders(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closest vehicle or person ahead in each vehicle's lanes: (id or -1, gap, speed)."""
        a, veh = self.a, self.a.vehicles()
        occ_i, occ_j = self._occupancy(ids), self._occupancy(veh)
        # A lane changer already watches its target lane.
        changing = np.flatnonzero(a.phase[ids] == Phase.LANE_CHANGE)
        target = np.argmin(np.abs(a.d_to[ids[changing], None] - rd.LANE_OFFSETS[None]), axis=1)
        occ_i[changing, target] = True
        share = (occ_i.astype(np.int8) @ occ_j.T.astype(np.int8)) > 0
        ahead = (a.s[veh][None] - a.s[ids][:, None]) * a.dirn[ids][:, None]
        gap = ahead - (a.length[ids][:, None] + a.length[veh][None]) / 2
        gap = np.where(share & (ahead > 0) & (veh[None] != ids[:, None]), gap, np.inf)
        speed = np.broadcast_to(a.v[veh][None], gap.shape)
        people = a.people()
        if len(people):
            lo = np.minimum(a.d[people], a.d[people] + 2.0 * a.vd[people])
            hi = np.maximum(a.d[people], a.d[people] + 2.0 * a.vd[people])
            band = (lo[None] < rd.LANE_OFFSETS[:, None] + PERSON_BAND) & (
                hi[None] > rd.LANE_OFFSETS[:, None] - PERSON_BAND
            )
            blocks = (occ_i.astype(np.int8) @ band.astype(np.int8)) > 0
            pgap = (a.s[people][None] - a.s[ids][:, None]) * a.dirn[ids][:, None]
            pgap = pgap - a.length[ids][:, None] / 2 - 0.6
            pgap = np.where(blocks & (pgap > -0.6), pgap, np.inf)
            gap = np.concatenate([gap, pgap], axis=1)
            speed = np.concatenate([speed, np.zeros_like(pgap)], axis=1)
            veh = np.concatenate([veh, people])
        if gap.shape[1] == 0:
            n = len(ids)
            return np.full(n, -1), np.full(n, np.inf), np.zeros(n)
        j = np.argmin(gap, axis=1)
        rows = np.arange(len(ids))
        best = gap[rows, j]
        leader, lead_v = np.where(np.isfinite(best), veh[j], -1), speed[rows, j]
        stop = self._stop_line_gaps(ids)
        closer = stop < best
        return (
            np.where(closer, -1, leader),
            np.where(closer, stop, best),
            np.where(closer, 0.0, lead_v),
        )

    def _stop_line_gaps(self, ids: np.ndarray) -> np.ndarray:
        """Gap of each vehicle to the stop line it must hold at (red, or amber where a
        comfortable stop is possible), as a standing obstacle for the IDM; inf where none."""
        out = np.full(len(ids), np.inf)
        if self.signals is None or not len(self.signals.crossing_s):
            return out
        a, sig = self.a, self.signals
        states = sig.states(self.t)
        hold = (states == LightState.RED) | (states == LightState.AMBER)
        if not hold.any():
            return out
        heads = np.flatnonzero(hold)
        stop_s, dirn = sig.stop_s()[heads], sig.head_dirn[heads]
        same = a.dirn[ids][:, None] == dirn[None]
        front = (stop_s[None] - a.s[ids][:, None]) * dirn[None] - a.length[ids][:, None] / 2
        v = a.v[ids][:, None]
        need = v**2 / (2.0 * np.maximum(front, 0.05))
        amber = (states[heads] == LightState.AMBER)[None]
        # On amber only where a comfortable stop is possible; on red unless already too close
        # to stop at all (then it clears the line, as a driver committed on amber does).
        able = np.where(amber, need <= COMFORT_DECEL, need <= 6.0)
        ok = same & (front > -0.5) & able & (front < 120.0)
        gap = np.where(ok, front + a.s0[ids][:, None] - 1.0, np.inf)
        return gap.min(axis=1)

    def _desired_speed(self, ids: np.ndarray) -> np.ndarray:
        a = self.a
        v0 = a.v0[ids].copy()
        ego = ids == EGO_ID
        ph = self.ego_phase
        v0[ego] = (
            11.5
            + 2.6 * math.sin(2 * math.pi * self.t / 45.0 + ph[0])
            + 0.8 * math.sin(2 * math.pi * self.t / 13.0 + ph[1])
        )
        braking = np.isin(a.phase[ids], (Phase.BRAKE, Phase.HOLD))
        v0[braking] = np.maximum(a.target[ids][braking], 0.1)
        return np.maximum(v0, 0.1)

    def _move_vehicles(self) -> None:
        a, ids = self.a, self.a.vehicles()
        _, gap, lead_v = self._leaders(ids)
        v = a.v[ids]
        root = 2.0 * np.sqrt(a.amax[ids] * a.b[ids])
        sstar = a.s0[ids] + np.maximum(0.0, v * a.headway[ids] + v * (v - lead_v) / root)
        interaction = np.where(np.isfinite(gap), (sstar / np.maximum(gap, 0.1)) ** 2, 0.0)
        cmd = a.amax[ids] * (1.0 - (v / self._desired_speed(ids)) ** 4 - interaction)
        braking = a.phase[ids] == Phase.BRAKE
        cmd[braking] = np.minimum(cmd[braking], -a.decel[ids][braking])
        cmd = np.clip(cmd, -8.0, a.amax[ids])
        acc = a.acc[ids] + (cmd - a.acc[ids]) * min(1.0, DT / ACTUATOR_LAG)
        acc = np.where(cmd < -4.0, np.minimum(acc, cmd), acc)  # emergencies skip the lag
        v_new = np.maximum(0.0, v + acc * DT)
        a.acc[ids] = (v_new - v) / DT
        a.v[ids] = v_new
        kappa = self.road.curvature_at(a.s[ids])
        a.s[ids] += a.dirn[ids] * v_new * DT / (1.0 - kappa * a.d[ids])
        self._brake_phases(ids)
        self._lane_changes(ids)
        a.rel[ids] = np.arctan2(a.vd[ids], a.dirn[ids] * np.maximum(a.v[ids], 0.05))

    def _brake_phases(self, ids: np.ndarray) -> None:
        a = self.a
        for i in ids[a.phase[ids] == Phase.BRAKE]:
            if a.v[i] <= a.target[i] + 0.1:
                a.phase[i], a.t_start[i] = Phase.HOLD, self.t
        for i in ids[a.phase[ids] == Phase.HOLD]:
            if self.t - a.t_start[i] > a.hold[i]:
                a.phase[i], a.role[i] = Phase.CRUISE, Role.LANE

    def _lane_changes(self, ids: np.ndarray) -> None:
        a = self.a
        ids = ids[a.phase[ids] == Phase.LANE_CHANGE]
        if not len(ids):
            return
        tau = np.clip((self.t - a.t_start[ids]) / a.lc_dur[ids], 0.0, 1.0)
        span = a.d_to[ids] - a.d_from[ids]
        a.d[ids] = a.d_from[ids] + span * (1 - np.cos(math.pi * tau)) / 2
        a.vd[ids] = span * math.pi / (2 * a.lc_dur[ids]) * np.sin(math.pi * tau)
        done = ids[tau >= 1.0]
        a.vd[done] = 0.0
        a.phase[done], a.role[done] = Phase.CRUISE, Role.LANE
        a.lane[done] = np.argmin(np.abs(a.d[done, None] - rd.LANE_OFFSETS[None]), axis=1)

    def _move_people(self) -> None:
        a, ids = self.a, self.a.people()
        crossing = ids[a.phase[ids] == Phase.CROSS]
        a.d[crossing] += a.vd[crossing] * DT
        a.rel[crossing] = np.sign(a.vd[crossing]) * math.pi / 2
        arrived = crossing[np.sign(a.vd[crossing]) * a.d[crossing] > 9.0]
        a.phase[arrived], a.role[arrived], a.vd[arrived] = Phase.CRUISE, Role.SIDEWALK, 0.0
        a.dirn[arrived] = 1.0
        a.rel[arrived] = 0.0
        walking = ids[a.role[ids] == Role.SIDEWALK]
        a.s[walking] += a.dirn[walking] * a.walk[walking] * DT

    # -- loop -------------------------------------------------------------------------------

    def step(self) -> None:
        if self.step_no % (SIM_HZ // 10) == 0:
            self._events()
        if self.step_no % SIM_HZ == 0:
            self._refill()
            self._despawn()
        self._record()
        self._move_vehicles()
        self._move_people()
        self.step_no += 1

    def _record(self) -> None:
        a = self.a
        ids = a.ids(np.ones(a.n, bool))
        people = a.kind[ids] >= Kind.PEDESTRIAN
        walking = people & (a.role[ids] == Role.SIDEWALK)
        vs = np.where(
            people, np.where(walking, a.dirn[ids] * a.walk[ids], 0.0), a.dirn[ids] * a.v[ids]
        )
        self.rows.append(
            np.column_stack(
                [
                    np.full(len(ids), self.step_no),
                    ids,
                    a.s[ids],
                    a.d[ids],
                    vs,
                    a.vd[ids],
                    a.rel[ids],
                ]
            )
        )
        self.ego_rows.append((a.v[EGO_ID], a.acc[EGO_ID]))


def _ego_track(road: rd.Road, rows: np.ndarray, ego_rows: np.ndarray) -> dict[str, np.ndarray]:
    s, d = rows[:, 2], rows[:, 3]
    yaw = road.heading_at(s) + rows[:, 6]
    center = road.point(s, d)
    base = center - EGO_CENTER_AHEAD * np.column_stack([np.cos(yaw), np.sin(yaw)])
    yaw_rate = np.gradient(yaw, DT) if len(yaw) > 1 else np.zeros(1)
    return {
        "ego_xy": base,
        "ego_yaw": yaw,
        "ego_speed": ego_rows[:, 0],
        "ego_accel": ego_rows[:, 1],
        "ego_yaw_rate": yaw_rate,
    }


def _group_gradient(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """d(values)/dt within runs of equal group id (rows sorted by group, then step)."""
    if len(values) < 2:
        return np.zeros_like(values)
    same = groups[1:] == groups[:-1]
    diff = np.where(same, np.diff(values) / DT, 0.0)
    after = np.concatenate([diff, [0.0]])  # slope to the next sample of the same group
    before = np.concatenate([[0.0], diff])
    has_after = np.concatenate([same, [False]])
    has_before = np.concatenate([[False], same])
    count = np.maximum(has_after.astype(int) + has_before, 1)
    return (after + before) / count


def simulate(
    road: rd.Road, cfg: ScenarioConfig, rng: np.random.Generator, signals: Signals | None = None
) -> Trajectories:
    sim = _Simulation(road, cfg, rng, signals)
    steps = round(cfg.seconds * SIM_HZ) + 1
    for _ in range(steps):
        sim.step()
    rows = np.concatenate(sim.rows)
    ego_mask = rows[:, 1] == EGO_ID
    track = _ego_track(road, rows[ego_mask], np.array(sim.ego_rows))
    act = rows[~ego_mask]
    step, ids = act[:, 0].astype(np.int64), act[:, 1].astype(np.int64)
    heading = road.heading_at(act[:, 2])
    xy = road.point(act[:, 2], act[:, 3])
    yaw = np.angle(np.exp(1j * (heading + act[:, 6])))
    rel, v_along, v_side = act[:, 6], act[:, 4], act[:, 5]
    vx = np.cos(rel) * v_along + np.sin(rel) * v_side
    vy = -np.sin(rel) * v_along + np.cos(rel) * v_side
    order = np.lexsort((step, ids))
    yaw_rate = np.empty(len(act))
    yaw_rate[order] = _group_gradient(np.unwrap(yaw[order]), ids[order])
    offsets = np.searchsorted(step, np.arange(steps + 1))
    despawn = {
        int(i): int(sim.a.despawn[i]) if sim.a.despawn[i] >= 0 else steps - 1 for i in sim.shapes
    }
    return Trajectories(
        steps=steps,
        offsets=offsets,
        actor_id=ids,
        actor_pose=np.column_stack([xy, yaw]),
        actor_velocity=np.column_stack([vx, vy]),
        actor_yaw_rate=yaw_rate,
        shapes=sim.shapes,
        roles=sim.roles,
        spawn_step={i: int(sim.a.spawn[i]) for i in sim.shapes},
        despawn_step=despawn,
        **track,
    )
