"""Largest footprint (length, width in m) of a road user of each class.

A track's extent is clipped to its class's, as Autoware's shape estimation corrects boxes by
class. A larger box is the object merged with spray or fog returns near the sensor: in rain
(seed 1004) a person at the kerb grew to 2.2 x 1.1 m and reached into the ego's corridor, a car
passing 3.5 m to the left to 3.4-3.7 m wide. Widths: the legal limit of road vehicles (EU
2.55 m, US 2.6 m); lengths: an articulated truck (18.75 m).
"""

from __future__ import annotations

import numpy as np

from perception.objects import NUM_LABELS, Label
from stack.params import fail, positive, require

MAX_FOOTPRINT = {
    "UNKNOWN": [18.75, 2.6],
    "CAR": [6.0, 2.2],
    "TRUCK": [18.75, 2.6],
    "BUS": [18.75, 2.6],
    "TRAILER": [18.75, 2.6],
    "MOTORCYCLE": [2.6, 1.2],
    "BICYCLE": [2.2, 1.0],
    "PEDESTRIAN": [1.0, 1.0],
}


def default_footprint() -> dict[str, list[float]]:
    """A copy of MAX_FOOTPRINT (a config's own, to change freely)."""
    return {name: list(size) for name, size in MAX_FOOTPRINT.items()}


def footprint_table(max_footprint: dict[str, list[float]]) -> np.ndarray:
    """(NUM_LABELS, 2) largest length and width per label (inf where not given); ParamError
    naming the key for an unknown label or a size that is not two positive numbers."""
    table = np.full((NUM_LABELS, 2), np.inf)
    for name, size in max_footprint.items():
        if name not in Label.__members__:
            fail("max_footprint", name, f"keys must be labels {list(Label.__members__)}")
        require(len(size) == 2, f"max_footprint.{name}", size, "must be [length, width] (m)")
        for v in size:
            positive(f"max_footprint.{name}", v)
        table[Label[name]] = size
    return table


def clip(dims: np.ndarray, label: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``dims`` (N, 3) with length and width clipped to each ``label``'s largest footprint."""
    out = dims.copy()
    out[:, :2] = np.minimum(out[:, :2], table[label])
    return out


# m: a box up to this much longer or wider than its track is ordinary box noise (a turning car,
# a pedestrian's swinging arms); only the excess counts as a size jump. Fog merges add metres.
SIZE_JUMP_TOLERANCE = 1.0


def size_jump_cov(
    track_dims: np.ndarray, track_yaw: np.ndarray, det_dims: np.ndarray, det_yaw: np.ndarray
) -> np.ndarray:
    """(N, 2, 2) extra centre covariance of boxes ``det_dims`` (N, >=2; yaw ``det_yaw``) that
    reach beyond their tracks' footprints ``track_dims`` (yaw ``track_yaw``). The box's extent is
    taken along the track's axes (a near-square merged box has no meaningful yaw of its own); a
    box ``g`` m longer (or wider) than the track there beyond SIZE_JUMP_TOLERANCE -- merged with
    a neighbour, or a one-face cluster grown to a longer class prior -- has its centre anywhere
    within ``g / 2`` of the object's, so the variance along that axis grows by ``(g / 2)^2``.
    Zero where the box is no larger than the track plus the tolerance."""
    d = det_yaw - track_yaw
    c, s = np.abs(np.cos(d)), np.abs(np.sin(d))
    along = c * det_dims[:, 0] + s * det_dims[:, 1]
    across = s * det_dims[:, 0] + c * det_dims[:, 1]
    excess = np.column_stack([along, across]) - track_dims[:, :2] - SIZE_JUMP_TOLERANCE
    grow = np.maximum(excess, 0.0) / 2.0
    c, s = np.cos(track_yaw), np.sin(track_yaw)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
    return (rot * grow[:, None, :] ** 2) @ np.swapaxes(rot, -1, -2)
