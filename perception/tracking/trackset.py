"""The tracker's live tracks as parallel arrays (one row per track): Kalman state and covariance,
extent, class evidence, bookkeeping (hits, misses, confirmation), ids and existence."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from perception.objects import NUM_LABELS
from perception.tracking import kalman


@dataclass
class TrackSet:
    """All live tracks as parallel arrays."""

    x: np.ndarray  # (N, D) x, y, vx, vy (D = 4), then ax, ay (D = 6)
    p: np.ndarray  # (N, D, D)
    z: np.ndarray  # (N,) box centre height
    yaw: np.ndarray  # (N,)
    dims: np.ndarray  # (N, 3)
    class_evidence: np.ndarray  # (N, NUM_LABELS)
    hits: np.ndarray  # (N,)
    misses: np.ndarray  # (N,) consecutive
    confirmed: np.ndarray  # (N,) bool
    uuid: np.ndarray  # (N, 16) uint8
    # (N,) bool: the last update broke a vehicle limit (velocity constrained, or a box refused by
    # the turn-rate gate), so the velocity is doubtful and is damped while the track coasts.
    doubtful: np.ndarray
    existence: np.ndarray  # (N,) probability that the track follows a real object
    # (N,) body axis (mod pi) smoothed over the vehicle boxes whose yaw means one; NaN until the
    # first such box (see vehicle_motion.smooth_axis)
    axis: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def empty(cls, dim: int = kalman.CV_DIM) -> TrackSet:
        return cls(
            np.zeros((0, dim)),
            np.zeros((0, dim, dim)),
            np.zeros(0),
            np.zeros(0),
            np.zeros((0, 3)),
            np.zeros((0, NUM_LABELS)),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, bool),
            np.zeros((0, 16), np.uint8),
            np.zeros(0, bool),
            np.zeros(0),
            np.zeros(0),
        )

    def select(self, index: np.ndarray) -> TrackSet:
        return TrackSet(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(a: TrackSet, b: TrackSet) -> TrackSet:
        return TrackSet(
            **{
                f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)])
                for f in dataclasses.fields(a)
            }
        )
