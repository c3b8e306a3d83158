"""Ground-truth motion: drivable (no overlaps), events happen, ego speeds in range."""

from __future__ import annotations

import numpy as np
import pytest

from tools.scenario import road as rd
from tools.scenario.actors import Kind
from tools.scenario.boxes import footprints_overlap
from tools.scenario.config import ScenarioConfig
from tools.scenario.traffic import (
    DT,
    EGO_CENTER_AHEAD,
    EGO_LENGTH,
    EGO_WIDTH,
    Phase,
    _Simulation,
    simulate,
)  # fmt: skip
from tools.scenario.world import make_world


def _simulate(seconds: float, seed: int, traffic: str):
    cfg = ScenarioConfig(seconds=seconds, seed=seed, traffic=traffic)
    rng = np.random.default_rng(seed)
    world = make_world(rng, 100 + 16 * seconds + 350)
    return simulate(world.road, cfg, rng)


def _footprints(x, y, yaw, length, width) -> np.ndarray:
    """(N,4,2) box footprints, vectorised."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    lx = np.array([1, -1, -1, 1]) * 0.5 * length[:, None]
    ly = np.array([1, 1, -1, -1]) * 0.5 * width[:, None]
    return np.stack([x[:, None] + c * lx - s * ly, y[:, None] + s * lx + c * ly], axis=-1)


def _overlaps(traj, every: int = 5) -> list[tuple[int, int, int]]:
    """(step, a, b) for overlapping footprints where one is the ego (-1) or a vehicle."""
    dims = {i: (s.length, s.width, s.kind.is_vehicle) for i, s in traj.shapes.items()}
    out = []
    for k in range(0, traj.steps, every):
        sl = traj.at(k)
        yaw = traj.ego_yaw[k]
        ego = traj.ego_xy[k] + EGO_CENTER_AHEAD * np.array([np.cos(yaw), np.sin(yaw)])
        ids = np.concatenate([[-1], traj.actor_id[sl]])
        pose = np.vstack([[*ego, yaw], traj.actor_pose[sl]])
        size = np.array([(EGO_LENGTH, EGO_WIDTH, True)] + [dims[int(i)] for i in ids[1:]])
        feet = _footprints(pose[:, 0], pose[:, 1], pose[:, 2], size[:, 0], size[:, 1])
        gap = np.hypot(*(pose[:, None, :2] - pose[None, :, :2]).transpose(2, 0, 1))
        vehicle = size[:, 2] > 0
        close = (gap < 12.0) & (vehicle[:, None] | vehicle[None, :])
        for p, q in zip(*np.nonzero(np.triu(close, 1))):
            if footprints_overlap(feet[p], feet[q]):
                out.append((k, int(ids[p]), int(ids[q])))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "traffic"), [(1, "light"), (4, "dense")])
def test_a_minute_of_traffic_is_collision_free_and_eventful(seed, traffic):
    traj = _simulate(60.0, seed, traffic)
    assert _overlaps(traj) == []
    roles = [r for rs in traj.roles.values() for r in rs]
    assert {"cut_in", "braker", "crossing", "sidewalk"} <= set(roles)
    assert traj.ego_speed.min() >= 0.0 and traj.ego_speed.max() <= 15.5
    assert traj.ego_speed.mean() > 5.0
    kinds = {s.kind for s in traj.shapes.values()}
    assert kinds == {Kind.CAR, Kind.TRUCK, Kind.PEDESTRIAN, Kind.CYCLIST}


def test_dense_traffic_has_more_actors_than_light():
    light, dense = _simulate(5.0, 3, "light"), _simulate(5.0, 3, "dense")
    assert np.diff(dense.offsets).mean() > 1.5 * np.diff(light.offsets).mean()


def test_ego_stops_for_a_crossing_person_and_drives_on():
    cfg = ScenarioConfig(seconds=30.0, seed=8)
    rng = np.random.default_rng(8)
    sim = _Simulation(make_world(rng, 800.0).road, cfg, rng)
    sim.a.alive[1 : sim.a.n] = False  # only the ego and the person below
    person = sim._spawn_person(True, sim.ego_s + 40.0, -1.0)
    sim.a.phase[person], sim.a.vd[person] = Phase.CROSS, 1.2
    band = rd.LANE_OFFSETS[rd.EGO_LANE] + np.array([-1, 1]) * (rd.LANE_WIDTH / 2 + 0.3)
    speeds, cleared_at = [], None
    for _ in range(2500):
        sim.step()
        d = sim.a.d[person]
        front = sim.ego_s + EGO_LENGTH / 2
        if band[0] < d < band[1]:
            assert front < sim.a.s[person] - 0.3, "the ego must stop short of the person"
        elif d > band[1] and cleared_at is None:
            cleared_at = len(speeds)
        speeds.append(sim.a.v[0])
    assert min(speeds) < 0.5
    assert cleared_at is not None and max(speeds[cleared_at:]) > 6.0


def test_actor_velocity_is_in_the_actor_frame():
    traj = _simulate(3.0, 5, "light")
    # Vehicles drive forward: vx ~ speed >= 0, vy ~ 0 outside lane changes.
    for k in (0, 100, 250):
        sl = traj.at(k)
        for i, v in zip(traj.actor_id[sl], traj.actor_velocity[sl]):
            if traj.shapes[int(i)].kind.is_vehicle:
                assert v[0] >= -1e-9 and abs(v[1]) < 2.0
    # Positions advance consistently with the velocity (finite difference over one step).
    rows = {int(i): p for i, p in zip(traj.actor_id[traj.at(10)], traj.actor_pose[traj.at(10)])}
    nxt = {int(i): p for i, p in zip(traj.actor_id[traj.at(11)], traj.actor_pose[traj.at(11)])}
    vel = {int(i): v for i, v in zip(traj.actor_id[traj.at(10)], traj.actor_velocity[traj.at(10)])}
    for i in rows.keys() & nxt.keys():
        step = np.hypot(*(nxt[i][:2] - rows[i][:2])) / DT
        assert step == pytest.approx(np.hypot(*vel[i]), abs=0.3)
