"""Ego vehicle geometry (base_link at the rear axle centre, as in Autoware)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VehicleShape:
    wheelbase: float = 2.7
    length: float = 4.7
    width: float = 1.85
    rear_overhang: float = 1.0  # base_link to the rear bumper
    max_steer: float = 0.6  # rad

    def __post_init__(self) -> None:
        if min(self.wheelbase, self.length, self.width, self.max_steer) <= 0:
            raise ValueError(f"vehicle dimensions must be > 0: {self}")
        if not 0 <= self.rear_overhang < self.length:
            raise ValueError(f"rear_overhang {self.rear_overhang} must lie in [0, length)")

    @property
    def front(self) -> float:
        """base_link to the front bumper."""
        return self.length - self.rear_overhang

    @property
    def center_offset(self) -> float:
        """base_link to the footprint centre, along x."""
        return 0.5 * self.length - self.rear_overhang
