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


def size_jump_cov(det_dims: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """(N, 2, 2) extra centre covariance of boxes ``det_dims`` (N, >=2: length, width) measured
    for tracks whose class's largest footprint is ``limit`` (N, 2). A box ``g`` m longer or
    wider than any road user of that class is the object merged with a neighbour or with fog
    returns, or a one-face cluster grown to a longer class prior: its centre lies anywhere within
    ``g / 2`` of the object's, in any direction (a merged, near-square box has no meaningful
    axes), so ``(g / 2)^2`` is added to both variances. Zero for a box within the footprint."""
    excess = np.maximum(det_dims[:, :2] - limit, 0.0).max(axis=1, initial=0.0)
    return (excess / 2.0)[:, None, None] ** 2 * np.eye(2)
