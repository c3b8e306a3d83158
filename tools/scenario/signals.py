"""Signalised pedestrian crossings: signal heads, stop lines, fixed-time cycles with offsets.

Each crossing has two groups (one per driving direction), each with one far-side head on a pole
at the kerb and a stop line before the zebra. Both groups of a crossing share one cycle (green,
amber, red; people cross on red), shifted by a random offset per crossing. Vehicles treat a red
stop line (or an amber one they can stop at comfortably) as a standing obstacle (traffic.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.traffic_light import lightmap as lm
from perception.traffic_light.lightmap import LightState
from tools.scenario import road as rd
from tools.scenario.boxes import Boxes, Material

GREEN_S, AMBER_S, RED_S = 14.0, 3.0, 11.0
CYCLE_S = GREEN_S + AMBER_S + RED_S
ZEBRA_HALF = 3.0  # the crossing spans s +- this
STOP_GAP = 1.0  # stop line this far before the zebra
HEAD_AFTER = 1.0  # far-side head this far past the zebra
HEAD_D = 7.8  # lateral offset of the poles (on the sidewalk, by the kerb)
POLE_HEIGHT = 3.0
HEAD_SIZE = (0.3, 0.45, 1.3)  # depth, width, height of the housing
LAMP_RADIUS = 0.15
# Lamp heights above the housing centre, per lit state.
LAMP_Z = {LightState.RED: 0.4, LightState.AMBER: 0.0, LightState.GREEN: -0.4}
# BGR colour of a lit lamp.
LAMP_BGR = {
    LightState.RED: (40, 40, 255),
    LightState.AMBER: (30, 190, 255),
    LightState.GREEN: (150, 255, 60),
}
HOUSING_BGR = (35, 35, 30)
FIRST_AHEAD = (90.0, 150.0)  # the first crossing this far past the ego's start
SPACING = (250.0, 400.0)
SIGNAL_OWNER = 60000  # camera id-buffer owners of heads: SIGNAL_OWNER + head index
COMFORT_DECEL = 2.5  # m/s^2: amber means stop when this suffices


@dataclass(frozen=True)
class Signals:
    crossing_s: np.ndarray  # (K,)
    offset: np.ndarray  # (K,) seconds into the cycle at t = 0

    @property
    def heads(self) -> int:
        return 2 * len(self.crossing_s)

    @property
    def head_crossing(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.crossing_s)), 2)

    @property
    def head_dirn(self) -> np.ndarray:
        """+1: the head controls lanes 0, 1 (increasing s); -1: lanes 2, 3."""
        return np.tile([1.0, -1.0], len(self.crossing_s))

    @property
    def group_id(self) -> np.ndarray:
        """traffic_light_group_id of each head (one head per group)."""
        return np.arange(self.heads, dtype=np.int64) + 1

    def stop_s(self) -> np.ndarray:
        """(H,) arc length of each head's stop line."""
        s = self.crossing_s[self.head_crossing]
        return s - self.head_dirn * (ZEBRA_HALF + STOP_GAP)

    def head_s(self) -> np.ndarray:
        s = self.crossing_s[self.head_crossing]
        return s + self.head_dirn * (ZEBRA_HALF + HEAD_AFTER)

    def states(self, t: float) -> np.ndarray:
        """(H,) LightState of every head at time t."""
        phase = np.mod(t + self.offset, CYCLE_S)[self.head_crossing]
        return np.where(
            phase < GREEN_S,
            LightState.GREEN,
            np.where(phase < GREEN_S + AMBER_S, LightState.AMBER, LightState.RED),
        ).astype(np.int64)

    # -- geometry ---------------------------------------------------------------------------

    def head_boxes(self, road: rd.Road) -> Boxes:
        """The housings (owners SIGNAL_OWNER + head), lamps facing approaching traffic."""
        s, dirn = self.head_s(), self.head_dirn
        n = len(s)
        xy = road.point(s, -dirn * HEAD_D)
        z = POLE_HEIGHT + HEAD_SIZE[2] / 2
        return Boxes(
            center=np.column_stack([xy, np.full(n, z)]),
            size=np.tile(np.array(HEAD_SIZE, np.float64), (n, 1)),
            yaw=self.head_yaw(road),
            color=np.tile(np.array(HOUSING_BGR, np.uint8), (n, 1)),
            material=np.full(n, Material.SIGN, np.int8),
            owner=SIGNAL_OWNER + np.arange(n, dtype=np.int32),
        )

    def head_yaw(self, road: rd.Road) -> np.ndarray:
        """The direction the lamps face: against the traffic they control."""
        h = road.heading_at(self.head_s())
        return np.where(self.head_dirn > 0, h + np.pi, h)

    def pole_boxes(self, road: rd.Road) -> Boxes:
        s, dirn = self.head_s(), self.head_dirn
        n = len(s)
        xy = road.point(s, -dirn * HEAD_D)
        return Boxes(
            center=np.column_stack([xy, np.full(n, POLE_HEIGHT / 2)]),
            size=np.tile([0.15, 0.15, POLE_HEIGHT], (n, 1)),
            yaw=road.heading_at(s),
            color=np.tile(np.array((70, 70, 75), np.uint8), (n, 1)),
            material=np.full(n, Material.POLE, np.int8),
            owner=np.full(n, -1, np.int32),
        )

    def stop_lines(self, road: rd.Road) -> np.ndarray:
        """(H,2,2): each stop line's ends in map (kerb side first)."""
        s, dirn = self.stop_s(), self.head_dirn
        kerb = road.point(s, -dirn * rd.HALF_WIDTH)
        centre = road.point(s, np.zeros_like(s))
        return np.stack([kerb, centre], axis=1)

    def lanes(self) -> np.ndarray:
        """(H,4) lanes each head controls."""
        return (rd.LANE_DIRECTION[None, :] == self.head_dirn[:, None]).astype(bool)

    def ground_quads(self, road: rd.Road, s0: float, s1: float) -> np.ndarray:
        """White quads (Q,4,2) of the stop lines and zebra stripes between s0 and s1."""
        quads = []
        for s in self.crossing_s[(self.crossing_s > s0 - 10) & (self.crossing_s < s1 + 10)]:
            for dirn in (1.0, -1.0):
                stop = s - dirn * (ZEBRA_HALF + STOP_GAP)
                d0, d1 = sorted((0.0, -dirn * rd.HALF_WIDTH))
                quads.append(road.strip_quads(np.array([[stop - 0.2, stop + 0.2]]), d0, d1))
            starts = np.arange(-rd.HALF_WIDTH + 0.25, rd.HALF_WIDTH - 0.5, 1.0)
            for d in starts:
                quads.append(
                    road.strip_quads(
                        np.array([[s - ZEBRA_HALF + 0.3, s + ZEBRA_HALF - 0.3]]), d, d + 0.5
                    )
                )
        return np.concatenate(quads) if quads else np.zeros((0, 4, 2))

    def as_dict(self) -> dict:
        return {
            "cycle_s": {"green": GREEN_S, "amber": AMBER_S, "red": RED_S},
            "crossings": [
                {"s": round(float(s), 2), "offset_s": round(float(o), 2)}
                for s, o in zip(self.crossing_s, self.offset)
            ],
        }


def make_signals(rng: np.random.Generator, start_s: float, road_length: float) -> Signals:
    """Crossings from FIRST_AHEAD past ``start_s`` every SPACING metres; random offsets."""
    s = start_s + rng.uniform(*FIRST_AHEAD)
    out = []
    while s < road_length - 60.0:
        out.append(s)
        s += rng.uniform(*SPACING)
    crossing = np.array(out)
    return Signals(crossing_s=crossing, offset=rng.uniform(0.0, CYCLE_S, len(crossing)))


def light_map_arrays(signals: Signals, road: rd.Road) -> dict[str, np.ndarray]:
    """The map.npz arrays of the light map (perception.traffic_light.lightmap keys)."""
    heads = signals.head_boxes(road)
    return {
        lm.HEAD_XYZ: heads.center.astype(np.float32),
        lm.HEAD_YAW: heads.yaw.astype(np.float32),
        lm.HEAD_SIZE: heads.size.astype(np.float32),
        lm.HEAD_GROUP: signals.group_id,
        lm.STOP_LINE: signals.stop_lines(road).astype(np.float32),
        lm.LANES: signals.lanes(),
    }
