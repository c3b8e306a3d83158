"""How each weather looks to the camera: colours, light, fog, noise, rain."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tools.scenario.config import Weather

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    sky_top: BGR
    sky_horizon: BGR
    asphalt: BGR
    sidewalk: BGR
    grass: BGR
    white: BGR
    yellow: BGR
    fog: BGR
    visibility: float  # metres; the distance at which 63 % of the colour is fog
    ambient: float
    sun: float  # strength of directional light
    headlights: bool
    noise: float  # sensor noise sigma in grey levels
    rain: bool = False


LOOKS: dict[Weather, Look] = {
    Weather.DAY: Look(
        (235, 185, 130), (250, 225, 200), (88, 86, 84), (160, 160, 156), (70, 135, 85),
        (235, 235, 235), (40, 190, 235), (240, 230, 220), 2500.0, 0.6, 0.45, False, 1.5,
    ),
    Weather.NIGHT: Look(
        (25, 12, 8), (55, 40, 35), (70, 68, 66), (110, 110, 108), (40, 70, 45),
        (225, 225, 225), (40, 170, 215), (30, 25, 22), math.inf, 0.1, 0.0, True, 5.0,
    ),
    Weather.FOG: Look(
        (205, 205, 200), (215, 215, 212), (95, 93, 92), (160, 160, 156), (85, 130, 95),
        (225, 225, 225), (50, 180, 220), (212, 212, 210), 55.0, 0.75, 0.2, False, 2.0,
    ),
    Weather.RAIN: Look(
        (150, 145, 140), (175, 172, 170), (62, 60, 59), (120, 120, 118), (55, 105, 65),
        (205, 205, 205), (40, 160, 200), (165, 162, 160), 220.0, 0.7, 0.15, False, 3.0, True,
    ),
}  # fmt: skip
