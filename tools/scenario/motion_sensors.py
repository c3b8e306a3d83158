"""IMU, GNSS and wheel odometry sampled from the ego ground truth, with noise and biases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymap3d

from tools.scenario.config import ENU_ORIGIN, GNSS_HZ, IMU_HZ, ODOM_HZ, SIM_HZ, Rig
from tools.scenario.traffic import Trajectories

GRAVITY = 9.80665
GYRO_NOISE, GYRO_BIAS = 0.004, 0.002  # rad/s
ACCEL_NOISE, ACCEL_BIAS = 0.05, 0.03  # m/s^2
GNSS_WHITE, GNSS_BIAS, GNSS_TAU = 0.5, 0.8, 30.0  # m, m, s (Gauss-Markov bias)
GNSS_VERTICAL = 1.5
WHEEL_NOISE, WHEEL_SCALE = 0.03, 0.01  # m/s, relative scale error
YAW_RATE_NOISE = 0.005


@dataclass(frozen=True)
class ImuSamples:
    steps: np.ndarray
    gyro: np.ndarray  # (n,3) rad/s in imu_link
    accel: np.ndarray  # (n,3) m/s^2 in imu_link, gravity included


@dataclass(frozen=True)
class GnssSamples:
    steps: np.ndarray
    lat_lon_alt: np.ndarray  # (n,3)
    sigma: tuple[float, float, float]


@dataclass(frozen=True)
class OdomSamples:
    steps: np.ndarray
    pose: np.ndarray  # (n,3) x, y, yaw in odom (dead reckoning from the start)
    speed: np.ndarray
    yaw_rate: np.ndarray


def imu(traj: Trajectories, rng: np.random.Generator) -> ImuSamples:
    steps = np.arange(0, traj.steps, SIM_HZ // IMU_HZ)
    n = len(steps)
    v, w, a = traj.ego_speed[steps], traj.ego_yaw_rate[steps], traj.ego_accel[steps]
    gyro = np.column_stack([np.zeros(n), np.zeros(n), w])
    accel = np.column_stack([a, v * w, np.full(n, GRAVITY)])
    gyro += rng.normal(0.0, GYRO_BIAS, 3) + rng.normal(0.0, GYRO_NOISE, (n, 3))
    accel += rng.normal(0.0, ACCEL_BIAS, 3) + rng.normal(0.0, ACCEL_NOISE, (n, 3))
    return ImuSamples(steps, gyro, accel)


def _gauss_markov(
    rng: np.random.Generator, n: int, sigma: float, tau: float, dt: float
) -> np.ndarray:
    phi = np.exp(-dt / tau)
    drive = rng.normal(0.0, sigma * np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    state = rng.normal(0.0, sigma)
    for i in range(n):  # a scalar recursion at 10 Hz: a few thousand steps at most
        state = phi * state + drive[i]
        out[i] = state
    return out


def gnss(traj: Trajectories, rig: Rig, rng: np.random.Generator) -> GnssSamples:
    steps = np.arange(0, traj.steps, SIM_HZ // GNSS_HZ)
    n = len(steps)
    yaw = traj.ego_yaw[steps]
    ax, ay, az = rig.gnss.xyz
    east = traj.ego_xy[steps, 0] + np.cos(yaw) * ax - np.sin(yaw) * ay
    north = traj.ego_xy[steps, 1] + np.sin(yaw) * ax + np.cos(yaw) * ay
    dt = 1.0 / GNSS_HZ
    east = east + _gauss_markov(rng, n, GNSS_BIAS, GNSS_TAU, dt) + rng.normal(0, GNSS_WHITE, n)
    north = north + _gauss_markov(rng, n, GNSS_BIAS, GNSS_TAU, dt) + rng.normal(0, GNSS_WHITE, n)
    up = az + rng.normal(0.0, GNSS_VERTICAL, n)
    lat, lon, alt = pymap3d.enu2geodetic(east, north, up, *ENU_ORIGIN)
    horizontal = float(np.hypot(GNSS_BIAS, GNSS_WHITE))
    return GnssSamples(
        steps, np.column_stack([lat, lon, alt]), (horizontal, horizontal, GNSS_VERTICAL)
    )


def odometry(traj: Trajectories, rng: np.random.Generator) -> OdomSamples:
    steps = np.arange(0, traj.steps, SIM_HZ // ODOM_HZ)
    n = len(steps)
    scale = 1.0 + rng.normal(0.0, WHEEL_SCALE)
    speed = np.maximum(0.0, traj.ego_speed[steps] * scale + rng.normal(0.0, WHEEL_NOISE, n))
    speed[traj.ego_speed[steps] < 1e-3] = 0.0  # wheel encoders read zero at standstill
    yaw_rate = traj.ego_yaw_rate[steps] + rng.normal(0.0, YAW_RATE_NOISE, n)
    dt = 1.0 / ODOM_HZ
    yaw = np.concatenate([[0.0], np.cumsum(yaw_rate[:-1] * dt)])
    mid = yaw + 0.5 * yaw_rate * dt
    dx = np.concatenate([[0.0], (speed * np.cos(mid) * dt)[:-1]])
    dy = np.concatenate([[0.0], (speed * np.sin(mid) * dt)[:-1]])
    pose = np.column_stack([np.cumsum(dx), np.cumsum(dy), np.angle(np.exp(1j * yaw))])
    return OdomSamples(steps, pose, speed, yaw_rate)
