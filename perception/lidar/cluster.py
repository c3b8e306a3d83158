"""Euclidean clustering: connected components of the fixed-radius neighbour graph.

Two flavours: :func:`euclidean_clusters` links points in 3D (PCL's EuclideanClusterExtraction);
:func:`grid_clusters` links occupied 2D grid cells (Autoware's voxel-grid-based Euclidean
cluster). The 2D one is the default for obstacles: a spinning lidar's rings are more than a
clustering tolerance apart vertically at range, which splits a far car into one cluster per ring
in 3D, and it links far fewer elements (a wall is a line of cells, not a sheet of points).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from perception.lidar.preprocess import group_by_key

NOISE = -1


def euclidean_clusters(
    points: np.ndarray, tolerance: float, min_points: int = 3, max_points: int = 100_000
) -> np.ndarray:
    """A cluster index per point (0..K-1, ordered by first point), NOISE for dropped clusters.

    Two points share a cluster when a chain of neighbours closer than ``tolerance`` joins them
    (PCL's EuclideanClusterExtraction; DBSCAN with min_samples=1). Clusters smaller than
    ``min_points`` or larger than ``max_points`` become NOISE.
    """
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    comp = _components(points, tolerance)
    return _filter_by_size(comp, np.bincount(comp), min_points, max_points)


def grid_clusters(
    points: np.ndarray,
    cell: float,
    tolerance: float,
    min_points: int = 3,
    max_points: int = 100_000,
) -> np.ndarray:
    """Like :func:`euclidean_clusters`, on the x, y of points binned into ``cell``-sized squares:
    cells whose centres are within ``tolerance`` are linked. Sizes count points, not cells."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    ij = np.floor(points[:, :2] * (1.0 / cell)).astype(np.int64)
    ij -= ij.min(axis=0)
    order, starts, inverse = group_by_key(ij[:, 0] * (int(ij[:, 1].max()) + 1) + ij[:, 1])
    centers = (ij[order[starts]] + 0.5) * cell
    cell_comp = _components(centers, tolerance)
    comp = cell_comp[inverse]
    return _filter_by_size(comp, np.bincount(comp), min_points, max_points)


def _components(points: np.ndarray, tolerance: float) -> np.ndarray:
    n = len(points)
    pairs = cKDTree(points).query_pairs(tolerance, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _filter_by_size(
    comp: np.ndarray, counts: np.ndarray, min_points: int, max_points: int
) -> np.ndarray:
    keep = (counts >= min_points) & (counts <= max_points)
    remap = np.full(len(counts), NOISE, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    return remap[comp]
