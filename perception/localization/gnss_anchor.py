"""Where GNSS puts the filter: robust initialisation and re-initialisation from runs of fixes.

A dead-reckoning filter (IMU + wheel speed only, started at the origin) gives the relative path
the vehicle drove; each GNSS fix is stored with the point of that path it was taken at. A run of
fixes that agree among themselves about where that path lies in the map (gnss_align) anchors it:

- **initialisation**: the first run spanning ``min_span_m`` with ``min_fixes`` inliers, the bad
  first fix or the 500 m jump among them rejected as outliers;
- **re-initialisation**: when the main filter has rejected every fix for ``reset_after`` fixes
  and ``reset_s`` seconds while those fixes agree among themselves, the filter has diverged (a
  poisoned heading, a long dropout): the run re-anchors it, as a persistent scan-matching
  disagreement does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from perception.localization.ekf import EkfConfig, PoseEkf, V
from perception.localization.gnss_align import Alignment, align

NS = 1_000_000_000
UNKNOWN_SPEED_STD = 100.0  # m/s


@dataclass(frozen=True)
class AnchorConfig:
    tolerance_m: float = 3.0  # a fix this close to the aligned path agrees with the run
    min_span_m: float = 8.0  # path length the aligned fixes must span (heading observability)
    min_fixes: int = 5
    min_inlier_share: float = 0.5
    window_s: float = 30.0  # fixes kept for initialisation
    reset_after: int = 10  # consecutive rejected fixes ...
    reset_s: float = 4.0  # ... over at least this long before a re-initialisation


@dataclass(frozen=True)
class Anchor:
    """The map pose of the dead-reckoned vehicle now, from an alignment."""

    x: float
    y: float
    yaw: float
    alignment: Alignment
    fixes: int


class DeadReckoning:
    """IMU yaw rate + wheel speed only, from (0, 0, 0) at the first input: the relative path."""

    def __init__(self, cfg: EkfConfig) -> None:
        self.ekf = PoseEkf(cfg)

    def _start(self, stamp: int) -> None:
        if not self.ekf.initialized:
            self.ekf.initialize(stamp, 0.0, 0.0, 0.0, 0.0, 1e-3, 1e-3)
            self.ekf.p[V, V] = UNKNOWN_SPEED_STD**2  # the first wheel speed sets it

    def imu(self, stamp: int, yaw_rate: float, accel: float, accel_known: bool = True) -> None:
        self._start(stamp)
        self.ekf.set_imu(stamp, yaw_rate, accel, accel_known)

    def wheel(self, stamp: int, speed: float, std: float) -> None:
        self._start(stamp)
        self.ekf.update_speed(stamp, speed, std)

    def point(self, stamp: int, lever: tuple[float, float]) -> np.ndarray | None:
        """The antenna's position on the path at ``stamp`` (not earlier than the filter)."""
        if not self.ekf.initialized:
            return None
        self.ekf.predict_to(stamp)
        x, y, yaw = self.ekf.x[:3]
        c, s = np.cos(yaw), np.sin(yaw)
        return np.array([x + c * lever[0] - s * lever[1], y + s * lever[0] + c * lever[1]])


class GnssAnchor:
    """Buffers fixes against the dead-reckoned path; proposes an anchor when a run agrees."""

    def __init__(self, cfg: AnchorConfig, dead_reckoning: DeadReckoning) -> None:
        self.cfg = cfg
        self.dr = dead_reckoning
        self.initial: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=400)
        self.rejected: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=200)

    def _record(self, buf: deque, stamp: int, enu: np.ndarray, lever: tuple[float, float]) -> bool:
        point = self.dr.point(stamp, lever)
        if point is None:
            return False
        buf.append((stamp, np.asarray(enu, float), point))
        return True

    def _anchor(self, buf: deque, min_share: float) -> Anchor | None:
        c = self.cfg
        if len(buf) < c.min_fixes:
            return None
        path = np.array([p for _, _, p in buf])
        fixes = np.array([f for _, f, _ in buf])
        found = align(path, fixes, c.tolerance_m, c.min_span_m)
        if found is None:
            return None
        n = int(found.inliers.sum())
        if n < c.min_fixes or n < min_share * len(buf) or found.span_m < c.min_span_m:
            return None
        x, y, yaw = self.dr.ekf.x[:3]
        mx, my = found.apply(np.array([x, y]))
        return Anchor(float(mx), float(my), float(yaw + found.yaw), found, n)

    def initial_fix(self, stamp: int, enu: np.ndarray, lever: tuple[float, float]) -> Anchor | None:
        """A fix before initialisation; the anchor once a consistent run spans enough path."""
        if not self._record(self.initial, stamp, enu, lever):
            return None
        while self.initial and stamp - self.initial[0][0] > self.cfg.window_s * NS:
            self.initial.popleft()
        return self._anchor(self.initial, self.cfg.min_inlier_share)

    def rejected_fix(
        self, stamp: int, enu: np.ndarray, lever: tuple[float, float]
    ) -> Anchor | None:
        """A fix the filter rejected; an anchor when the rejected run is long and consistent."""
        self._record(self.rejected, stamp, enu, lever)
        c = self.cfg
        if len(self.rejected) < c.reset_after:
            return None
        if stamp - self.rejected[0][0] < c.reset_s * NS:
            return None
        return self._anchor(self.rejected, 0.8)

    def accepted_fix(self) -> None:
        self.rejected.clear()

    def reset(self) -> None:
        self.initial.clear()
        self.rejected.clear()
