"""Signalised crossings: cycles, the light map, vehicles that hold at red, reproducible old bags."""

from __future__ import annotations

import numpy as np
import pytest

from perception.traffic_light.lightmap import LightMapError, LightState, load_light_map
from tools.scenario import make_scenario
from tools.scenario import road as rd
from tools.scenario.config import SIM_HZ, ScenarioConfig
from tools.scenario.signals import AMBER_S, CYCLE_S, GREEN_S, Signals, light_map_arrays
from tools.scenario.traffic import EGO_ID, EGO_LENGTH, simulate


def _straight_road(length: float = 600.0) -> rd.Road:
    s = np.arange(0.0, length, rd.STEP)
    xy = np.column_stack([s, np.zeros_like(s)])
    return rd.Road(s=s, xy=xy, heading=np.zeros_like(s), curvature=np.zeros_like(s))


def test_cycle_with_offset_gives_green_amber_red_in_turn():
    sig = Signals(crossing_s=np.array([200.0, 500.0]), offset=np.array([0.0, GREEN_S]))
    assert sig.states(0.0).tolist() == [LightState.GREEN] * 2 + [LightState.AMBER] * 2
    assert sig.states(GREEN_S + 0.5)[0] == LightState.AMBER
    assert sig.states(GREEN_S + AMBER_S + 0.5)[0] == LightState.RED
    assert sig.states(CYCLE_S + 0.5)[0] == LightState.GREEN
    # Both heads of a crossing (one per direction) share its state.
    assert sig.states(3.0)[0] == sig.states(3.0)[1]


def test_light_map_arrays_place_stop_lines_before_the_zebra_per_direction(tmp_path):
    road = _straight_road()
    sig = Signals(crossing_s=np.array([200.0]), offset=np.array([0.0]))
    arrays = light_map_arrays(sig, road)
    path = tmp_path / "map.npz"
    np.savez(path, **arrays)
    lights = load_light_map(path)
    assert len(lights) == 2
    # Head 0 controls lanes 0 and 1 (increasing s): its line is before the crossing, its head
    # beyond it, facing back (yaw pi) toward the approaching traffic.
    assert lights.lanes[0].tolist() == [True, True, False, False]
    assert lights.stop_center[0, 0] < 200.0 < lights.head_xyz[0, 0]
    assert np.cos(lights.head_yaw[0]) < -0.99
    assert lights.lanes[1].tolist() == [False, False, True, True]
    assert lights.stop_center[1, 0] > 200.0 > lights.head_xyz[1, 0]


def test_light_map_without_heads_is_none_and_a_broken_one_names_the_key(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, points=np.zeros((3, 3)))
    assert load_light_map(plain) is None
    road = _straight_road()
    arrays = light_map_arrays(Signals(np.array([200.0]), np.array([0.0])), road)
    arrays["light_head_yaw"] = arrays["light_head_yaw"][:1]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(LightMapError, match="light_head_yaw"):
        load_light_map(bad)


def test_ego_holds_at_a_red_line_and_goes_on_green():
    road = _straight_road()
    # Crossing 80 m ahead of the ego's start (s=100); red from t=0 for RED_S seconds.
    sig = Signals(crossing_s=np.array([180.0]), offset=np.array([GREEN_S + AMBER_S]))
    cfg = ScenarioConfig(seconds=24.0, seed=5)
    traj = simulate(road, cfg, np.random.default_rng(5), sig)
    stop_s = float(sig.stop_s()[0])
    s_ego = road.to_frenet(traj.ego_xy)[0]
    front = s_ego + 1.4 + EGO_LENGTH / 2
    t = np.arange(traj.steps) / SIM_HZ
    red = np.array([sig.states(x)[0] == LightState.RED for x in t])
    assert red[: int(8 * SIM_HZ)].all()
    assert front[red].max() < stop_s  # never past the line while red
    assert traj.ego_speed[red].min() < 1.0  # it slowed to a crawl behind the line
    assert front[-1] > stop_s  # and went on green
    assert EGO_ID == 0


def test_lights_off_leaves_out_the_light_topics_and_light_map(tmp_path):
    with_lights = make_scenario(tmp_path / "a", 1.0, 7, progress=False)
    without = make_scenario(tmp_path / "b", 1.0, 7, progress=False, lights=False)
    assert "/ground_truth/traffic_signals" in with_lights.message_counts
    assert "/ground_truth/traffic_signals" not in without.message_counts
    assert load_light_map(without.map_path) is None
    assert len(load_light_map(with_lights.map_path)) >= 2


def test_a_head_leaving_the_top_of_the_image_counts_as_out_of_view():
    """Seeds 1002 and 1005 scored the far-side head as visible (fraction 0.93-0.96) while ~60 %
    of its housing was above the image, because the fraction only compared it with its in-image
    silhouette; the recognizer rightly skips a head whose centre is out of view. The ground
    truth now counts the image edge as it counts an occluder, and agrees with the ROIs."""
    from perception.geometry import Pose2D as GeoPose
    from perception.geometry import RigidTransform
    from perception.traffic_light import lightmap as lm
    from perception.traffic_light.roi import RoiConfig, camera_in_map, project_heads
    from tools.scenario.camera import CameraRenderer, Pose2D
    from tools.scenario.config import Rig
    from tools.scenario.signals import make_signals
    from tools.scenario.traffic import EGO_START_S
    from tools.scenario.world import make_world, with_signals
    from tools.vit.crops import MIN_VISIBLE, light_map

    rngs = [np.random.default_rng(i) for i in range(3)]
    world = make_world(rngs[0], EGO_START_S + 700.0)
    world = with_signals(world, make_signals(rngs[1], EGO_START_S, world.road.length))
    heads = light_map_arrays(world.signals, world.road)[lm.HEAD_XYZ]
    rig = Rig()
    cam = CameraRenderer(rig.camera, "day", world, rngs[2])
    extrinsic = RigidTransform(
        rig.camera.mount.rotation.as_matrix(), np.array(rig.camera.mount.xyz)
    )
    s_head = float(world.road.to_frenet(heads[:1, :2])[0][0])
    fractions, centre_in_view = {}, {}
    for back in (20.0, 7.0):
        s = s_head - back
        x, y = world.road.point(s, rd.LANE_OFFSETS[0])
        yaw = float(world.road.heading_at(s))
        states = np.full(len(heads), int(LightState.GREEN))
        cam.render(
            Pose2D(float(x), float(y), yaw), np.zeros(0, np.int64), [], np.zeros((0, 3)), states
        )
        view = next(v for v in cam.head_views if v.head == 0)
        assert view.lamp_visible  # the green lamp, at the bottom, still shows
        fractions[back] = view.visible_fraction
        proj = project_heads(
            light_map(world.signals, world.road),
            camera_in_map(GeoPose(float(x), float(y), yaw), extrinsic),
            rig.camera.k,
            cam.size,
            RoiConfig(),
        )
        centre_in_view[back] = any(r.head == 0 for r in proj.rois)
    assert fractions[20.0] == pytest.approx(1.0)
    assert fractions[7.0] < MIN_VISIBLE  # was ~1.0: the part above the image did not count
    assert centre_in_view == {20.0: True, 7.0: False}
