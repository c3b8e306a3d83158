from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import Pose2D
from perception.localization.scan_matching import (
    MatchResult,
    ScanMatchConfig,
    ScanMatcher,
    ScanMatchError,
)


def _wall(a, b, step=0.1) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.arange(0.0, 1.0, step / np.hypot(*(b - a)))[:, None]
    return a + t * (b - a)


def _pole(x, y) -> np.ndarray:
    phi = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    return np.column_stack([x + 0.15 * np.cos(phi), y + 0.15 * np.sin(phi)])


def _street() -> np.ndarray:
    parts = [_wall((-50, 12), (80, 12)), _wall((-50, -12), (80, -12)), _wall((30, 12), (30, 25))]
    parts += [_pole(x, side * 8.0) for x in range(-40, 80, 15) for side in (-1, 1)]
    return np.concatenate(parts)


def _scan(map_xy: np.ndarray, pose: Pose2D, rng, outliers: int = 0) -> np.ndarray:
    local = pose.inverse().apply(map_xy)
    local = local[np.hypot(local[:, 0], local[:, 1]) < 50.0]
    local = local + rng.normal(0.0, 0.02, local.shape)
    if outliers:  # cars that are not in the map
        local = np.concatenate([local, rng.uniform([5, -6], [40, 6], (outliers, 2))])
    return local


def _lifted(xy: np.ndarray, z: float = 1.5) -> np.ndarray:
    """Flat points at a height inside the matcher's structure band."""
    return np.column_stack([xy, np.full(len(xy), z)])


def test_recovers_the_pose_from_a_metre_and_a_half_off():
    matcher = ScanMatcher(_street())
    truth = Pose2D(10.0, 1.0, 0.05)
    scan = matcher.scan_points(_lifted(_scan(_street(), truth, np.random.default_rng(0), 150)))
    result = matcher.match(scan, Pose2D(11.5, 0.0, 0.0))
    assert isinstance(result, MatchResult)
    assert result.pose.x == pytest.approx(10.0, abs=0.05)
    assert result.pose.y == pytest.approx(1.0, abs=0.05)
    assert result.pose.yaw == pytest.approx(0.05, abs=0.003)
    assert 0.5 < result.inlier_ratio <= 1.0
    assert np.all(np.linalg.eigvalsh(result.covariance) > 0)


def test_a_featureless_corridor_is_uncertain_along_its_walls():
    walls = np.concatenate([_wall((-100, 6), (100, 6)), _wall((-100, -6), (100, -6))])
    matcher = ScanMatcher(walls)
    scan = _lifted(_scan(walls, Pose2D(), np.random.default_rng(1)))
    result = matcher.match(matcher.scan_points(scan), Pose2D(0.0, 0.3, 0.0))
    assert isinstance(result, MatchResult)
    assert result.pose.y == pytest.approx(0.0, abs=0.05)
    std = np.sqrt(np.diag(result.covariance))
    assert std[0] > 10 * std[1]  # along the corridor the match knows next to nothing


def test_failures_are_reported_as_reasons():
    matcher = ScanMatcher(_street())
    assert "structure points" in matcher.match(np.zeros((5, 2)), Pose2D())
    far = np.random.default_rng(2).uniform(500, 600, (200, 2))
    assert "map" in matcher.match(far, Pose2D())


def test_scan_points_keep_the_structure_band_only():
    cfg = ScanMatchConfig(min_height=0.5, max_height=3.0, max_range=60.0, scan_voxel=0.5)
    matcher = ScanMatcher(_street(), cfg)
    pts = np.array(
        [[5.0, 0.0, 0.1], [5.0, 0.0, 1.0], [5.0, 0.0, 5.0], [90.0, 0.0, 1.0], [5.1, 0.1, 1.2]]
    )
    assert len(matcher.scan_points(pts)) == 1  # road, sky and far points gone; one voxel left


def test_map_file_is_read_and_validated(tmp_path):
    xy = _street()
    pts = np.column_stack([xy, np.full(len(xy), 1.5)])
    ground = np.column_stack([xy[:100], np.zeros(100)])
    path = tmp_path / "map.npz"
    np.savez(
        path,
        points=np.concatenate([pts, ground]).astype(np.float32),
        point_material=np.r_[np.full(len(pts), 6), np.zeros(100)].astype(np.uint8),
    )
    matcher = ScanMatcher.from_map_file(path)
    assert len(matcher.map_xy) > 100
    np.savez(tmp_path / "bad.npz", centerline=np.zeros((2, 2)))
    with pytest.raises(ScanMatchError, match="no 'points' key"):
        ScanMatcher.from_map_file(tmp_path / "bad.npz")
    with pytest.raises(ScanMatchError, match="too few"):
        ScanMatcher(np.zeros((3, 2)))
