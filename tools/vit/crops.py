"""Labelled traffic-light crops rendered from scenarios, as the node will see them.

For every camera frame with a head in range, the scene is rendered with random light states,
the map-based regions come from perception.traffic_light.roi with the true pose plus a pose error
(so the crops are off-centre as the node's are), and each crop is labelled with its head's state,
or UNKNOWN when its lit lamp is hidden or the housing shows less than half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.geometry import Pose2D as GeoPose
from perception.geometry import RigidTransform
from perception.traffic_light.lightmap import (
    CLASS_STATES,
    LightMap,
    LightState,
    light_map_from_arrays,
)
from perception.traffic_light.roi import RoiConfig, camera_in_map, crop, project_heads
from tools.scenario.camera import CameraRenderer, Pose2D
from tools.scenario.config import SIM_HZ, Rig, ScenarioConfig
from tools.scenario.generator import drive
from tools.scenario.signals import Signals, light_map_arrays

SIDE = 32
MIN_VISIBLE = 0.5
LIT = (LightState.RED, LightState.AMBER, LightState.GREEN)


@dataclass(frozen=True)
class Crops:
    images: np.ndarray  # (N, SIDE, SIDE, 3) uint8 BGR
    labels: np.ndarray  # (N,) index into CLASS_STATES
    distance: np.ndarray  # (N,) m
    weather: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Crops:
        """The crops at ``index`` (an index array or a boolean mask)."""
        return Crops(*(getattr(self, f)[index] for f in Crops.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Crops]) -> Crops:
        return Crops(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Crops.__dataclass_fields__)
        )


def light_map(signals: Signals, road) -> LightMap:
    return light_map_from_arrays(light_map_arrays(signals, road), "scenario light map")


def label(view, state: int) -> int:
    """Class index of a head's crop."""
    if view is None or not view.lamp_visible or view.visible_fraction < MIN_VISIBLE:
        return CLASS_STATES.index(LightState.UNKNOWN)
    return CLASS_STATES.index(LightState(state))


@dataclass(frozen=True)
class _Scene:
    traj: object  # tools.scenario.traffic.Trajectories
    world: object
    rig: Rig
    lights: LightMap
    extrinsic: RigidTransform
    cfg: ScenarioConfig
    streams: object  # tools.scenario.generator._Streams


def _scene(seed: int, seconds: float, weather: str) -> _Scene:
    """The drive of a scenario seed, its light map and the camera mount, as the generator has
    them (same seed sequence)."""
    cfg = ScenarioConfig(seconds=seconds, seed=seed, weather=weather)
    streams, world, traj = drive(cfg)
    rig = Rig()
    extrinsic = RigidTransform(
        rig.camera.mount.rotation.as_matrix(), np.array(rig.camera.mount.xyz)
    )
    return _Scene(traj, world, rig, light_map(world.signals, world.road), extrinsic, cfg, streams)


def heads_per_frame(seed: int, seconds: float) -> np.ndarray:
    """How many regions the recognizer classifies in each camera frame of a scenario (true
    pose): the batch the node runs."""
    sc = _scene(seed, seconds, "day")
    size = (sc.rig.camera.width, sc.rig.camera.height)
    out = []
    for step in range(0, sc.traj.steps, SIM_HZ // 10):
        x, y = sc.traj.ego_xy[step]
        pose = camera_in_map(GeoPose(x, y, float(sc.traj.ego_yaw[step])), sc.extrinsic)
        out.append(len(project_heads(sc.lights, pose, sc.rig.camera.k, size, RoiConfig()).rois))
    return np.array(out, np.int64)


def scenario_crops(
    seed: int,
    seconds: float,
    weather: str,
    renders: int = 2,
    pose_sigma: tuple[float, float] = (0.25, 0.004),
    every: int = 1,
) -> Crops:
    """Crops of one scenario: ``renders`` random light settings per camera frame with a head in
    range; pose error sigma (metres, radians) on x, y and yaw."""
    sc = _scene(seed, seconds, weather)
    traj, rig, lights = sc.traj, sc.rig, sc.lights
    cam = CameraRenderer(rig.camera, sc.cfg.weather, sc.world, sc.streams.camera)
    rng = np.random.default_rng(seed + 77)
    out_img, out_lab, out_dist = [], [], []
    for step in range(0, traj.steps, (SIM_HZ // 10) * every):
        x, y = traj.ego_xy[step]
        yaw = float(traj.ego_yaw[step])
        noisy = GeoPose(
            x + rng.normal(0, pose_sigma[0]), y + rng.normal(0, pose_sigma[0]),
            yaw + rng.normal(0, pose_sigma[1]),
        )  # fmt: skip
        proj = project_heads(
            lights, camera_in_map(noisy, sc.extrinsic), rig.camera.k, cam.size, RoiConfig()
        )
        if not proj.rois:
            continue
        sl = traj.at(step)
        ids, poses = traj.actor_id[sl], traj.actor_pose[sl]
        shapes = [traj.shapes[int(i)] for i in ids]
        for _ in range(renders):
            states = rng.choice(np.array(LIT, np.int64), len(lights))
            img, _ = cam.render(Pose2D(x, y, yaw), ids, shapes, poses, states)
            views = {v.head: v for v in cam.head_views}
            for roi in proj.rois:
                out_img.append(crop(img, roi.box, SIDE))
                out_lab.append(label(views.get(roi.head), int(states[roi.head])))
                out_dist.append(roi.distance)
    n = len(out_lab)
    return Crops(
        np.array(out_img, np.uint8).reshape(n, SIDE, SIDE, 3),
        np.array(out_lab, np.int64),
        np.array(out_dist, np.float64),
        np.full(n, weather),
    )
