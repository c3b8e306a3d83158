"""Continual-learning metrics from the accuracy matrix (numpy only).

``R[i, j]`` is the AP on domain j's held-out seeds after training on task i (Lopez-Paz &
Ranzato 2017; Chaudhry et al. 2018):

- average AP: mean of the last row, ``mean_j R[T-1, j]``;
- forgetting: ``mean_{j<T-1} max_{i<T-1} R[i, j] - R[T-1, j]`` (best earlier AP minus final);
- backward transfer: ``mean_{j<T-1} R[T-1, j] - R[j, j]`` (negative means forgetting).
"""

from __future__ import annotations

import numpy as np

from tools.sparse.errors import SparseError


def _matrix(r) -> np.ndarray:
    m = np.asarray(r, float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise SparseError(f"accuracy matrix must be square and non-empty, got shape {m.shape}")
    return m


def average_ap(r) -> float:
    return float(_matrix(r)[-1].mean())


def forgetting(r) -> float:
    m = _matrix(r)
    t = m.shape[0]
    if t < 2:
        return 0.0
    return float(np.mean([m[: t - 1, j].max() - m[t - 1, j] for j in range(t - 1)]))


def backward_transfer(r) -> float:
    m = _matrix(r)
    t = m.shape[0]
    if t < 2:
        return 0.0
    return float(np.mean([m[t - 1, j] - m[j, j] for j in range(t - 1)]))


def summary(r) -> dict[str, float]:
    return {"average_ap": round(average_ap(r), 4), "forgetting": round(forgetting(r), 4),
            "backward_transfer": round(backward_transfer(r), 4)}  # fmt: skip
