from __future__ import annotations

import numpy as np
import pytest

from perception.map_roi import RoadRoi


def test_points_near_any_polyline_are_inside(tmp_path):
    road = np.column_stack([np.arange(0.0, 100.0, 5.0), np.zeros(20)])
    path = tmp_path / "map.npz"
    lanes = np.stack([road + np.array([0.0, 30.0])])
    np.savez(path, lane_centerlines=lanes)
    roi = RoadRoi.from_map(path, max_offset=5.0)
    inside = roi.contains(np.array([[50.0, 34.9], [50.0, 35.5], [2.5, 27.0], [50.0, 0.0]]))
    assert list(inside) == [True, False, True, False]
    # With a road centre line, the offset is measured from it alone.
    np.savez(path, centerline=road, lane_centerlines=lanes)
    inside = RoadRoi.from_map(path, max_offset=5.0).contains(np.array([[50.0, 4.9], [50.0, 30.0]]))
    assert list(inside) == [True, False]
    assert len(roi.contains(np.zeros((0, 2)))) == 0


def test_bad_maps_are_named(tmp_path):
    np.savez(tmp_path / "m.npz", points=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no 'centerline'"):
        RoadRoi.from_map(tmp_path / "m.npz", 5.0)
    with pytest.raises(ValueError, match="cannot read map"):
        RoadRoi.from_map(tmp_path / "missing.npz", 5.0)
    with pytest.raises(ValueError, match="max_offset"):
        RoadRoi([np.zeros((2, 2))], 0.0)
