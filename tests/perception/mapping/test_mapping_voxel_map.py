from __future__ import annotations

import numpy as np
import pytest

from perception.mapping import VoxelMap, VoxelMapError
from perception.mapping.voxel_map import PRUNE_EVERY, pack, unpack

ORIGIN = np.zeros(2)


def voxels(centers: np.ndarray, size: float) -> set[tuple[int, int, int]]:
    """Voxel indices of voxel centres, as a set (insert returns them in key order)."""
    return {tuple(int(v) for v in np.floor(c / size)) for c in np.asarray(centers)}


def test_pack_unpack_round_trip_with_negative_and_extreme_indices():
    lim = 1 << 20
    ijk = np.array(
        [[0, 0, 0], [-1, -1, -1], [5, -7, 3], [-lim, lim - 1, 0], [lim - 1, -lim, -lim]],
        np.int64,
    )
    keys = pack(ijk)
    assert keys.dtype == np.int64 and len(np.unique(keys)) == len(ijk)
    np.testing.assert_array_equal(unpack(keys), ijk)


def test_insert_returns_the_centres_of_new_voxels_only():
    m = VoxelMap(voxel=1.0, radius=100.0)
    pts = np.array([[0.2, 0.3, 0.1], [0.7, 0.1, 0.9], [1.5, 0.0, 0.0], [-0.5, -0.5, -0.5]])
    new = m.insert(pts, ORIGIN)
    assert new.shape == (3, 3)  # the first two points share voxel (0, 0, 0)
    assert voxels(new, 1.0) == {(0, 0, 0), (1, 0, 0), (-1, -1, -1)}
    assert {tuple(c) for c in new} == {(0.5, 0.5, 0.5), (1.5, 0.5, 0.5), (-0.5, -0.5, -0.5)}
    assert len(m) == 3
    assert np.all(np.diff(m.keys) > 0)  # kept sorted and unique

    assert m.insert(pts, ORIGIN).shape == (0, 3)  # the same sweep again adds nothing
    assert len(m) == 3
    more = m.insert(np.array([[0.9, 0.9, 0.9], [3.2, -4.1, 0.0]]), ORIGIN)
    assert voxels(more, 1.0) == {(3, -5, 0)}
    assert len(m) == 4 and np.all(np.diff(m.keys) > 0)


def test_extra_columns_are_ignored_and_non_finite_points_skipped():
    m = VoxelMap(voxel=0.5, radius=50.0)
    pts = np.array([[np.nan, 0, 0, 1], [0, np.inf, 0, 1], [0, 0, -np.inf, 1], [2.2, 0.1, 0.1, 7.0]])
    new = m.insert(pts, ORIGIN)
    assert voxels(new, 0.5) == {(4, 0, 0)}
    assert m.insert(np.full((3, 3), np.nan), ORIGIN).shape == (0, 3)
    assert m.insert(np.zeros((0, 3)), ORIGIN).shape == (0, 3)
    assert len(m) == 1


def test_far_voxels_are_forgotten_every_prune_interval():
    m = VoxelMap(voxel=1.0, radius=10.0)
    m.insert(np.array([[50.2, 0.5, 0.5], [3.5, 0.5, 0.5]]), ORIGIN)  # one far, one near
    for i in range(PRUNE_EVERY - 2):
        m.insert(np.array([[0.5, float(i), 0.5]]), ORIGIN)
    assert (50, 0, 0) in voxels(m.centers(), 1.0)  # not yet: pruning is every N sweeps
    m.insert(np.zeros((0, 3)), ORIGIN)  # the N-th sweep prunes
    kept = voxels(m.centers(), 1.0)
    assert (50, 0, 0) not in kept and (3, 0, 0) in kept
    assert len(kept) == 1 + (PRUNE_EVERY - 2)
    # Forgotten voxels count as new when the vehicle comes back.
    assert voxels(m.insert(np.array([[50.2, 0.5, 0.5]]), ORIGIN), 1.0) == {(50, 0, 0)}


def test_pruning_follows_the_vehicle():
    m = VoxelMap(voxel=1.0, radius=10.0)
    m.insert(np.array([[0.5, 0.5, 0.5], [100.5, 0.5, 0.5]]), ORIGIN)
    for _ in range(PRUNE_EVERY - 1):
        m.insert(np.zeros((0, 3)), np.array([100.0, 0.0]))  # the vehicle drove on
    assert voxels(m.centers(), 1.0) == {(100, 0, 0)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voxel": 0.0}, "voxel size must be > 0 m, got 0.0"),
        ({"voxel": -0.2}, "voxel size must be > 0 m, got -0.2"),
        ({"voxel": float("nan")}, "voxel size must be > 0 m, got nan"),
        ({"radius": 0}, "radius must be > 0 m, got 0"),
        ({"radius": -5.0}, "radius must be > 0 m, got -5.0"),
    ],
)
def test_bad_voxel_or_radius_is_named(kwargs, message):
    with pytest.raises(VoxelMapError, match=message):
        VoxelMap(**kwargs)


@pytest.mark.parametrize(
    ("points", "shape"),
    [
        (np.zeros((4, 2)), r"\(4, 2\)"),
        (np.zeros(3), r"\(3,\)"),
        (np.zeros((2, 3, 1)), r"\(2, 3, 1\)"),
    ],
)
def test_points_of_the_wrong_shape_are_named(points, shape):
    with pytest.raises(VoxelMapError, match=rf"points must be \(N, 3\), got shape {shape}"):
        VoxelMap().insert(points, ORIGIN)
