"""Longitudinal motion: a speed-limit profile along the lane and a jerk-limited IDM rollout.

The Intelligent Driver Model gives one smooth law for cruising, following a lead vehicle and
stopping behind a standing obstacle or at a stop point; accelerations are then clipped to the
comfort limits and rate-limited by the jerk limit (relaxed to the emergency limits only when the
model asks for more than comfortable braking).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from stack.params import at_least, positive


@dataclass
class LongitudinalConfig:
    max_accel: float = 1.5  # m/s^2
    comfort_decel: float = 2.5  # m/s^2 (IDM b)
    emergency_decel: float = 6.0  # m/s^2
    max_jerk: float = 2.0  # m/s^3
    emergency_jerk: float = 15.0  # m/s^3
    time_gap: float = 1.5  # s, to a lead vehicle
    # s, to a stop limit (where a braking lead could stop, where a crossing person would be
    # met). With the full time_gap the ego brakes early and creeps up to it for seconds, a plan
    # a car close behind would run into; 0 leaves no slack for a lead whose braking the tracker
    # has not fully seen yet (on scenario seeds 1001-1005 any value in 0..1 s kept plans 1 m
    # clear of both; 1.2 s did not).
    limit_time_gap: float = 0.8
    min_gap: float = 4.0  # m, bumper to bumper when stopped behind a vehicle
    stop_margin: float = 2.0  # m, front bumper to a stop point or crossing object
    delta: float = 4.0  # IDM free-road exponent
    max_lateral_accel: float = 2.0  # m/s^2, for the curve speed limit

    def __post_init__(self) -> None:
        for name in ("max_accel", "comfort_decel", "emergency_decel", "max_jerk", "emergency_jerk"):
            positive(name, getattr(self, name))
        at_least("emergency_decel", self.emergency_decel, self.comfort_decel)


@dataclass(frozen=True)
class Obstacle:
    """Something to stay behind: its rear at lane arc length ``s`` now, moving at ``v`` along."""

    s: float
    v: float
    gap: float  # standstill distance to keep from it
    # Time gap (s) to keep at speed; None: the config's (for a vehicle to follow). A stop point
    # that bounds a worst case is a limit to stop at: a short time gap (limit_time_gap) brakes
    # for it later instead of creeping up to it.
    time_gap: float | None = None
    # A doubtful one (a track below the planner's existence level) is braked for at most at
    # comfort deceleration: it may slow the ego down, never make it brake hard.
    firm: bool = True


@dataclass(frozen=True)
class Profile:
    """The ego's planned longitudinal motion (base_link arc length) on a time grid."""

    t: np.ndarray
    s: np.ndarray
    v: np.ndarray
    a: np.ndarray


def speed_limit_profile(
    s_grid: np.ndarray, limit: float, curvature: np.ndarray, cfg: LongitudinalConfig
) -> np.ndarray:
    """Allowed speed along ``s_grid``: the legal limit, the curve limit, and braking at comfort
    deceleration ahead of each lower limit (a backward pass)."""
    v = np.minimum(limit, np.sqrt(cfg.max_lateral_accel / np.maximum(np.abs(curvature), 1e-6)))
    ds = np.diff(s_grid)
    for i in range(len(v) - 2, -1, -1):
        v[i] = min(v[i], np.sqrt(v[i + 1] ** 2 + 2.0 * cfg.comfort_decel * ds[i]))
    return v


def rollout(
    s0: float,
    v0: float,
    a0: float,
    front: float,
    limit_s: np.ndarray,
    limit_v: np.ndarray,
    obstacles: list[Obstacle],
    times: np.ndarray,
    cfg: LongitudinalConfig,
) -> Profile:
    """Simulate the ego along the lane over ``times`` (starting at 0, uniform step).

    ``front``: base_link to front bumper; ``limit_s``/``limit_v``: the speed-limit profile.
    Obstacles whose rear is already behind base_link are not braked for.
    """
    dt = float(times[1] - times[0]) if len(times) > 1 else 0.1
    obs = _binding(obstacles, cfg.time_gap, float(s0) + front)
    limit_s_list, limit_v_list = limit_s.tolist(), limit_v.tolist()
    n = len(times)
    s_out, v_out, a_out = [0.0] * n, [0.0] * n, [0.0] * n
    s, v, a_prev = float(s0), max(float(v0), 0.0), float(a0)
    # The IDM law against every obstacle ahead, in scalar Python on purpose: with a handful of
    # obstacles it beats numpy's per-call overhead tenfold, and inlined it halves the rollout.
    brake_term = 2.0 * math.sqrt(cfg.max_accel * cfg.comfort_decel)
    for k in range(n):
        t = k * dt
        v_free = _interp(s, limit_s_list, limit_v_list)
        free = 1.0 - (v / max(v_free, 0.1)) ** cfg.delta if v_free > 0.0 else -1.0
        s_front, worst, worst_firm = s + front, 0.0, 0.0
        for obs_s, obs_v, obs_gap, time_gap, firm in obs:
            obs_now = obs_s + obs_v * t
            if obs_now > s:  # obstacles whose rear is behind base_link are not braked for
                desired = obs_gap + max(0.0, v * time_gap + v * (v - obs_v) / brake_term)
                term = (desired / max(obs_now - s_front, 0.1)) ** 2
                worst = max(worst, term)
                if firm:
                    worst_firm = max(worst_firm, term)
        want = cfg.max_accel * (free - worst)
        emergency = cfg.max_accel * (free - worst_firm) < -cfg.comfort_decel
        jerk = cfg.emergency_jerk if emergency else cfg.max_jerk
        lo = -cfg.emergency_decel if emergency else -cfg.comfort_decel
        acc = min(max(want, lo, a_prev - jerk * dt), cfg.max_accel, a_prev + jerk * dt)
        if v <= 0.0 and acc < 0.0:
            acc = 0.0  # standing still: no reversing
        s_out[k], v_out[k], a_out[k], a_prev = s, v, acc, acc
        v_next = v + acc * dt
        if v_next < 0.0:  # stops within the step
            s, v = s + 0.5 * v * (v / -acc), 0.0
        else:
            s, v = s + 0.5 * (v + v_next) * dt, v_next
    return Profile(np.asarray(times, float), np.array(s_out), np.array(v_out), np.array(a_out))


def _binding(
    obstacles: list[Obstacle], time_gap: float, s_front: float
) -> list[tuple[float, float, float, float, bool]]:
    """The obstacles that can limit the ego (front bumper at ``s_front``), as (s, v, gap, time
    gap, firm): sorted by distance, each slower than every nearer one (a farther, faster obstacle is
    always shielded by a nearer, slower one). Only an obstacle ahead of the front bumper
    shields: the rollout stops braking for one once base_link passes its rear, and a standing
    one overlapping the ego (a track on its flank in fog) used to drop every stop ahead, a red
    light's line included, and then let the ego speed up. Nor does a standing one shield a
    farther standing one: an emergency rollout that cannot stop short of a conflict's stop
    point passes it, and then forgot the red line behind it and sped up across it (seed 1005
    in fog, 2 plans)."""
    kept: list[tuple[float, float, float, float, bool]] = []
    slowest = math.inf
    for o in sorted(obstacles, key=lambda o: o.s):
        if o.v < slowest or o.v <= 0.0:
            tg = time_gap if o.time_gap is None else o.time_gap
            kept.append((o.s, o.v, o.gap, tg, o.firm))
            if o.s > s_front and o.firm:  # a doubtful obstacle shields nothing
                slowest = o.v
    return kept


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    i = bisect.bisect_right(xs, x)
    if i <= 0:
        return ys[0]
    if i >= len(xs):
        return ys[-1]
    x0, x1 = xs[i - 1], xs[i]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)
