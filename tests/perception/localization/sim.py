"""A known ego trajectory and the noisy IMU / wheel / GNSS measurements of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import cumulative_trapezoid

NS = 1_000_000_000


@dataclass
class Drive:
    t: np.ndarray  # s, at the IMU rate
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray
    yaw_rate: np.ndarray
    accel: np.ndarray


def s_curve(seconds: float, imu_hz: int = 100, yaw0: float = 0.3) -> Drive:
    t = np.arange(int(seconds * imu_hz) + 1) / imu_hz
    yaw_rate = 0.15 * np.sin(0.2 * t)
    v = 10.0 + 2.0 * np.sin(0.1 * t)
    accel = 0.2 * np.cos(0.1 * t)
    yaw = yaw0 + cumulative_trapezoid(yaw_rate, t, initial=0.0)
    x = cumulative_trapezoid(v * np.cos(yaw), t, initial=0.0)
    y = cumulative_trapezoid(v * np.sin(yaw), t, initial=0.0)
    return Drive(t, x, y, yaw, v, yaw_rate, accel)


def skid_steer(seconds: float, imu_hz: int = 50) -> Drive:
    """A small skid-steer robot: about 1 m/s, turning at up to 1.1 rad/s both ways."""
    t = np.arange(int(seconds * imu_hz) + 1) / imu_hz
    yaw_rate = 0.8 * np.sin(0.25 * t) + 0.3 * np.sign(np.sin(0.07 * t))
    v = 1.2 + 0.4 * np.sin(0.15 * t)
    accel = np.gradient(v, t)
    yaw = 0.3 + cumulative_trapezoid(yaw_rate, t, initial=0.0)
    x = cumulative_trapezoid(v * np.cos(yaw), t, initial=0.0)
    y = cumulative_trapezoid(v * np.sin(yaw), t, initial=0.0)
    return Drive(t, x, y, yaw, v, yaw_rate, accel)


@dataclass
class Noise:
    gyro: float = 0.003  # rad/s per sample
    gyro_bias: float = 0.005  # rad/s
    accel: float = 0.05
    wheel: float = 0.05
    gnss: float = 1.0


def measurements(
    drive: Drive, rng: np.random.Generator, noise: Noise, wheel_every=2, gnss_every=10
):
    """Yields (kind, index, stamp_ns, value) in stamp order; kinds: imu, wheel, gnss."""
    for i, t in enumerate(drive.t):
        stamp = round(t * NS)
        gyro = drive.yaw_rate[i] + noise.gyro_bias + rng.normal(0, noise.gyro)
        yield "imu", i, stamp, (gyro, drive.accel[i] + rng.normal(0, noise.accel))
        if i % wheel_every == 0:
            yield "wheel", i, stamp, drive.v[i] + rng.normal(0, noise.wheel)
        if i % gnss_every == 0:
            yield (
                "gnss",
                i,
                stamp,
                np.array([drive.x[i], drive.y[i]]) + rng.normal(0, noise.gnss, 2),
            )
