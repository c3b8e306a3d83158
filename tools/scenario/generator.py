"""`make_scenario`: world -> traffic -> sensors -> rosbag2 directory with ground truth."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tools.scenario import messages as msg
from tools.scenario import topics
from tools.scenario.actors import posed_parts
from tools.scenario.camera import CameraRenderer, Pose2D
from tools.scenario.config import (
    CAMERA_HZ,
    EGO_POSE_HZ,
    ENU_ORIGIN,
    GNSS_HZ,
    IMU_HZ,
    ODOM_HZ,
    SIM_HZ,
    START_NS,
    Rig,
    ScenarioConfig,
)  # fmt: skip
from tools.scenario.errors import ScenarioError
from tools.scenario.lidar import LidarSimulator
from tools.scenario.motion_sensors import (
    ACCEL_NOISE,
    GYRO_NOISE,
    GnssSamples,
    ImuSamples,
    OdomSamples,
    gnss,
    imu,
    odometry,
)  # fmt: skip
from tools.scenario.realism import Realism, realism_rng
from tools.scenario.signals import Signals, make_signals
from tools.scenario.traffic import EGO_START_S, Trajectories, simulate
from tools.scenario.world import World, make_world, save_map, with_signals
from tools.scenario.writer import BagWriter

NS_PER_STEP = 1_000_000_000 // SIM_HZ
LIGHT_TOPICS = frozenset({topics.GT_TRAFFIC_SIGNALS, topics.GT_TRAFFIC_LIGHT_ROIS})
MAP_FILE = "map.npz"
SCENARIO_FILE = "scenario.yaml"


def is_complete(path: Path) -> bool:
    """Whether a scenario folder was written to the end.

    The generator writes the bag's ``metadata.yaml`` when the bag closes, then ``map.npz``, then
    ``scenario.yaml`` last: a run killed in between leaves a readable bag without its ground
    truth, which must not be reused.
    """
    return all((path / name).is_file() for name in ("metadata.yaml", MAP_FILE, SCENARIO_FILE))


@dataclass(frozen=True)
class ScenarioInfo:
    """What was generated: the bag directory, its simulated duration, messages per topic, and
    the wall time the generation took."""

    path: Path
    duration: float
    message_counts: dict[str, int]
    wall_time: float
    map_path: Path = field(default=Path())
    scenario_path: Path = field(default=Path())

    @property
    def realtime_factor(self) -> float:
        return self.duration / self.wall_time if self.wall_time > 0 else float("inf")


@dataclass(frozen=True)
class _Streams:
    """Independent random streams, so one sensor's draws never shift another's."""

    world: np.random.Generator
    traffic: np.random.Generator
    camera: np.random.Generator
    lidar: np.random.Generator
    motion: np.random.Generator
    signals: np.random.Generator  # a sixth child: the first five draw as they did before

    @classmethod
    def from_seed(cls, seed: int) -> _Streams:
        children = np.random.SeedSequence(seed).spawn(6)
        return cls(*(np.random.default_rng(c) for c in children))


@dataclass(frozen=True)
class _Motion:
    imu: ImuSamples
    gnss: GnssSamples
    odom: OdomSamples


def _realistic_motion(
    traj: Trajectories, rig: Rig, streams: _Streams, realism: Realism, seed: int
) -> _Motion:
    """The motion sensors' samples (drawn in the original order), then the realism knobs."""
    samples = _Motion(
        imu(traj, streams.motion), gnss(traj, rig, streams.motion), odometry(traj, streams.motion)
    )
    if not realism.active:
        return samples
    rng = realism_rng(seed)
    true_rate = traj.ego_yaw_rate[samples.odom.steps]
    return _Motion(
        realism.imu(samples.imu, rig),
        realism.gnss(samples.gnss, rng),
        realism.odometry(samples.odom, true_rate, rng),
    )


def drive(cfg: ScenarioConfig, lights: bool = True) -> tuple[_Streams, World, Trajectories]:
    """The random streams, the world (with signalised crossings unless ``lights`` is off) and
    the simulated traffic of ``cfg``'s seed: the drive its scenario bag records."""
    streams = _Streams.from_seed(cfg.seed)
    world = make_world(streams.world, EGO_START_S + 16.0 * cfg.seconds + 350.0)
    if lights:
        world = with_signals(world, make_signals(streams.signals, EGO_START_S, world.road.length))
    return streams, world, simulate(world.road, cfg, streams.traffic, world.signals)


def _prepare_output(out: Path) -> Path:
    out = Path(out)
    if out.exists():
        raise ScenarioError(f"output {out} exists; rosbag2 writers only create new directories")
    if not out.parent.exists():
        raise ScenarioError(f"output parent directory {out.parent} does not exist")
    return out


def _progress(enabled: bool) -> Any:
    """A rich progress bar, or a null context yielding None."""
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]scenario[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeRemainingColumn(),
        transient=True,
    )


class _FrameWriter:
    """Writes every topic for the simulation steps of one 10 Hz frame, in stamp order."""

    def __init__(
        self,
        bag: BagWriter,
        world: World,
        traj: Trajectories,
        motion: _Motion,
        cfg: ScenarioConfig,
        streams: _Streams,
        rig: Rig,
        realism: Realism,
    ) -> None:
        self.bag, self.traj, self.motion, self.rig = bag, traj, motion, rig
        self.world = world
        self.imu_dt, self.gnss_dt, self.odom_dt = realism.offsets_ns()
        self.camera = CameraRenderer(rig.camera, cfg.weather, world, streams.camera)
        self.lidar = LidarSimulator(rig.lidar, cfg.weather, world, streams.lidar)

    def frame(self, first: int, last: int) -> None:
        for step in range(first, min(last, self.traj.steps)):
            ns = START_NS + step * NS_PER_STEP
            self._motion(step, ns)
            if step % (SIM_HZ // CAMERA_HZ) == 0:
                self._perception(step, ns)

    def _motion(self, step: int, ns: int) -> None:
        m, traj = self.motion, self.traj
        if step % (SIM_HZ // IMU_HZ) == 0:
            k = step // (SIM_HZ // IMU_HZ)
            self.bag.write(
                topics.IMU,
                ns,
                msg.imu(
                    m.imu.gyro[k], m.imu.accel[k], ns + self.imu_dt, GYRO_NOISE**2, ACCEL_NOISE**2
                ),
            )
        if step % (SIM_HZ // ODOM_HZ) == 0:
            k = step // (SIM_HZ // ODOM_HZ)
            self.bag.write(
                topics.ODOMETRY,
                ns,
                msg.odometry(
                    m.odom.pose[k], m.odom.speed[k], m.odom.yaw_rate[k], ns + self.odom_dt
                ),
            )
        if step % (SIM_HZ // EGO_POSE_HZ) == 0:
            x, y = traj.ego_xy[step]
            self.bag.write(topics.GT_EGO_POSE, ns, msg.ego_pose(x, y, traj.ego_yaw[step], ns))
        if step % (SIM_HZ // GNSS_HZ) == 0:
            k = step // (SIM_HZ // GNSS_HZ)
            fix = m.gnss.lat_lon_alt[k]
            if np.isfinite(fix[0]):  # NaN: dropped by a realism knob
                self.bag.write(
                    topics.GNSS_FIX, ns, msg.navsat(fix, m.gnss.sigma, ns + self.gnss_dt)
                )

    def _perception(self, step: int, ns: int) -> None:
        traj = self.traj
        sl = traj.at(step)
        ids, poses = traj.actor_id[sl], traj.actor_pose[sl]
        shapes = [traj.shapes[int(i)] for i in ids]
        ego = Pose2D(*traj.ego_xy[step], traj.ego_yaw[step])
        signals = self.world.signals
        lights = signals.states(step / SIM_HZ) if signals is not None else None
        img, boxes = self.camera.render(ego, ids, shapes, poses, lights)
        self.bag.write(topics.CAMERA_INFO, ns, msg.camera_info(self.rig.camera, ns))
        self.bag.write(topics.CAMERA_IMAGE, ns, msg.image(img, ns))
        self.bag.write(topics.GT_CAMERA_BOXES, ns, msg.camera_boxes(boxes, ns))
        if signals is not None:
            groups = signals.group_id
            self.bag.write(topics.GT_TRAFFIC_SIGNALS, ns, msg.traffic_signals(groups, lights, ns))
            views = self.camera.head_views
            self.bag.write(
                topics.GT_TRAFFIC_LIGHT_ROIS, ns, msg.traffic_light_rois(views, groups, lights, ns)
            )
        mount_x = self.rig.lidar.mount.xyz[0]
        lidar_xy = traj.ego_xy[step] + mount_x * np.array([np.cos(ego.yaw), np.sin(ego.yaw)])
        scan = self.lidar.scan(lidar_xy, ego.yaw, posed_parts(shapes, ids, poses))
        self.bag.write(topics.LIDAR_POINTS, ns, msg.pointcloud(scan.points, ns))
        objects = msg.tracked_objects(
            ns,
            ids,
            [s.kind.label for s in shapes],
            [s.dimensions for s in shapes],
            poses,
            traj.actor_velocity[sl],
            traj.actor_yaw_rate[sl],
        )
        self.bag.write(topics.GT_OBJECTS, ns, objects)


def _write_yaml(
    path: Path,
    cfg: ScenarioConfig,
    traj: Trajectories,
    rig: Rig,
    realism: Realism,
    signals: Signals | None,
) -> None:
    doc = {
        "seed": cfg.seed,
        "seconds": cfg.seconds,
        "weather": cfg.weather.value,
        "traffic": cfg.traffic.value,
        "storage": cfg.storage.value,
        "start_ns": START_NS,
        "enu_origin": {
            "latitude": ENU_ORIGIN[0],
            "longitude": ENU_ORIGIN[1],
            "altitude": ENU_ORIGIN[2],
        },
        "map": MAP_FILE,
        "topics": {t: m for t, m in topics.MSGTYPES.items() if signals or t not in LIGHT_TOPICS},
        "extrinsics": {
            m.frame: {
                "parent": topics.FRAME_BASE,
                "xyz": list(m.xyz),
                "euler_xyz_deg": list(m.euler_deg),
            }
            for m in rig.mounts()
        },
        "actors": traj.actor_list(),
    }
    if signals is not None:
        doc["signals"] = signals.as_dict()
    if realism.active:
        doc["realism"] = realism.as_dict()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def make_scenario(
    out: Path,
    seconds: float,
    seed: int,
    storage: str = "mcap",
    weather: str = "day",
    traffic: str = "light",
    progress: bool = True,
    realism: Realism | None = None,
    lights: bool = True,
) -> ScenarioInfo:
    """Generate a synthetic drive with ground truth as a rosbag2 directory at ``out``.

    ``realism`` turns on what real logs do to localization (tools.scenario.realism); without it
    a seed gives the same bytes as before the knobs existed. ``lights=False`` leaves out the
    signalised crossings (tools.scenario.signals): a seed then gives the bag it gave before
    they existed. Raises ScenarioError for a bad
    option or an existing output path.
    """
    realism = realism or Realism()
    cfg = ScenarioConfig(
        seconds=seconds, seed=seed, storage=storage, weather=weather, traffic=traffic
    )
    out = _prepare_output(out)
    started = time.perf_counter()
    rig = realism.rig(Rig())
    streams, world, traj = drive(cfg, lights)
    motion = _realistic_motion(traj, rig, streams, realism, cfg.seed)
    per_frame = SIM_HZ // CAMERA_HZ
    frames = (traj.steps + per_frame - 1) // per_frame
    skip = frozenset() if lights else LIGHT_TOPICS
    with BagWriter(out, cfg.storage, skip) as bag, _progress(progress) as bar:
        task = bar.add_task(str(out), total=frames) if bar else None
        tf = msg.tf_static(rig, START_NS, realism.tf_mounts(rig))
        bag.write(topics.TF_STATIC, START_NS, tf)
        writer = _FrameWriter(bag, world, traj, motion, cfg, streams, rig, realism)
        for f in range(frames):
            writer.frame(f * per_frame, (f + 1) * per_frame)
            if bar:
                bar.advance(task)
    map_path, scenario_path = out / MAP_FILE, out / SCENARIO_FILE
    save_map(world, map_path)
    _write_yaml(scenario_path, cfg, traj, rig, realism, world.signals)
    return ScenarioInfo(
        path=out,
        duration=(traj.steps - 1) / SIM_HZ,
        message_counts=dict(bag.counts),
        wall_time=time.perf_counter() - started,
        map_path=map_path,
        scenario_path=scenario_path,
    )
