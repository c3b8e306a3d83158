"""Tracking persistence as a structure cue (perception/lidar/persistence.py): what moves in the map
frame is a road user even where a shape cue fires; what stays put and was structure stays so."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from perception.geometry import Pose2D
from perception.lidar.node import LidarObstacles
from perception.lidar.persistence import PersistenceConfig, StaticMemory, StructurePersistence
from perception.lidar.pipeline import ObstacleConfig, detect_obstacles
from perception.lidar.pointcloud import make_pointcloud2
from perception.lidar.synthetic import SceneBox, box_surface_points
from perception.objects import objects_from_msg
from stack import msgs, topics
from stack.errors import ParamError

SWEEP_NS = 100_000_000  # 10 Hz
CANOPY = SceneBox(20.0, 3.0, 0.0, 5.0, 3.0, 1.5)  # a tree crown 5-6.5 m over the lane


def _canopy(rng: np.random.Generator) -> np.ndarray:
    pts = box_surface_points(CANOPY, 600, rng)
    pts[:, 2] += 5.0
    return pts


def _car(i: int) -> SceneBox:
    """A car driving along y = 3 at 8 m/s, under the canopy from sweep 17 on."""
    return SceneBox(2.0 + 0.8 * i, 3.0, 0.0, 4.5, 1.8, 1.5)


def _found(objs, box: SceneBox, within: float = 1.5) -> bool:
    d = np.hypot(objs.position[:, 0] - box.x, objs.position[:, 1] - box.y)
    return bool(len(d) and d.min() < within)


def _sweeps(persist: bool, seed: int, n: int, scene) -> list[bool]:
    """Per sweep i: whether the box of ``scene(i, rng) -> (box, points)`` was detected, with the
    ego standing at the origin, with or without the structure persistence."""
    rng = np.random.default_rng(seed)
    cfg = ObstacleConfig()
    persistence = StructurePersistence(cfg.structure.persistence)
    found = []
    for i in range(n):
        box, pts = scene(i, rng)
        refine = partial(persistence.refine, i * SWEEP_NS, Pose2D()) if persist else None
        found.append(_found(detect_obstacles(pts.astype(np.float32), cfg, refine=refine), box))
    return found


def _car_under_canopy(i: int, rng: np.random.Generator) -> tuple[SceneBox, np.ndarray]:
    car = _car(i)
    return car, np.concatenate([box_surface_points(car, 800, rng), _canopy(rng)])


def _drive_under_canopy(persist: bool) -> list[bool]:
    return _sweeps(persist, 3, 24, _car_under_canopy)


def test_a_moving_car_under_a_tree_is_kept_where_the_shape_cue_alone_drops_it():
    alone, persistent = _drive_under_canopy(False), _drive_under_canopy(True)
    assert all(alone[:15]) and not any(alone[18:])  # the returns above it make it "structure"
    assert all(persistent)  # it has been moving for 1.5 s by then: a road user


def _pole(i: int, rng: np.random.Generator) -> tuple[SceneBox, np.ndarray]:
    pole = SceneBox(12.0, -8.0, 0.0, 0.25, 0.25, 3.8 if i < 6 else 2.0)
    return pole, box_surface_points(pole, 300, rng)


def _pole_sweeps(persist: bool) -> list[bool]:
    """A post seen whole for 6 sweeps, then only its lower 2 m (occluded above)."""
    return _sweeps(persist, 5, 12, _pole)


def test_static_structure_marked_before_stays_structure_when_the_cue_misses():
    assert _pole_sweeps(False)[6:] == [True] * 6  # a 2 m post: no shape cue fires
    assert not any(_pole_sweeps(True))


def _facade_sweeps(cfg: ObstacleConfig) -> list[bool]:
    """The ego drives at 10 m/s past a 10 m tall facade of which it sees the part 5-15 m ahead:
    in the map frame that part's centroid slides along at the ego's speed, steadily."""
    rng = np.random.default_rng(7)
    persistence = StructurePersistence(cfg.structure.persistence)
    found = []
    for i in range(20):
        ego = Pose2D(1.0 * i, 0.0, 0.0)
        seen = SceneBox(10.0, -10.0, 0.0, 10.0, 0.4, 10.0)  # base_link
        world = box_surface_points(SceneBox(0, 0, 0, 30.0, 0.4, 10.0), 6000, rng)
        world[:, 0] += 5.0 + 1.0 * i  # map x; kept only where the ego sees it
        world[:, 1] -= 10.0
        local = world.copy()
        local[:, :2] = ego.inverse().apply(world[:, :2])
        local = local[(local[:, 0] > 5.0) & (local[:, 0] < 15.0)].astype(np.float32)
        refine = partial(persistence.refine, i * SWEEP_NS, ego)
        found.append(_found(detect_obstacles(local, cfg, refine=refine), seen, within=3.0))
    return found


def test_a_facade_sliding_along_with_the_ego_is_not_taken_for_a_mover():
    assert not any(_facade_sweeps(ObstacleConfig()))
    # without the static memory its steady slide would pass for a moving road user
    blind = ObstacleConfig(structure={"persistence": {"max_static_share": 1.0}})
    assert any(_facade_sweeps(blind))


def test_without_an_ego_pose_the_shape_cues_decide_alone():
    persistence = StructurePersistence(PersistenceConfig())
    rng = np.random.default_rng(1)
    pts = np.concatenate([box_surface_points(_car(20), 800, rng), _canopy(rng)])
    seen = []

    def refine(points, labels, fit, cue):
        seen.append(cue.copy())
        return persistence.refine(0, None, points, labels, fit, cue)

    objs = detect_obstacles(pts.astype(np.float32), ObstacleConfig(), refine=refine)
    assert not _found(objs, _car(20)) and seen[0].any()  # the cue's drop stands
    assert len(persistence) == 0  # nothing tracked without a pose


def _cloud(fake, stamp: int, points: np.ndarray):
    xyzi = np.column_stack([points, np.zeros(len(points))])  # make_pointcloud2 wants 4 columns
    return make_pointcloud2(msgs.new, fake.header(stamp, "base_link"), xyzi)


@pytest.mark.parametrize("with_pose", [True, False])
def test_the_node_uses_the_ego_pose_from_localization(fake, with_pose):
    node, ctx = fake.make_node(LidarObstacles)
    rng = np.random.default_rng(3)
    found = []
    for i in range(24):
        stamp = 1_700_000_000 * 10**9 + i * SWEEP_NS
        if with_pose:
            ctx.deliver(topics.LOCALIZATION_ODOMETRY, fake.odometry(stamp))
        pts = np.concatenate([box_surface_points(_car(i), 800, rng), _canopy(rng)])
        ctx.deliver(topics.LIDAR_POINTS, _cloud(fake, stamp, pts.astype(np.float32)))
        found.append(_found(objects_from_msg(ctx.sent(topics.LIDAR_OBJECTS)[-1]), _car(i)))
    assert all(found[3:]) is with_pose, str(
        found
    )  # (the first 3: the car is too close for the node)
    assert node.persistence is not None and (len(node.persistence) > 0) is with_pose


def test_persistence_is_off_with_a_map_or_when_disabled(fake, tmp_path):
    node, _ = fake.make_node(LidarObstacles, structure={"persistence": {"enabled": False}})
    assert node.persistence is None
    node, _ = fake.make_node(LidarObstacles, structure={"mode": "off"})
    assert node.persistence is None


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"gate_m": 0.0}, r"structure.persistence.gate_m must be > 0"),
        ({"min_hits": 1}, r"structure.persistence.min_hits must be >= 2"),
        ({"sticky_votes": 0}, r"structure.persistence.sticky_votes must be >= 1"),
        ({"baseline_s": 2.0}, r"structure.persistence.baseline_s..history_s must be \(low, high\)"),
        (
            {"max_static_share": 1.5},
            r"structure.persistence.max_static_share must lie in \[0.0, 1.0\]",
        ),
    ],
)
def test_bad_persistence_config_is_named(bad, needle):
    with pytest.raises(ParamError, match=needle):
        PersistenceConfig(**bad)


def test_the_static_memory_gives_no_verdict_before_it_reaches_back_or_after_a_gap():
    memory = StaticMemory(PersistenceConfig())
    cells = memory.cells(np.array([[10.0, 2.0], [10.2, 2.1], [30.0, -4.0]]))
    labels = np.array([0, 0, 1])
    for i in range(8):  # 0.7 s of sweeps 0.1 s apart, the same returns
        memory.add(i * SWEEP_NS, cells)
    assert np.all(np.isnan(memory.static_share(5 * SWEEP_NS, cells, labels, 2)))  # < 0.6 s back
    assert memory.static_share(8 * SWEEP_NS, cells, labels, 2).tolist() == [1.0, 1.0]
    moved = memory.cells(np.array([[12.0, 2.0], [12.2, 2.1], [30.0, -4.0]]))
    assert memory.static_share(8 * SWEEP_NS, moved, labels, 2).tolist() == [0.0, 1.0]
    memory.add(40 * SWEEP_NS, cells)  # 3.3 s later: what it held is too old to count
    assert np.all(np.isnan(memory.static_share(41 * SWEEP_NS, cells, labels, 2)))
