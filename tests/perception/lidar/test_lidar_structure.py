"""Static structure told from obstacles by shape, without a map."""

from __future__ import annotations

import numpy as np
import pytest

from perception.lidar.pipeline import ObstacleConfig, PipelineStats, detect_obstacles
from perception.lidar.structure import StructureConfig
from perception.lidar.synthetic import SceneBox, box_surface_points, synthetic_sweep
from perception.objects import Label
from stack.errors import ParamError

CAR = SceneBox(15.0, 3.0, 0.3, 4.5, 1.8, 1.5)
PEDESTRIAN = SceneBox(10.0, 0.0, 0.0, 0.5, 0.5, 1.7)
POLE = SceneBox(12.0, -8.0, 0.0, 0.25, 0.25, 3.8)  # a post up to just under the crop ceiling
WALL = SceneBox(25.0, 9.0, 0.0, 12.0, 0.3, 2.0)  # a low wall or fence along the road


def _sweep(extra=()):
    sweep = synthetic_sweep([CAR, PEDESTRIAN, POLE, WALL], points_per_box=800, seed=4)[:, :3]
    return np.concatenate([sweep, *extra]).astype(np.float32)


def _building_face(rng):
    """A facade 14 m long and 10 m tall at y = -15: returns far above any vehicle."""
    pts = box_surface_points(SceneBox(30.0, -15.0, 0.0, 14.0, 6.0, 10.0), 6000, rng)
    return pts[pts[:, 1] > -12.5]  # the side facing the road


def _near(objs, box):
    d = np.hypot(objs.position[:, 0] - box.x, objs.position[:, 1] - box.y)
    return int(np.argmin(d)) if len(d) and d.min() < 1.0 else None


def test_auto_drops_structure_without_a_map_and_keeps_road_users():
    face = _building_face(np.random.default_rng(1))
    stats = PipelineStats()
    objs = detect_obstacles(_sweep([face]), ObstacleConfig(), stats)
    assert _near(objs, CAR) is not None and _near(objs, PEDESTRIAN) is not None
    assert _near(objs, POLE) is None and _near(objs, WALL) is None
    assert not np.any(np.abs(objs.position[:, 1] + 12.5) < 1.5)  # no box on the facade
    assert stats.counts["structure"] >= 3
    off = detect_obstacles(_sweep([face]), ObstacleConfig(structure={"mode": "off"}))
    assert len(off) >= len(objs) + 3  # what the cues removed


def test_auto_is_off_with_a_map_and_unknown_keeps_them_labelled():
    with_map = detect_obstacles(_sweep(), ObstacleConfig(), have_map=True)
    assert _near(with_map, POLE) is not None  # the map filter's job then
    unknown = detect_obstacles(_sweep(), ObstacleConfig(structure={"mode": "unknown"}))
    assert unknown.label[_near(unknown, POLE)] == Label.UNKNOWN
    assert unknown.label[_near(unknown, WALL)] == Label.UNKNOWN
    assert unknown.label[_near(unknown, CAR)] == Label.CAR


def test_a_truck_is_not_structure():
    truck = SceneBox(20.0, -4.0, 0.0, 10.0, 2.5, 3.8)
    objs = detect_obstacles(
        synthetic_sweep([truck], points_per_box=1500, seed=2)[:, :3], ObstacleConfig()
    )
    assert _near(objs, truck) is not None


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"mode": "hide"}, r"structure.mode='hide' is not one of"),
        ({"ceiling_z": 0.0}, r"structure.ceiling_z must be > 0"),
        ({"min_above_points": 0}, r"structure.min_above_points must be >= 1"),
    ],
)
def test_bad_structure_config_is_named(bad, needle):
    with pytest.raises(ParamError, match=needle):
        StructureConfig(**bad)
