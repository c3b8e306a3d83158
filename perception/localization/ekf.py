"""Planar pose EKF: state (x, y, yaw, v, gyro bias) in the map frame.

IMU yaw rate and longitudinal acceleration drive the prediction (as inputs, held between IMU
messages); wheel speed, GNSS position, an AHRS heading and a scan-matched pose are measurements,
each gated by its Mahalanobis distance so that a GNSS multipath jump or a wheel slip is rejected
instead of dragging the pose. The gyro bias is a state: GNSS course, AHRS heading and scan
matching make it observable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from perception.geometry import wrap_angle

X, Y, YAW, V, BIAS = range(5)
NUM_STATES = 5


class Update(enum.Enum):
    ACCEPTED = "accepted"
    OUTLIER = "rejected as an outlier"
    STALE = "older than the filter by more than max_delay_s"
    NOT_INITIALIZED = "filter not initialised yet"


@dataclass
class EkfConfig:
    gyro_noise: float = 0.001  # rad/s/sqrt(Hz): yaw random walk from gyro noise
    accel_noise: float = 0.1  # m/s^2/sqrt(Hz): speed random walk from accelerometer noise
    unknown_accel_noise: float = 1.5  # m/s^2/sqrt(Hz): the same without a forward acceleration
    bias_walk: float = 2e-5  # rad/s/sqrt(s): gyro bias drift
    position_noise: float = 0.01  # m/sqrt(s): model error (slip, bumps)
    initial_bias_std: float = 0.01  # rad/s
    initial_speed_std: float = 0.5  # m/s
    gnss_gate_chi2: float = 13.8  # 99.9 % of a 2-dof chi-square
    pose_gate_chi2: float = 16.3  # 99.9 % of a 3-dof chi-square
    speed_gate_chi2: float = 10.8  # 99.9 % of a 1-dof chi-square
    yaw_gate_chi2: float = 10.8  # 99.9 % of a 1-dof chi-square
    max_delay_s: float = 0.3  # measurements older than the filter by more are dropped
    max_dt_s: float = 0.5  # longer prediction gaps are split into steps of this size


class PoseEkf:
    """The filter; all times are integer nanoseconds of the message stamps."""

    def __init__(self, config: EkfConfig | None = None) -> None:
        self.cfg = config or EkfConfig()
        self.x = np.zeros(NUM_STATES)
        self.p = np.eye(NUM_STATES)
        self.time_ns: int | None = None
        self.yaw_rate = 0.0  # last measured (biased) IMU yaw rate, rad/s
        self.accel = 0.0  # last measured longitudinal acceleration, m/s^2
        self.accel_known = True  # False: no forward axis (a levelled IMU): speed noise grows

    @property
    def initialized(self) -> bool:
        return self.time_ns is not None

    def initialize(
        self,
        stamp_ns: int,
        x: float,
        y: float,
        yaw: float,
        v: float,
        std_xy: float,
        std_yaw: float,
    ) -> None:
        self.x = np.array([x, y, wrap_angle(yaw), v, 0.0])
        self.p = np.diag(
            [
                std_xy**2,
                std_xy**2,
                std_yaw**2,
                self.cfg.initial_speed_std**2,
                self.cfg.initial_bias_std**2,
            ]
        )
        self.time_ns = stamp_ns

    # ------------------------------------------------------------ prediction

    def _predict_step(self, dt: float) -> None:
        c = self.cfg
        _, _, yaw, v, bias = self.x
        omega = self.yaw_rate - bias
        mid = yaw + 0.5 * omega * dt  # midpoint heading: exact for constant turn to 2nd order
        cm, sm = np.cos(mid), np.sin(mid)
        self.x = self.x + np.array([v * cm * dt, v * sm * dt, omega * dt, self.accel * dt, 0.0])
        self.x[YAW] = wrap_angle(self.x[YAW])
        f = np.eye(NUM_STATES)
        f[X, YAW], f[X, V], f[X, BIAS] = -v * sm * dt, cm * dt, 0.5 * v * sm * dt * dt
        f[Y, YAW], f[Y, V], f[Y, BIAS] = v * cm * dt, sm * dt, -0.5 * v * cm * dt * dt
        f[YAW, BIAS] = -dt
        q = (
            np.diag(
                [
                    c.position_noise**2,
                    c.position_noise**2,
                    c.gyro_noise**2,
                    (c.accel_noise if self.accel_known else c.unknown_accel_noise) ** 2,
                    c.bias_walk**2,
                ]
            )
            * dt
        )
        self.p = f @ self.p @ f.T + q

    def predict_to(self, stamp_ns: int) -> None:
        """Advance the state to ``stamp_ns``; earlier stamps leave the state unchanged."""
        if self.time_ns is None or stamp_ns <= self.time_ns:
            return
        dt = (stamp_ns - self.time_ns) * 1e-9
        steps = int(np.ceil(dt / self.cfg.max_dt_s))
        for _ in range(steps):
            self._predict_step(dt / steps)
        self.time_ns = stamp_ns

    def set_imu(
        self, stamp_ns: int, yaw_rate: float, accel: float, accel_known: bool = True
    ) -> Update:
        """Predict to the IMU stamp with the previous inputs, then hold the new ones.
        ``accel_known`` False: no forward acceleration (0 is held, the speed noise grows)."""
        if self.time_ns is not None and stamp_ns < self.time_ns - self.cfg.max_delay_s * 1e9:
            return Update.STALE
        self.predict_to(stamp_ns)
        self.yaw_rate, self.accel = float(yaw_rate), float(accel)
        self.accel_known = accel_known
        return Update.ACCEPTED

    # ------------------------------------------------------------ updates

    def _lag(self, stamp_ns: int) -> float | Update:
        """Seconds the measurement lags the filter (0 after predicting to it), or why it cannot
        be used: NOT_INITIALIZED or STALE."""
        if not self.initialized:
            return Update.NOT_INITIALIZED
        assert self.time_ns is not None
        if stamp_ns >= self.time_ns:
            self.predict_to(stamp_ns)
            return 0.0
        lag = (self.time_ns - stamp_ns) * 1e-9
        return Update.STALE if lag > self.cfg.max_delay_s else lag

    def update_pose(self, stamp_ns: int, pose: np.ndarray, cov: np.ndarray) -> Update:
        """A full planar pose (x, y, yaw) with its 3x3 covariance, e.g. from scan matching.

        A lagging pose is compared with the state back-propagated along the current speed and
        yaw rate.
        """
        lag = self._lag(stamp_ns)
        if isinstance(lag, Update):
            return lag
        _, _, yaw, v, bias = self.x
        heading = np.array([np.cos(yaw), np.sin(yaw)])
        predicted = np.r_[self.x[:2] - v * lag * heading, yaw - (self.yaw_rate - bias) * lag]
        h = np.zeros((3, NUM_STATES))
        h[0, X] = h[1, Y] = h[2, YAW] = 1.0
        h[:2, V] = -lag * heading
        h[:2, YAW] = -v * lag * np.array([-heading[1], heading[0]])
        h[2, BIAS] = lag
        resid = np.asarray(pose, float) - predicted
        resid[2] = wrap_angle(resid[2])
        return self._correct(resid, h, np.asarray(cov, float), self.cfg.pose_gate_chi2)

    def _correct(self, resid: np.ndarray, h: np.ndarray, r: np.ndarray, gate: float) -> Update:
        s = h @ self.p @ h.T + r
        if float(resid @ np.linalg.solve(s, resid)) > gate:
            return Update.OUTLIER
        k = self.p @ h.T @ np.linalg.inv(s)
        self.x = self.x + k @ resid
        self.x[YAW] = wrap_angle(self.x[YAW])
        i_kh = np.eye(NUM_STATES) - k @ h
        self.p = i_kh @ self.p @ i_kh.T + k @ r @ k.T
        return Update.ACCEPTED

    def update_speed(self, stamp_ns: int, speed: float, std: float) -> Update:
        """Wheel odometry: longitudinal speed in m/s."""
        lag = self._lag(stamp_ns)
        if isinstance(lag, Update):
            return lag
        h = np.zeros((1, NUM_STATES))
        h[0, V] = 1.0
        resid = np.array([speed - self.x[V]])
        return self._correct(resid, h, np.array([[std**2]]), self.cfg.speed_gate_chi2)

    def reset_speed(self, speed: float, std: float) -> None:
        """Take ``speed`` as the speed, uncorrelated with the rest (after persistent rejections)."""
        self.x[V] = speed
        self.p[V, :] = 0.0
        self.p[:, V] = 0.0
        self.p[V, V] = std * std

    def update_yaw(self, stamp_ns: int, yaw: float, var: float) -> Update:
        """An absolute heading (an AHRS-type IMU's orientation, in the map frame) in rad."""
        lag = self._lag(stamp_ns)
        if isinstance(lag, Update):
            return lag
        h = np.zeros((1, NUM_STATES))
        h[0, YAW], h[0, BIAS] = 1.0, lag
        predicted = self.x[YAW] - (self.yaw_rate - self.x[BIAS]) * lag
        resid = np.array([wrap_angle(yaw - predicted)])
        return self._correct(resid, h, np.array([[var]]), self.cfg.yaw_gate_chi2)

    def update_position(
        self,
        stamp_ns: int,
        xy: np.ndarray,
        cov: np.ndarray,
        lever_arm: tuple[float, float] = (0.0, 0.0),
    ) -> Update:
        """GNSS: map-frame antenna position (m) with its 2x2 covariance.

        ``lever_arm`` is the antenna's (x, y) in base_link: the fix is of the antenna, not of
        base_link, which is off by up to a metre along the heading otherwise. A fix that lags the
        filter is compared with the position back-propagated along the current heading, so the
        usual tens of milliseconds of receiver latency do not bias it.
        """
        lag = self._lag(stamp_ns)
        if isinstance(lag, Update):
            return lag
        _, _, yaw, v, _ = self.x
        heading = np.array([np.cos(yaw), np.sin(yaw)])
        left = np.array([-heading[1], heading[0]])
        ax, ay = lever_arm
        predicted = self.x[:2] - v * lag * heading + ax * heading + ay * left
        h = np.zeros((2, NUM_STATES))
        h[0, X] = h[1, Y] = 1.0
        h[:, V] = -lag * heading
        h[:, YAW] = -v * lag * left + ax * left - ay * heading
        return self._correct(np.asarray(xy, float) - predicted, h, cov, self.cfg.gnss_gate_chi2)

    # ------------------------------------------------------------ outputs

    @property
    def body_yaw_rate(self) -> float:
        return self.yaw_rate - float(self.x[BIAS])
