"""Realism knobs: what real vehicle logs do to localization, reproduced on a synthetic drive.

All off by default (``Realism()``): a seed's bag is then byte-for-byte what it was without them.
Each knob models one thing seen on real logs:

- ``imu_mount_rpy_deg``: the IMU mounted rotated (its axes are not base_link's); ``imu_on_tf``
  False leaves its transform out of /tf_static, as many real logs do;
- ``gyro_bias_rad_s``: an extra constant gyro bias per axis (cheap MEMS parts, warm-up);
- ``gnss_first_fix_offset_m`` on the first ``gnss_bad_first_fixes`` fixes written: a bad first fix (30 m)
  or a cold-start jump (500 m on three fixes);
- ``gnss_jumps``: multipath jumps, each ``[start_s, duration_s, east_m, north_m]``;
- ``gnss_dropouts``: ``[start_s, duration_s]`` windows without any fix (tunnels, trees);
- ``gnss_decimate``: keep every n-th fix (10 Hz -> 2.5 Hz with 4);
- ``skid_slip``: skid-steer wheel slip; the wheel speed over-reads by ``skid_slip * |yaw rate| *
  SKID_HALF_TRACK`` plus noise of that size, and the odometry's yaw rate by ``1 + 2 * skid_slip``;
- ``imu_time_offset_s`` / ``gnss_time_offset_s`` / ``odom_time_offset_s``: the header stamp is the
  sensor's clock, off from the truth by this much (the bag's log time stays true).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pymap3d
import yaml
from scipy.spatial.transform import Rotation

from tools.scenario.config import ENU_ORIGIN, SIM_HZ, Mount, Rig
from tools.scenario.errors import ScenarioError
from tools.scenario.motion_sensors import GnssSamples, ImuSamples, OdomSamples

REALISM_STREAM = 25  # the knobs' RNG is seeded [seed, 25]
SKID_HALF_TRACK = 0.8  # m: how far the wheels sit from the turning axis


def _floats(name: str, value: Any, n: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ScenarioError(f"realism.{name} must be {n} numbers (got {value!r})") from None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise ScenarioError(f"realism.{name} must be {n} finite numbers (got {value!r})")
    return out


@dataclass(frozen=True)
class Realism:
    """Knobs that make a synthetic drive look like a real log (all off by default)."""

    imu_mount_rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    imu_on_tf: bool = True
    gyro_bias_rad_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gnss_first_fix_offset_m: tuple[float, float] = (0.0, 0.0)
    gnss_bad_first_fixes: int = 0
    gnss_jumps: tuple[tuple[float, float, float, float], ...] = ()
    gnss_dropouts: tuple[tuple[float, float], ...] = ()
    gnss_decimate: int = 1
    skid_slip: float = 0.0
    imu_time_offset_s: float = 0.0
    gnss_time_offset_s: float = 0.0
    odom_time_offset_s: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "imu_mount_rpy_deg", _floats("imu_mount_rpy_deg", self.imu_mount_rpy_deg, 3))
        set_(self, "gyro_bias_rad_s", _floats("gyro_bias_rad_s", self.gyro_bias_rad_s, 3))
        offset = _floats("gnss_first_fix_offset_m", self.gnss_first_fix_offset_m, 2)
        set_(self, "gnss_first_fix_offset_m", offset)
        jumps = tuple(_floats("gnss_jumps[]", j, 4) for j in self.gnss_jumps)
        set_(self, "gnss_jumps", jumps)
        drops = tuple(_floats("gnss_dropouts[]", d, 2) for d in self.gnss_dropouts)
        set_(self, "gnss_dropouts", drops)
        for name in ("gnss_bad_first_fixes", "gnss_decimate"):
            value = getattr(self, name)
            low = 1 if name == "gnss_decimate" else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ScenarioError(f"realism.{name} must be an integer >= {low} (got {value!r})")
        for name in ("skid_slip", "imu_time_offset_s", "gnss_time_offset_s", "odom_time_offset_s"):
            value = _floats(name, [getattr(self, name)], 1)[0]
            if name == "skid_slip" and not 0.0 <= value <= 1.0:
                raise ScenarioError(f"realism.skid_slip must be in [0, 1] (got {value!r})")
            set_(self, name, value)
        if not isinstance(self.imu_on_tf, bool):
            raise ScenarioError(f"realism.imu_on_tf must be true or false (got {self.imu_on_tf!r})")

    @classmethod
    def from_mapping(cls, doc: Any, source: str = "realism") -> Realism:
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise ScenarioError(f"{source}: must be a mapping of realism knobs (got {doc!r})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ScenarioError(
                f"{source}: unknown realism knob(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**doc)

    @classmethod
    def from_file(cls, path: Path) -> Realism:
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: cannot read realism knobs: {exc}") from exc
        return cls.from_mapping(doc, str(path))

    @property
    def active(self) -> bool:
        return self != Realism()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name in ("gnss_jumps", "gnss_dropouts"):
                value = [list(v) for v in value]
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    # ------------------------------------------------------------ applying

    def rig(self, rig: Rig) -> Rig:
        """The rig with the IMU mounted as configured."""
        if self.imu_mount_rpy_deg == (0.0, 0.0, 0.0):
            return rig
        return replace(rig, imu=Mount(rig.imu.frame, rig.imu.xyz, self.imu_mount_rpy_deg))

    def tf_mounts(self, rig: Rig) -> tuple[Mount, ...]:
        """The mounts /tf_static carries."""
        return tuple(m for m in rig.mounts() if self.imu_on_tf or m.frame != rig.imu.frame)

    def imu(self, samples: ImuSamples, rig: Rig) -> ImuSamples:
        gyro = samples.gyro + np.asarray(self.gyro_bias_rad_s)
        accel = samples.accel
        if self.imu_mount_rpy_deg != (0.0, 0.0, 0.0):
            to_imu = Rotation.from_euler("xyz", self.imu_mount_rpy_deg, degrees=True).as_matrix()
            gyro, accel = gyro @ to_imu, accel @ to_imu  # v_imu = R^T v_base, row-wise
        return ImuSamples(samples.steps, gyro, accel)

    def gnss(self, samples: GnssSamples, rng: np.random.Generator) -> GnssSamples:
        """Offsets, jumps and dropouts; a fix not to be written has NaN latitude."""
        n = len(samples.steps)
        t = samples.steps / SIM_HZ
        keep = np.arange(n) % self.gnss_decimate == 0
        for start, duration in self.gnss_dropouts:
            keep &= ~((t >= start) & (t < start + duration))
        offset = np.zeros((n, 2))
        offset[np.flatnonzero(keep)[: self.gnss_bad_first_fixes]] += self.gnss_first_fix_offset_m
        for start, duration, east, north in self.gnss_jumps:
            inside = (t >= start) & (t < start + duration)
            offset[inside] += (east, north)
            offset[inside] += rng.normal(0.0, 0.3, (int(inside.sum()), 2))  # it wanders
        lla = samples.lat_lon_alt.copy()
        if offset.any():
            e, nn, u = pymap3d.geodetic2enu(lla[:, 0], lla[:, 1], lla[:, 2], *ENU_ORIGIN)
            lla = np.column_stack(
                pymap3d.enu2geodetic(e + offset[:, 0], nn + offset[:, 1], u, *ENU_ORIGIN)
            )
        lla[~keep, 0] = np.nan
        return GnssSamples(samples.steps, lla, samples.sigma)

    def odometry(
        self, samples: OdomSamples, true_yaw_rate: np.ndarray, rng: np.random.Generator
    ) -> OdomSamples:
        if self.skid_slip == 0.0:
            return samples
        slip = self.skid_slip * np.abs(true_yaw_rate) * SKID_HALF_TRACK
        moving = samples.speed > 0
        speed = samples.speed + moving * (slip + rng.normal(0.0, 1.0, len(slip)) * slip)
        yaw_rate = samples.yaw_rate * (1.0 + 2.0 * self.skid_slip)
        return OdomSamples(samples.steps, samples.pose, np.maximum(speed, 0.0), yaw_rate)

    def offsets_ns(self) -> tuple[int, int, int]:
        """(imu, gnss, odometry) header-stamp offsets in ns."""
        return tuple(  # type: ignore[return-value]
            round(s * 1e9)
            for s in (self.imu_time_offset_s, self.gnss_time_offset_s, self.odom_time_offset_s)
        )


def realism_rng(seed: int) -> np.random.Generator:
    """The knobs' own random stream: the drive's streams draw exactly what they drew without."""
    return np.random.default_rng([seed, REALISM_STREAM])
