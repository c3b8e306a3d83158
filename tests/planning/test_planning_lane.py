from __future__ import annotations

import numpy as np
import pytest

from planning.lane import Lane, MapError, load_lane


def _arc(radius=50.0, n=200) -> np.ndarray:
    phi = np.linspace(0, np.pi / 2, n)
    return np.column_stack([radius * np.sin(phi), radius * (1 - np.cos(phi))])  # left turn


def test_arc_length_heading_and_curvature_of_a_circle():
    lane = Lane.from_polyline(_arc())
    assert lane.length == pytest.approx(50 * np.pi / 2, rel=1e-3)
    assert lane.heading_at(lane.length) == pytest.approx(np.pi / 2, abs=0.01)
    assert np.allclose(lane.curvature[5:-5], 1 / 50.0, rtol=0.01)


def test_project_and_point_are_inverse():
    lane = Lane.from_polyline(_arc())
    s = np.array([3.0, 20.0, 70.0])
    d = np.array([1.5, -2.0, 0.3])
    s2, d2 = lane.project(lane.point(s, d))
    assert np.allclose(s2, s, atol=0.02) and np.allclose(d2, d, atol=0.02)


def test_project_beyond_the_ends_extrapolates():
    lane = Lane.from_polyline(np.array([[0.0, 0.0], [10.0, 0.0]]))
    s, d = lane.project(np.array([[-3.0, 1.0], [14.0, -2.0]]))
    assert np.allclose(s, [-3.0, 14.0]) and np.allclose(d, [1.0, -2.0])
    assert np.allclose(lane.point(14.0, -2.0), [14.0, -2.0])


def test_repeated_points_are_dropped_and_degenerate_lines_refused():
    lane = Lane.from_polyline(np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]]))
    assert len(lane.xy) == 2
    with pytest.raises(MapError, match="2 distinct points"):
        Lane.from_polyline(np.zeros((3, 2)))
    with pytest.raises(MapError, match=r"\(N, 2\)"):
        Lane.from_polyline(np.zeros((3, 3)))


def test_load_lane_reads_scenario_lanes_and_reverses_oncoming(tmp_path):
    road = np.column_stack([np.arange(0.0, 100.0), np.zeros(100)])
    lanes = np.stack([road + np.array([0, d]) for d in (-5.25, -1.75, 1.75, 5.25)])
    path = tmp_path / "map.npz"
    np.savez(path, centerline=road, lane_centerlines=lanes, lane_direction=np.array([1, 1, -1, -1]))
    ego = load_lane(path, 0)
    assert np.allclose(ego.xy[0], [0.0, -5.25])
    oncoming = load_lane(path, 2)
    assert np.allclose(oncoming.xy[0], [99.0, 1.75])
    with pytest.raises(MapError, match="no lane 7"):
        load_lane(path, 7)


def test_load_lane_falls_back_to_centerline_and_names_problems(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, centerline=np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert load_lane(plain).length == pytest.approx(np.sqrt(2))
    empty = tmp_path / "empty.npz"
    np.savez(empty, other=np.zeros(3))
    with pytest.raises(MapError, match=r"empty\.npz: no 'centerline'"):
        load_lane(empty)
    with pytest.raises(MapError, match="cannot read map"):
        load_lane(tmp_path / "missing.npz")
