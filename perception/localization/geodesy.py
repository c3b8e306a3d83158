"""WGS84 geodetic <-> local East-North-Up tangent plane (via ECEF).

A flat-earth approximation (metres per degree) is off by decimetres a few kilometres from the
origin; the exact ECEF rotation costs the same and is right everywhere near the origin.
"""

from __future__ import annotations

import numpy as np

from perception.errors import PerceptionError

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def geodetic_to_ecef(lat_deg, lon_deg, alt_m) -> np.ndarray:
    """(..., 3) Earth-centred, Earth-fixed coordinates of WGS84 latitude, longitude, height."""
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    sin_lat = np.sin(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat**2)
    return np.stack(
        [
            (n + alt_m) * np.cos(lat) * np.cos(lon),
            (n + alt_m) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - WGS84_E2) + alt_m) * sin_lat,
        ],
        axis=-1,
    )


def ecef_to_geodetic(ecef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat_deg, lon_deg, alt_m) of ECEF points; fixed-point iteration (sub-mm off the poles)."""
    x, y, z = ecef[..., 0], ecef[..., 1], ecef[..., 2]
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - WGS84_E2))
    alt = np.zeros_like(p)
    for _ in range(6):
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        alt = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + alt)))
    return np.rad2deg(lat), np.rad2deg(lon), alt


class LocalTangentPlane:
    """ENU coordinates (metres) around a fixed geodetic origin."""

    def __init__(self, lat0_deg: float, lon0_deg: float, alt0_m: float = 0.0) -> None:
        if not (-90.0 < lat0_deg < 90.0) or not (-180.0 <= lon0_deg <= 180.0):
            raise PerceptionError(
                f"origin latitude {lat0_deg} / longitude {lon0_deg} out of range "
                "(latitude in (-90, 90), longitude in [-180, 180])"
            )
        self.origin = (float(lat0_deg), float(lon0_deg), float(alt0_m))
        self._ecef0 = geodetic_to_ecef(lat0_deg, lon0_deg, alt0_m)
        lat, lon = np.deg2rad(lat0_deg), np.deg2rad(lon0_deg)
        sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
        # Rows: east, north, up unit vectors in ECEF.
        self._rot = np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])

    def to_enu(self, lat_deg, lon_deg, alt_m=0.0) -> np.ndarray:
        """(..., 3) east, north, up of geodetic points."""
        return (geodetic_to_ecef(lat_deg, lon_deg, alt_m) - self._ecef0) @ self._rot.T

    def to_geodetic(self, enu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat_deg, lon_deg, alt_m) of (..., 3) ENU points."""
        return ecef_to_geodetic(np.asarray(enu, float) @ self._rot + self._ecef0)
