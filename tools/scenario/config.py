"""Scenario options and the fixed sensor rig (rates, mounting, intrinsics, noise)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from rosbags.rosbag2 import StoragePlugin
from scipy.spatial.transform import Rotation

from stack.params import parse_enum
from tools.scenario import topics
from tools.scenario.errors import ScenarioError

# A fixed epoch so that the same seed gives the same stamps.
START_NS = 1_700_000_000 * 1_000_000_000
SIM_HZ = 100  # the traffic simulation step; every sensor rate divides it
CAMERA_HZ = 10
LIDAR_HZ = 10
IMU_HZ = 100
GNSS_HZ = 10
ODOM_HZ = 50
EGO_POSE_HZ = 50
GT_OBJECTS_HZ = 10
# Origin of the local ENU tangent plane that `map` is (a road near Munich).
ENU_ORIGIN = (48.1351, 11.5820, 520.0)
MAX_SECONDS = 600.0


class Weather(str, Enum):
    DAY = "day"
    NIGHT = "night"
    FOG = "fog"
    RAIN = "rain"


class Traffic(str, Enum):
    LIGHT = "light"
    DENSE = "dense"


class Storage(str, Enum):
    MCAP = "mcap"
    SQLITE3 = "sqlite3"

    @property
    def plugin(self) -> StoragePlugin:
        return StoragePlugin.MCAP if self is Storage.MCAP else StoragePlugin.SQLITE3


@dataclass(frozen=True)
class ScenarioConfig:
    """What to generate; validated on construction."""

    seconds: float
    seed: int
    storage: Storage = Storage.MCAP
    weather: Weather = Weather.DAY
    traffic: Traffic = Traffic.LIGHT

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ScenarioError(f"seed={self.seed!r} must be a non-negative integer")
        seconds = float(self.seconds)
        if not math.isfinite(seconds) or seconds < 0.1 or seconds > MAX_SECONDS:
            raise ScenarioError(f"seconds={self.seconds!r} must be in [0.1, {MAX_SECONDS:g}]")
        object.__setattr__(self, "seconds", seconds)
        object.__setattr__(
            self, "storage", parse_enum(Storage, self.storage, "storage", ScenarioError)
        )
        object.__setattr__(
            self, "weather", parse_enum(Weather, self.weather, "weather", ScenarioError)
        )
        object.__setattr__(
            self, "traffic", parse_enum(Traffic, self.traffic, "traffic", ScenarioError)
        )


@dataclass(frozen=True)
class Mount:
    """A sensor frame's pose in base_link (base_link: rear axle centre on the ground)."""

    frame: str
    xyz: tuple[float, float, float]
    # Rotation of the sensor frame in base_link, as a scipy "xyz" Euler triple in degrees.
    euler_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_euler("xyz", self.euler_deg, degrees=True)

    @property
    def quaternion_xyzw(self) -> np.ndarray:
        return self.rotation.as_quat()


@dataclass(frozen=True)
class CameraModel:
    """Pinhole front camera; camera_front is an optical frame (z forward, x right, y down)."""

    width: int = 640
    height: int = 384
    hfov_deg: float = 70.0
    # Optical frame: from base_link (x fwd, y left, z up) rotate -90 about x then -90 about z'.
    mount: Mount = Mount(topics.FRAME_CAMERA, (1.9, 0.0, 1.5), (-90.0, 0.0, -90.0))

    @property
    def fx(self) -> float:
        return self.width / 2.0 / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def k(self) -> np.ndarray:
        f = self.fx
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0, 0, 1.0]])


@dataclass(frozen=True)
class LidarModel:
    """A spinning multi-beam lidar on the roof; lidar_top is axis-aligned with base_link."""

    beams: int = 32
    columns: int = 1024
    elevation_min_deg: float = -22.0
    elevation_max_deg: float = 8.0
    max_range: float = 100.0
    min_range: float = 1.0
    range_noise: float = 0.02
    dropout: float = 0.02
    mount: Mount = Mount(topics.FRAME_LIDAR, (1.0, 0.0, 1.95))

    def elevations(self) -> np.ndarray:
        return np.radians(np.linspace(self.elevation_min_deg, self.elevation_max_deg, self.beams))

    def azimuths(self) -> np.ndarray:
        return np.linspace(-math.pi, math.pi, self.columns, endpoint=False)


@dataclass(frozen=True)
class Rig:
    camera: CameraModel = field(default_factory=CameraModel)
    lidar: LidarModel = field(default_factory=LidarModel)
    imu: Mount = Mount(topics.FRAME_IMU, (0.0, 0.0, 0.5))
    gnss: Mount = Mount(topics.FRAME_GNSS, (0.5, 0.0, 1.7))

    def mounts(self) -> tuple[Mount, ...]:
        return (self.camera.mount, self.lidar.mount, self.imu, self.gnss)
