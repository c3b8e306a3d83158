"""The road: a reference line of straight and curved sections, four lanes, Frenet conversions.

The reference line is the road centre (the yellow line). Lateral offset ``d`` is positive to the
left of the driving direction of increasing ``s``; the ego drives in the right lane (d < 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy.spatial import cKDTree

STEP = 0.5  # sample spacing of the reference line, metres
LANE_WIDTH = 3.5
# Lane centre offsets. Lanes 0, 1 run with increasing s, lanes 2, 3 are oncoming.
LANE_OFFSETS = np.array([-5.25, -1.75, 1.75, 5.25])
LANE_DIRECTION = np.array([1, 1, -1, -1])
EGO_LANE = 0
HALF_WIDTH = 7.0  # kerb line
SIDEWALK = (7.25, 10.5)  # |d| range of the sidewalks
KERB_HEIGHT = 0.15
DASH, DASH_GAP = 3.0, 6.0  # lane divider dashes (at d = +-LANE_WIDTH)
MARKING_HALF_WIDTH = 0.075


class Surface(IntEnum):
    """What the ground is made of; strips are listed in drawing order."""

    SIDEWALK = 0
    ASPHALT = 1
    KERB = 2
    WHITE = 3
    YELLOW = 4


# (surface, d0, d1, height): the continuous strips along the road, in drawing order.
STRIPS: tuple[tuple[Surface, float, float, float], ...] = (
    (Surface.SIDEWALK, -SIDEWALK[1], -SIDEWALK[0], 0.0),
    (Surface.SIDEWALK, SIDEWALK[0], SIDEWALK[1], 0.0),
    (Surface.ASPHALT, -HALF_WIDTH, HALF_WIDTH, 0.0),
    (Surface.KERB, -SIDEWALK[0], -HALF_WIDTH, KERB_HEIGHT),
    (Surface.KERB, HALF_WIDTH, SIDEWALK[0], KERB_HEIGHT),
    (Surface.WHITE, -6.9, -6.75, 0.0),
    (Surface.WHITE, 6.75, 6.9, 0.0),
    (Surface.YELLOW, -0.2, -0.08, 0.0),
    (Surface.YELLOW, 0.08, 0.2, 0.0),
)


@dataclass(frozen=True)
class Road:
    """Reference line sampled every STEP metres: arc length, position, heading, curvature."""

    s: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def _interp(self, s: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.interp(s, self.s, values)

    def point(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> np.ndarray:
        """World xy (..., 2) of Frenet coordinates (s, d)."""
        s = np.asarray(s, dtype=np.float64)
        h = self._interp(s, self.heading)
        x = self._interp(s, self.xy[:, 0]) - np.sin(h) * d
        y = self._interp(s, self.xy[:, 1]) + np.cos(h) * d
        return np.stack([x, y], axis=-1)

    def heading_at(self, s: np.ndarray | float) -> np.ndarray:
        return self._interp(np.asarray(s, dtype=np.float64), self.heading)

    def curvature_at(self, s: np.ndarray | float) -> np.ndarray:
        return self._interp(np.asarray(s, dtype=np.float64), self.curvature)

    def to_frenet(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points (N, 2) onto the reference line: (s, d)."""
        _, idx = self._tree().query(xy)
        base = self.xy[idx]
        h = self.heading[idx]
        rel = xy - base
        along = rel[:, 0] * np.cos(h) + rel[:, 1] * np.sin(h)
        d = -rel[:, 0] * np.sin(h) + rel[:, 1] * np.cos(h)
        return self.s[idx] + along, d

    def _sample(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y, heading of the reference line at s (one search for all three)."""
        s = np.clip(s, 0.0, self.length)
        i = np.minimum((s / STEP).astype(np.int64), len(self.s) - 2)
        f = (s - self.s[i]) / STEP
        xy0, xy1 = self.xy[i], self.xy[i + 1]
        h = self.heading[i] + f * (self.heading[i + 1] - self.heading[i])
        return xy0[:, 0] + f * (xy1[:, 0] - xy0[:, 0]), xy0[:, 1] + f * (xy1[:, 1] - xy0[:, 1]), h

    def to_frenet_near(
        self, xy: np.ndarray, s_guess: float, iterations: int = 2
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like to_frenet, for points near arc length ``s_guess``: a few projection steps on
        the local tangent instead of a tree search (exact on straights, converges on curves)."""
        s = np.full(len(xy), float(s_guess))
        for _ in range(iterations):
            x, y, h = self._sample(s)
            c, sn = np.cos(h), np.sin(h)
            rx, ry = xy[:, 0] - x, xy[:, 1] - y
            d = -rx * sn + ry * c
            # Newton step: at lateral offset d the line's arc runs (1 - curvature * d) as fast.
            scale = np.clip(1.0 - self.curvature_at(s) * d, 0.2, None)
            s = np.clip(s + (rx * c + ry * sn) / scale, 0.0, self.length)
        x, y, h = self._sample(s)
        rx, ry = xy[:, 0] - x, xy[:, 1] - y
        return s, -rx * np.sin(h) + ry * np.cos(h)

    def _tree(self) -> cKDTree:
        tree = self.__dict__.get("_kdtree")
        if tree is None:
            tree = cKDTree(self.xy)
            object.__setattr__(self, "_kdtree", tree)
        return tree

    def strip_quads(self, s: np.ndarray, d0: float, d1: float) -> np.ndarray:
        """World quads (n,4,2) between lateral offsets d0..d1: over consecutive samples of a
        1-D ``s``, or over explicit [start, end] rows of an (n,2) ``s``."""
        if s.ndim == 1:
            s = np.stack([s[:-1], s[1:]], axis=1)
        left, right = self.point(s, d1), self.point(s, d0)
        return np.stack([right[:, 0], right[:, 1], left[:, 1], left[:, 0]], axis=1)

    def surface_quads(
        self, s0: float, s1: float, step: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground quads between arc lengths s0..s1: (quads (Q,4,2), heights (Q,), surfaces (Q,)).

        ``step`` is a spacing or the explicit sample offsets from s0 (finer near a camera)."""
        s = s0 + step if isinstance(step, np.ndarray) else np.arange(s0, s1, step)
        s = s[(s >= 0) & (s <= min(s1, self.length))]
        quads, height, surface = [], [], []
        if len(s) >= 2:
            for kind, d0, d1, z in STRIPS:
                quads.append(self.strip_quads(s, d0, d1))
                height.append(np.full(len(s) - 1, z))
                surface.append(np.full(len(s) - 1, kind))
        period = DASH + DASH_GAP
        dash0 = np.arange(
            np.floor(max(s0, 0.0) / period) * period, min(s1, self.length - DASH), period
        )
        if len(dash0):
            ends = np.stack([dash0, dash0 + DASH], axis=1)
            for d in (-LANE_WIDTH, LANE_WIDTH):
                quads.append(self.strip_quads(ends, d - MARKING_HALF_WIDTH, d + MARKING_HALF_WIDTH))
                height.append(np.zeros(len(dash0)))
                surface.append(np.full(len(dash0), Surface.WHITE))
        if not quads:
            return np.zeros((0, 4, 2)), np.zeros(0), np.zeros(0, int)
        return np.concatenate(quads), np.concatenate(height), np.concatenate(surface)

    def lane_centerlines(self) -> np.ndarray:
        """(lanes, samples, 2) polylines of every lane centre."""
        return np.stack([self.point(self.s, d) for d in LANE_OFFSETS])


def _sections(rng: np.random.Generator, length: float) -> list[tuple[float, float]]:
    """(length, curvature) pairs: a straight start, then alternating curves and straights."""
    sections = [(150.0, 0.0)]
    total = 150.0
    while total < length:
        radius = rng.uniform(150.0, 400.0)
        angle = np.radians(rng.uniform(15.0, 50.0))
        sign = rng.choice([-1.0, 1.0])
        straight = rng.uniform(80.0, 250.0)
        sections += [(radius * angle, sign / radius), (straight, 0.0)]
        total += radius * angle + straight
    return sections


def make_road(rng: np.random.Generator, length: float) -> Road:
    """A road at least ``length`` metres long starting at the map origin heading east."""
    curv = np.concatenate(
        [np.full(max(1, round(n / STEP)), k) for n, k in _sections(rng, length + 50.0)]
    )
    heading = np.concatenate([[0.0], np.cumsum(curv * STEP)])
    mid = 0.5 * (heading[1:] + heading[:-1])
    steps = STEP * np.stack([np.cos(mid), np.sin(mid)], axis=1)
    xy = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    s = np.arange(len(heading)) * STEP
    curvature = np.concatenate([curv, curv[-1:]])
    return Road(s=s, xy=xy, heading=heading, curvature=curvature)
