"""Euclidean clustering: connected components of the fixed-radius neighbour graph."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

NOISE = -1


def euclidean_clusters(
    points: np.ndarray, tolerance: float, min_points: int = 3, max_points: int = 100_000
) -> np.ndarray:
    """A cluster index per point (0..K-1, ordered by first point), NOISE for dropped clusters.

    Two points share a cluster when a chain of neighbours closer than ``tolerance`` joins them
    (PCL's EuclideanClusterExtraction; DBSCAN with min_samples=1). Clusters smaller than
    ``min_points`` or larger than ``max_points`` become NOISE.
    """
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(points).query_pairs(tolerance, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    counts = np.bincount(comp)
    keep = (counts >= min_points) & (counts <= max_points)
    remap = np.full(len(counts), NOISE, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    return remap[comp]
