"""Weak near returns: fog and rain backscatter, dropped before clustering.

Droplets return a little of a pulse close to the sensor, far weaker than any surface (Autoware's
pointcloud_preprocessor drops them in its dual-return and ring outlier filters, by intensity and
distance). Left in, a few of them beside a car ahead join its cluster: its near face moves
towards the sensor, so its box -- grown away from the sensor to the car's length -- sits a metre
short, and its height reaches 2-3 m, so a car becomes a "truck" grown to 8.5 m. The tracker then
reads a lead car that is speeding up as braking (seed 1005 in fog).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stack.params import non_negative


@dataclass
class WeakReturnFilter:
    # Returns below this intensity are backscatter (0: keep all). The sensor's noise floor: the
    # simulated lidar's droplet returns read 1-8, its weakest surface (asphalt) 9.6.
    min_intensity: float = 0.0
    max_range: float = 15.0  # m from the sensor: a farther weak return is a dark surface

    def __post_init__(self) -> None:
        non_negative("weak_returns.min_intensity", self.min_intensity)
        non_negative("weak_returns.max_range", self.max_range)

    @property
    def enabled(self) -> bool:
        return self.min_intensity > 0.0

    def keep(self, points: np.ndarray) -> np.ndarray:
        """Mask of the rows of ``points`` (N, 4: x, y, z, intensity in the sensor frame) that
        are not weak near returns."""
        rng = np.linalg.norm(points[:, :3], axis=1)
        return (points[:, 3] >= self.min_intensity) | (rng > self.max_range)
