from __future__ import annotations

import numpy as np
import pytest

from perception.localization.geodesy import LocalTangentPlane, ecef_to_geodetic, geodetic_to_ecef

MUNICH = (48.1351, 11.5820, 520.0)


def test_ecef_of_known_points():
    assert np.allclose(geodetic_to_ecef(0.0, 0.0, 0.0), [6378137.0, 0.0, 0.0])
    assert np.allclose(geodetic_to_ecef(0.0, 90.0, 100.0), [0.0, 6378237.0, 0.0], atol=1e-6)
    # The WGS84 polar radius b = a (1 - f).
    assert geodetic_to_ecef(90.0, 0.0, 0.0)[2] == pytest.approx(6356752.314245, abs=1e-3)


def test_geodetic_round_trip_is_sub_millimetre():
    lat, lon, alt = (
        np.array([48.1, -33.9, 0.5]),
        np.array([11.5, 151.2, -70.0]),
        np.array([0, 50, 3e3]),
    )
    back = ecef_to_geodetic(geodetic_to_ecef(lat, lon, alt))
    assert np.allclose(back[0], lat, atol=1e-9) and np.allclose(back[1], lon, atol=1e-9)
    assert np.allclose(back[2], alt, atol=1e-3)


def test_enu_axes_and_scale_near_the_origin():
    plane = LocalTangentPlane(*MUNICH)
    assert np.allclose(plane.to_enu(*MUNICH), 0.0, atol=1e-6)
    sea_level = LocalTangentPlane(MUNICH[0], MUNICH[1], 0.0)
    north = sea_level.to_enu(MUNICH[0] + 0.001, MUNICH[1], 0.0)
    east = sea_level.to_enu(MUNICH[0], MUNICH[1] + 0.001, 0.0)
    # WGS84 meridian and parallel arc lengths of 0.001 degree at 48.1351 N.
    assert north[1] == pytest.approx(111.193, abs=0.005) and abs(north[0]) < 1e-6
    assert east[0] == pytest.approx(74.430, abs=0.005) and abs(east[1]) < 0.01
    assert abs(north[2]) < 0.01  # 111 m away the earth drops by ~1 mm


def test_enu_geodetic_round_trip_over_kilometres():
    plane = LocalTangentPlane(*MUNICH)
    enu = np.array([[1500.0, -2300.0, 4.0], [-50.0, 10.0, 0.0]])
    assert np.allclose(plane.to_enu(*plane.to_geodetic(enu)), enu, atol=1e-4)


def test_origin_is_validated():
    with pytest.raises(ValueError, match="latitude 95"):
        LocalTangentPlane(95.0, 0.0)


def test_agrees_with_pymap3d_where_installed():
    pymap3d = pytest.importorskip("pymap3d")
    plane = LocalTangentPlane(*MUNICH)
    enu = np.array([[1234.5, -987.6, 12.0], [-20.0, 35.0, -1.0]])
    lat, lon, alt = pymap3d.enu2geodetic(enu[:, 0], enu[:, 1], enu[:, 2], *MUNICH)
    assert np.allclose(plane.to_enu(lat, lon, alt), enu, atol=1e-6)
